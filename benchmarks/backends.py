"""The two store backends as the benchmark uses them: a fresh state per measurement, a
copy of a prebuilt store, and how many bytes a state grew by.

SQLite states are files in the measurement's folder. PostgreSQL states are databases on
a throwaway local server this suite starts (``tests/pg_server.py``), run as a real one
would be: data on disk, fsync, full-page writes and synchronous commits on."""

from __future__ import annotations

import itertools
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.harness import CACHE, ROOT, file_sizes
from benchmarks.stores import fill_store

STORE_MARK = ".done-6"  # the version of the stores' recipe (fill_store)


def sqlite_base(size: int) -> Path:
    """The prebuilt SQLite store of ``size`` papers (cached), its inbox and output folder."""
    base = CACHE / f"store-{size}"
    if not (base / STORE_MARK).exists():
        shutil.rmtree(base, ignore_errors=True)
        base.mkdir(parents=True)
        from digest.store import SqliteStore

        with SqliteStore(base / "state.db") as store:
            fill_store(store, size, base / "inbox", base / "out", write_inbox=True)
        (base / STORE_MARK).touch()
    return base


def inbox_of(size: int) -> Path:
    """The inbox of the store of ``size`` papers: every old file, on either backend."""
    return sqlite_base(size) / "inbox"


@dataclass
class State:
    """One state of one measurement."""

    arg: str  # what --state takes
    work: Path  # the measurement's folder
    env: dict[str, str] = field(default_factory=dict)  # for the digest process
    database: str | None = None  # PostgreSQL: its database
    baseline: int = 0  # PostgreSQL: the database's size before the run


class Sqlite:
    name = "sqlite"

    def fresh(self, work: Path) -> State:
        return State(str(work / "state.db"), work)

    def template_cache(self, state: State) -> Path:
        return Path(state.arg).parent / "template-cache"

    def state_sizes(self, state: State) -> list[int]:
        """The state's files as the run left them (the database, any write-ahead log)."""
        path = Path(state.arg)
        return [p.stat().st_size for p in (path, path.with_name(path.name + "-wal")) if p.exists()]

    def discard(self, state: State) -> None:
        pass

    def location(self, state: State) -> Any:
        return Path(state.arg)

    def open(self, state: State) -> Any:
        from digest.store import SqliteStore

        return SqliteStore(Path(state.arg))

    def copy_of(self, size: int, work: Path) -> State:
        """A copy of the prebuilt store of ``size`` papers, and of its output folder."""
        base = sqlite_base(size)
        shutil.copyfile(base / "state.db", work / "state.db")
        shutil.copytree(base / "out", work / "out")
        return self.fresh(work)


class Postgres:
    name = "postgres"

    def __init__(self, scratch: Path) -> None:
        sys.path.insert(0, str(ROOT / "tests"))
        import pytest
        from pg_server import PgServer  # type: ignore[import-not-found]

        try:
            self.server = PgServer.launch(durable=True)
        except pytest.skip.Exception as exc:
            raise RuntimeError(str(exc)) from None
        self.scratch = scratch
        self.names = itertools.count(1)
        self.bases: dict[int, tuple[str, Path]] = {}
        with self.server.connect() as admin:
            self.version = admin.info.server_version
            self.settings = {
                name: admin.execute(f"SHOW {name}").fetchone()[0]
                for name in ("fsync", "synchronous_commit", "full_page_writes", "shared_buffers",
                             "wal_level", "data_directory")
            }  # fmt: skip

    def close(self) -> None:
        self.server.destroy()

    def _admin(self, statement: str, params: tuple = ()) -> Any:
        with self.server.connect() as admin:
            cursor = admin.execute(statement, params)
            return cursor.fetchone() if cursor.description else None

    def size(self, database: str) -> int:
        return int(self._admin("SELECT pg_database_size(%s)", (database,))[0])

    def checkpoint(self) -> None:
        """Dirty pages of the set-up written now, not during the measured run."""
        self._admin("CHECKPOINT")

    def fresh(self, work: Path, template: str | None = None) -> State:
        database = f"b{next(self.names)}"
        if template is None:
            self._admin(f'CREATE DATABASE "{database}"')
        else:
            self._admin(f'CREATE DATABASE "{database}" TEMPLATE "{template}" STRATEGY FILE_COPY')
        self.checkpoint()
        xdg = work / "xdg"  # compiled templates: XDG_CACHE_HOME/digest/template-cache
        return State(self.server.url(database), work, {"XDG_CACHE_HOME": str(xdg)}, database,
                     self.size(database))  # fmt: skip

    def template_cache(self, state: State) -> Path:
        return Path(state.env["XDG_CACHE_HOME"]) / "digest" / "template-cache"

    def state_sizes(self, state: State) -> list[int]:
        """What the database grew by (tables, indexes; not the write-ahead log)."""
        assert state.database is not None
        return [max(0, self.size(state.database) - state.baseline)]

    def discard(self, state: State) -> None:
        if state.database is not None:
            self.server.drop_database(state.database)

    def location(self, state: State) -> Any:
        from digest.config.settings import PostgresState

        return PostgresState(state.arg)

    def open(self, state: State) -> Any:
        from digest.store.postgres import PostgresStore

        return PostgresStore(self.location(state))

    # -- the prebuilt stores of the incremental runs -----------------------------------

    def base(self, size: int) -> tuple[str, Path]:
        """A database of ``size`` papers (built once per suite run, on this server),
        vacuumed and analysed as autovacuum would have, and its output folder."""
        if size not in self.bases:
            from digest.store.postgres import PostgresStore

            database, out = f"base_{size}", self.scratch / f"pg-out-{size}"
            self._admin(f'CREATE DATABASE "{database}"')
            with PostgresStore(self.server.url(database)) as store:
                fill_store(store, size, inbox_of(size), out, write_inbox=False)
            with self.server.connect(database) as db:
                db.execute("VACUUM (ANALYZE)")
            self.checkpoint()
            self.bases[size] = database, out
        return self.bases[size]

    def copy_of(self, size: int, work: Path) -> State:
        database, out = self.base(size)
        state = self.fresh(work, template=database)
        shutil.copytree(out, work / "out")
        return state


def output_sizes(out: Path) -> list[int]:
    return file_sizes(out) if out.exists() else []
