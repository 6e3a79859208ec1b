"""The pages of the site: an issue (its web page and its Markdown), the front page, the
year pages, a paper's entry in the feeds. Each is a template streamed or rendered with
what it needs, and nothing else."""

from __future__ import annotations

from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from itertools import chain, groupby, islice
from operator import attrgetter
from typing import Any

from digest.model import Issue, IssueYear, Paper, Site
from digest.publish.records import IssueContext
from digest.publish.templates import Templates
from digest.publish.view import PaperView, views

# An issue up to this size lists every title in its contents; a larger one (a backlog
# published at once) lists its sections only, as its papers are streamed, never held.
CONTENTS_MAX = 1000
# Pages link to each other relatively, so the folder navigates opened from disk
# (file://) as well as served; the config's absolute url stays in what leaves the folder
# (feeds, email, Markdown, the canonical link and feed discovery in each page's head).
AT_TOP = ""  # index.html, search.html
ONE_DOWN = "../"  # issues/*.html, archive/*.html
TWO_DOWN = "../../"  # issues/<id>/<n>.html: the later pages of a paged issue


def by_section(
    papers: Iterator[PaperView],
) -> Iterator[tuple[str | None, Iterator[PaperView]]]:
    """An issue's papers as (section, its papers) in page order, lazily: templates loop
    over sections, then papers, with no per-paper look back at the previous one. (They
    get ``papers`` too, the same stream ungrouped: a template uses one or the other.)"""
    return groupby(papers, key=attrgetter("section"))


def issue_markdown(context: IssueContext, papers: Iterable[Paper]) -> Iterator[str]:
    return _issue("issue.md", context, papers)


def issue_pages(
    context: IssueContext, papers: Iterable[Paper]
) -> Generator[tuple[str, Iterator[str]], None, None]:
    """The issue's web page, or pages: (path, its text) each, in order. An issue of at
    most ``site.papers_per_page`` papers is one page; a larger one is shown on pages of
    that many, in page order (page 1 at the issue's own address), each page's papers
    read as it is rendered. Every page lists the sections and the pages, so every paper
    is a click or two from the first; a paper's page follows from its place alone
    (``Site.paper_path``), so feeds, emails and chat posts link it directly."""
    site, issue = context.site, context.issue
    count = issue.page_count
    if count == 1:
        yield site.issue_page_path(issue.id), issue_page(context, papers)
        return
    starts = context.summary.section_starts()
    first_places = set(starts.values())
    # Grouped by the page each paper's place names, not counted off: a page shows
    # exactly the papers that links to that page expect there.
    for number, group in groupby(views(papers, site), key=attrgetter("page")):
        listed = list(group)
        page = IssuePage.make(site, issue, number, max(count, number), listed, first_places)
        yield page.path, _page_of(context, page, listed, starts)


def first_page(context: IssueContext, papers: Iterable[Paper]) -> str:
    """Only the issue's first page: the one that links the issues either side (a new
    issue changes the page of the one before it, and no other page of it)."""
    paths = issue_pages(context, papers)
    _path, text = next(paths)
    page = "".join(text)
    paths.close()
    return page


@dataclass(frozen=True, slots=True)
class IssuePage:
    """One page of a paged issue, as its template sees it: which one, where, what it
    holds; ``link`` makes any address on the site an href from here."""

    site: Site
    issue_id: str
    number: int
    count: int
    first: int  # the place (0 first) of its first paper
    shown: int  # how many papers it shows
    continued: str | None  # the section carried over from the page before, if any

    @classmethod
    def make(
        cls,
        site: Site,
        issue: Issue,
        number: int,
        count: int,
        listed: list[PaperView],
        first_places: set[int],
    ) -> IssuePage:
        first = (number - 1) * issue.papers_per_page
        section = listed[0].section  # a page holds one paper at least
        continued = section if section is not None and first not in first_places else None
        return cls(site, issue.id, number, count, first, len(listed), continued)

    @property
    def path(self) -> str:
        return self.site.issue_page_path(self.issue_id, self.number)

    @property
    def root(self) -> str:
        return ONE_DOWN if self.number == 1 else TWO_DOWN

    @property
    def last(self) -> int:
        """The place of its last paper."""
        return self.first + self.shown - 1

    def link(self, target: str) -> str:
        """``target`` (from the site's root, maybe with a #fragment) as an href from this
        page: the fragment alone when it is on this page."""
        path, hash_mark, fragment = target.partition("#")
        if path == self.path and hash_mark:
            return f"#{fragment}"
        return f"{self.root}{target}"

    def page_link(self, number: int) -> str:
        return f"{self.root}{self.site.issue_page_path(self.issue_id, number)}"

    @property
    def pager(self) -> list[int]:
        """The pages this one links by number: every page of a short issue; of a long one
        the first, the last and the two either side of this one (the others are a few
        "Next" away, and each section is linked where it begins)."""
        if self.count <= 12:
            return list(range(1, self.count + 1))
        near = range(max(1, self.number - 2), min(self.count, self.number + 2) + 1)
        return sorted({1, self.count, *near})


def _page_of(
    context: IssueContext, page: IssuePage, listed: list[PaperView], starts: dict[str, int]
) -> Iterator[str]:
    return _issue(
        "issue.html",
        context,
        listed,
        older=context.older,
        newer=context.newer,
        contents=None,
        root=page.root,
        path=page.path,
        page=page,
        starts=starts,
    )


def issue_page(context: IssueContext, papers: Iterable[Paper]) -> Iterator[str]:
    """An issue's web page, whole (as ``issue_pages`` makes it when it is one page). It
    links to the older issue and to the newer one (so the publisher writes the page of
    the newest issue again when the next one is published: one page, not the archive).
    Its contents list every title, by section, when the issue has at most CONTENTS_MAX
    papers (read ahead, so the page can open with them); a larger one lists its
    sections only."""
    shown = views(papers, context.site)
    ahead = list(islice(shown, CONTENTS_MAX + 1))
    contents = None
    if len(ahead) <= CONTENTS_MAX:
        contents = [(section, list(group)) for section, group in by_section(iter(ahead))]
    return _issue(
        "issue.html",
        context,
        chain(ahead, shown),
        older=context.older,
        newer=context.newer,
        contents=contents,
        root=ONE_DOWN,
        path=context.site.issue_page_path(context.issue.id),
        page=None,
        starts=context.summary.section_starts(),
    )


def _issue(
    name: str, context: IssueContext, papers: Iterable[Paper | PaperView], **extra: Any
) -> Iterator[str]:
    """An issue template streamed, with its papers (as views) both as they come and by
    section."""
    shown = views(papers, context.site)
    return context.templates.stream(
        name,
        site=context.site,
        issue=context.issue,
        papers=shown,
        sections=by_section(shown),
        summary=context.summary,
        rising=context.rising,
        editorial=context.editorial,
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
        root=AT_TOP,
        path="index.html",
    )


def archive_page(templates: Templates, site: Site, year: IssueYear, issues: list[Issue]) -> str:
    """One year of the archive, so that no page lists every issue ever published."""
    return templates.render(
        "archive.html",
        site=site,
        year=year,
        issues=issues,
        root=ONE_DOWN,
        path=f"archive/{year.year}.html",
    )


def feed_entry_html(templates: Templates, site: Site, paper: Paper) -> str:
    return templates.render("feed_entry.html", site=site, paper=paper)
