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
from itertools import chain, groupby, islice
from operator import attrgetter
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from digest import __version__
from digest.classify import slug
from digest.dates import long_date
from digest.errors import TemplateProblem
from digest.links import PaperLink, href, link_kind
from digest.model import Issue, IssueSummary, IssueYear, Paper, Site
from digest.publish.markdown_text import (
    MarkdownSafe,
    markdown_autolink,
    markdown_escape,
    markdown_link,
    markdown_linked,
    markdown_paper_link,
)

__all__ = ["MarkdownSafe", "Rising", "Site", "Templates", "first_sentences", "issue_markdown",
           "issue_page", "markdown_escape"]  # fmt: skip

SHORT_SENTENCES = 2
SHORT_MAX_CHARS = 320
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")  # (what a break is)
_AFTER_SENTENCE = re.compile(r"\s+(?=[\"'(\[]?[A-Z0-9])")  # after its ".", "!" or "?"
_VOTES = re.compile(r"▲ [\d,]+(?: → [\d,]+)?")
_VOTES_SPAN = r'<span class="votes">\g<0></span>'
# An issue up to this size lists every title in its contents; a larger one (a backlog
# published at once) lists its sections only, as its papers are streamed, never held.
CONTENTS_MAX = 1000


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


def _wrap(text: str, width: int = 72, indent: str = "", lead: str | None = None) -> str:
    """Plain-text paragraphs for email: wrapped at ``width``; URLs are never broken (one
    longer than the line stands alone on its own). Without ``lead``, the first line is
    counted as indented too, and the template writes that indent; with it, the text
    starts after ``lead`` (``"10. "``, ``"   Why it's here: "``), which is counted and
    returned with it. "▲ 14" and "▲ 2 → 40" are never split across lines."""
    import textwrap

    first = indent if lead is None else lead
    protected = _VOTES.sub(lambda m: m.group().replace(" ", "\xa0"), text)

    def lines_from(initial: str) -> list[str]:
        return textwrap.wrap(
            protected,
            width=width,
            initial_indent=initial,
            subsequent_indent=indent,
            break_long_words=False,
            break_on_hyphens=False,
        )

    lines = lines_from(first)
    if lines and len(lines[0]) > width and first.strip():
        # A word longer than the line after the lead (a URL): it goes on a line of its own.
        lines = [first.rstrip(), *lines_from(indent)]
    if not lines:
        return "" if lead is None else lead.rstrip()
    joined = "\n".join(lines).replace("\xa0", " ")
    return joined if lead is not None else joined[len(indent) :]


def _source(paper: Paper, site: Site) -> PaperLink:
    """``paper | source(site)``: where the paper itself is (a filter is a plain call in
    compiled templates, cheaper than calling ``site.source`` for each of 80,000 papers)."""
    return site.source(paper)


def first_sentences(abstract: str) -> str:
    """The first sentence or two, cut at a word boundary if still long: what the email
    shows of an abstract it must shorten, and what an issue page shows until opened."""
    sentences = _split_sentences(abstract.strip(), SHORT_SENTENCES)
    short = " ".join(sentences[:SHORT_SENTENCES])
    if len(short) > SHORT_MAX_CHARS:
        short = short[:SHORT_MAX_CHARS].rsplit(" ", 1)[0].rstrip(",;:") + " …"
    elif len(sentences) > SHORT_SENTENCES:
        short += " …"
    return short


def _split_sentences(text: str, count: int) -> list[str]:
    """``_SENTENCE_BREAK.split(text, maxsplit=count)``, in half the time: every issue page
    asks it of each abstract, and the regex tries its look-behind at every character; here
    C-speed ``find`` jumps from one ".", "!" or "?" to the next."""
    parts: list[str] = []
    start = 0
    dot, bang, ask = text.find("."), text.find("!"), text.find("?")
    while len(parts) < count:
        end = dot
        if bang >= 0 and (end < 0 or bang < end):
            end = bang
        if ask >= 0 and (end < 0 or ask < end):
            end = ask
        if end < 0:
            break
        after = _AFTER_SENTENCE.match(text, end + 1)
        if after:
            parts.append(text[start : end + 1])
            start = after.end()
        mark = text[end]
        if mark == ".":
            dot = text.find(".", end + 1)
        elif mark == "!":
            bang = text.find("!", end + 1)
        else:
            ask = text.find("?", end + 1)
    parts.append(text[start:])
    return parts


def nowrap_votes(text: str) -> Markup:
    """HTML of ``text`` (escaped) with "▲ 14" and "▲ 2 → 40" kept on one line: a count
    split from its arrow reads as a stray number. (Escaping leaves those characters as
    they are, so they are found in the escaped text.)"""
    escaped = str(escape(text))
    if "▲" not in escaped:
        return Markup(escaped)
    return Markup(_VOTES.sub(_VOTES_SPAN, escaped))


def meta_html(paper: Paper) -> Markup:
    """:func:`meta_line` as HTML, its upvotes kept on one line (see nowrap_votes)."""
    line = escape(meta_line(paper, votes=False))
    if paper.upvotes is None:
        return line
    votes = f'<span class="votes">▲ {paper.upvotes:,}</span>'
    return Markup(f"{line} · {votes}" if line else votes)


def meta_line(paper: Paper, votes: bool = True) -> str:
    """``NAVER AI Lab · published June 15, 2020 · ▲ 2``: what the listing said of it."""
    who = _who(paper)
    parts = [who] if who else []
    if paper.published is not None:
        parts.append(f"published {long_date(paper.published)}")
    if votes and paper.upvotes is not None:
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
                href=href,
                first_sentences=first_sentences,
                source=_source,
            )
            env.globals.update(version=__version__)
        self.html.filters.update(nowrap_votes=nowrap_votes, meta_html=meta_html)
        self.markdown.filters.update(
            link=markdown_link,
            autolink=markdown_autolink,
            linked=markdown_linked,
            paper_link=markdown_paper_link,
            verbatim=MarkdownSafe,  # the editor's note: Markdown as written
        )

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
    editorial: Any = None,  # notes.Editorial: the editor's note and picks
) -> Iterator[str]:
    return _issue("issue.md", templates, site, issue, papers, summary, rising, editorial=editorial)


def issue_page(
    templates: Templates,
    site: Site,
    issue: Issue,
    papers: Iterable[Paper],
    older: Issue | None,
    summary: IssueSummary,
    rising: Rising | None = None,
    editorial: Any = None,
) -> Iterator[str]:
    """The issue's web page. It links to the older issue, not the newer one, so that
    publishing an issue never has to rewrite the pages before it. Its contents list every
    title, by section, when the issue has at most CONTENTS_MAX papers (read ahead, so
    the page can open with them); a larger one lists its sections only."""
    papers = iter(papers)
    ahead = list(islice(papers, CONTENTS_MAX + 1))
    contents = None
    if len(ahead) <= CONTENTS_MAX:
        contents = [(section, list(group)) for section, group in by_section(iter(ahead))]
    return _issue(
        "issue.html",
        templates,
        site,
        issue,
        chain(ahead, papers),
        summary,
        rising,
        older=older,
        contents=contents,
        editorial=editorial,
    )


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
    from digest.publish.notes import NO_EDITORIAL

    extra["editorial"] = extra.get("editorial") or NO_EDITORIAL
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
