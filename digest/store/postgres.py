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
import hashlib
import itertools
import os
import re
import socket
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from typing import Any

from digest.errors import ConfigError, DigestError, LockBusy, NoState, StateError, Unavailable

try:
    import psycopg
    from psycopg import sql as pgsql
    from psycopg.conninfo import conninfo_to_dict
    from psycopg.pq import TransactionStatus
except ImportError:
    raise ConfigError(
        "the state is a PostgreSQL database, but psycopg (its driver) is not installed",
        "pip install 'digest[postgres]'",
    ) from None

import digest.store.schema_postgres as ddl
from digest.config.settings import SITE_NAME, PostgresState
from digest.dates import moment_text
from digest.store.base import LockKind
from digest.store.copy import TABLES
from digest.store.lock import POLL_SECONDS, log
from digest.store.sql import SqlStore
from digest.store.sql_base import Row

CONNECT_TIMEOUT = 10  # seconds; a cron run must not hang on a host that never answers
FIRST_BATCH, STREAM_BATCH = 64, 2000  # rows a stream fetches first, and at most at a time
ANALYZE_ROWS = 10_000  # rows stored in a transaction, after which a stream analyses first


def lock_key(name: str) -> int:
    """An advisory lock key (a signed bigint) for a name: the same in every process."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), signed=True)


CREATE_KEY = lock_key("digest: create sites")

# The shared SQL's "?" become "%s"; a literal "%" (in quotes or not) must be "%%".
_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|[?%]")
_DRAWS_IDS = re.compile(r"\s*INSERT INTO (?:files|runs)\b", re.IGNORECASE)
# Abstracts of over 2 kB are compressed when stored: lz4 (PostgreSQL 14+, if built with
# it) writes them in 60% of the time the default pglz takes, and reads them faster.
_FAST_TOAST = ("DO $$ BEGIN SET default_toast_compression = 'lz4'; "
               "EXCEPTION WHEN OTHERS THEN NULL; END $$")  # fmt: skip
_TABLES = {name for name, _order in TABLES}
_READS = re.compile(r"\b(?:FROM|JOIN)\s+(\w+)", re.IGNORECASE)


@lru_cache(maxsize=512)
def _placeholders(sql: str) -> str:
    return _TOKENS.sub(lambda m: "%s" if m.group() == "?" else m.group().replace("%", "%%"), sql)


def shown_location(state: PostgresState) -> str:
    """The DSN fit to show: ``str(PostgresState)`` hides a URL's password; a libpq
    ``password=`` (never allowed in a config, but a caller may pass one) goes too."""
    return re.sub(r"(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", r"\1***", str(state))


class PostgresStore(SqlStore):
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

    # -- connection and errors ------------------------------------------------------------

    def _connect(self) -> psycopg.Connection:
        """Autocommit outside transactions; the site's schema first on the search path."""
        me = f"digest pid {os.getpid()} on {socket.gethostname()}"[:63]  # the lock messages show it
        options: dict[str, Any] = {"autocommit": True, "application_name": me}
        try:
            given = conninfo_to_dict(self.state.dsn)
            if "connect_timeout" not in given and not os.environ.get("PGCONNECT_TIMEOUT"):
                options["connect_timeout"] = CONNECT_TIMEOUT
            conn = psycopg.connect(self.state.dsn, **options)
            conn.execute(pgsql.SQL("SET search_path TO {}; {}").format(
                pgsql.Identifier(self.schema), pgsql.SQL(_FAST_TOAST)))  # fmt: skip
        except psycopg.Error as exc:
            raise self._error(exc, connecting=True) from None
        return conn

    def _scrub(self, text: str) -> str:
        """A message without any password this process could know (belt and braces:
        libpq does not put them in messages)."""
        secrets = [os.environ.get("PGPASSWORD"), _password_in(self.state.dsn)]
        for secret in filter(None, secrets):
            text = text.replace(secret, "***")
        return text

    def _error(self, exc: psycopg.Error, *, connecting: bool = False) -> DigestError:
        """Every driver error leaves the store as one of ours. A server that cannot be
        reached or cannot answer now (down, restarting, the network, a lost connection,
        too many clients) is Unavailable: exit 75, and cron or systemd try again later."""
        reason = self._scrub(_first_line(exc))
        if not isinstance(exc, psycopg.OperationalError):
            hint = "check the server's log; the failed statement changed nothing"
            if isinstance(exc, psycopg.errors.InsufficientPrivilege):
                hint = f"grant this role CREATE on the database, or on the schema {self.schema}"
            return StateError(f"the state {self.location} could not be used: {reason}", hint)
        retry = "; digest exits with 75, so cron tries again later"
        if connecting:
            lowered = reason.lower()
            if "database" in lowered and "does not exist" in lowered:
                hint = "create the database (createdb NAME), or fix the state URL"
            elif "password" in lowered or "authentication" in lowered:
                hint = "put the password in PGPASSWORD, ~/.pgpass or the service file"
            else:
                hint = "check that the server is running and reachable at that host and port"
            return Unavailable(f"cannot reach the PostgreSQL state {self.location}: {reason}",
                               hint + retry)  # fmt: skip
        if self.conn.broken or self.conn.closed:
            return Unavailable(f"lost the PostgreSQL state {self.location}: {reason}",
                               "the server went away (a restart, or the network); nothing "
                               "half-done was kept: run again once it is back")  # fmt: skip
        return Unavailable(f"the PostgreSQL state {self.location} cannot do it now: {reason}",
                           "nothing half-done was kept" + retry)  # fmt: skip

    # -- raw statements (psycopg's own %s placeholders) ---------------------------------

    def _raw(self, query: Any, params: Sequence[Any] | None = ()) -> Any:
        self._close_abandoned()
        try:
            return self.conn.execute(query, params)
        except psycopg.Error as exc:
            raise self._error(exc) from exc

    def _raw_scalar(self, query: Any, params: Sequence[Any] = ()) -> Any:
        row = self._raw(query, params).fetchone()
        return row[0] if row is not None else None

    def _idle(self) -> bool:
        return self.conn.info.transaction_status == TransactionStatus.IDLE

    # -- schema -------------------------------------------------------------------------

    def _site_version(self) -> int | None:
        """The site's schema version here; None if it does not exist yet. A schema of
        that name that digest did not make is refused, never taken over."""
        has_version, relations = self._raw(
            "SELECT to_regclass(%s) IS NOT NULL, "
            "(SELECT count(*) FROM pg_class WHERE relnamespace = to_regnamespace(%s))",
            (f"{self.schema}.schema_version", self.schema),
        ).fetchone()
        if has_version:
            return int(self._raw_scalar("SELECT coalesce(max(version), 0) FROM schema_version"))
        if relations:
            raise StateError(f"the schema {self.schema} in {shown_location(self.state)} holds "
                             "tables, but not a digest site", "use another site name, or another "
                             f"database; digest left {self.schema} alone")  # fmt: skip
        return None

    def _refuse_newer(self, version: int | None) -> None:
        if version is not None and version > ddl.SCHEMA_VERSION:
            raise StateError(f"the state {self.location} has schema version {version}; this "
                             f"digest knows up to {ddl.SCHEMA_VERSION}", "upgrade digest (pip "
                             "install -U digest) to read it; it was left untouched")  # fmt: skip

    def _check_and_migrate(self, create: bool) -> None:
        version = self._site_version()
        if version == ddl.SCHEMA_VERSION:
            return
        self._refuse_newer(version)
        if version is None and not create:
            raise NoState(f"no state at {self.location}: the database has no site "
                          f"{self.site!r}", "run 'digest run' first, or check --state and the "
                          "config's site")  # fmt: skip
        # Each migration in its own transaction, under the create lock, the version read
        # again inside it: two processes opening a new site at once do not both migrate.
        while True:
            with self.transaction():
                self._raw("SELECT pg_advisory_xact_lock(%s)", (CREATE_KEY,))
                version = self._site_version()
                self._refuse_newer(version)
                if version is None:
                    self._raw(ddl.NEW_SITE.format(schema=self.schema), None)
                    version = 0
                if version >= ddl.SCHEMA_VERSION:
                    return
                self._raw(ddl.MIGRATIONS[version], None)  # no parameters: several statements
                self._raw("UPDATE schema_version SET version = %s", (version + 1,))
                if version == 0:  # a new site: born with its identity, in one transaction
                    self._adopt_identity()

    def _adopt_identity(self) -> tuple[str, str]:
        """Give the site its state id (once) and list it in ``digest.sites``, made here
        if need be: a site restored alone into a new database lists itself. The caller
        holds the create lock."""
        state_id = self.setting("state_id") or str(uuid.uuid4())
        site = self.setting("site") or self.site
        self.set_setting("state_id", state_id)
        self.set_setting("site", site)
        self._raw(ddl.REGISTRY, None)
        now = moment_text(dt.datetime.now(dt.UTC))
        self._raw("INSERT INTO digest.sites (name, schema, state_id, created_at) VALUES (%s, %s, "
                  "%s, %s) ON CONFLICT (name) DO UPDATE SET schema = excluded.schema, state_id = "
                  "excluded.state_id", (self.site, self.schema, state_id, now))  # fmt: skip
        return state_id, site

    def _identity(self) -> str:
        state_id, site, registry = self._raw(
            "SELECT max(value) FILTER (WHERE name = 'state_id'), max(value) FILTER (WHERE name "
            "= 'site'), to_regclass('digest.sites') IS NOT NULL FROM settings"
        ).fetchone()
        listed = registry and self._raw_scalar("SELECT state_id FROM digest.sites WHERE name = %s",
                                               (self.site,))  # fmt: skip
        if state_id is None or site is None or listed != state_id:
            with self.transaction():
                self._raw("SELECT pg_advisory_xact_lock(%s)", (CREATE_KEY,))
                state_id, site = self._adopt_identity()
        if site != self.site:
            raise StateError(f"the schema {self.schema} in {shown_location(self.state)} holds the "
                             f"site {site!r}, not {self.site!r}", "it was renamed by hand: rename "
                             "it back, or set site to match")  # fmt: skip
        return str(state_id)

    @property
    def schema_version(self) -> int:
        return int(self._raw_scalar("SELECT max(version) FROM schema_version"))

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
        self._raw(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                  f"coalesce(max(id), 0) + 1, false) FROM {table}")  # fmt: skip

    # -- locks: advisory locks of the store's own session -------------------------------

    def _lock_tag(self, kind: LockKind) -> tuple[int, int, int]:
        """The key, and how pg_locks shows it (two unsigned 32-bit halves)."""
        key = lock_key(f"digest:{self.site}:{kind}")
        unsigned = key & 0xFFFF_FFFF_FFFF_FFFF
        return key, unsigned >> 32, unsigned & 0xFFFF_FFFF

    _HELD = (
        "FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
        "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND l.classid::bigint = %s AND l.objid::bigint = %s"
    )

    @contextlib.contextmanager
    def lock(self, kind: LockKind, wait: float) -> Iterator[None]:
        key, high, low = self._lock_tag(kind)
        deadline = time.monotonic() + wait
        waiting = False
        while not self._raw_scalar("SELECT pg_try_advisory_lock(%s)", (key,)):
            if not waiting and wait > 0:
                waiting = True
                log.info("waiting up to %gs for %s to finish", wait,
                         self._holder(high, low) or "another run")  # fmt: skip
            if time.monotonic() >= deadline:
                holder = self._holder(high, low)
                raise LockBusy(
                    f"another digest process ({holder or 'unknown'}) is using {self.location}",
                    "wait for it to finish, or give 'digest run' more time with --wait SECONDS",
                    holder=holder,
                )
            time.sleep(POLL_SECONDS)
        try:
            yield
        finally:
            with contextlib.suppress(DigestError):  # a lost connection has let go already
                self._raw("SELECT pg_advisory_unlock(%s)", (key,))

    def _holder(self, high: int, low: int) -> str:
        """Who holds a lock: ``pid 12 on host-a, from 10.0.0.5, connected 2026-...``."""
        row = self._raw(
            f"SELECT l.pid, a.application_name, host(a.client_addr), a.backend_start {self._HELD}",
            (high, low),
        ).fetchone()
        if row is None:
            return ""
        pid, name, address, start = row
        who = name[7:] if name and name.startswith("digest pid ") else f"backend {pid}"
        who += f", from {address}" if address else ""
        return who + (f", connected {start:%Y-%m-%d %H:%M:%S %z}" if start else "")

    def lock_is_free(self, kind: LockKind) -> bool:
        _key, high, low = self._lock_tag(kind)
        return not self._raw_scalar(f"SELECT EXISTS (SELECT 1 {self._HELD})", (high, low))

    def lock_held_since(self, kind: LockKind) -> dt.datetime | None:
        since = self._raw_scalar(f"SELECT a.backend_start {self._HELD}", self._lock_tag(kind)[1:])
        return since if isinstance(since, dt.datetime) else None

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

    def _close_abandoned(self) -> None:
        """Close the streams that had to wait, outside any transaction, where closing one
        that died with its transaction asks the server nothing (which would abort it)."""
        while self._abandoned and self._idle():
            with contextlib.suppress(psycopg.Error):
                self._abandoned.pop().close()

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


def _password_in(dsn: str) -> str | None:
    with contextlib.suppress(psycopg.Error):
        return str(conninfo_to_dict(dsn).get("password") or "") or None
    return None


def _first_line(exc: BaseException) -> str:
    """The driver's message in one line (libpq's run over several)."""
    diag = getattr(exc, "diag", None)
    text = (diag.message_primary if diag is not None else None) or str(exc)
    return " ".join(text.split())[:500] or type(exc).__name__
