"""Templates in, text out: the issue as Markdown and as a web page, the archive index.

Scraped text is data in every context, and the environments make that the default
rather than something each template must remember:

* ``.html``/``.xml`` templates autoescape (Jinja2's own escaping);
* ``.md`` templates pass every ``{{ value }}`` through :func:`markdown_escape`, so an
  abstract with ``*two-stage*`` or ``<think>`` renders as those characters, in
  CommonMark and in python-markdown alike;
* ``.txt`` templates print text as it is (it never reaches a markup parser).

Templates come from the user's folder first (any one file overrides the built-in one
of the same name), then from the package.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import groupby, islice
from operator import attrgetter
from pathlib import Path
from typing import Any

import jinja2

from digest import __version__
from digest.classify import slug
from digest.dates import long_date
from digest.errors import TemplateProblem
from digest.links import link_kind
from digest.model import Issue, IssueSummary, IssueYear, Paper, Site

__all__ = ["Rising", "Site", "Templates", "issue_markdown", "issue_page", "markdown_escape"]

_MARKDOWN_INLINE = {
    "\\": "\\\\",
    "`": "\\`",
    "*": "\\*",
    "_": "\\_",
    "[": "\\[",
    "]": "\\]",
    "{": "\\{",
    "}": "\\}",
    "#": "\\#",
    "!": "\\!",
    "<": "&lt;",
    ">": "&gt;",
    "&": "&amp;",
    "|": "&#124;",
    "~": "&#126;",
    "$": "&#36;",
}
# Replaced one character at a time, in an order where no replacement's output is touched
# again: the backslash, "&" and "#" before the escapes and entities that contain them.
_MARKDOWN_STEPS = tuple(
    (special, _MARKDOWN_INLINE[special])
    for special in ("\\", "&", "#", *(c for c in _MARKDOWN_INLINE if c not in "\\&#"))
)
_MARKDOWN_LINE_START = re.compile(r"^(\s*)([-+]|\d+(?=[.)]))")


class MarkdownSafe(str):
    """Text already in Markdown form (a link the template built); not escaped again."""


def markdown_escape(value: object) -> str:
    """Make text show literally in Markdown: no emphasis, links, HTML, lists or headings."""
    if isinstance(value, MarkdownSafe):
        return value
    if value is None:
        return ""
    text = str(value)
    for special, escaped in _MARKDOWN_STEPS:
        if special in text:  # a C-speed scan; most text has few of these characters
            text = text.replace(special, escaped)
    lines = text.split("\n")
    for index, line in enumerate(lines):
        match = _MARKDOWN_LINE_START.match(line)
        if match:
            head = match.group(2)
            if head.isdigit():
                end = match.end()
                lines[index] = line[:end] + "\\" + line[end:]
            else:
                lines[index] = line[: match.start(2)] + "\\" + line[match.start(2) :]
    return "\n".join(lines)


def markdown_link(text: str, url: str) -> MarkdownSafe:
    """A Markdown link whose text is escaped and whose target cannot break out."""
    safe_url = url.replace("(", "%28").replace(")", "%29").replace(" ", "%20")
    return MarkdownSafe(f"[{markdown_escape(text)}]({safe_url})")


def markdown_autolink(url: str) -> MarkdownSafe:
    return MarkdownSafe("<" + url.replace(">", "%3E").replace("<", "%3C").replace(" ", "%20") + ">")


def _number(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


def _plural(count: int, singular: str, plural: str | None = None) -> str:
    word = singular if count == 1 else (plural or singular + "s")
    return f"{count:,} {word}"


def _who(paper: Paper) -> str:
    """Who wrote it, as the listing says: an organisation, or a count of authors."""
    if paper.organization is not None:
        return paper.organization.name
    if paper.authors is not None:
        return _plural(paper.authors, "author")
    return ""


def _wrap(text: str, width: int = 72, indent: str = "") -> str:
    """Plain-text paragraphs for email: wrapped at ``width``; URLs are never broken."""
    import textwrap

    lines = textwrap.wrap(
        text,
        width=width,
        initial_indent=indent,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )
    return "\n".join(lines)[len(indent) :]


def meta_line(paper: Paper) -> str:
    """``NAVER AI Lab · published June 15, 2020 · ▲ 2``: what the listing said of it."""
    who = _who(paper)
    parts = [who] if who else []
    if paper.published is not None:
        parts.append(f"published {long_date(paper.published)}")
    if paper.upvotes is not None:
        parts.append(f"▲ {paper.upvotes:,}")
    return " · ".join(parts)


def summary_line(summary: IssueSummary) -> str:
    """``274 new papers · 41 with code (15%) · most from: OpenBMB (3), NAVER AI Lab (2)``"""
    parts = [_plural(summary.papers, "new paper")]
    if summary.sections:
        parts.append(_plural(len(summary.sections), "section"))
    if summary.papers:
        share = round(100 * summary.with_code / summary.papers)
        parts.append(f"{summary.with_code:,} with code ({share}%)")
    if summary.top_organizations:
        parts.append(
            "most from: " + ", ".join(f"{name} ({n})" for name, n in summary.top_organizations)
        )
    return " · ".join(parts)


def default_template_dir() -> Path:
    from importlib.resources import files

    return Path(str(files("digest.templates")))


_PIECES_PER_BATCH = 8192


class Templates:
    """The three environments over one search path (user folder, then built-in)."""

    def __init__(self, user_dir: Path | None = None, cache_dir: Path | None = None) -> None:
        search = [str(default_template_dir())]
        if user_dir is not None:
            if not user_dir.is_dir():
                raise TemplateProblem(
                    f"template folder {user_dir} does not exist",
                    "create it, or remove 'templates' from the config to use the built-in ones",
                )
            search.insert(0, str(user_dir))
        loader = jinja2.FileSystemLoader(search)
        common: dict[str, Any] = {
            "loader": loader,
            "undefined": jinja2.StrictUndefined,
            "trim_blocks": True,
            "lstrip_blocks": True,
            "keep_trailing_newline": True,
            "auto_reload": True,  # the daemon picks up edited templates
        }
        if cache_dir is not None:
            # Compiled templates, reused by the next process (a cron run saves ~0.1 s);
            # entries are keyed by the template's source, so edits are never stale.
            try:
                cache_dir.mkdir(parents=True, exist_ok=True)
                common["bytecode_cache"] = jinja2.FileSystemBytecodeCache(str(cache_dir))
            except OSError:
                pass
        self.html = jinja2.Environment(autoescape=True, **common)
        self.markdown = jinja2.Environment(autoescape=False, finalize=markdown_escape, **common)
        self.text = jinja2.Environment(autoescape=False, **common)
        for env in (self.html, self.markdown, self.text):
            env.filters.update(
                long_date=long_date,
                number=_number,
                plural=_plural,
                who=_who,
                meta_line=meta_line,
                wrap=_wrap,
                link_kind=link_kind,
                summary_line=summary_line,
                slug=slug,
            )
            env.globals.update(version=__version__)
        self.markdown.filters.update(link=markdown_link, autolink=markdown_autolink)

    def environment(self, name: str) -> jinja2.Environment:
        if name.endswith((".html", ".xml")):
            return self.html
        if name.endswith(".md"):
            return self.markdown
        return self.text

    def stream(self, name: str, **context: Any) -> Iterator[str]:
        """Render in batches of about a quarter megabyte, so a 100,000-paper issue never
        sits in memory whole. The template's own generator is read in C (``islice``): a
        page of 80,000 papers is millions of small pieces, and a Python step per piece
        cost a second."""
        environment = self.environment(name)
        try:
            template = environment.get_template(name)
            pieces = template.root_render_func(template.new_context(context))
            try:
                while batch := list(islice(pieces, _PIECES_PER_BATCH)):
                    yield "".join(batch)
            except Exception:
                environment.handle_exception()  # re-raised with the template's lines
        except jinja2.TemplateNotFound as exc:
            raise TemplateProblem(f"template {exc.name!r} not found") from exc
        except jinja2.TemplateError as exc:
            where = f"{getattr(exc, 'filename', None) or name}"
            line = getattr(exc, "lineno", None)
            raise TemplateProblem(
                f"template {where}{f':{line}' if line else ''}: {exc}",
                "fix the template (or remove your override to use the built-in one)",
            ) from exc
        except Exception as exc:
            if not _raised_by_template(exc):
                raise
            file, line = _template_frame(exc) or (name, None)
            raise TemplateProblem(
                f"template {file}{f':{line}' if line else ''}: {type(exc).__name__}: {exc}",
                "fix the template (or remove your override to use the built-in one)",
            ) from exc

    def render(self, name: str, **context: Any) -> str:
        return "".join(self.stream(name, **context))


_TEMPLATE_SUFFIXES = (".html", ".md", ".txt", ".xml")


def _template_frame(exc: BaseException) -> tuple[str, int | None] | None:
    """The template file and line an error was raised from (Jinja2 rewrites tracebacks
    so that template code shows as its own file and line)."""
    found = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename.endswith(_TEMPLATE_SUFFIXES):
            found = (frame.filename, frame.lineno)
    return found


def _raised_by_template(exc: BaseException) -> bool:
    """An error of the template's own making (``{{ 1 // 0 }}``, a filter given the wrong
    thing), not one of the disk or the state it reads from while it renders."""
    from digest.errors import DigestError

    if isinstance(exc, DigestError | OSError | MemoryError):
        return False
    module = type(exc).__module__.split(".")[0]
    return module not in ("sqlite3", "psycopg") and _template_frame(exc) is not None


@lru_cache(maxsize=8)
def templates_for(user_dir: Path | None, cache_dir: Path | None = None) -> Templates:
    return Templates(user_dir, cache_dir)


@dataclass(frozen=True)
class Rising:
    """Papers of earlier issues shown again because their upvotes grew (not new)."""

    name: str = "Rising"
    papers: list[tuple[Paper, int | None]] = field(default_factory=list)


def by_section(papers: Iterator[Paper]) -> Iterator[tuple[str | None, Iterator[Paper]]]:
    """An issue's papers as (section, its papers) in page order, lazily: templates loop
    over sections, then papers, with no per-paper look back at the previous one. (They
    get ``papers`` too, the same stream ungrouped: a template uses one or the other.)"""
    return groupby(papers, key=attrgetter("section"))


def issue_markdown(
    templates: Templates,
    site: Site,
    issue: Issue,
    papers: Iterable[Paper],
    summary: IssueSummary,
    rising: Rising | None = None,
) -> Iterator[str]:
    return _issue("issue.md", templates, site, issue, papers, summary, rising)


def issue_page(
    templates: Templates,
    site: Site,
    issue: Issue,
    papers: Iterable[Paper],
    older: Issue | None,
    summary: IssueSummary,
    rising: Rising | None = None,
) -> Iterator[str]:
    """The issue's web page. It links to the older issue, not the newer one, so that
    publishing an issue never has to rewrite the pages before it."""
    return _issue("issue.html", templates, site, issue, papers, summary, rising, older=older)


def _issue(
    name: str,
    templates: Templates,
    site: Site,
    issue: Issue,
    papers: Iterable[Paper],
    summary: IssueSummary,
    rising: Rising | None,
    **extra: Any,
) -> Iterator[str]:
    """An issue template streamed, with its papers both as they come and by section."""
    papers = iter(papers)
    return templates.stream(
        name,
        site=site,
        issue=issue,
        papers=papers,
        sections=by_section(papers),
        summary=summary,
        rising=rising or Rising(),
        **extra,
    )


def index_page(
    templates: Templates, site: Site, issues: list[Issue], years: list[IssueYear]
) -> str:
    """The front page: the newest issues, and every year of the archive."""
    return templates.render(
        "index.html",
        site=site,
        issues=issues,
        years=years,
        issue_count=sum(year.issues for year in years),
        total=sum(year.papers for year in years),
    )


def archive_page(templates: Templates, site: Site, year: IssueYear, issues: list[Issue]) -> str:
    """One year of the archive, so that no page lists every issue ever published."""
    return templates.render("archive.html", site=site, year=year, issues=issues)


def feed_entry_html(templates: Templates, site: Site, paper: Paper) -> str:
    return templates.render("feed_entry.html", site=site, paper=paper)
