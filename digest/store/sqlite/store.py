"""The embedded store: one SQLite file, the default for one reader on one machine.

The schema is versioned with ``PRAGMA user_version`` and ordered migrations, each in
its own transaction; ``PRAGMA application_id`` marks the file as a digest state, so a
foreign SQLite file, or one from a newer digest, is refused with a hint and never
changed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from digest.errors import NoState, StateError
from digest.store.records import POLL_SECONDS, LockKind
from digest.store.sql import SqlStore
from digest.store.sql.hooks import Row
from digest.store.sqlite.errors import explain
from digest.store.sqlite.lock import RunLock
from digest.store.sqlite.schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION

log = logging.getLogger("digest.store.sqlite")

LOCK_TIMEOUT = 30.0  # seconds a statement waits for another process's lock on the file
_CHUNK = 900  # under SQLite's limit of variables in one statement


class SqliteStore(SqlStore):
    def __init__(self, path: Path, *, create: bool = True, site: str = "default") -> None:
        self.path = path
        self.location = str(path)
        self.site = site
        in_memory = str(path) == ":memory:"
        if not in_memory and not path.exists():
            if not create:
                raise NoState(
                    f"no state at {path}", "run 'digest run' first, or check --state / the config"
                )
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StateError(
                    f"cannot create the state's folder {path.parent}: {exc.strerror}",
                    "check the path and its permissions",
                ) from None
        self._locks: dict[str, RunLock] = {}
        try:
            self.db = sqlite3.connect(path, isolation_level=None, timeout=LOCK_TIMEOUT)
        except sqlite3.Error as exc:
            raise explain(path, exc) from None
        try:
            self.db.execute("PRAGMA foreign_keys = ON")
            self.db.execute("PRAGMA cache_size = -16384")  # 16 MiB: the key index stays hot
            self._check_and_migrate()
            self.state_id = self._identity()
        except sqlite3.Error as exc:
            with contextlib.suppress(Exception):
                self.db.close()
            raise explain(path, exc) from None

    def close(self) -> None:
        self.db.close()

    # -- schema -------------------------------------------------------------------------

    def _check_and_migrate(self) -> None:
        db = self.db
        version = db.execute("PRAGMA user_version").fetchone()[0]
        self._refuse_foreign(version)
        if version == SCHEMA_VERSION:
            db.execute("PRAGMA synchronous = FULL")
            return
        if not db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            # Rows hold whole abstracts: 16 KiB pages fit several, where 4 KiB pages fit
            # one and waste the rest (a 100,000-paper import writes 25% less, and faster).
            db.execute("PRAGMA page_size = 16384")
        self._use_wal()
        db.execute("PRAGMA synchronous = FULL")
        # Each migration in its own transaction; the version is read again inside it, so
        # two processes opening a new state at once do not both migrate.
        while True:
            with self.transaction():
                version = db.execute("PRAGMA user_version").fetchone()[0]
                self._refuse_foreign(version)
                if version >= SCHEMA_VERSION:
                    return
                step = MIGRATIONS[version]
                if callable(step):
                    step(db)
                else:
                    for statement in step.split(";"):
                        if statement.strip():
                            db.execute(statement)
                db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                db.execute(f"PRAGMA user_version = {version + 1}")

    def _use_wal(self) -> None:
        """Switch a new state to write-ahead logging. SQLite answers a switch it cannot
        make now (another process is creating or migrating the same new state) with
        "locked" at once, without its busy wait: so wait here, as for a lock."""
        deadline = time.monotonic() + LOCK_TIMEOUT
        said = False
        while True:
            try:
                self.db.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
                if not said:
                    log.info("waiting for another digest process to finish creating %s", self.path)
                    said = True
                time.sleep(POLL_SECONDS)

    def _refuse_foreign(self, version: int) -> None:
        app_id = self.db.execute("PRAGMA application_id").fetchone()[0]
        tables = self.db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if app_id != APPLICATION_ID and (tables or version):
            raise StateError(
                f"{self.path} is a SQLite file but not a digest state",
                "point --state at a digest state file or a new path",
            )
        if version > SCHEMA_VERSION:
            raise StateError(
                f"{self.path} has schema version {version}; this digest knows up to "
                f"{SCHEMA_VERSION}",
                "upgrade digest (pip install -U digest) to read it; it was left untouched",
            )

    def _identity(self) -> str:
        state_id = self.setting("state_id")
        site = self.setting("site")
        if state_id is None or site is None:
            with self.transaction():
                import uuid  # once per state: not in every run

                state_id = self.setting("state_id") or str(uuid.uuid4())
                site = self.setting("site") or self.site
                self.set_setting("state_id", state_id)
                self.set_setting("site", site)
        if site != self.site:
            raise StateError(
                f"the state {self.path} holds the site {site!r}, not {self.site!r}",
                "a SQLite state holds one site: give each site its own state file, or use "
                "PostgreSQL for several sites in one database",
            )
        return state_id

    @property
    def schema_version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self._execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._rollback()
            raise
        self._execute("COMMIT")

    @contextlib.contextmanager
    def rehearsal(self) -> Iterator[None]:
        self._execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            self._rollback()

    def _rollback(self) -> None:
        with contextlib.suppress(sqlite3.Error):  # a failed COMMIT may have rolled back
            self.db.execute("ROLLBACK")
        self._forget_cached_ids()

    # -- locks: files beside the state --------------------------------------------------

    def _lock_file(self, kind: LockKind) -> RunLock:
        suffix = ".lock" if kind == "run" else ".daemon"
        return RunLock(self.path.with_name(self.path.name + suffix))

    @contextlib.contextmanager
    def lock(self, kind: LockKind, wait: float) -> Iterator[None]:
        if str(self.path) == ":memory:":  # nobody else can see it
            yield
            return
        lock = self._lock_file(kind)
        lock.wait = wait
        with lock:
            yield

    def lock_is_free(self, kind: LockKind) -> bool:
        return self._lock_file(kind).is_free()

    def lock_held_since(self, kind: LockKind) -> dt.datetime | None:
        return self._lock_file(kind).held_since()

    # -- hooks ----------------------------------------------------------------------------

    # Every statement passes here, so a driver error leaves the store as a StateError that
    # says what SQLite meant (a full disk, a read-only file), never as a traceback.

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        try:
            return self.db.execute(sql, params)
        except sqlite3.Error as exc:
            raise explain(self.path, exc) from exc

    def _executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        try:
            self.db.executemany(sql, rows)
        except sqlite3.Error as exc:
            raise explain(self.path, exc) from exc

    def _with_keys(self, sql: str, keys: Sequence[Any], before: Sequence[Any] = ()) -> list[Row]:
        found: list[Row] = []
        for start in range(0, len(keys), _CHUNK):
            chunk = list(keys[start : start + _CHUNK])
            marks = "IN (" + ",".join("?" * len(chunk)) + ")"
            found += self._execute(sql.format(keys=marks), [*before, *chunk]).fetchall()
        return found

    def _stream(self, sql: str, params: Sequence[Any]) -> Iterator[Row]:
        cursor = self._execute(sql, params)
        try:
            yield from cursor
        except sqlite3.Error as exc:
            raise explain(self.path, exc) from exc

    def _insert_rows(self, table: str, columns: Sequence[str], rows: list[tuple]) -> None:
        marks = ", ".join("?" * len(columns))
        self._executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
