"""Publishing: the files of issues and the site, rendered from the store.

In the role of Pelican's generators and writer: given a prebuilt site and templates,
it stages an issue's Markdown, web page and email file, the index, the year pages and
the feeds, and rebuilds everything on demand. Everything is rendered from the state,
never from the run, so the same state gives the same bytes, and an issue whose files
were not all written (a killed run) is finished later by rendering it again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from digest.config.sections import Ranking
from digest.config.settings import Config
from digest.errors import OutputError
from digest.faults import pause_point
from digest.model import INDEX_ISSUES, Issue, Site
from digest.publish.output import OutputWriter, Owner
from digest.publish.ownership import claim_output
from digest.publish.records import (
    NO_EDITORIAL,
    Editorial,
    IssueContext,
    IssueFeedEntry,
    Rising,
    TitleLink,
)

if TYPE_CHECKING:
    from email.message import EmailMessage

    from digest.publish.templates import Templates
from digest.publish.view import PaperView, views
from digest.store import Store

log = logging.getLogger("digest")

ISSUES_IN_FEED = 10
REUSED_PAPERS = 5_000  # a larger issue is streamed from the state for each of its files
SITE_PENDING = "site_pending"  # a setting: the site's pages and feeds wait to be written


def section_names(config: Config) -> list[str]:
    """The sections that get feeds of their own: the configured ones, then the rest."""
    if not config.sections:
        return []
    return [section.name for section in config.sections] + [config.other_section]


def site_for(config: Config) -> Site:
    return Site(
        config.title,
        config.description,
        config.site_url,
        config.author,
        config.language,
        tuple(section_names(config)),
        INDEX_ISSUES,
        config.paper_link,
        config.search,
        papers_per_page(config),
    )


def papers_per_page(config: Config) -> int:
    """The page size a new issue is published with (and keeps): the config's, unless the
    ``issue.html`` in use cannot draw pages."""
    return config.papers_per_page if issue_template_draws_pages(config.templates) else 0


def issue_template_draws_pages(user_dir: Path | None) -> bool:
    """Whether the ``issue.html`` in use can draw one page of a paged issue: ours can; a
    user's that never reads ``page`` (written before issues had pages) would show each
    page's papers with no way to the others, so with it every issue stays one page, as
    it was (and feeds and emails link there)."""
    if user_dir is None or not (user_dir / "issue.html").is_file():
        return True
    from digest.publish.templates import default_template_dir, reads_variable

    return reads_variable(user_dir / "issue.html", "page", (user_dir, default_template_dir()))


def writer_for(config: Config, store: Store) -> OutputWriter:
    return OutputWriter(
        config.output, Owner(store.state_id, config.site), precompress=config.precompress
    )


# The files of an issue, each rendered on its own from the state (in this process, or in a
# helper: a large issue's page and Markdown render on two cores at once).
Part = Literal["page", "markdown", "email"]
PARTS: tuple[Part, ...] = ("markdown", "page", "email")


@dataclass
class Publisher:
    config: Config
    store: Store
    writer: OutputWriter
    site: Site
    claimed: bool = False  # the folder's marker names this state
    superseded: list[str] = field(default_factory=list)  # an older search index's files
    # The papers of the issue being staged, as views, read once for its Markdown, page and
    # email (each part of each paper computed once); only an issue of at most
    # REUSED_PAPERS, and only one at a time, so memory stays that of one such issue.
    _views: tuple[int, list[PaperView]] | None = field(default=None, repr=False)

    @classmethod
    def for_config(cls, config: Config, store: Store, writer: OutputWriter) -> Publisher:
        if config.search:
            from digest.publish import search

            search.binary()  # installed, or a config error before anything is written
        return cls(config, store, writer, site_for(config))

    @cached_property
    def templates(self) -> Templates:
        """Made when first rendered with: a run with nothing new never imports Jinja2."""
        from digest.publish.templates import templates_for

        return templates_for(self.config.templates, self.config.cache_dir)

    def stage(self, issues: Iterable[Issue], *, link_neighbours: bool = True) -> None:
        """Stage the files of the site (the index, the feeds, and the year pages these
        issues are in), then of these issues; ``link_neighbours``: also the pages of the
        issues either side of them, whose "Previous" and "Next issue" links they change.
        The site first: its feeds are a run's largest files, compressed on the helper
        thread while the issue renders (staged last, they kept a scheduled run waiting
        50 ms for the compressing). Everything is rendered from the recorded state, so
        the order changes no byte; the writer still puts the issues' files in place
        before the site's that link to them."""
        staged = list(issues)
        self.claim()
        self.stage_site(changed_years={issue.date.year for issue in staged})
        for issue in staged:
            older = self.store.issues(before=issue, limit=1)
            self.stage_issue(issue, older[0] if older else None, self.store.next_issue(issue))
        if link_neighbours:
            self.stage_neighbour_pages(staged)
        self._views = None
        self.writer.settle()  # every file whole on disk before the state records them

    def stage_neighbour_pages(self, issues: list[Issue]) -> None:
        """The web pages of the issues just before and after these (a backfill lands
        between older issues and newer ones): the pages a new issue changes (their
        Markdown and email have no such links; of a paged issue, only its first page
        does)."""
        from digest.publish import pages

        staged = {issue.seq for issue in issues}
        neighbours: dict[int, Issue] = {}
        for issue in issues:
            for near in (*self.store.issues(before=issue, limit=1), self.store.next_issue(issue)):
                if near is not None and near.seq not in staged:
                    neighbours[near.seq] = near
        for near in neighbours.values():
            before = self.store.issues(before=near, limit=1)
            context = self.context(near, before[0] if before else None, self.store.next_issue(near))
            page = pages.first_page(context, self.papers(near))
            self.writer.write_changed(self.site.issue_page_path(near.id), page)

    def context(
        self, issue: Issue, older: Issue | None = None, newer: Issue | None = None
    ) -> IssueContext:
        """Everything the renderers of an issue need but its papers, from the state."""
        return IssueContext(
            self.templates,
            self.site,
            issue,
            self.store.issue_summary(issue.seq),
            Rising(self.config.rising.name, self.store.rising_papers(issue.seq)),
            self.editorial(issue),
            older,
            newer,
        )

    def stage_issue(
        self,
        issue: Issue,
        older: Issue | None,
        newer: Issue | None = None,
        parts: Iterable[Part] = PARTS,
    ) -> None:
        """One issue's Markdown, web page and email (or those of them named), each from
        its own pass over the issue's papers in the state."""
        from digest.publish import pages

        context = self.context(issue, older, newer)
        for part in parts:
            if part == "markdown":
                text = pages.issue_markdown(context, self.papers(issue))
                self.writer.write(f"issues/{issue.id}.md", text)
            elif part == "page":
                for path, page in pages.issue_pages(context, self.papers(issue)):
                    self.writer.write(path, page)
            else:
                email = self.email(issue, context=context).as_bytes()
                self.writer.write(f"issues/{issue.id}.eml", email)

    def papers(self, issue: Issue) -> Iterator[PaperView]:
        """The issue's papers in page order, as views: streamed from the state, or, for an
        issue small enough, read once and reused by each of its files."""
        if issue.paper_count > REUSED_PAPERS:
            return views(self.store.issue_papers(issue.seq, PaperView), self.site)
        if self._views is None or self._views[0] != issue.seq:
            papers = self.store.issue_papers(issue.seq, PaperView, first=issue.paper_count)
            read = list(views(papers, self.site))
            self._views = (issue.seq, read)
        return iter(self._views[1])

    def _heads(self, issue: Issue, per_section: int) -> Iterator[PaperView]:
        """The first ``per_section`` papers of each section, in page order (the state's
        ``issue_papers(per_section=)``, from the papers already read when they were)."""
        if self._views is None or self._views[0] != issue.seq:
            heads = self.store.issue_papers(issue.seq, PaperView, per_section=per_section)
            yield from views(heads, self.site)
            return
        counted: dict[str | None, int] = {}
        for paper in self._views[1]:
            seen = counted.get(paper.section, 0)
            if seen < per_section:
                counted[paper.section] = seen + 1
                yield paper

    def editorial(self, issue: Issue) -> Editorial:
        """The editor's note of an issue, as the state keeps it, with its picks matched."""
        source = self.store.note(issue.seq)
        if source is None:
            return NO_EDITORIAL
        from digest.publish import notes

        note = notes.parse(source, f"of issue {issue.id}")
        found = {
            p.key: p
            for p in self.store.issue_papers_with_keys(issue.seq, [pick.key for pick in note.picks])
        }
        picks = tuple((found[pick.key], pick.comment) for pick in note.picks if pick.key in found)
        return Editorial(note, picks)

    def email(
        self,
        issue: Issue,
        recipients: list[str] | None = None,
        context: IssueContext | None = None,
    ) -> EmailMessage:
        from digest.publish import message

        email = self.config.email
        papers = list(self._heads(issue, message.papers_to_show(email)))
        return message.build_message(context or self.context(issue), email, papers, recipients)

    def stage_site(self, *, changed_years: set[int] | None = None) -> None:
        """The pages and feeds that span issues: the index, the year pages (only those of
        ``changed_years`` and any missing, when given; all otherwise), paper feeds, the
        issues feed. The index lists the newest issues and links every year, so a run's
        cost does not grow with the archive."""
        from digest.publish import feeds, pages

        store, site, templates, writer = self.store, self.site, self.templates, self.writer
        issues = store.issues(limit=site.index_issues)
        years = store.issue_years()
        writer.write("index.html", pages.index_page(templates, site, issues, years))
        for year in years:
            name = f"archive/{year.year}.html"
            if changed_years is None or year.year in changed_years or not writer.exists(name):
                page = pages.archive_page(templates, site, year, store.issues(year=year.year))
                writer.write(name, page)
        if not issues:
            return
        # The site's feeds, then each section's (under sections/<slug>/): every page's
        # head offers each section's feed, so one nothing has matched yet is there, empty.
        for section in [None, *site.sections]:
            papers = store.newest_papers(
                self.config.feed_size,
                section,
                whole_newest=self.config.feed_max,
                by_upvotes=self.config.ranking is Ranking.UPVOTES,
            )
            built = feeds.build_feeds(templates, site, papers, issues[0].published_at, section)
            for name, content in built.items():
                writer.write(name, content)
        whole = templates.has_own("issue_feed_entry.html")  # a user's: every paper whole
        recent = [self._issue_feed_entry(issue, whole) for issue in issues[:ISSUES_IN_FEED]]
        writer.write(feeds.ISSUES_NAME, feeds.build_issues_feed(templates, site, recent))
        if self.config.search:
            from digest.publish import search

            self.superseded = search.stage(store, site, templates, writer)

    def _issue_feed_entry(self, issue: Issue, whole: bool) -> IssueFeedEntry:
        """An issue as the issues feed shows it: up to ``feed_max`` of its papers, the first
        ISSUE_FEED_PAPERS whole, the rest by title. Ours reads those by title and place
        alone (ten issues of a thousand papers are the most a scheduled run reads); a
        user's ``issue_feed_entry.html`` (``whole``) gets them all whole as well, as it
        always did."""
        from digest.publish.feeds import ISSUE_FEED_PAPERS

        most, site, store = self.config.feed_max, self.site, self.store
        if whole:
            papers = list(store.issue_papers(issue.seq, first=most))
            titles = [TitleLink(p.title, site.paper_url(p)) for p in papers[ISSUE_FEED_PAPERS:]]
            shown = len(papers)
        else:
            papers = list(store.issue_papers(issue.seq, first=min(most, ISSUE_FEED_PAPERS)))
            titles = []
            if len(papers) == ISSUE_FEED_PAPERS < most:
                rest = store.issue_titles(issue.seq, skip=len(papers), first=most - len(papers))
                place = site.placed_url
                titles = [TitleLink(t.title, place(issue.id, t.page, t.key)) for t in rest]
            shown = len(papers) + len(titles)
        editorial = self.editorial(issue)
        return IssueFeedEntry(issue, papers, issue.paper_count, editorial, titles, shown)

    def mark_site_pending(self) -> None:
        """The site's pages and feeds are to be written again: set in the transaction that
        records new issues, cleared once they are in place. Issues rendered on several
        cores are each marked written as they are done; this says the site is not yet."""
        self.store.set_setting(SITE_PENDING, "1")

    @property
    def site_pending(self) -> bool:
        return bool(self.store.setting(SITE_PENDING))

    def claim(self) -> None:
        if not self.claimed:
            claim_output(self.store, self.writer)
            self.claimed = True

    def stage_everything(self) -> list[Issue]:
        """Every issue and every site page, from the state (after a template change)."""
        self.claim()
        issues = self.store.issues()
        for position, issue in enumerate(issues):
            older = issues[position + 1] if position + 1 < len(issues) else None
            self.stage_issue(issue, older, issues[position - 1] if position else None)
        self.stage_site()
        self.writer.settle()
        return issues

    def put_in_place(self, issues: list[Issue]) -> list[Path]:
        """Rename the staged files into place, then record that they are: until then the
        issues stay pending, and the next run (or a rebuild) writes them again."""
        writer = self.writer
        if not issues and not writer.staged:
            return []
        try:
            writer.commit()
        except OutputError as exc:
            names = ", ".join(issue.id for issue in issues) or "the site"
            raise OutputError(
                f"issue {names} is recorded, but its files could not all be written: {exc.message}",
                "fix the output folder (space, permissions); the next run (or 'digest "
                "rebuild') writes them again: nothing is lost, nothing is published twice",
            ) from exc
        if self.superseded:
            from digest.publish.search import BUNDLE

            writer.remove_superseded(self.superseded, BUNDLE)
            self.superseded = []
        pause_point("written")
        with self.store.transaction():
            if issues:
                self.store.outputs_written(issue.seq for issue in issues)
            if self.site_pending:
                self.store.set_setting(SITE_PENDING, "")
        written = list(writer.written)
        writer.written.clear()
        return written
