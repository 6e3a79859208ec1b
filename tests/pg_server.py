"""A throwaway PostgreSQL server for the tests: one per session, a fresh database per test.

A pytest plugin: ``pytest_plugins = ["pg_server"]`` in tests/conftest.py (or
``-p pg_server`` with tests/ on the path). Fixtures:

- ``pg_server`` (session): the server, started here from Debian's binaries (the newest
  ``/usr/lib/postgresql/*/bin``), or the one ``DIGEST_TEST_PG_DSN`` names (CI may start
  its own and pass its DSN; then none is started). Without binaries, or if the server
  cannot start, the tests that use it are skipped with the reason.
- ``pg_dsn`` (function): a new, empty database on it, as a URL
  (``postgresql://postgres@127.0.0.1:PORT/t_...``), dropped after the test.
- ``pg_private_server`` (function): a server of the test's own, to stop and start.

Test data only, so the server runs without fsync, in memory where it can; as root, initdb
and the server run as the ``postgres`` user (PostgreSQL refuses root), in a folder that
user can reach (not under pytest's own temporary folders, which only root may enter).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

PG_DSN_ENV = "DIGEST_TEST_PG_DSN"
BIN_ROOT = Path("/usr/lib/postgresql")
# Test data only: nothing waits for the disk. A server that is to be stopped as if it
# crashed keeps synchronous commits, so that what was committed survives the crash.
SERVER_SETTINGS = "-c fsync=off -c full_page_writes=off -c max_connections=60"
FAST_COMMITS = "-c synchronous_commit=off"


def find_bin_dir() -> Path | None:
    """The newest installed server's binaries."""
    found = []
    for candidate in BIN_ROOT.glob("*/bin"):
        version = candidate.parent.name
        if re.fullmatch(r"\d+(\.\d+)?", version) and (candidate / "pg_ctl").exists():
            found.append((tuple(int(part) for part in version.split(".")), candidate))
    return max(found)[1] if found else None


