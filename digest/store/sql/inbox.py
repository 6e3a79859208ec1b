"""The inbox as last seen, the files taken in, and the files rejected."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable

from digest.dates import day_text, moment_text, parse_moment
from digest.store.records import KnownFile
from digest.store.sql.hooks import SqlBase

# Paths remembered while their modification time was too recent to tell an edit by
# (a JSON list): the next scan hashes them rather than trust their size and time.
UNSURE_SETTING = "inbox_unsure"


FILE_INSERT = (
    "INSERT INTO files (hash, name, digest_date, taken_at, paper_count, problem_count) "
    "VALUES (?, ?, ?, ?, ?, ?) RETURNING id"
)


def file_values(
    content_hash: str,
    name: str,
    digest_date: dt.date | None,
    taken_at: dt.datetime,
    paper_count: int,
    problem_count: int,
) -> tuple[str, str, str | None, str, int, int]:
    """``FILE_INSERT``'s parameters (a server's store adds to the statement)."""
    return (
        content_hash,
        name,
        day_text(digest_date),
        moment_text(taken_at),
        paper_count,
        problem_count,
    )


class InboxQueries(SqlBase):
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

    def remember_inbox_files(self, files: Iterable[tuple[str, int, int, str]]) -> None:
        self._executemany(
            "INSERT INTO inbox_files (path, size, mtime_ns, hash) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (path) DO UPDATE SET size = excluded.size, "
            "mtime_ns = excluded.mtime_ns, hash = excluded.hash",
            list(files),
        )

    def unsure_inbox_paths(self) -> set[str]:
        text = self.setting(UNSURE_SETTING)
        return set(json.loads(text)) if text else set()

    def set_unsure_inbox_paths(self, paths: Iterable[str]) -> None:
        self.set_setting(UNSURE_SETTING, json.dumps(sorted(set(paths))))

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
        values = file_values(content_hash, name, digest_date, taken_at, paper_count, problem_count)
        file_id = self._scalar(FILE_INSERT, values)
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
