"""The pages of the site: an issue (its web page and its Markdown), the front page, the
year pages, a paper's entry in the feeds. Each is a template streamed or rendered with
what it needs, and nothing else."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
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


def by_section(
    papers: Iterator[PaperView],
) -> Iterator[tuple[str | None, Iterator[PaperView]]]:
    """An issue's papers as (section, its papers) in page order, lazily: templates loop
    over sections, then papers, with no per-paper look back at the previous one. (They
    get ``papers`` too, the same stream ungrouped: a template uses one or the other.)"""
    return groupby(papers, key=attrgetter("section"))


def issue_markdown(context: IssueContext, papers: Iterable[Paper]) -> Iterator[str]:
    return _issue("issue.md", context, papers)


def issue_page(context: IssueContext, papers: Iterable[Paper]) -> Iterator[str]:
    """The issue's web page. It links to the older issue and to the newer one (so the
    publisher writes the page of the newest issue again when the next one is published:
    one page, not the archive). Its contents list every
    title, by section, when the issue has at most CONTENTS_MAX papers (read ahead, so
    the page can open with them); a larger one lists its sections only."""
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
        path=f"issues/{context.issue.id}.html",
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
