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

import contextlib
import re
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from itertools import islice
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from digest import __version__
from digest.classify import slug
from digest.dates import long_date
from digest.errors import DigestError, TemplateProblem
from digest.links import href, link_kind
from digest.publish.details import AI_SUMMARY_LABEL, ai_summary, listing_links
from digest.publish.filters import (
    first_sentences,
    meta_html,
    meta_line,
    nowrap_votes,
    number,
    plural,
    source,
    summary_line,
    who,
    wrap,
)
from digest.publish.markdown_text import (
    MarkdownSafe,
    markdown_autolink,
    markdown_escape,
    markdown_link,
    markdown_linked,
    markdown_paper_link,
    markdown_without_html,
)


def default_template_dir() -> Path:
    """The built-in templates: the package ``digest.templates`` once installed (the
    installer maps the top-level ``templates/`` there); run from a source tree, whose
    ``digest/`` holds no templates (``python -m digest`` in the project's folder, with or
    without an install), the ``templates/`` beside it."""
    from importlib.resources import files

    import digest

    try:
        installed = Path(str(files("digest.templates")))
    except ModuleNotFoundError:
        installed = None
    if installed is not None and (installed / "issue.html").is_file():
        return installed
    beside = Path(digest.__file__).resolve().parent.parent / "templates"
    if (beside / "issue.html").is_file():
        return beside
    raise TemplateProblem(
        "the built-in templates are missing from this installation of digest",
        "reinstall it (pip install --force-reinstall digest)",
    )


_PIECES_PER_BATCH = 8192


_ITEM_TAG = re.compile(r'\{% item "([A-Za-z0-9_.-]+)" %\}')


class ItemInliningLoader(jinja2.FileSystemLoader):
    """Templates from the search path, with ``{% item "paper.html" %}`` replaced by that
    item template's source (the user's, where it overrides ours).

    A page draws each of its papers once: an item template called per paper (a context,
    a call) cost an eighth more than the page's own loop, so the page takes the item
    template's text into its loop instead, and a user who overrides ``paper.html`` alone
    still changes every article. The item sees what it sees when drawn alone: ``paper``,
    ``site`` and its variants, set just before the tag."""

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        source, filename, uptodate = super().get_source(environment, template)
        if "{% item " not in source:
            return source, filename, uptodate
        checks = [uptodate]

        def inline(match: re.Match[str]) -> str:
            item, _, item_uptodate = super(ItemInliningLoader, self).get_source(
                environment, match.group(1)
            )
            checks.append(item_uptodate)
            return item

        combined = _ITEM_TAG.sub(inline, source)
        return combined, filename, lambda: all(check() for check in checks)


