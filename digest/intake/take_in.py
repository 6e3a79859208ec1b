"""Taking in: the new files of a scan, read and recorded, with their papers placed.

Every file read is recorded by the hash of what was parsed, its new papers (never seen
before, by title identity) with their section or filter, and a sighting of every paper
it lists, seen before or not. A paper whose abstract was cut off is completed when a
later listing has the whole text, and the issue that showed it is written again.
All of it happens inside the run's transaction: if the run fails, none of it happened.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field

from digest.backfill import Backfill, moment
from digest.classify import Classifier, Placement
from digest.config.settings import helper_processes
from digest.intake.inbox import Candidate, InboxScan
from digest.intake.parallel import load_files
from digest.model import DigestFile, Paper
from digest.report import RunReport
from digest.store import Store
from digest.store.records import KnownPaper
from digest.text import plural, shown_name

log = logging.getLogger("digest")

Progress = Callable[[int, int, int], None]

# New files adding up to this much are read by helper processes (when there are cores to
# spare); below it, starting them costs more than they save.
BIG_IMPORT_BYTES = 32 * 1024 * 1024


def helpers_for(workers: int | None, candidates: list[Candidate]) -> int:
    """Helper processes for this run's files: as configured, else one per spare core (up
    to 4) for a large import; never more than one per two files."""
    if workers is not None:
        wanted = workers
    elif sum(candidate.entry.size for candidate in candidates) < BIG_IMPORT_BYTES:
        wanted = 0
    else:
        wanted = helper_processes(None)
    return max(0, min(wanted, len(candidates) // 2))


@dataclass
class Intake:
    """Records one parsed file after another into the store."""

    store: Store
    classifier: Classifier
    report: RunReport
    now: dt.datetime
    today: dt.date
    issue_seq: int | None  # the issue new papers go in; None: remembered as seen only
    backfill: Backfill | None = None  # or: an issue per period, as the files go by
    position: int = 0  # papers placed in issues so far
    seen_again: list[int] = field(default_factory=list)
    rewritten: set[int] = field(default_factory=set)  # earlier issues whose text changed
    listed_days: set[dt.date] = field(default_factory=set)  # digest dates with new papers
    scan: InboxScan = field(default_factory=InboxScan)  # the scan being taken in
    remembered: set[str] = field(default_factory=set)  # paths remembered in this run
    unsure: set[str] = field(default_factory=set)  # of which read too soon to trust
    # (path, size, mtime_ns, hash) to remember, stored at the end of the intake in one
    # statement (nothing reads them before): one round trip less per file on a server
    to_remember: list[tuple[str, int, int, str]] = field(default_factory=list)

    def take_all(
        self, scan: InboxScan, max_size: int, workers: int | None, progress: Progress | None
    ) -> None:
        report = self.report
        report.files_unchanged = scan.unchanged
        report.files_copied = scan.copy_paths
        report.files_waiting = list(scan.settling)
        report.files_rejected = [(r.name, r.reason) for r in scan.still_rejected + scan.refused]
        self.scan = scan
        for copy in scan.copies + scan.verified:
            self._remember(copy.entry.path, copy.entry.size, copy.entry.mtime_ns, copy.hash)
        report.problems.extend(scan.problems)
        items = [(c.entry.source, c.entry.path, c.latest) for c in scan.candidates]
        helpers = helpers_for(workers, scan.candidates)
        if helpers:
            processes = plural(helpers, "helper process", "helper processes")
            log.info("reading %s with %s", plural(len(items), "new file"), processes)
        loads = load_files(items, max_size, helpers=helpers)
        with closing(loads):  # stops the helpers if the run fails half way
            for done, (candidate, (loaded, parsed_hash)) in enumerate(
                zip(scan.candidates, loads, strict=True), start=1
            ):
                self.take(candidate, loaded, parsed_hash)
                if progress is not None:
                    progress(done, len(scan.candidates), report.papers_parsed)
        if self.backfill is not None:
            self.backfill.finish()
        report.files_copied.sort()
        self.store.remember_inbox_files(self.to_remember)
        self.to_remember.clear()
        unsure = (scan.unsure - self.remembered - set(scan.forgotten)) | self.unsure
        if unsure != scan.unsure:
            self.store.set_unsure_inbox_paths(unsure)
        self.store.forget_inbox_files(scan.forgotten)
        self.store.forget_rejections_of_absent_files()

    def take(self, candidate: Candidate, loaded: DigestFile, parsed_hash: str | None) -> None:
        path, shown = candidate.entry.path, shown_name(candidate.entry.path)
        if parsed_hash is None:  # gone, unreadable or too large since the scan
            self.report.files_rejected.append((shown, loaded.errors))
            return
        # A file is known by the hash of what was parsed (the scan hashes only paths it
        # has seen before), and may be a copy of one already taken in, earlier or in this
        # run. What was parsed is what is recorded, even if the file changed since.
        unique: dict[str, Paper] = {}  # a paper listed twice counts once, the first winning
        for paper in loaded.papers:
            unique.setdefault(paper.key, paper)
        taken, known = self.store.file_lookup(parsed_hash, unique)
        if taken:
            self.report.files_copied.append(shown)
            self._remember_candidate(candidate, parsed_hash)
            return
        self.report.problems.extend(loaded.problems)
        if loaded.rejected:
            self.report.files_rejected.append((shown, loaded.errors))
            self.store.record_rejection(parsed_hash, path, loaded.errors, self.now)
            self._remember_candidate(candidate, parsed_hash)
            return
        self.report.files_read.append(shown)
        self.report.papers_parsed += len(loaded.papers)
        self._record(candidate, loaded, parsed_hash, self._split(unique, known))
        self._remember_candidate(candidate, parsed_hash)

    def _record(
        self,
        candidate: Candidate,
        loaded: DigestFile,
        file_hash: str,
        split: tuple[list[Paper], list[tuple[KnownPaper, Paper]]],
    ) -> None:
        store, report = self.store, self.report
        issue_seq, today, now, seen_again = self.issue_seq, self.today, self.now, self.seen_again
        period = None
        if self.backfill is not None:  # the issue of this file's period, dated by it
            period = self.backfill.enter(loaded.digest_date, candidate.path.name)
            issue_seq, today, seen_again = period.seq, period.last_date, period.seen_again
            now = moment(loaded.digest_date or period.last_date, self.now)
        new, again = split
        shown: list[tuple[Paper, Placement]] = []
        hidden: list[tuple[Paper, Placement]] = []
        for paper in new:
            place = self.classifier.place(paper, today)
            (hidden if place.filtered else shown).append((paper, place))
            if place.filter_kind is not None:
                kind = place.filter_kind.value
                report.filtered[kind] = report.filtered.get(kind, 0) + 1
        # Filtered papers are recorded too (outside any issue), so they never come back new.
        new_ids = store.add_papers(shown, issue_seq, now)
        new_ids += store.add_papers(hidden, None, now)
        store.update_seen([(known.id, paper.upvotes) for known, paper in again], now)
        detailed = [(known.id, paper) for known, paper in again if paper.details is not None]
        if detailed:
            store.update_details(detailed)
        seen_again.extend(known.id for known, paper in again if paper.upvotes)
        self._complete([(known, paper) for known, paper in again if known.abstract_cut])
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
        listed += [(known.id, p.digest_date, p.upvotes) for known, p in again]
        store.add_sightings(listed, file_id)
        self.position += len(shown)
        if period is not None:
            period.papers += len(shown)
        if shown and loaded.digest_date is not None:
            self.listed_days.add(loaded.digest_date)
        if report.dry_run:
            report.new.extend(p for p, _ in shown)

    @staticmethod
    def _split(
        unique: dict[str, Paper], known: dict[str, KnownPaper]
    ) -> tuple[list[Paper], list[tuple[KnownPaper, Paper]]]:
        """(new papers, (what is known, listing) of those seen before); papers new earlier
        in this run are in the store by now, so they count as seen."""
        new = [paper for key, paper in unique.items() if key not in known]
        return new, [(known[key], unique[key]) for key in known]

    def _complete(self, cut: list[tuple[KnownPaper, Paper]]) -> None:
        """A listing that carries the rest of a cut-off abstract completes it."""
        if not cut:
            return
        stored = {row.id: row for row in self.store.cut_abstracts(known.id for known, _ in cut)}
        for known, paper in cut:
            row = stored.get(known.id)
            if row is None:
                continue
            before = row.abstract.rstrip(" ….")
            if len(paper.abstract) > len(row.abstract) and paper.abstract.startswith(before):
                self.store.complete_abstract(
                    row.id, paper.abstract, paper.links, paper.abstract_cut, self.now
                )
                self.report.completed += 1
                current = self.backfill.current if self.backfill else None
                this_run = self.issue_seq if current is None else current.seq
                if row.issue_seq is not None and row.issue_seq != this_run:
                    self.rewritten.add(row.issue_seq)

    def _remember_candidate(self, candidate: Candidate, file_hash: str) -> None:
        entry = candidate.entry
        self._remember(entry.path, entry.size, entry.mtime_ns, file_hash)

    def _remember(self, path: str, size: int, mtime_ns: int, file_hash: str) -> None:
        """Remember a path by its size and time, to skip it unread; one read too soon
        after it changed is hashed again by the next scan (an edit within the timestamp
        granularity keeps both)."""
        self.to_remember.append((path, size, mtime_ns, file_hash))
        self.remembered.add(path)
        if not self.scan.trusted(mtime_ns):
            self.unsure.add(path)
