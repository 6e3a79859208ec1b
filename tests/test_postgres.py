"""What only the PostgreSQL store has: sites in one database, locks across processes and
machines, a server that goes away, passwords, copies to and from SQLite. Real server
(tests/pg_server.py), real processes; every wait has a deadline, none is a sleep."""

from __future__ import annotations

import os
import queue
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from conftest import ROOT, digest_process, example_run_args, published_files
from test_store_contract import NOW, paper, place, publish, scripted

from digest.errors import ConfigError, LockBusy, StateError, Unavailable
from digest.store import SqliteStore
from digest.store.copy import TABLES, copy_state
from digest.store.postgres import ddl as schema_postgres

psycopg = pytest.importorskip("psycopg")

from digest.store.postgres.store import PostgresStore, _placeholders  # noqa: E402  (after the skip)

SECRET = "secret-xyz"


class Child:
    """A Python subprocess whose output lines are awaited with a deadline."""

    def __init__(self, code: str, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code), *args], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def expect(self, prefix: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
            if line.startswith(prefix):
                return line
        raise AssertionError(f"no line starting {prefix!r}; the child said: {self.seen}")

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def finish(self, timeout: float = 30) -> int:
        if self.process.stdin:
            self.process.stdin.close()
        return self.process.wait(timeout)


OPEN_SITE = """
import sys
from digest.store.postgres import PostgresStore
print("ready", flush=True)
sys.stdin.readline()
store = PostgresStore(sys.argv[1], site=sys.argv[2])
print("opened", store.state_id, store.schema_version, flush=True)
"""

HOLD_LOCK = """
import sys
from digest.store.postgres import PostgresStore
store = PostgresStore(sys.argv[1], site=sys.argv[2])
with store.lock("run", 0):
    print("locked", flush=True)
    sys.stdin.readline()
"""


def admin(dsn: str):
    return psycopg.connect(dsn, autocommit=True)


# -- sites ----------------------------------------------------------------------------------


def test_sites_are_created_on_first_use_and_see_only_their_own_rows(pg_dsn: str):
    with PostgresStore(pg_dsn) as default, PostgresStore(pg_dsn, site="lab_x") as lab:
        publish(default, [(paper("Only here"), place("S"))])
        assert default.known_papers(["only here"]) and lab.known_papers(["only here"]) == {}
        assert lab.counts().papers == 0 and lab.issue(None) is None
        assert default.state_id != lab.state_id and lab.location.endswith("#lab_x")
        ids = {"default": default.state_id, "lab_x": lab.state_id}
    with admin(pg_dsn) as db:
        sites = db.execute("SELECT name, schema, state_id FROM digest.sites ORDER BY 1").fetchall()
        assert sites == [("default", "digest_default", ids["default"]),
                         ("lab_x", "digest_lab_x", ids["lab_x"])]  # fmt: skip
        assert db.execute("SELECT count(*) FROM digest_lab_x.papers").fetchone() == (0,)
    with pytest.raises(StateError, match="no site 'other'"):
        PostgresStore(pg_dsn, site="other", create=False)


def test_each_connection_names_its_process_and_searches_its_site(pg_dsn: str):
    with PostgresStore(pg_dsn, site="lab_x") as store:
        name, path = store._raw("SELECT current_setting('application_name'), "
                                "current_setting('search_path')").fetchone()  # fmt: skip
    assert name == f"digest pid {os.getpid()} on {socket.gethostname()}"[:63]
    assert path == "digest_lab_x"


def test_two_processes_creating_one_new_site_at_once_both_succeed(pg_dsn: str):
    children = [Child(OPEN_SITE, pg_dsn, "fresh") for _ in range(2)]
    for child in children:
        child.expect("ready")
    for child in children:  # as close together as two processes can be told
        child.send("go")
    opened = [child.expect("opened").split()[1:] for child in children]
    assert [child.finish() for child in children] == [0, 0]
    assert opened[0] == opened[1] and opened[0][1] == str(schema_postgres.SCHEMA_VERSION)
    with admin(pg_dsn) as db:
        assert db.execute("SELECT count(*) FROM digest.sites").fetchone() == (1,)
        version = schema_postgres.SCHEMA_VERSION
        assert db.execute("SELECT version FROM digest_fresh.schema_version").fetchall() == [
            (version,)
        ]


def test_a_newer_schema_is_refused_and_left_unchanged(pg_dsn: str):
    PostgresStore(pg_dsn).close()
    with admin(pg_dsn) as db:
        db.execute("UPDATE digest_default.schema_version SET version = 99")
        before = db.execute("SELECT count(*) FROM pg_class WHERE relnamespace = "
                            "'digest_default'::regnamespace").fetchone()  # fmt: skip
    with pytest.raises(StateError, match="schema version 99") as refused:
        PostgresStore(pg_dsn)
    assert "upgrade digest" in (refused.value.hint or "")
    with admin(pg_dsn) as db:
        assert db.execute("SELECT version FROM digest_default.schema_version").fetchall() == [(99,)]
        assert db.execute("SELECT count(*) FROM pg_class WHERE relnamespace = "
                          "'digest_default'::regnamespace").fetchone() == before  # fmt: skip


def test_a_schema_digest_did_not_make_is_never_taken_over(pg_dsn: str):
    with admin(pg_dsn) as db:
        db.execute("CREATE SCHEMA digest_default; CREATE TABLE digest_default.mine (x int)")
    with pytest.raises(StateError, match="not a digest site"):
        PostgresStore(pg_dsn)
    with admin(pg_dsn) as db:
        assert db.execute("SELECT to_regclass('digest_default.settings')").fetchone() == (None,)


def test_migrations_run_each_in_a_transaction_of_its_own(pg_dsn: str, monkeypatch):
    PostgresStore(pg_dsn).close()
    known = len(schema_postgres.MIGRATIONS)
    broken = (*schema_postgres.MIGRATIONS, "CREATE TABLE extra (x int); SELECT 1 / 0")
    monkeypatch.setattr(schema_postgres, "MIGRATIONS", broken)
    monkeypatch.setattr(schema_postgres, "SCHEMA_VERSION", known + 1)
    with pytest.raises(StateError, match="division by zero"):
        PostgresStore(pg_dsn)
    with admin(pg_dsn) as db:  # nothing of the failed migration stayed
        assert db.execute("SELECT to_regclass('digest_default.extra')").fetchone() == (None,)
        assert db.execute("SELECT version FROM digest_default.schema_version").fetchone() == (
            known,
        )
    fixed = (*broken[:known], "CREATE TABLE extra (x int)")
    monkeypatch.setattr(schema_postgres, "MIGRATIONS", fixed)
    with PostgresStore(pg_dsn) as store:
        assert store.schema_version == known + 1
        assert store._raw("SELECT count(*) FROM extra").fetchone()


def test_chat_posts_recorded_by_an_older_digest_become_posts_of_their_own(pg_dsn, monkeypatch):
    from digest.model import Medium

    known = schema_postgres.MIGRATIONS
    monkeypatch.setattr(schema_postgres, "MIGRATIONS", known[:2])
    monkeypatch.setattr(schema_postgres, "SCHEMA_VERSION", 2)
    PostgresStore(pg_dsn).close()
    with admin(pg_dsn) as db:
        db.execute(
            "INSERT INTO digest_default.deliveries VALUES ('2026-11-24', 'channel:team', 'sent', "
            "'2026-11-24T08:00:00Z', 'chat', NULL), ('2026-11-24', 'ann@example.org', 'sent', "
            "'2026-11-24T08:00:00Z', '<m@x>', NULL)"
        )
    monkeypatch.setattr(schema_postgres, "MIGRATIONS", known)
    monkeypatch.setattr(schema_postgres, "SCHEMA_VERSION", len(known))
    with PostgresStore(pg_dsn) as store:
        assert list(store.deliveries("2026-11-24", Medium.CHAT)) == ["team"]
        assert list(store.deliveries("2026-11-24")) == ["ann@example.org"]


def test_a_role_without_create_rights_uses_the_schemas_a_dba_made(pg_dsn: str):
    role = f"r_{os.getpid()}"
    with admin(pg_dsn) as db:
        db.execute(f"CREATE ROLE {role} LOGIN")
        try:
            as_role = psycopg.conninfo.make_conninfo(pg_dsn, user=role)
            with pytest.raises(StateError, match="permission denied") as refused:
                PostgresStore(as_role)
            assert "grant this role CREATE" in (refused.value.hint or "")
            db.execute(f"CREATE SCHEMA digest AUTHORIZATION {role}; "
                       f"CREATE SCHEMA digest_default AUTHORIZATION {role}")  # fmt: skip
            with PostgresStore(as_role) as store:
                publish(store, [(paper("Mine"), place("S"))])
                assert store.counts().papers == 1
        finally:
            db.execute(f"DROP OWNED BY {role}; DROP ROLE {role}")


# -- locks ----------------------------------------------------------------------------------


def test_the_run_lock_names_its_holder_and_dies_with_it(pg_dsn: str):
    holder = Child(HOLD_LOCK, pg_dsn, "default")
    holder.expect("locked")
    with PostgresStore(pg_dsn) as store:
        assert not store.lock_is_free("run")
        with pytest.raises(LockBusy) as busy, store.lock("run", 0.1):
            pass
        assert f"pid {holder.process.pid} on {socket.gethostname()}" in busy.value.holder
        assert busy.value.holder in busy.value.message
        assert "127.0.0.1" in busy.value.holder or "127.0.0.1" not in pg_dsn  # where it is from
        holder.process.send_signal(signal.SIGKILL)
        holder.process.wait(30)
        with store.lock("run", 30):  # the server lets go when the connection drops
            assert store.lock_is_free("daemon")


def test_sites_lock_independently(pg_dsn: str):
    with PostgresStore(pg_dsn, site="a") as a, PostgresStore(pg_dsn, site="b") as b:
        with a.lock("run", 0), b.lock("run", 0):
            assert not a.lock_is_free("run") and not b.lock_is_free("run")
        assert a.lock_is_free("run") and b.lock_is_free("run")


# -- a server that cannot be reached, and passwords -----------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_state_that_cannot_be_reached_is_unavailable_and_shows_no_password(
    pg_dsn: str, monkeypatch
):
    monkeypatch.setenv("PGPASSWORD", SECRET)
    good = psycopg.conninfo.conninfo_to_dict(pg_dsn)
    port, user = good.get("port", "5432"), good.get("user", "postgres")
    wrong = [
        f"postgresql://{user}@127.0.0.1:{free_port()}/t",  # nothing listens there
        f"postgresql://{user}:{SECRET}@127.0.0.1:{free_port()}/t",  # a caller's password
        f"postgresql://{user}@127.0.0.1:{port}/no_such_db",
        f"host=127.0.0.1 port={port} user={user} dbname=no_such_db password={SECRET}",
    ]
    for dsn in wrong:
        with pytest.raises(Unavailable) as failed:
            PostgresStore(dsn)
        shown = f"{failed.value} {failed.value.hint}"
        assert failed.value.exit_code == 75 and SECRET not in shown, shown
        assert "127.0.0.1" in failed.value.message
    assert "createdb" in (failed.value.hint or "")
    with PostgresStore(pg_dsn.replace(f"{user}@", f"{user}:{SECRET}@")) as store:
        assert SECRET not in store.location and store.location.endswith("#default")


