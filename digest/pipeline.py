"""The one path from inbox to published issue; the CLI and the daemon both call ``run``.

Order of events, and why:

1. take the lock (one runner per state);
2. remove what a killed run may have left: temp files, issue files the state does not
   know (a run that died after writing but before committing);
3. in ONE transaction: record the new files, the new papers (and the issue they go
   in), sightings of papers seen again; then render every output from that
   uncommitted state and write each file atomically; then commit.

If anything fails before the commit, the transaction rolls back: the state has not
advanced and the next run publishes the same papers under the same issue id. Papers
are therefore published exactly once, and never marked seen without being published.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from itertools import islice, tee
from pathlib import Path
from typing import TypeVar

from digest.classify import Classifier, Placement, filter_kind
from digest.config import Config
from digest.diff import Candidate, PaperDiff, scan_inbox
from digest.errors import ConfigError, DigestError, NotFound, StateError
from digest.faults import pause_point
from digest.lock import RunLock
from digest.model import DigestFile, Issue, Paper, Problem
from digest.output import OutputWriter
from digest.parallel import load_files
from digest.store import Store

log = logging.getLogger("digest")

ISSUES_IN_FEED = 10
INDEX_ISSUES = 52  # a year of weekly issues; older ones are on the year pages
ISSUE_FILE = re.compile(r"\d{4}-\d{2}-\d{2}(?:-\d+)?\.(?:md|html|eml)")

Progress = Callable[[int, int, int], None]


@dataclass
class RunReport:
    """What a run did; the CLI prints it, ``--json`` dumps it."""

    issue_id: str | None = None
    new_papers: int = 0
    papers_parsed: int = 0
    files_read: list[str] = field(default_factory=list)
    files_unchanged: int = 0  # old files, as they were when taken in
    files_copied: list[str] = field(default_factory=list)  # new paths, content taken in before
    files_rejected: list[tuple[str, str]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    new: list[Paper] = field(default_factory=list)
    dry_run: bool = False
    marked_seen: int = 0  # new papers remembered without publishing them (--mark-seen)
    filtered: dict[str, int] = field(default_factory=dict)
    rising: int = 0
    sent_to: list[str] = field(default_factory=list)
    sent_issue: str | None = None
    delivery_error: str | None = None

    @property
    def files_skipped(self) -> int:
        """Files already taken in: the old ones, and copies of them."""
        return self.files_unchanged + len(self.files_copied)

    @property
    def rejected_input(self) -> bool:
        """Input was turned away (a whole file, or an entry): exit code 1."""
        return bool(self.files_rejected) or any(p.severity == "error" for p in self.problems)

    @property
    def result(self) -> str:
        if self.issue_id:
            return "published"
        return "marked-seen" if self.marked_seen else "nothing-new"

    def as_json(self) -> dict:
        return {
            "issue": self.issue_id,
            "new_papers": self.new_papers,
            "papers_parsed": self.papers_parsed,
            "dry_run": self.dry_run,
            "marked_seen": self.marked_seen,
            "files": {
                "read": self.files_read,
                "skipped": self.files_skipped,
                "copies": self.files_copied,
                "rejected": [{"file": f, "reason": r} for f, r in self.files_rejected],
            },
            "problems": [
                {"file": p.file, "line": p.line, "severity": p.severity, "message": p.message}
                for p in self.problems
            ],
            "filtered": dict(sorted(self.filtered.items())),
            "rising": self.rising,
            "written": self.written,
            "new": [{"id": p.id, "title": p.title} for p in self.new] if self.dry_run else None,
            "sent_to": self.sent_to,
            "sent_issue": self.sent_issue,
            "delivery_error": self.delivery_error,
        }


def local_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def run(
    config: Config,
    *,
    now: dt.datetime | None = None,
    today: dt.date | None = None,
    dry_run: bool = False,
    wait: float = 0.0,
    progress: Progress | None = None,
    send: bool | None = None,
    mark_seen: bool = False,
) -> RunReport:
    """Take in the new files of the inbox; publish one issue if they hold new papers.

    With ``mark_seen``, remember the new papers as seen and publish nothing: for a backlog
    that should not become one enormous issue (rss2email's ``run --no-send``)."""
    now = now or local_now()
    today = today or now.astimezone().date()
    if not config.inbox.is_dir():
        raise ConfigError(
            f"the inbox folder {config.inbox} does not exist",
            "create it and drop digest files into it, point --inbox or the config's inbox at "
            "your folder, or start with 'digest init'",
        )
    if dry_run:
        return _dry_run(config, now, today, progress)
    with RunLock(config.lock_path, wait=wait), Store(config.state) as store:
        report = _run_locked(config, store, now, today, progress, mark_seen)
        if send if send is not None else config.email.send_after_run:
            _send_after_run(config, store, report, now)
        return report


def _dry_run(
    config: Config, now: dt.datetime, today: dt.date, progress: Progress | None
) -> RunReport:
    """Everything a run would do, in a transaction that is rolled back; no file is written."""
    path = config.state if config.state.exists() else Path(":memory:")
    with Store(path) as store:
        report = RunReport(dry_run=True)
        try:
            with store.transaction():
                _take_in(config, store, now, today, report, progress, issue_seq=None)
                raise _Rollback
        except _Rollback:
            pass
        return report


class _Rollback(Exception):
    pass


def _take_in(
    config: Config,
    store: Store,
    now: dt.datetime,
    today: dt.date,
    report: RunReport,
    progress: Progress | None,
    issue_seq: int | None,
) -> None:
    """Read the new files in order and record files, papers and sightings."""
    scan = scan_inbox(config.inbox, store, today, config.max_file_size)
    report.files_unchanged = scan.unchanged
    report.files_copied = list(scan.copies)
    report.files_rejected = [(str(path), reason) for path, reason in scan.still_rejected]
    report.files_rejected += [(str(path), reason) for path, reason in scan.unreadable]
    intake = _Intake(store, PaperDiff(store), config.classifier(), report, now, today, issue_seq)
    total = len(scan.candidates)
    helpers = _helpers(config, scan.candidates)
    if helpers:
        log.info("reading %d new files with %d helper process(es)", total, helpers)
    loads = load_files(
        [str(candidate.path) for candidate in scan.candidates],
        today,
        config.max_file_size,
        helpers=helpers,
    )
    with closing(loads):
        for done, (candidate, (loaded, parsed_hash)) in enumerate(
            zip(scan.candidates, loads, strict=True), start=1
        ):
            intake.take(candidate, loaded, parsed_hash)
            if progress is not None:
                progress(done, total, report.papers_parsed)
    report.files_copied.sort()
    report.new_papers = intake.position
    if intake.position and issue_seq is not None:
        store.rank_issue(issue_seq, by_upvotes=config.ranking == "upvotes")
        rising = config.rising
        if rising.enabled:
            report.rising = store.mark_rising(
                intake.seen_again, issue_seq, rising.min_gain, rising.min_factor, rising.max_papers
            )
    store.forget_inbox_files(scan.forgotten)
    store.forget_rejections_of_absent_files()


@dataclass
class _Intake:
    """Records one parsed file after another into the store, within the run's transaction."""

    store: Store
    diff: PaperDiff
    classifier: Classifier
    report: RunReport
    now: dt.datetime
    today: dt.date
    issue_seq: int | None
    position: int = 0  # papers placed in the issue so far
    seen_again: list[int] = field(default_factory=list)

    def take(self, candidate: Candidate, loaded: DigestFile, parsed_hash: str | None) -> None:
        path = str(candidate.path)
        if parsed_hash is None:  # gone, unreadable or too large since the scan
            self.report.files_rejected.append((path, loaded.errors))
            return
        # A file is known by the hash of what was parsed (the scan hashes only paths it
        # has seen before), and may be a copy of one already taken in, earlier or in this
        # run. What was parsed is what is recorded, even if the file changed since.
        if self.store.taken_hashes([parsed_hash]):
            self.report.files_copied.append(path)
            self._remember(candidate, parsed_hash)
            return
        self.report.problems.extend(loaded.problems)
        if loaded.rejected:
            self.report.files_rejected.append((path, loaded.errors))
            self.store.record_rejection(parsed_hash, path, loaded.errors, self.now)
            self._remember(candidate, parsed_hash)
            return
        self.report.files_read.append(path)
        self.report.papers_parsed += len(loaded.papers)
        self._record(candidate, loaded, parsed_hash)
        self._remember(candidate, parsed_hash)

    def _record(self, candidate: Candidate, loaded: DigestFile, file_hash: str) -> None:
        store, report = self.store, self.report
        new, again = self.diff.split(loaded.papers)
        shown: list[tuple[Paper, Placement]] = []
        hidden: list[tuple[Paper, Placement]] = []
        for paper in new:
            place = self.classifier.place(paper, self.today)
            (hidden if place.filtered else shown).append((paper, place))
            if place.filtered:
                kind = filter_kind(place.filtered)
                report.filtered[kind] = report.filtered.get(kind, 0) + 1
        # Filtered papers are recorded too (outside any issue), so they never come back new.
        new_ids = store.add_papers(shown, self.issue_seq, self.now)
        new_ids += store.add_papers(hidden, None, self.now)
        store.update_seen(
            [(paper_id, paper.upvotes) for paper_id, paper in again.values()], self.now
        )
        self.seen_again.extend(paper_id for paper_id, paper in again.values() if paper.upvotes)
        file_id = store.record_file(
            file_hash,
            candidate.path.name,
            loaded.digest_date,
            self.now,
            len(loaded.papers),
            len(loaded.problems),
        )
        recorded = [paper for paper, _ in shown + hidden]
        listed = [
            (paper_id, p.digest_date, p.upvotes)
            for paper_id, p in zip(new_ids, recorded, strict=True)
        ]
        listed += [(paper_id, p.digest_date, p.upvotes) for paper_id, p in again.values()]
        store.add_sightings(listed, file_id)
        self.position += len(shown)
        if report.dry_run:
            report.new.extend(p for p, _ in shown)

    def _remember(self, candidate: Candidate, file_hash: str) -> None:
        self.store.remember_inbox_file(
            str(candidate.path), candidate.size, candidate.mtime_ns, file_hash
        )


# New files adding up to this much are read by helper processes (when there are cores to
# spare); below it, starting them costs more than they save.
BIG_IMPORT_BYTES = 32 * 1024 * 1024


def _helpers(config: Config, candidates: list[Candidate]) -> int:
    """Helper processes for this run's files: as configured, else one per spare core (up
    to 4) for a large import; never more than one per two files."""
    if config.workers is not None:
        wanted = config.workers
    elif sum(candidate.size for candidate in candidates) < BIG_IMPORT_BYTES:
        wanted = 0
    else:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        wanted = min(4, (cores or os.cpu_count() or 1) - 1)
    return max(0, min(wanted, len(candidates) // 2))


def _run_locked(
    config: Config,
    store: Store,
    now: dt.datetime,
    today: dt.date,
    progress: Progress | None,
    mark_seen: bool = False,
) -> RunReport:
    writer = OutputWriter(config.output)
    _recover(store, writer)
    run_id = store.start_run(now)
    report = RunReport()
    try:
        issue_id, issue_seq = store.next_issue_id(today)
        with store.transaction():
            _take_in(config, store, now, today, report, progress, None if mark_seen else issue_seq)
            pause_point("recorded")
            if mark_seen:
                report.marked_seen, report.new_papers = report.new_papers, 0
            if report.new_papers:
                issue = store.add_issue(issue_id, issue_seq, today, now, report.new_papers)
                report.issue_id = issue.id
                with writer.staging():
                    publish(config, store, writer, issue)
                    pause_point("rendered")
                report.written = [str(path) for path in writer.written]
                pause_point("written")
            if report.files_rejected and not report.files_read:
                log.warning(
                    "the inbox had %d file(s) but no paper could be read from them",
                    len(report.files_rejected),
                )
            store.finish_run(
                run_id,
                local_now(),
                report.result,
                issue_id=report.issue_id,
                new_papers=report.new_papers,
                papers_parsed=report.papers_parsed,
                summary=_summary(report),
            )
        pause_point("committed")
    except BaseException as exc:
        message = str(exc) if isinstance(exc, DigestError) else f"{type(exc).__name__}: {exc}"
        try:
            store.finish_run(run_id, local_now(), "failed", error=message, summary=_summary(report))
        except sqlite3.Error:
            log.error("could not record the failed run in the state")
        if isinstance(exc, sqlite3.Error):
            raise StateError(
                f"the state {config.state} could not be updated: {exc}",
                "check free disk space and permissions; nothing was published",
            ) from exc
        raise
    return report


def _summary(report: RunReport) -> dict:
    return {
        "files_read": len(report.files_read),
        "files_skipped": report.files_skipped,
        "files_rejected": [{"file": f, "reason": r} for f, r in report.files_rejected],
    }


def _recover(store: Store, writer: OutputWriter) -> None:
    """Undo what a killed run left in the output folder."""
    writer.remove_stale_temp_files()
    try:
        names = os.listdir(writer.root / "issues")
    except (FileNotFoundError, NotADirectoryError):
        return
    known = store.issue_ids()
    for name in names:
        if name.partition(".")[0] not in known and ISSUE_FILE.fullmatch(name):
            log.warning(
                "removing %s: left by a run that did not finish", writer.root / "issues" / name
            )
            writer.remove(f"issues/{name}")


def publish(config: Config, store: Store, writer: OutputWriter, issue: Issue) -> None:
    """Write the issue's files, the index, its year's page and the feeds from the store."""
    older = store.issues(before=issue, limit=1)
    write_issue(config, store, writer, issue, older[0] if older else None)
    write_site(config, store, writer, changed_year=issue.date.year)


def write_issue(
    config: Config, store: Store, writer: OutputWriter, issue: Issue, older: Issue | None
) -> None:
    """One issue's Markdown, web page and email."""
    from digest import render

    templates = templates_of(config)
    site = site_of(config)
    summary = store.issue_summary(issue.seq)
    rising = render.Rising(config.rising.name, store.rising_papers(issue.seq))
    # One pass over the papers feeds both renderings, the writer keeping them in step.
    for_markdown, for_page = (_Counted(papers) for papers in tee(store.issue_papers(issue.seq)))
    markdown_name, page_name = f"issues/{issue.id}.md", f"issues/{issue.id}.html"
    writer.write_all(
        {
            markdown_name: render.issue_markdown(
                templates, site, issue, for_markdown, summary, rising
            ),
            page_name: render.issue_page(templates, site, issue, for_page, older, summary, rising),
        },
        pace={markdown_name: for_markdown.count, page_name: for_page.count},
    )
    _write_email(config, store, writer, issue)


T = TypeVar("T")


class _Counted(Iterator[T]):
    """An iterator that knows how many items it has handed out."""

    def __init__(self, items: Iterator[T]) -> None:
        self.items = items
        self.handed_out = 0

    def __next__(self) -> T:
        item = next(self.items)
        self.handed_out += 1
        return item

    def count(self) -> int:
        return self.handed_out


def _write_email(config: Config, store: Store, writer: OutputWriter, issue: Issue) -> None:
    from digest import mail

    message = mail.build_message(config, store, issue)
    writer.write(f"issues/{issue.id}.eml", message.as_bytes())


def write_site(
    config: Config, store: Store, writer: OutputWriter, *, changed_year: int | None = None
) -> None:
    """The pages and feeds that span issues: the index, the year pages (only the changed
    year's, and any missing, when ``changed_year`` is given), paper feeds, the issues feed.

    The index lists the newest issues and links every year, so a run's cost does not grow
    with the archive."""
    from digest import feeds, render

    templates = templates_of(config)
    site = site_of(config)
    issues = store.issues(limit=INDEX_ISSUES)
    years = store.issue_years()
    writer.write("index.html", render.index_page(templates, site, issues, years))
    for year in years:
        name = f"archive/{year.year}.html"
        if changed_year is None or year.year == changed_year or not writer.exists(name):
            page = render.archive_page(templates, site, year, store.issues(year=year.year))
            writer.write(name, page)
    if issues:
        # The site's feeds, then each section's (under sections/<slug>/).
        for section in [None, *section_names(config)]:
            papers = store.newest_papers(config.feed_size, section=section)
            if papers:
                built = feeds.build_feeds(templates, site, papers, issues[0].published_at, section)
                for name, content in built.items():
                    writer.write(name, content)
        recent = [
            (
                issue,
                list(islice(store.issue_papers(issue.seq), feeds.ISSUE_FEED_PAPERS)),
                issue.paper_count,
            )
            for issue in issues[:ISSUES_IN_FEED]
        ]
        writer.write(feeds.ISSUES_NAME, feeds.build_issues_feed(templates, site, recent))


def section_names(config: Config) -> list[str]:
    """The sections that get feeds of their own: the configured ones, then the rest."""
    if not config.sections:
        return []
    return [section.name for section in config.sections] + [config.other_section]


def templates_of(config: Config):  # -> render.Templates
    from digest import render

    return render.templates_for(config.templates, config.state.parent / "template-cache")


def site_of(config: Config):  # -> render.Site, imported lazily to keep start-up fast
    from digest.render import Site

    return Site(
        config.title,
        config.description,
        config.site_url,
        config.author,
        config.language,
        tuple(section_names(config)),
    )


def _send_after_run(config: Config, store: Store, report: RunReport, now: dt.datetime) -> None:
    """Send the newest issue to whoever has not had it: the one this run published, or
    one an earlier run could not deliver. Deliveries are per recipient, so nobody gets an
    issue twice."""
    from digest import mail

    newest = store.issue(None)
    if newest is None:
        return
    try:
        outcome = mail.send_issue(config, store, newest.id, now=now)
        report.sent_to = list(outcome.sent_to)
        report.sent_issue = newest.id if outcome.sent_to else None
    except DigestError as exc:
        report.delivery_error = str(exc)
        log.error("issue %s was published but not sent: %s", newest.id, exc)


def rebuild(config: Config, *, wait: float = 0.0) -> list[str]:
    """Render every output again from the state (after a template change)."""
    with RunLock(config.lock_path, wait=wait), Store(config.state, create=False) as store:
        issues = store.issues()
        if not issues:
            raise NotFound("nothing published yet", "run 'digest run' first")
        writer = OutputWriter(config.output)
        with writer.staging():
            for position, issue in enumerate(issues):
                older = issues[position + 1] if position + 1 < len(issues) else None
                write_issue(config, store, writer, issue, older)
            write_site(config, store, writer)
        return [str(path) for path in writer.written]