def _as_owner(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run as the postgres user."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def _memory_dir() -> str | None:
    """/dev/shm where there is one: creating a database there takes 30 ms, not 400 (on
    this machine's disk, even without fsync); else the usual temporary folder."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK) else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PgServer:
    """A running server: one this module started (``base`` set), or a given one."""

    def __init__(self, admin_dsn: str, *, base: Path | None = None, bin_dir: Path | None = None,
                 port: int | None = None, settings: str = "") -> None:  # fmt: skip
        self.admin_dsn = admin_dsn
        self.base, self.bin_dir, self.port, self.settings = base, bin_dir, port, settings

    # -- starting and stopping a server of our own ----------------------------------------

    @classmethod
    def launch(cls, *, crash_safe: bool = False, durable: bool = False) -> PgServer:
        """initdb and start a new server; pytest.skip (with why) if that cannot be done.
        ``crash_safe``: commits survive ``stop()`` (slower, for a test that stops it).
        ``durable``: a realistic server for the benchmarks: its data on disk, with
        PostgreSQL's own fsync, full-page writes and synchronous commits."""
        pytest.importorskip("psycopg", reason="psycopg is not installed (digest[postgres])")
        bin_dir = find_bin_dir()
        if bin_dir is None:
            pytest.skip(f"no PostgreSQL server in {BIN_ROOT}/*/bin (apt-get install postgresql), "
                        f"and {PG_DSN_ENV} is not set")  # fmt: skip
        if os.geteuid() == 0 and shutil.which("runuser") is None:
            pytest.skip("running as root, and runuser (to run PostgreSQL as postgres) is missing")
        base = Path(tempfile.mkdtemp(prefix="digest-pg-", dir=None if durable else _memory_dir()))
        try:
            if os.geteuid() == 0:
                shutil.chown(base, "postgres", "postgres")
            init = subprocess.run(
                _as_owner([str(bin_dir / "initdb"), "-D", str(base / "data"), "--auth=trust",
                           "-E", "UTF8", "--locale=C", "-U", "postgres", "--no-sync",
                           "--no-instructions"]),
                capture_output=True, text=True, timeout=120, env={**os.environ, "LC_ALL": "C"},
            )  # fmt: skip
            if init.returncode != 0:
                raise RuntimeError(f"initdb failed: {init.stderr.strip()[-500:]}")
            settings = SERVER_SETTINGS if crash_safe else f"{SERVER_SETTINGS} {FAST_COMMITS}"
            settings = "-c max_connections=60" if durable else settings
            server = cls("", base=base, bin_dir=bin_dir, port=_free_port(), settings=settings)
            server.admin_dsn = server.url("postgres")
            server.start()
            return server
        except (OSError, RuntimeError, subprocess.SubprocessError, LookupError) as exc:
            shutil.rmtree(base, ignore_errors=True)
            pytest.skip(f"could not start a PostgreSQL server for the tests: {exc}")

    def _pg_ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        assert self.base is not None and self.bin_dir is not None, "not a server of ours"
        return subprocess.run(
            _as_owner([str(self.bin_dir / "pg_ctl"), "-D", str(self.base / "data"), *args]),
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    def start(self) -> None:
        assert self.base is not None
        options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 {self.settings}"
        done = self._pg_ctl("start", "-w", "-t", "60", "-l", str(self.base / "log"), "-o", options)
        if done.returncode != 0:
            log = self.base / "log"
            tail = log.read_text(errors="replace")[-800:] if log.exists() else done.stderr
            raise RuntimeError(f"pg_ctl start failed: {tail.strip()}")

    def stop(self) -> None:
        """Stop at once, as a crash or a power cut would (``-m immediate``)."""
        self._pg_ctl("stop", "-w", "-m", "immediate")

    def destroy(self) -> None:
        if self.base is not None:
            with contextlib.suppress(Exception):
                self.stop()
            shutil.rmtree(self.base, ignore_errors=True)

    # -- databases ------------------------------------------------------------------------

    def url(self, dbname: str) -> str:
        """The DSN of one database on this server."""
        if self.base is not None:
            return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"
        if self.admin_dsn.startswith(("postgresql://", "postgres://")):
            parts = urlsplit(self.admin_dsn)
            return urlunsplit(parts._replace(path="/" + dbname))
        from psycopg.conninfo import make_conninfo

        return make_conninfo(self.admin_dsn, dbname=dbname)

    def connect(self, dbname: str | None = None):  # -> psycopg.Connection
        import psycopg

        dsn = self.url(dbname) if dbname else self.admin_dsn
        return psycopg.connect(dsn, autocommit=True, connect_timeout=10)

    def create_database(self) -> str:
        name = f"t_{secrets.token_hex(6)}"
        with self.connect() as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        with self.connect() as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            force = " WITH (FORCE)" if admin.info.server_version >= 130000 else ""
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"{force}')


def _given_server() -> PgServer | None:
    dsn = os.environ.get(PG_DSN_ENV)
    if not dsn:
        return None
    pytest.importorskip("psycopg", reason="psycopg is not installed (digest[postgres])")
    server = PgServer(dsn)
    try:
        server.connect().close()
    except Exception as exc:  # the CI asked for this server: not reaching it is a failure
        pytest.fail(f"{PG_DSN_ENV} is set, but its server cannot be reached: {exc}")
    return server


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    server = _given_server() or PgServer.launch()
    yield server
    server.destroy()


@pytest.fixture
def pg_dsn(pg_server: PgServer) -> Iterator[str]:
    name = pg_server.create_database()
    yield pg_server.url(name)
    pg_server.drop_database(name)


@pytest.fixture
def pg_private_server() -> Iterator[PgServer]:
    """A server of this test's own (never DIGEST_TEST_PG_DSN's), free to stop and start."""
    server = PgServer.launch(crash_safe=True)
    yield server
    server.destroy()