def test_the_cli_says_unavailable_in_one_line_and_exits_75(pg_dsn: str):
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/t"
    done = subprocess.run([sys.executable, "-m", "digest", "status", "--state", url],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PGPASSWORD": SECRET})  # fmt: skip
    assert done.returncode == 75, done.stderr
    assert "cannot reach the PostgreSQL state" in done.stderr
    assert "Traceback" not in done.stderr and SECRET not in done.stderr + done.stdout


def test_a_lost_connection_is_unavailable(pg_server, pg_dsn: str):
    store = PostgresStore(pg_dsn)
    with admin(pg_dsn) as db:
        db.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
            "application_name LIKE 'digest pid %' AND datname = current_database()"
        )
    with pytest.raises(Unavailable, match="lost the PostgreSQL state"):
        store.counts()
    with pytest.raises(Unavailable), store.transaction():
        store.set_setting("a", "b")
    store.close()


def test_a_server_stopped_mid_use_is_unavailable_then_comes_back(pg_private_server):
    db = pg_private_server.create_database()
    dsn = pg_private_server.url(db)
    store = PostgresStore(dsn)
    publish(store, [(paper("Kept"), place("S"))])
    with pytest.raises(Unavailable) as lost, store.transaction():
        store.add_papers([(paper("Lost"), None)], None, NOW)
        pg_private_server.stop()
        store.counts()
    assert lost.value.exit_code == 75 and "psycopg" not in str(lost.value)
    store.close()
    with pytest.raises(Unavailable, match="cannot reach"):
        PostgresStore(dsn)
    pg_private_server.start()
    with PostgresStore(dsn) as back:
        assert set(back.known_papers(["kept", "lost"])) == {"kept"}


