"""The store's SQL, written once for both backends.

Statements use ``?`` placeholders and the SQL both SQLite (3.35+) and PostgreSQL speak:
``ON CONFLICT ... DO UPDATE``, ``RETURNING``, window functions. What differs (placeholder
style, asking for many keys at once, streaming, bulk inserts, transactions, locks) is a
hook each backend implements. Instants are kept as RFC 3339 text in UTC, days as ISO
dates: the same values, read back the same way, on either backend, so both render
byte-identical output.
"""

from __future__ import annotations

import datetime as dt
import json
from abc import abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from digest.classify import Placement
from digest.dates import day_text, moment_text, parse_day, parse_moment
from digest.links import has_code
from digest.model import (
    DeliveryStatus,
    Issue,
    IssueSummary,
    IssueYear,
    Organization,
    Paper,
    RunResult,
)
from digest.store.base import (
    Counts,
    CutAbstract,
    Delivery,
    DeliveryUpdate,
    KnownFile,
    KnownPaper,
    RunRecord,
    Store,
)

Row = Sequence[Any]

# Published papers in page order (columns: _PAPER_COLUMNS).
_PAPERS_IN_ORDER = (
    "issue_order o JOIN papers p ON p.id = o.paper_id JOIN issues i ON i.seq = o.issue_seq"
)
_PAPER_COLUMNS = (
    "p.key, p.title, p.abstract, p.authors, p.org_id, p.org_name, p.published, p.upvotes, "
    "p.links, p.digest_date, p.first_file, p.first_line, i.published_at, o.position, i.id, "
    "p.section, p.reason, p.abstract_cut, p.updated_at"
)
_ISSUE_COLUMNS = "seq, id, date, published_at, paper_count, outputs_pending"


def _links(text: str) -> tuple[str, ...]:
    return () if text == "[]" else tuple(json.loads(text))


def _links_text(links: tuple[str, ...]) -> str:
    return json.dumps(links) if links else "[]"


def paper_from_row(row: Row) -> Paper:
    (key, title, abstract, authors, org_id, org_name, published, upvotes, links, digest_date,
     first_file, first_line, published_at, position, issue_id, section, reason, cut,
     updated) = row  # fmt: skip
    # A published paper was first seen when its issue was published; a millisecond apart
    # in page order, so that newest-first feeds and the timestamps agree.
    first_seen = parse_moment(published_at) - dt.timedelta(milliseconds=position)
    return Paper(
        title=title,
        abstract=abstract,
        authors=authors,
        organization=Organization(org_id, org_name) if org_id is not None else None,
        published=parse_day(published),
        upvotes=upvotes,
        links=_links(links),
        digest_date=parse_day(digest_date),
        source=first_file,
        line=first_line,
        first_seen=first_seen,
        issue_id=issue_id,
        section=section,
        reason=reason or "",
        key=key,
        abstract_cut=bool(cut),
        updated=parse_moment(updated) if updated else None,
    )


def _issue_from_row(row: Row) -> Issue:
    seq, issue_id, day, at, count, pending = row
    return Issue(issue_id, seq, dt.date.fromisoformat(day), parse_moment(at), count, bool(pending))


