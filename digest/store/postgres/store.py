"""The server store: a PostgreSQL database, for several digests, machines or sites.

Each site has a schema of its own (``digest_lab_x``), listed in ``digest.sites``: the SQL
stays SQLite's, sites cannot see each other's rows, and one can be dumped alone. Each
connection sets ``search_path`` to its site and ``application_name`` to who it is (lock
messages show it). A site is created under a fixed advisory lock, so two first runs never
both do. Session advisory locks die with their holder, even by ``kill -9``. Passwords come
only from libpq's places and are never shown; only a PostgreSQL state imports psycopg.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import re
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from typing import Any

import digest.store.postgres.ddl as ddl
from digest.config.settings import SITE_NAME, PostgresState
from digest.dates import moment_text
from digest.errors import ConfigError, DigestError
from digest.store.copy import TABLES
from digest.store.postgres.connection import pgsql, psycopg, shown_location
from digest.store.postgres.locks import PgLocks
from digest.store.postgres.schema import PgSchema
from digest.store.records import KnownPaper
from digest.store.sql.hooks import Row
from digest.store.sql.inbox import FILE_INSERT, file_values
from digest.store.sql.papers import latest_upvotes, sighting_rows

FIRST_BATCH, STREAM_BATCH = 64, 2000  # rows a stream fetches first, and at most at a time
ANALYZE_ROWS = 10_000  # rows stored in a transaction, after which a stream analyses first


# The shared SQL's "?" become "%s"; a literal "%" (in quotes or not) must be "%%".
_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|[?%]")
_DRAWS_IDS = re.compile(r"\s*INSERT INTO (?:files|runs)\b", re.IGNORECASE)
_TABLES = {name for name, _order in TABLES}
_READS = re.compile(r"\b(?:FROM|JOIN)\s+(\w+)", re.IGNORECASE)


@lru_cache(maxsize=512)
def _placeholders(sql: str) -> str:
    return _TOKENS.sub(lambda m: "%s" if m.group() == "?" else m.group().replace("%", "%%"), sql)


class PostgresStore(PgSchema, PgLocks):
    def __init__(
        self, state: PostgresState | str, *, site: str = "default", create: bool = True
    ) -> None:
        self.state = state if isinstance(state, PostgresState) else PostgresState(state)
        if not SITE_NAME.fullmatch(site):
            raise ConfigError(f"site: {site!r} is not a site name", "use [a-z][a-z0-9_]*")
        self.site = site
        self.schema = f"digest_{site}"
        self.location = f"{shown_location(self.state)}#{site}"
        self._names = itertools.count(1)
        self._abandoned: list[Any] = []  # streams left in the garbage collector, to close
        self._drew_ids = False  # the open transaction inserted into an identity table
        self._copied = 0  # rows stored by COPY in the open transaction
        self.conn = self._connect()
        try:
            self._check_and_migrate(create)
            self.state_id = self._identity()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self.conn.close()  # never raises

    # -- transactions ---------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        outer = self._idle()
        try:
            with self.conn.transaction():
                yield
        except BaseException as exc:
            self._rolled_back(outer)
            if isinstance(exc, psycopg.Error):
                raise self._error(exc) from exc
            raise
        if outer:
            self._drew_ids, self._copied = False, 0

    @contextlib.contextmanager
    def rehearsal(self) -> Iterator[None]:
        outer = self._idle()
        try:
            with self.conn.transaction(force_rollback=True):
                yield
        except psycopg.Error as exc:
            raise self._error(exc) from exc
        finally:
            self._rolled_back(outer)

    def _rolled_back(self, outer: bool) -> None:
        self._copied = 0
        self._forget_cached_ids()
        if outer and self._drew_ids:
            # Sequences do not roll back; SQLite's rowids do. Set them back, so that both
            # backends hand out the same ids after a failed or rehearsed run.
            self._drew_ids = False
            with contextlib.suppress(DigestError):
                for table in ddl.IDENTITY_TABLES:
                    self._reset_identity(table)

    def _reset_identity(self, table: str) -> None:
        self._raw(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"coalesce(max(id), 0) + 1, false) FROM {table}"
        )

    # -- hooks ----------------------------------------------------------------------------

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        if not self._drew_ids and _DRAWS_IDS.match(sql):
            self._drew_ids = True
        return self._raw(_placeholders(sql), params)

    def _executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        batch = list(rows)
        if not batch:
            return
        self._close_abandoned()
        try:
            with self.conn.cursor() as cursor:
                cursor.executemany(_placeholders(sql), batch)
        except psycopg.Error as exc:
            raise self._error(exc) from exc

    def _with_keys(self, sql: str, keys: Sequence[Any], before: Sequence[Any] = ()) -> list[Row]:
        if not keys:
            return []
        return list(self._execute(sql.format(keys="= ANY(?)"), [*before, list(keys)]))

    def _stream(self, sql: str, params: Sequence[Any]) -> Iterator[Row]:
        """A server-side cursor, fetched in batches growing from FIRST_BATCH (a caller may
        want a few rows). Outside a transaction it is WITH HOLD (the server keeps it all)."""
        tables = ", ".join(sorted(set(_READS.findall(sql)) & _TABLES))
        if self._copied >= ANALYZE_ROWS and tables:  # fresh statistics before it is planned
            self._copied = 0  # (without, 80,000 new papers are thought 40, and sorted on disk)
            self._raw(f"SET LOCAL default_statistics_target = 10; ANALYZE {tables}", None)
        self._close_abandoned()
        cursor = self.conn.cursor(f"digest_stream_{next(self._names)}", withhold=self._idle())
        try:
            cursor.execute(_placeholders(sql), params)
            size = FIRST_BATCH
            while rows := cursor.fetchmany(size):
                yield from rows
                size = min(size * 8, STREAM_BATCH)
        except psycopg.Error as exc:
            raise self._error(exc) from exc
        finally:
            # A stream left unfinished (islice) may end in the garbage collector, within
            # another psycopg call that holds the connection's lock: then it waits.
            lock = getattr(self.conn, "lock", None)
            if lock is not None and not lock.locked():
                with contextlib.suppress(psycopg.Error):
                    cursor.close()
            else:
                self._abandoned.append(cursor)

    # -- what each file's intake repeats: one round trip each, not one per row -----------

    def update_seen(self, seen_again: Sequence[tuple[int, int | None]], now: dt.datetime) -> None:
        """One UPDATE over arrays: the shared SQL's executemany is one statement per paper
        (20,000 for a 100,000-entry import: a second of this server's time)."""
        latest = latest_upvotes(seen_again)
        if latest:
            self._execute(
                "UPDATE papers SET last_seen = ?, upvotes = coalesce(v.upvotes, papers.upvotes) "
                "FROM unnest(?::bigint[], ?::bigint[]) AS v(id, upvotes) WHERE papers.id = v.id",
                (moment_text(now), list(latest), list(latest.values())),
            )

    def file_lookup(
        self, content_hash: str, keys: Iterable[str]
    ) -> tuple[bool, dict[str, KnownPaper]]:
        """Both questions pipelined: one round trip per file, where two took a millisecond
        of an import's time each (the server shares the cores with the parsing)."""
        wanted = list(keys)
        self._close_abandoned()
        try:
            with self.conn.pipeline():
                taken = self.conn.execute("SELECT 1 FROM files WHERE hash = %s", (content_hash,))
                known = (
                    self.conn.execute(
                        "SELECT key, id, abstract_cut FROM papers WHERE key = ANY(%s)", (wanted,)
                    )
                    if wanted
                    else None
                )
            if taken.fetchone() is not None:
                return True, {}
            rows = known.fetchall() if known is not None else []
            return False, {key: KnownPaper(paper_id, bool(cut)) for key, paper_id, cut in rows}
        except psycopg.Error as exc:
            raise self._error(exc) from exc

    def record_file(
        self,
        content_hash: str,
        name: str,
        digest_date: dt.date | None,
        taken_at: dt.datetime,
        paper_count: int,
        problem_count: int,
    ) -> int:
        """The file recorded and its rejection forgotten in one statement (two in the
        shared SQL: SQLite has no DELETE in a WITH)."""
        self._drew_ids = True
        values = file_values(content_hash, name, digest_date, taken_at, paper_count, problem_count)
        file_id = self._scalar(
            "WITH forgotten AS (DELETE FROM rejections WHERE hash = ?) " + FILE_INSERT,
            (content_hash, *values),
        )
        return int(file_id)

    def add_sightings(
        self, sightings: Sequence[tuple[int, dt.date | None, int | None]], file_id: int
    ) -> None:
        """One INSERT over arrays: a file's sightings are a hundred rows, where COPY's
        extra round trips cost more than they save."""
        rows = sighting_rows(sightings, file_id)
        if rows:
            ids, files, days, upvotes = (list(column) for column in zip(*rows, strict=True))
            self._execute(
                "INSERT INTO sightings (paper_id, file_id, digest_date, upvotes) SELECT * FROM "
                "unnest(?::bigint[], ?::bigint[], ?::text[], ?::bigint[])",
                (ids, files, days, upvotes),
            )
            self._copied += 0 if self._idle() else len(rows)

    def _insert_rows(self, table: str, columns: Sequence[str], rows: list[tuple]) -> None:
        if not rows:
            return
        statement = pgsql.SQL("COPY {} ({}) FROM STDIN").format(
            pgsql.Identifier(table), pgsql.SQL(", ").join(map(pgsql.Identifier, columns))
        )
        self._close_abandoned()
        try:
            with self.conn.cursor() as cursor, cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row(row)
        except psycopg.Error as exc:
            raise self._error(exc) from exc
        self._copied += 0 if self._idle() else len(rows)
        if table in ddl.IDENTITY_TABLES and "id" in columns:  # ids given: move the sequence on
            self._drew_ids = True
            self._reset_identity(table)