# -- copies ---------------------------------------------------------------------------------


OWN = ("state_id", "site", "copied_from")  # the settings each state has of its own


def sqlite_tables(path: Path) -> dict[str, list[tuple]]:
    """Every table's rows, columns by name, read straight from the file."""
    with sqlite3.connect(path) as db:
        tables = {}
        for table, key in TABLES:
            columns = sorted(row[1] for row in db.execute(f"PRAGMA table_info({table})"))
            tables[table] = db.execute(
                f"SELECT {', '.join(columns)} FROM {table} ORDER BY {key}").fetchall()  # fmt: skip
    tables["settings"] = [row for row in tables["settings"] if row[0] not in OWN]
    return tables


def postgres_tables(dsn: str, site: str) -> dict[str, list[tuple]]:
    """The same, straight from the server."""
    schema, tables = f"digest_{site}", {}
    with admin(dsn) as db:
        for table, key in TABLES:
            columns = sorted(row[0] for row in db.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = %s AND table_name = %s", (schema, table)))  # fmt: skip
            query = f"SELECT {', '.join(columns)} FROM {schema}.{table} ORDER BY {key}"
            tables[table] = db.execute(query).fetchall()
    tables["settings"] = [row for row in tables["settings"] if row[0] not in OWN]
    return tables


def test_a_state_copies_to_postgresql_and_back_row_for_row(tmp_path: Path, pg_dsn: str):
    source_path, back_path = tmp_path / "source.sqlite", tmp_path / "back.sqlite"
    with SqliteStore(source_path) as source:
        scripted(source)
        source.set_setting("output", "/srv/out")
        with PostgresStore(pg_dsn, site="copy") as target:
            report = copy_state(source, target)
            assert report.copied_from == source.state_id == target.setting("copied_from")
            assert target.state_id != source.state_id and target.setting("site") == "copy"
            assert report.counts["papers"] == source.counts().papers > 0
            assert report.counts["settings"] == 1  # "output": the identity stays the target's
            assert list(target.issue_papers(1)) == list(source.issue_papers(1))
            papers = source.counts().papers
    original = sqlite_tables(source_path)
    assert all(original[table] for table, _ in TABLES), "the script fills every table"
    assert postgres_tables(pg_dsn, "copy") == original
    with PostgresStore(pg_dsn, site="copy") as middle, SqliteStore(back_path) as back:
        copy_state(middle, back)
        assert back.setting("copied_from") == middle.state_id
        assert sqlite_tables(back_path) == original
        # Both carry on where the source left off: the next ids follow the copied ones.
        for store in (middle, back):
            assert store.add_papers([(paper("After"), None)], None, NOW) == [papers + 1]
            assert store.start_run(NOW, "h", 1) == store.last_run().id
            assert store.record_file("new", "n.txt", None, NOW, 0, 0) == store.counts().files
    assert sqlite_tables(back_path) == postgres_tables(pg_dsn, "copy") != original


def test_a_copy_never_lands_in_a_state_with_papers(tmp_path: Path, pg_dsn: str):
    with SqliteStore(tmp_path / "s.sqlite") as source, PostgresStore(pg_dsn) as target:
        publish(source, [(paper("A"), place("S"))])
        publish(target, [(paper("Mine"), place("S"))])
        with pytest.raises(StateError, match="not empty") as refused:
            copy_state(source, target)
        assert "new" in (refused.value.hint or "")
        assert target.counts().papers == 1 and target.setting("copied_from") is None
        with pytest.raises(StateError, match="same state"):
            copy_state(target, target)


def test_a_run_on_postgresql_publishes_what_a_run_on_sqlite_does(tmp_path: Path, pg_dsn, run_cli):
    """The whole pipeline on each backend: the same bytes, file for file."""
    outputs = []
    for name in ("sqlite", "postgres"):
        args = example_run_args(tmp_path / name)
        if name == "postgres":
            args[args.index("--state") + 1] = pg_dsn
        first, again = run_cli(*args), run_cli(*args)
        assert (first.code, again.code) == (0, 0), first.err + again.err
        assert '"new_papers": 0' in again.out
        outputs.append(published_files(tmp_path / name / "out"))
    assert outputs[0] and outputs[0] == outputs[1]


# -- the optional driver --------------------------------------------------------------------


def test_a_sqlite_run_never_imports_the_driver(tmp_path: Path):
    code = ("import sys; from digest.cli import main as cli; code = cli.main(sys.argv[1:]); "
            "print('psycopg' in sys.modules, 'digest.store.postgres' in sys.modules); "
            "sys.exit(code)")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code, *map(str, example_run_args(tmp_path))],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "False False"


