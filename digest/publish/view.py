"""A paper as the outputs of one run show it: each part (its link, meta line, first
sentences, links with their kinds, its Markdown abstract) computed once, when a template
first asks, and kept while the paper is being rendered.

Pelican and Zola hand their templates an item's content already rendered; this is that
layer for digest. Templates read ``paper.short`` or ``paper.meta_html`` instead of calling
a filter per output; the filters stay (``paper | meta_html``) for templates of users, and
give the same text. A view answers for every field of its paper too (``paper.title``), so
a template written for papers takes views unchanged.

Item templates (``paper.html``, ``paper.md``, ``email_paper.html``, ``email_paper.txt``,
``feed_entry.html``) see one paper, the site and the variant they are drawn in; where a
run draws the same paper more than once (the email's budget search, the site's feed and
each section's feed), each (template, paper, variant) is rendered once (``Fragments``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from digest.links import PaperLink, href, link_kind
from digest.model import Paper, Site, paper_anchor
from digest.publish.details import ListingLink, ai_summary, listing_links
from digest.publish.filters import first_sentences, meta_html, meta_line, nowrap_votes
from digest.publish.markdown_text import MarkdownSafe, markdown_linked, markdown_paper_link

if TYPE_CHECKING:
    from digest.publish.templates import Templates


class _once:
    """``functools.cached_property`` without its lock: a view lives in one thread, and
    a page of 80,000 papers asks for half a million parts (the lock cost a second)."""

    def __init__(self, make: Any) -> None:
        self.make = make
        self.name = make.__name__
        self.__doc__ = make.__doc__

    def __get__(self, view: Any, owner: type | None = None) -> Any:
        if view is None:
            return self
        value = view.__dict__[self.name] = self.make(view)
        return value


class PaperView(Paper):
    """One paper and what its outputs show of it (see the module's docstring): a paper
    itself (its fields are the paper's own slots, read at C speed), and each part computed
    on first use, then read as a plain attribute. The store hands out views directly
    (``Store.issue_papers(..., kind=PaperView)``): a page of 80,000 papers makes none by
    copying."""

    site: Site

    @classmethod
    def of(cls, paper: Paper, site: Site) -> PaperView:
        """A view of a paper that is not one yet (the few a page holds apart: picks, rising)."""
        if isinstance(paper, PaperView):
            return paper
        view = object.__new__(cls)
        for name in _FIELDS:
            object.__setattr__(view, name, getattr(paper, name))
        view.__dict__["site"] = site
        return view

    @property
    def paper(self) -> Paper:
        """The paper itself (it is one)."""
        return self

    @_once
    def link(self) -> PaperLink:
        """Where the paper itself is (its arXiv page, or a search for its title)."""
        return self.site.source(self)

    @_once
    def url(self) -> str:
        """The paper in its issue: our page, at its anchor."""
        return self.site.paper_url(self)

    @_once
    def anchor(self) -> str:
        """Asked twice by a page (the article's id and its permalink): made once."""
        return paper_anchor(self.key)

    @_once
    def short(self) -> str:
        """The first sentence or two: what a shortened abstract shows."""
        return first_sentences(self.abstract)

    @property
    def is_long(self) -> bool:
        return self.short != self.abstract

    @_once
    def ai_summary(self) -> str:
        return ai_summary(self)

    @_once
    def meta(self) -> str:
        return meta_line(self)

    @_once
    def meta_html(self) -> Markup:
        return meta_html(self)

    @_once
    def reason_html(self) -> Markup:
        return nowrap_votes(self.reason)

    @_once
    def link_items(self) -> list[tuple[str, str, str]]:
        """Each link of the abstract: (its kind, its href, the URL as written)."""
        return [(link_kind(url), href(url), url) for url in self.links]

    @_once
    def listed(self) -> list[ListingLink]:
        """The links the listing gives besides the abstract's (the API's JSON)."""
        return listing_links(self)

    @_once
    def markdown_abstract(self) -> MarkdownSafe:
        return markdown_linked(self.abstract)

    @_once
    def markdown_link(self) -> MarkdownSafe:
        return markdown_paper_link(self.link)


_FIELDS = tuple(field.name for field in fields(Paper))


def views(papers: Iterable[Paper], site: Site) -> Iterator[PaperView]:
    """The papers as views of this site: a view from the store is given its site, a plain
    paper is copied into one."""
    for paper in papers:
        if type(paper) is PaperView:
            paper.__dict__["site"] = site
            yield paper
        else:
            yield PaperView.of(paper, site)


def unwrap(paper: Paper | PaperView) -> Paper:
    """The paper behind a view (filters take either)."""
    return paper.paper if isinstance(paper, PaperView) else paper


class Fragments:
    """Item templates drawn for papers, each (template, paper, variant) rendered once:
    a run that draws a paper several times (the email's budget search, the site's and
    each section's feed) renders it once, and joins."""

    def __init__(self, templates: Templates, site: Site) -> None:
        self.templates = templates
        self.site = site
        self._rendered: dict[tuple[Any, ...], str] = {}

    def __call__(self, name: str, paper: PaperView, **variant: Any) -> str:
        key = (name, paper.paper.key, *sorted(variant.items()))
        found = self._rendered.get(key)
        if found is None:
            found = self._rendered[key] = self.templates.item(name, paper, self.site, **variant)
        return found
