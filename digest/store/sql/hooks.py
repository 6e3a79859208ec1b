"""What every SQL backend provides to the shared SQL: one statement, many rows, keys
asked for at once, a stream, bulk inserts. Backends translate their own errors into
StateError or Unavailable here, so nothing above the store sees a driver's exception."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from digest.store.base import Store

Row = Sequence[Any]


class SqlBase(Store):
    _next_paper_id: int | None = None

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