def test_without_the_driver_a_postgresql_state_names_the_extra():
    code = (
        "import sys; sys.modules['psycopg'] = None; from digest.cli import main as cli; "
        "sys.exit(cli.main(['status', '--state', 'postgresql://u@127.0.0.1:1/d']))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.returncode == ConfigError.exit_code, done.stderr
    assert "pip install 'digest[postgres]'" in done.stderr and "Traceback" not in done.stderr


def test_placeholders_leave_literals_alone():
    assert _placeholders("SELECT '?%', ? FROM t WHERE a LIKE '%x' AND b = ?") == (
        "SELECT '?%%', %s FROM t WHERE a LIKE '%%x' AND b = %s")  # fmt: skip


def test_a_stream_is_a_server_side_cursor(pg_dsn: str):
    with PostgresStore(pg_dsn) as store:
        seq = publish(store, [(paper(f"P{n}"), place("S")) for n in range(10)])
        streamed = store.issue_papers(seq)
        next(streamed)
        assert store._raw("SELECT name, is_holdable FROM pg_cursors").fetchall() == [
            ("digest_stream_1", True)]  # fmt: skip
        assert len(list(streamed)) == 9
        assert store._raw("SELECT count(*) FROM pg_cursors").fetchone() == (0,)


def test_a_state_copied_onto_itself_is_a_usage_error_not_a_wait(tmp_path: Path):
    state = tmp_path / "s.sqlite"
    with SqliteStore(state) as store:
        publish(store, [(paper("A"), place("S"))])
    done = digest_process("state", "copy", state, tmp_path / "." / "s.sqlite", timeout=30)
    assert done.returncode == 2, done.stderr  # not 75 after waiting a minute for itself
    assert f"cannot copy the state {state} of site 'default' into itself" in done.stderr
