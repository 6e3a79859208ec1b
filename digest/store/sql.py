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
from collections.abc import Iterable, Sequence

from digest.dates import day_text, moment_text, parse_moment
from digest.model import DeliveryStatus, RunResult
from digest.store.base import Counts, Delivery, DeliveryUpdate, KnownFile, RunRecord
from digest.store.sql_papers import PaperQueries


class SqlStore(PaperQueries):
    """Everything but the connection, which each backend adds."""

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

    def note(self, issue_seq: int) -> str | None:
        source: str | None = self._scalar(
            "SELECT source FROM notes WHERE issue_seq = ?", (issue_seq,)
        )
        return source

    def set_note(self, issue_seq: int, source: str) -> None:
        self._execute(
            "INSERT INTO notes (issue_seq, source) VALUES (?, ?) "
            "ON CONFLICT (issue_seq) DO UPDATE SET source = excluded.source",
            (issue_seq, source),
        )

    def newest_file_taken(self) -> dt.datetime | None:
        newest = self._scalar("SELECT max(taken_at) FROM files")
        return parse_moment(newest) if newest else None

    def recent_file_sizes(self, count: int) -> list[int]:
        rows = self._execute(
            "SELECT paper_count FROM files ORDER BY coalesce(digest_date, taken_at) DESC, id DESC "
            "LIMIT ?",
            (count,),
        )
        return [int(size) for (size,) in rows]

    def forget_rejections_of_absent_files(self) -> None:
        self._execute("DELETE FROM rejections WHERE hash NOT IN (SELECT hash FROM inbox_files)")

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