class SqlStore(Store):
    """Everything but the connection: what each backend adds is at the end."""

    _next_paper_id: int | None = None

    # -- backend hooks ---------------------------------------------------------------------

    @abstractmethod
    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement; returns a cursor (iterable over rows)."""

    @abstractmethod
    def _executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...

    @abstractmethod
    def _with_keys(self, sql: str, keys: Sequence[Any], before: Sequence[Any] = ()) -> list[Row]:
        """Rows of ``sql``, whose ``{keys}`` stands for "is one of ``keys``" (``IN (...)``
        in chunks, or ``= ANY(?)``); ``before`` are the parameters ahead of it."""

    @abstractmethod
    def _stream(self, sql: str, params: Sequence[Any]) -> Iterator[Row]:
        """Rows one by one, without holding them all (a server-side cursor, if any)."""

    @abstractmethod
    def _insert_rows(self, table: str, columns: Sequence[str], rows: list[tuple]) -> None:
        """Many new rows at once (COPY, where there is such a thing)."""

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        row: Row | None = self._execute(sql, params).fetchone()
        return row

    def _scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self._one(sql, params)
        return row[0] if row is not None else None

    def _forget_cached_ids(self) -> None:
        """After a rollback: ids handed out in it are free again."""
        self._next_paper_id = None

    # -- settings -------------------------------------------------------------------------

    def setting(self, name: str) -> str | None:
        value: str | None = self._scalar("SELECT value FROM settings WHERE name = ?", (name,))
        return value

    def set_setting(self, name: str, value: str) -> None:
        self._execute(
            "INSERT INTO settings (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (name, value),
        )

    # -- the inbox, as last seen --------------------------------------------------------

    def inbox_fingerprints(self, *, taken: bool = False) -> set[tuple[str, int, int]]:
        where = " WHERE hash IN (SELECT hash FROM files)" if taken else ""
        return {
            (path, size, mtime)
            for path, size, mtime in self._execute(
                f"SELECT path, size, mtime_ns FROM inbox_files{where}"
            )
        }

    def remembered_inbox_count(self) -> int:
        return int(self._scalar("SELECT count(*) FROM inbox_files"))

    def remembered_inbox_paths(self) -> set[str]:
        return {path for (path,) in self._execute("SELECT path FROM inbox_files")}

    def remembered_inbox_files(self, paths: Iterable[str]) -> dict[str, KnownFile]:
        rows = self._with_keys(
            "SELECT i.path, i.size, i.mtime_ns, i.hash, r.reason "
            "FROM inbox_files i LEFT JOIN rejections r ON r.hash = i.hash WHERE i.path {keys}",
            list(paths),
        )
        return {row[0]: KnownFile(*row[1:]) for row in rows}

    def remember_inbox_file(self, path: str, size: int, mtime_ns: int, content_hash: str) -> None:
        self._execute(
            "INSERT INTO inbox_files (path, size, mtime_ns, hash) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (path) DO UPDATE SET size = excluded.size, "
            "mtime_ns = excluded.mtime_ns, hash = excluded.hash",
            (path, size, mtime_ns, content_hash),
        )

    def forget_inbox_files(self, paths: Iterable[str]) -> None:
        self._executemany("DELETE FROM inbox_files WHERE path = ?", [(p,) for p in paths])

    # -- files ----------------------------------------------------------------------------

    def taken_hashes(self, hashes: Iterable[str]) -> set[str]:
        return {
            row[0]
            for row in self._with_keys("SELECT hash FROM files WHERE hash {keys}", list(hashes))
        }

    def rejected_reasons(self, hashes: Iterable[str]) -> dict[str, str]:
        rows = self._with_keys(
            "SELECT hash, reason FROM rejections WHERE hash {keys}", list(hashes)
        )
        return {file_hash: reason for file_hash, reason in rows}

    def record_file(
        self,
        content_hash: str,
        name: str,
        digest_date: dt.date | None,
        taken_at: dt.datetime,
        paper_count: int,
        problem_count: int,
    ) -> int:
        file_id = self._scalar(
            "INSERT INTO files (hash, name, digest_date, taken_at, paper_count, problem_count) "
            "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            (content_hash, name, day_text(digest_date), moment_text(taken_at), paper_count,
             problem_count),
        )  # fmt: skip
        self._execute("DELETE FROM rejections WHERE hash = ?", (content_hash,))
        return int(file_id)

    def record_rejection(self, content_hash: str, path: str, reason: str, at: dt.datetime) -> None:
        self._execute(
            "INSERT INTO rejections (hash, path, reason, at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (hash) DO UPDATE SET path = excluded.path, reason = excluded.reason, "
            "at = excluded.at",
            (content_hash, path, reason, moment_text(at)),
        )

    def rejections(self) -> list[tuple[str, str]]:
        return [
            (path, reason)
            for path, reason in self._execute("SELECT path, reason FROM rejections ORDER BY path")
        ]

    def forget_rejections_of_absent_files(self) -> None:
        self._execute("DELETE FROM rejections WHERE hash NOT IN (SELECT hash FROM inbox_files)")

    # -- papers ---------------------------------------------------------------------------

    def known_papers(self, keys: Iterable[str]) -> dict[str, KnownPaper]:
        rows = self._with_keys(
            "SELECT key, id, abstract_cut FROM papers WHERE key {keys}", list(keys)
        )
        return {key: KnownPaper(paper_id, bool(cut)) for key, paper_id, cut in rows}

    def cut_abstracts(self, ids: Iterable[int]) -> list[CutAbstract]:
        rows = self._with_keys(
            "SELECT id, abstract, issue_seq FROM papers WHERE abstract_cut = 1 AND id {keys}",
            sorted(set(ids)),
        )
        return [CutAbstract(*row) for row in rows]

    def complete_abstract(
        self,
        paper_id: int,
        abstract: str,
        links: tuple[str, ...],
        still_cut: bool,
        now: dt.datetime,
    ) -> None:
        self._execute(
            "UPDATE papers SET abstract = ?, links = ?, has_code = ?, abstract_cut = ?, "
            "updated_at = ? WHERE id = ?",
            (abstract, _links_text(links), int(has_code(links)), int(still_cut), moment_text(now),
             paper_id),
        )  # fmt: skip

    def add_papers(
        self,
        placed: Sequence[tuple[Paper, Placement | None]],
        issue_seq: int | None,
        now: dt.datetime,
    ) -> list[int]:
        """(A published paper's first-seen instant is derived from its issue and page
        position when read back: a millisecond apart, so that newest-first order and the
        timestamps agree.)"""
        if not placed:
            return []
        if self._next_paper_id is None:
            self._next_paper_id = int(self._scalar("SELECT coalesce(max(id), 0) FROM papers")) + 1
        first_id = self._next_paper_id
        seen = moment_text(now)
        rows = [
            (
                first_id + offset, paper.key, paper.title, paper.abstract, paper.authors,
                paper.organization.id if paper.organization else None,
                paper.organization.name if paper.organization else None,
                day_text(paper.published), paper.upvotes, _links_text(paper.links),
                day_text(paper.digest_date), paper.source, paper.line, seen, seen, issue_seq,
                place.section if place else None, place.section_rank if place else 0,
                place.reason if place else None, place.filtered if place else None,
                paper.upvotes, int(has_code(paper.links)), int(paper.abstract_cut),
            )
            for offset, (paper, place) in enumerate(placed)
        ]  # fmt: skip
        self._insert_rows("papers", _PAPER_INSERT_COLUMNS, rows)
        self._next_paper_id = first_id + len(rows)
        return list(range(first_id, first_id + len(rows)))

    def rank_issue(self, issue_seq: int, by_upvotes: bool) -> None:
        """Page order (0, 1, ...): by section, then (optionally) by upvotes, then in the
        order the digests listed them. One statement: no Python per paper."""
        upvotes = "coalesce(upvotes, -1) DESC, " if by_upvotes else ""
        self._execute("DELETE FROM issue_order WHERE issue_seq = ?", (issue_seq,))
        self._execute(
            "INSERT INTO issue_order (issue_seq, position, paper_id) "
            f"SELECT ?, row_number() OVER (ORDER BY section_rank, section, {upvotes}id) - 1, id "
            "FROM papers WHERE issue_seq = ? ORDER BY 2",
            (issue_seq, issue_seq),
        )

    def mark_rising(
        self,
        candidates: Iterable[int],
        issue_seq: int,
        min_gain: int | None,
        min_factor: float | None,
        limit: int,
    ) -> int:
        """Only ``candidates`` (papers listed again in this run) are looked at, so the
        cost follows the new input; each paper rises once."""
        tests = []
        if min_gain is not None:
            tests.append(f"upvotes - coalesce(published_upvotes, 0) >= {int(min_gain)}")
        if min_factor is not None:
            tests.append(
                f"(published_upvotes > 0 AND upvotes >= {float(min_factor)} * published_upvotes)"
            )
        ids = sorted(set(candidates))
        if not tests or not ids:
            return 0
        chosen = self._with_keys(
            "SELECT id, upvotes - coalesce(published_upvotes, 0) FROM papers "
            "WHERE issue_seq < ? AND rising_issue_seq IS NULL AND upvotes IS NOT NULL "
            f"AND ({' OR '.join(tests)}) AND id {{keys}}",
            ids,
            before=(issue_seq,),
        )
        best = sorted(chosen, key=lambda row: (-row[1], row[0]))[:limit]
        self._executemany(
            "UPDATE papers SET rising_issue_seq = ? WHERE id = ?",
            [(issue_seq, paper_id) for paper_id, _ in best],
        )
        return len(best)

    def rising_papers(self, issue_seq: int) -> list[tuple[Paper, int | None]]:
        rows = self._execute(
            f"SELECT {_PAPER_COLUMNS}, p.published_upvotes FROM {_PAPERS_IN_ORDER} "
            "WHERE p.rising_issue_seq = ? "
            "ORDER BY p.upvotes - coalesce(p.published_upvotes, 0) DESC, p.id",
            (issue_seq,),
        ).fetchall()
        return [(paper_from_row(row[:-1]), row[-1]) for row in rows]

    def update_seen(self, seen_again: Sequence[tuple[int, int | None]], now: dt.datetime) -> None:
        stamp = moment_text(now)
        self._executemany(
            "UPDATE papers SET last_seen = ?, upvotes = coalesce(?, upvotes) WHERE id = ?",
            [(stamp, upvotes, paper_id) for paper_id, upvotes in sorted(seen_again)],
        )

    def add_sightings(
        self, sightings: Sequence[tuple[int, dt.date | None, int | None]], file_id: int
    ) -> None:
        rows = sorted({paper_id: (paper_id, file_id, day_text(day), upvotes)
                       for paper_id, day, upvotes in sightings}.values())  # fmt: skip
        self._insert_rows("sightings", ("paper_id", "file_id", "digest_date", "upvotes"), rows)

    def issue_papers(self, issue_seq: int) -> Iterator[Paper]:
        for row in self._stream(
            f"SELECT {_PAPER_COLUMNS} FROM {_PAPERS_IN_ORDER} "
            "WHERE o.issue_seq = ? ORDER BY o.position",
            (issue_seq,),
        ):
            yield paper_from_row(row)

    def newest_papers(self, limit: int, section: str | None = None) -> list[Paper]:
        papers: list[Paper] = []
        in_section = "AND p.section = ? " if section is not None else ""
        for (seq,) in self._execute("SELECT seq FROM issues ORDER BY seq DESC").fetchall():
            params = (seq, section) if section is not None else (seq,)
            rows = self._execute(
                f"SELECT {_PAPER_COLUMNS} FROM {_PAPERS_IN_ORDER} "
                f"WHERE o.issue_seq = ? {in_section}ORDER BY o.position LIMIT ?",
                (*params, limit - len(papers)),
            ).fetchall()
            papers += [paper_from_row(row) for row in rows]
            if len(papers) >= limit:
                break
        return papers

    def issue_summary(self, issue_seq: int) -> IssueSummary:
        """From one pass over the issue's papers, grouped by organisation and section."""
        groups = self._execute(
            "SELECT org_name, section, count(*), coalesce(sum(has_code), 0), min(section_rank) "
            "FROM papers WHERE issue_seq = ? GROUP BY org_name, section",
            (issue_seq,),
        ).fetchall()
        papers = with_code = 0
        by_organization: dict[str, int] = {}
        by_section: dict[str, list[int]] = {}  # section: [papers, rank]
        for org_name, section, count, coded, rank in groups:
            papers += count
            with_code += int(coded)
            if org_name is not None:
                by_organization[org_name] = by_organization.get(org_name, 0) + count
            if section is not None:
                seen = by_section.setdefault(section, [0, rank])
                seen[0] += count
                seen[1] = min(seen[1], rank)
        top = sorted(
            ((name, count) for name, count in by_organization.items() if count >= 2),
            key=lambda item: (-item[1], item[0]),
        )[:3]
        # Pages are ordered by section rank, then name: so are the sections listed.
        sections = sorted(by_section.items(), key=lambda item: (item[1][1], item[0]))
        return IssueSummary(
            papers, with_code, tuple(top), tuple((name, n) for name, (n, _rank) in sections)
        )

    # -- issues ---------------------------------------------------------------------------

    def next_issue_id(self, day: dt.date, avoid: Iterable[str] = ()) -> tuple[str, int]:
        base = day.isoformat()
        taken = set(avoid) | {
            row[0]
            for row in self._execute(
                "SELECT id FROM issues WHERE id = ? OR id LIKE ?", (base, base + "-%")
            )
        }
        seq = int(self._scalar("SELECT coalesce(max(seq), 0) FROM issues")) + 1
        if base not in taken:
            return base, seq
        number = 2
        while f"{base}-{number}" in taken:
            number += 1
        return f"{base}-{number}", seq

    def add_issue(
        self, issue_id: str, seq: int, day: dt.date, published_at: dt.datetime, count: int
    ) -> Issue:
        self._execute(
            f"INSERT INTO issues ({_ISSUE_COLUMNS}) VALUES (?, ?, ?, ?, ?, 1)",
            (seq, issue_id, day.isoformat(), moment_text(published_at), count),
        )
        return Issue(issue_id, seq, day, published_at, count, True)

    def mark_outputs_pending(self, seqs: Iterable[int]) -> None:
        self._executemany(
            "UPDATE issues SET outputs_pending = 1 WHERE seq = ?", [(s,) for s in sorted(seqs)]
        )

    def outputs_written(self, seqs: Iterable[int]) -> None:
        self._executemany(
            "UPDATE issues SET outputs_pending = 0 WHERE seq = ?", [(s,) for s in sorted(seqs)]
        )

    def pending_issues(self) -> list[Issue]:
        rows = self._execute(
            f"SELECT {_ISSUE_COLUMNS} FROM issues WHERE outputs_pending = 1 ORDER BY seq"
        )
        return [_issue_from_row(row) for row in rows]

    def issues(
        self, *, limit: int | None = None, year: int | None = None, before: Issue | None = None
    ) -> list[Issue]:
        """Newest first: all, or one year's, or those published before ``before``."""
        conditions: list[str] = []
        params: list[Any] = []
        if year is not None:
            conditions.append("date >= ? AND date < ?")
            params += [f"{year:04d}", f"{year + 1:04d}"]
        if before is not None:
            conditions.append("seq < ?")
            params.append(before.seq)
        where = f"WHERE {' AND '.join(conditions)} " if conditions else ""
        sql = f"SELECT {_ISSUE_COLUMNS} FROM issues {where}ORDER BY seq DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [_issue_from_row(row) for row in self._execute(sql, params)]

    def issue_years(self) -> list[IssueYear]:
        return [
            IssueYear(int(year), int(issues), int(papers))
            for year, issues, papers in self._execute(
                "SELECT substr(date, 1, 4), count(*), sum(paper_count) FROM issues "
                "GROUP BY 1 ORDER BY 1 DESC"
            )
        ]

    def issue(self, issue_id: str | None) -> Issue | None:
        if issue_id is None:
            row = self._one(f"SELECT {_ISSUE_COLUMNS} FROM issues ORDER BY seq DESC LIMIT 1")
        else:
            row = self._one(f"SELECT {_ISSUE_COLUMNS} FROM issues WHERE id = ?", (issue_id,))
        return _issue_from_row(row) if row is not None else None

    # -- runs -----------------------------------------------------------------------------

    def start_run(self, started_at: dt.datetime, host: str, pid: int) -> int:
        self._execute(
            "UPDATE runs SET result = ? WHERE result = ?",
            (RunResult.INTERRUPTED.value, RunResult.RUNNING.value),
        )
        return int(
            self._scalar(
                "INSERT INTO runs (started_at, result, host, pid) VALUES (?, ?, ?, ?) RETURNING id",
                (moment_text(started_at), RunResult.RUNNING.value, host, pid),
            )
        )

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
    ) -> None:
        self._execute(
            "UPDATE runs SET finished_at = ?, result = ?, issue_id = ?, new_papers = ?, "
            "papers_parsed = ?, error = ?, summary = ? WHERE id = ?",
            (moment_text(finished_at), result.value, issue_id, new_papers, papers_parsed, error,
             json.dumps(summary or {}, sort_keys=True), run_id),
        )  # fmt: skip

    def last_run(self, *, successful: bool = False) -> RunRecord | None:
        where = "WHERE result IN ('published', 'nothing-new') " if successful else ""
        row = self._one(
            "SELECT id, started_at, finished_at, result, issue_id, new_papers, papers_parsed, "
            f"error, summary, host, pid FROM runs {where}ORDER BY id DESC LIMIT 1"
        )
        if row is None:
            return None
        run_id, started, finished, result, issue_id, new, parsed, error, summary, host, pid = row
        return RunRecord(
            run_id, parse_moment(started), parse_moment(finished) if finished else None,
            RunResult(result), issue_id, new, parsed, error,
            json.loads(summary) if summary else {}, host, pid,
        )  # fmt: skip

    def counts(self) -> Counts:
        return Counts(
            files=int(self._scalar("SELECT count(*) FROM files")),
            papers=int(self._scalar("SELECT count(*) FROM papers")),
            issues=int(self._scalar("SELECT count(*) FROM issues")),
            rejected_files=int(self._scalar("SELECT count(*) FROM rejections")),
        )

    # -- deliveries -------------------------------------------------------------------------

    def deliveries(self, issue_id: str) -> dict[str, Delivery]:
        rows = self._execute(
            "SELECT recipient, status, at, message_id, reason FROM deliveries "
            "WHERE issue_id = ? ORDER BY recipient",
            (issue_id,),
        )
        return {
            recipient: Delivery(recipient, DeliveryStatus(status), parse_moment(at), mid, reason)
            for recipient, status, at, mid, reason in rows
        }

    def claim_deliveries(
        self,
        issue_id: str,
        recipients: Sequence[str],
        message_id: str,
        now: dt.datetime,
        *,
        force: bool = False,
    ) -> list[str]:
        blocking = ", ".join(f"'{s.value}'" for s in DeliveryStatus if s.may_have_arrived)
        guard = "" if force else f" WHERE deliveries.status NOT IN ({blocking})"
        claimed: list[str] = []
        with self.transaction():
            for recipient in recipients:
                row = self._one(
                    "INSERT INTO deliveries (issue_id, recipient, status, at, message_id) "
                    "VALUES (?, ?, 'claimed', ?, ?) ON CONFLICT (issue_id, recipient) DO UPDATE "
                    "SET status = 'claimed', at = excluded.at, message_id = excluded.message_id, "
                    f"reason = NULL{guard} RETURNING recipient",
                    (issue_id, recipient, moment_text(now), message_id),
                )
                if row is not None:
                    claimed.append(row[0])
        return claimed

    def settle_deliveries(
        self, issue_id: str, updates: Sequence[DeliveryUpdate], now: dt.datetime
    ) -> None:
        with self.transaction():
            self._executemany(
                "UPDATE deliveries SET status = ?, reason = ?, at = ? "
                "WHERE issue_id = ? AND recipient = ?",
                [(u.status.value, u.reason, moment_text(now), issue_id, u.recipient)
                 for u in updates],
            )  # fmt: skip


_PAPER_INSERT_COLUMNS = (
    "id", "key", "title", "abstract", "authors", "org_id", "org_name", "published", "upvotes",
    "links", "digest_date", "first_file", "first_line", "first_seen", "last_seen", "issue_seq",
    "section", "section_rank", "reason", "filtered", "published_upvotes", "has_code",
    "abstract_cut",
)  # fmt: skip