class Templates:
    """The three environments over one search path (user folder, then built-in)."""

    def __init__(self, user_dir: Path | None = None, cache_dir: Path | None = None) -> None:
        self.user_dir = user_dir
        # Item templates by name, looked up once per page rather than once per paper (each
        # lookup asks the disk whether the file changed; the daemon picks up edits at the
        # next page).
        self._items: dict[str, tuple[jinja2.Template, dict[str, Any]]] = {}
        search = [str(default_template_dir())]
        if user_dir is not None:
            if not user_dir.is_dir():
                raise TemplateProblem(
                    f"template folder {user_dir} does not exist",
                    "create it, or remove 'templates' from the config to use the built-in ones",
                )
            search.insert(0, str(user_dir))
        loader = ItemInliningLoader(search)
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
                common["bytecode_cache"] = _BestEffortCache(str(cache_dir))
            except OSError:
                pass
        self.html = jinja2.Environment(autoescape=True, **common)
        self.markdown = jinja2.Environment(autoescape=False, finalize=markdown_escape, **common)
        self.text = jinja2.Environment(autoescape=False, **common)
        for env in (self.html, self.markdown, self.text):
            env.filters.update(
                long_date=long_date,
                number=number,
                plural=plural,
                who=who,
                meta_line=meta_line,
                wrap=wrap,
                link_kind=link_kind,
                summary_line=summary_line,
                slug=slug,
                href=href,
                first_sentences=first_sentences,
                source=source,
                listing_links=listing_links,
                ai_summary=ai_summary,
            )
            env.globals.update(version=__version__, ai_summary_label=AI_SUMMARY_LABEL)
        self.html.filters.update(nowrap_votes=nowrap_votes, meta_html=meta_html)
        self.markdown.filters.update(
            link=markdown_link,
            autolink=markdown_autolink,
            linked=markdown_linked,
            paper_link=markdown_paper_link,
            verbatim=markdown_without_html,  # the editor's note: as written, its HTML shown
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
        self._items.clear()
        with _template_errors(name):
            template = environment.get_template(name)
            context.setdefault("fragment", self.item)
            pieces = template.root_render_func(template.new_context(context))
            try:
                while batch := list(islice(pieces, _PIECES_PER_BATCH)):
                    yield "".join(batch)
            except Exception:
                environment.handle_exception()  # re-raised with the template's lines

    def item(self, name: str, paper: Any, site: Any = None, **variant: Any) -> str:
        """One item template drawn for one paper (``{{ fragment("paper.html", paper) }}``):
        Markup from an HTML template, MarkdownSafe from a Markdown one, so that the page it
        goes into takes it as it is, not escaped again."""
        environment = self.environment(name)
        with _template_errors(name):
            found = self._items.get(name)
            if found is None:
                template = environment.get_template(name)
                found = self._items[name] = (template, dict(template.globals))
            template, shared = found
            # A shared context over a dict of our own: Jinja would copy its globals into a
            # new one for each paper otherwise (a fifth of drawing one).
            context = template.new_context(
                {**shared, "paper": paper, "site": site or paper.site, **variant}, shared=True
            )
            try:
                text = "".join(template.root_render_func(context))
            except Exception:
                environment.handle_exception()
        if environment is self.html:
            return Markup(text)
        return MarkdownSafe(text) if environment is self.markdown else text

    def has_own(self, name: str) -> bool:
        """Whether the user's folder overrides this template."""
        return self.user_dir is not None and (self.user_dir / name).is_file()

    def render(self, name: str, **context: Any) -> str:
        return "".join(self.stream(name, **context))


class _BestEffortCache(jinja2.FileSystemBytecodeCache):
    """Compiled templates kept if the disk lets them be: a full disk under the cache
    (beside the state) costs the next run a compile, never this run its issue."""

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        with contextlib.suppress(OSError):
            super().dump_bytecode(bucket)


_TEMPLATE_SUFFIXES = (".html", ".md", ".txt", ".xml")


@contextmanager
def _template_errors(name: str) -> Iterator[None]:
    """A template's failure as a TemplateProblem naming its file and line: the user's
    template, or ours, is what to fix, not digest's input."""
    try:
        yield
    except jinja2.TemplateNotFound as exc:
        raise TemplateProblem(f"template {exc.name!r} not found") from exc
    except jinja2.TemplateError as exc:
        where = f"{getattr(exc, 'filename', None) or name}"
        line = getattr(exc, "lineno", None)
        if line is None:  # raised while rendering (an undefined name or attribute):
            where, line = _template_frame(exc) or (where, None)  # its frame has it
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
    if isinstance(exc, DigestError | OSError | MemoryError):
        return False
    module = type(exc).__module__.split(".")[0]
    return module not in ("sqlite3", "psycopg") and _template_frame(exc) is not None


@lru_cache(maxsize=8)
def templates_for(user_dir: Path | None, cache_dir: Path | None = None) -> Templates:
    return Templates(user_dir, cache_dir)


def reads_variable(
    template: Path, name: str, search: tuple[Path, ...] = (), depth: int = 0
) -> bool:
    """Whether a template's source reads the context variable ``name``, or the template it
    extends or includes does (looked up in ``search``, the user's folder then ours). The
    ``{% item %}`` tags are taken out first (their items see no page context). A template
    that does not parse reads nothing: rendering it says why."""
    from jinja2 import nodes

    try:
        source = _ITEM_TAG.sub("", template.read_text(encoding="utf-8"))
        parsed = jinja2.Environment().parse(source)  # parsed only: no filter is looked up
    except (OSError, UnicodeDecodeError, jinja2.TemplateSyntaxError):
        return False
    if any(node.name == name and node.ctx == "load" for node in parsed.find_all(nodes.Name)):
        return True
    for node in parsed.find_all((nodes.Extends, nodes.Include)):
        named = getattr(node, "template", None)
        other = named.value if isinstance(named, nodes.Const) else None
        if not isinstance(other, str) or depth > 8:  # (a template that extends itself)
            continue
        found = next((folder / other for folder in search if (folder / other).is_file()), None)
        if found is not None and reads_variable(found, name, search, depth + 1):
            return True
    return False
