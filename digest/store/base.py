"""The store's interface, and the records it answers with.

Everything digest remembers goes through ``Store``: files taken in, papers seen, issues
published, runs, deliveries. Two backends implement it (SQLite in a file, PostgreSQL
for several digests and machines), and one contract test suite runs against both, so
the pipeline never knows which one it has.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager

from digest.classify import Placement
from digest.model import (
    Issue,
    IssueSummary,
    IssueYear,
    Medium,
    Paper,
    RunResult,
)
from digest.store.records import (
    Counts,
    CutAbstract,
    Delivery,
    DeliveryUpdate,
    Heartbeat,
    KnownFile,
    KnownPaper,
    LockKind,
    PaperTitle,
    PingRecord,
    RunRecord,
)


class Store(ABC):
    """A digest state. Use as a context manager to close it.

    Writes happen inside ``transaction()``; ``rehearsal()`` runs the same writes and
    rolls them back (a dry run)."""

    #: A stable identity, made when the state was created: the output folder records it
    #: so that no other state ever takes that folder over by accident.
    state_id: str
    #: Where the state is, fit to show (a path, or a URL without its password).
    location: str

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @abstractmethod
    def close(self) -> None: ...

    @property
    @abstractmethod
    def schema_version(self) -> int: ...

    @abstractmethod
    def transaction(self) -> AbstractContextManager[None]:
        """All or nothing: commits on success, rolls back on any exception."""

    @abstractmethod
    def rehearsal(self) -> AbstractContextManager[None]:
        """Like ``transaction``, but always rolled back."""

    @abstractmethod
    def lock(self, kind: LockKind, wait: float) -> AbstractContextManager[None]:
        """Hold the site's run (or daemon) lock; LockBusy after ``wait`` seconds. Locks
        die with their holder, even by ``kill -9``."""

    @abstractmethod
    def lock_is_free(self, kind: LockKind) -> bool:
        """Whether nobody holds the lock now (a 'running' run then died)."""

    @abstractmethod
    def lock_held_since(self, kind: LockKind) -> dt.datetime | None:
        """When the lock's holder took it, by the clock (a run's own time may be --now):
        ``digest check`` tells a stuck run from a long one by it. None when free."""

    @abstractmethod
    def setting(self, name: str) -> str | None: ...

    @abstractmethod
    def set_setting(self, name: str, value: str) -> None: ...

    # -- the inbox, as last seen --------------------------------------------------------

    @abstractmethod
    def inbox_fingerprints(self, *, taken: bool = False) -> set[tuple[str, int, int]]:
        """(path, size, mtime_ns) of each remembered inbox file, or with ``taken`` only of
        those whose content was taken in."""

    @abstractmethod
    def remembered_inbox_count(self) -> int: ...

    @abstractmethod
    def remembered_inbox_paths(self) -> set[str]: ...

    @abstractmethod
    def remembered_inbox_files(self, paths: Iterable[str]) -> dict[str, KnownFile]: ...

    def remember_inbox_file(self, path: str, size: int, mtime_ns: int, content_hash: str) -> None:
        self.remember_inbox_files([(path, size, mtime_ns, content_hash)])

    @abstractmethod
    def remember_inbox_files(self, files: Iterable[tuple[str, int, int, str]]) -> None:
        """Remember paths by (path, size, mtime_ns, hash), in order (a path given twice:
        the last); one statement for many, as an import remembers its files at its end."""

    @abstractmethod
    def unsure_inbox_paths(self) -> set[str]:
        """Remembered paths whose size and time cannot be trusted: they were remembered
        within the filesystem's timestamp granularity of their modification time, so an
        edit right after could keep both. The scan hashes them again."""

    @abstractmethod
    def set_unsure_inbox_paths(self, paths: Iterable[str]) -> None: ...

    @abstractmethod
    def forget_inbox_files(self, paths: Iterable[str]) -> None: ...

    # -- files ----------------------------------------------------------------------------

    @abstractmethod
    def taken_hashes(self, hashes: Iterable[str]) -> set[str]: ...

    @abstractmethod
    def rejected_reasons(self, hashes: Iterable[str]) -> dict[str, str]: ...

    @abstractmethod
    def record_file(
        self,
        content_hash: str,
        name: str,
        digest_date: dt.date | None,
        taken_at: dt.datetime,
        paper_count: int,
        problem_count: int,
    ) -> int:
        """Remember a file taken in; its id numbers its sightings."""

    @abstractmethod
    def record_rejection(
        self, content_hash: str, path: str, reason: str, at: dt.datetime
    ) -> None: ...

    @abstractmethod
    def rejections(self) -> list[tuple[str, str]]: ...

    @abstractmethod
    def forget_rejections_of_absent_files(self) -> None: ...

    @abstractmethod
    def newest_file_taken(self) -> dt.datetime | None:
        """When the newest file was taken in."""

    @abstractmethod
    def recent_file_sizes(self, count: int) -> list[int]:
        """Papers listed by each of the newest ``count`` files taken in (by digest date,
        then the order taken in), newest first: a short one is a partial scrape."""

    # -- papers ---------------------------------------------------------------------------

    @abstractmethod
    def known_papers(self, keys: Iterable[str]) -> dict[str, KnownPaper]: ...

    def file_lookup(
        self, content_hash: str, keys: Iterable[str]
    ) -> tuple[bool, dict[str, KnownPaper]]:
        """What the intake asks of each file: whether one of this hash was taken in, and
        if not, which of its papers are known (a server answers both in one round trip)."""
        if self.taken_hashes([content_hash]):
            return True, {}
        return False, self.known_papers(keys)

    @abstractmethod
    def cut_abstracts(self, ids: Iterable[int]) -> list[CutAbstract]: ...

    @abstractmethod
    def complete_abstract(
        self,
        paper_id: int,
        abstract: str,
        links: tuple[str, ...],
        still_cut: bool,
        now: dt.datetime,
    ) -> None: ...

    @abstractmethod
    def add_papers(
        self,
        placed: Sequence[tuple[Paper, Placement | None]],
        issue_seq: int | None,
        now: dt.datetime,
    ) -> list[int]:
        """Record new papers, in the order listed; returns their ids."""

    @abstractmethod
    def rank_issue(self, issue_seq: int, by_upvotes: bool) -> None: ...

    @abstractmethod
    def mark_rising(
        self,
        candidates: Iterable[int],
        issue_seq: int,
        min_gain: int | None,
        min_factor: float | None,
        limit: int,
        day: dt.date = dt.date.max,
    ) -> int:
        """Mark the candidates (of issues dated on or before ``day``) that rose most."""

    @abstractmethod
    def rising_papers(self, issue_seq: int) -> list[tuple[Paper, int | None]]: ...

    @abstractmethod
    def update_details(self, listed: Sequence[tuple[int, Paper]]) -> None:
        """Papers seen before, listed again with the API's details (``paper.details``)."""

    @abstractmethod
    def update_seen(
        self, seen_again: Sequence[tuple[int, int | None]], now: dt.datetime
    ) -> None: ...

    @abstractmethod
    def add_sightings(
        self, sightings: Sequence[tuple[int, dt.date | None, int | None]], file_id: int
    ) -> None: ...

    @abstractmethod
    def issue_papers(
        self,
        issue_seq: int,
        kind: type[Paper] = Paper,
        *,
        per_section: int | None = None,
        first: int | None = None,
    ) -> Iterator[Paper]:
        """The papers of one issue in page order, streamed (an issue can be huge), as
        ``kind`` (a kind of Paper: the publisher asks for its views, made as they are read);
        with ``per_section``, only the first that many of each section (an email's); with
        ``first``, only the first that many (read at once: one round trip to a server,
        where a stream of unknown length fetches in growing batches)."""

    @abstractmethod
    def newest_papers(
        self,
        limit: int,
        section: str | None = None,
        *,
        whole_newest: int = 0,
        by_upvotes: bool = True,
    ) -> list[Paper]:
        """What the feeds carry: the newest issue whole (up to ``whole_newest`` papers),
        then older issues' papers, until ``limit``; each issue's ranked across sections."""

    @abstractmethod
    def issue_titles(self, issue_seq: int, *, skip: int, first: int) -> list[PaperTitle]:
        """Of an issue's papers in page order, the ``first`` after the first ``skip``, by
        title and place alone (the issues feed lists up to a thousand per issue so)."""

    @abstractmethod
    def issue_papers_with_keys(self, issue_seq: int, keys: Iterable[str]) -> list[Paper]:
        """Those of an issue's papers whose identity is one of ``keys`` (editor's picks)."""

    @abstractmethod
    def issue_summary(self, issue_seq: int) -> IssueSummary: ...

    # -- issues ---------------------------------------------------------------------------

    @abstractmethod
    def next_issue_id(self, day: dt.date, avoid: Iterable[str] = ()) -> tuple[str, int]:
        """``YYYY-MM-DD``, then ``-2``, ``-3``; never an id in ``avoid`` (files of that
        name already in the output folder)."""

    @abstractmethod
    def add_issue(
        self,
        issue_id: str,
        seq: int,
        day: dt.date,
        published_at: dt.datetime,
        count: int,
        papers_per_page: int = 0,
    ) -> Issue:
        """Record an issue, its outputs pending until ``outputs_written``; shown on pages
        of ``papers_per_page`` papers if it has more (0: on one page), for good."""

    @abstractmethod
    def mark_outputs_pending(self, seqs: Iterable[int]) -> None: ...

    @abstractmethod
    def outputs_written(self, seqs: Iterable[int]) -> None: ...

    @abstractmethod
    def pending_issues(self) -> list[Issue]: ...

    @abstractmethod
    def issues(
        self, *, limit: int | None = None, year: int | None = None, before: Issue | None = None
    ) -> list[Issue]: ...

    @abstractmethod
    def next_issue(self, issue: Issue) -> Issue | None:
        """The issue published right after ``issue``: its page links there."""

    @abstractmethod
    def issue_years(self) -> list[IssueYear]: ...

    @abstractmethod
    def issue(self, issue_id: str | None) -> Issue | None:
        """One issue by id; the newest when ``issue_id`` is None."""

    @abstractmethod
    def note(self, issue_seq: int) -> str | None:
        """The editor's note of an issue, as published (Markdown)."""

    @abstractmethod
    def set_note(self, issue_seq: int, source: str) -> None: ...

    @abstractmethod
    def remove_note(self, issue_seq: int) -> None:
        """The issue has no note from now on (``digest rebuild ID --no-note``)."""

    # -- runs -----------------------------------------------------------------------------

    @abstractmethod
    def start_run(self, started_at: dt.datetime, host: str, pid: int) -> int:
        """Record a run; runs still marked running (their process died: the caller holds
        the lock) become interrupted."""

    @abstractmethod
    def finish_run(
        self,
        run_id: int,
        finished_at: dt.datetime,
        result: RunResult,
        *,
        issue_id: str | None = None,
        new_papers: int = 0,
        papers_parsed: int = 0,
        error: str | None = None,
        summary: dict | None = None,
    ) -> None: ...

    @abstractmethod
    def last_run(self, *, successful: bool = False) -> RunRecord | None: ...

    @abstractmethod
    def counts(self) -> Counts: ...

    @abstractmethod
    def record_ping(self, ping: PingRecord) -> None: ...

    @abstractmethod
    def last_ping(self) -> PingRecord | None: ...

    @abstractmethod
    def record_heartbeat(self, beat: Heartbeat) -> None: ...

    @abstractmethod
    def last_heartbeat(self) -> Heartbeat | None: ...

    # -- deliveries: one per issue, medium and recipient (an address, a channel) ---------

    @abstractmethod
    def deliveries(self, issue_id: str, medium: Medium = Medium.EMAIL) -> dict[str, Delivery]: ...

    @abstractmethod  # oldest first: a copy failed (the retries ran out), the next run retries
    def issues_with_failed_deliveries(self, medium: Medium = Medium.EMAIL) -> list[str]: ...

    @abstractmethod
    def claim_deliveries(
        self,
        issue_id: str,
        recipients: Sequence[str],
        message_id: str,
        now: dt.datetime,
        *,
        force: bool = False,
        medium: Medium = Medium.EMAIL,
    ) -> list[str]:
        """Claim recipients before anything is sent, durably; returns those claimed.
        Without ``force``, a recipient whose copy may have arrived is not claimed."""

    @abstractmethod
    def settle_deliveries(
        self,
        issue_id: str,
        updates: Sequence[DeliveryUpdate],
        now: dt.datetime,
        medium: Medium = Medium.EMAIL,
    ) -> None: ...
