"""Several digests, several machines, one PostgreSQL database: each site publishes its own
papers, one site runs once at a time wherever it runs, and a state moves between backends
keeping what it would publish next."""

from __future__ import annotations

import json
import shutil
import signal
import sys
from pathlib import Path

import pytest
from conftest import NOW, PLAIN, PLAIN_2, WITH_META, digest_process, published_files
from test_daemon import DigestProcess

from digest.faults import PAUSE_ENV

sys.path.insert(0, str(Path(__file__).parent / "golden"))
import regenerate

pytestmark = pytest.mark.usefixtures("pg_server")


def machine(
    root: Path, dsn: str, site: str, *, sections: str = "", name: str = "m", output: str = "out"
) -> Path:
    """A config of its own, with its own inbox and output folder (``../shared`` for the
    folder that machines running one site share), on the shared database."""
    folder = root / name
    (folder / "inbox").mkdir(parents=True)
    config = folder / "digest.toml"
    config.write_text(
        f'title = "{site}"\nurl = "https://example.org/{site}/"\nsite = "{site}"\n'
        f'state = "{dsn}"\ninbox = "inbox"\noutput = "{output}"\nsettle = 0\n{sections}',
        encoding="utf-8",
    )
    return config


def run(config: Path, *extra: str, now: str = NOW) -> dict:
    result = digest_process("run", "--config", config, "--json", "--now", now, *extra)
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


def test_two_sites_in_one_database_each_publish_their_own_papers(tmp_path, pg_dsn):
    llm = machine(tmp_path, pg_dsn, "llm", name="a",
                  sections='[filters]\ninclude = ["language model", "LLM"]\n')  # fmt: skip
    everything = machine(tmp_path, pg_dsn, "everything", name="b")
    for config in (llm, everything):
        shutil.copy(PLAIN, config.parent / "inbox")
    first, second = run(llm), run(everything)
    assert first["new_papers"] < second["new_papers"] == 80, "filters are per site"
    assert second["filtered"] == {}, "one site's filtered papers are not the other's seen"
    assert run(everything, now="2026-11-25T08:00:00Z")["new_papers"] == 0


def test_one_site_on_two_machines_publishes_each_paper_once(tmp_path, pg_dsn):
    """Two configs (two machines: separate inboxes, one output folder on shared storage),
    one site."""
    first = machine(tmp_path, pg_dsn, "lab", name="host-a", output="../shared")
    second = machine(tmp_path, pg_dsn, "lab", name="host-b", output="../shared")
    shutil.copy(PLAIN, first.parent / "inbox")
    for path in (PLAIN, PLAIN_2):
        shutil.copy(path, second.parent / "inbox")
    assert run(first)["new_papers"] == 80
    report = run(second, now="2026-11-25T08:00:00Z")
    from conftest import papers_from

    from digest.model import title_key

    seen = {title_key(t) for t, _ in papers_from(PLAIN)}
    assert report["new_papers"] == len({title_key(t) for t, _ in papers_from(PLAIN_2)} - seen)


def test_the_same_site_from_two_processes_at_once_runs_once(tmp_path, pg_dsn):
    first = machine(tmp_path, pg_dsn, "lab", name="host-a", output="../shared")
    second = machine(tmp_path, pg_dsn, "lab", name="host-b", output="../shared")
    for config in (first, second):
        shutil.copy(WITH_META, config.parent / "inbox")
    holder = DigestProcess("run", "--config", first, "--now", NOW, env={PAUSE_ENV: "recorded"})
    try:
        holder.wait_for("paused at recorded")
        busy = digest_process("run", "--config", second, "--wait", "0.3")
        assert busy.returncode == 75
        assert f"another digest process (pid {holder.process.pid} on " in busy.stderr
        assert "--wait" in busy.stderr
        waiting = DigestProcess("run", "--config", second, "--wait", "60", "--json", "-v")
        waiting.wait_for("waiting up to 60s")
        holder.process.send_signal(signal.SIGCONT)
        assert holder.process.wait(timeout=60) == 0
        assert waiting.process.wait(timeout=60) == 0
        assert json.loads(waiting.process.stdout.read())["new_papers"] == 0
    finally:
        holder.kill()


def test_two_sends_at_once_on_two_machines_deliver_one_copy(tmp_path, pg_dsn):
    from smtp_server import SMTPServer

    first = machine(tmp_path, pg_dsn, "lab", name="host-a")
    second = machine(tmp_path, pg_dsn, "lab", name="host-b")
    for config in (first, second):
        config.write_text(config.read_text() + '[email]\nto = ["r@example.org"]\n')
    shutil.copy(PLAIN, first.parent / "inbox")
    run(first)
    with SMTPServer() as server:
        senders = [DigestProcess("send", "--config", config, "--smtp", server.address)
                   for config in (first, second)]  # fmt: skip
        assert [s.process.wait(timeout=60) for s in senders] == [0, 0]
        assert len(server.mailbox.received) == 1


def test_the_examples_give_the_golden_tree_on_postgresql_too(tmp_path, pg_dsn):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    regenerate.publish(tmp_path / "out", pg_dsn, inbox)
    got = published_files(tmp_path / "out", siblings=False)
    assert got == published_files(regenerate.HERE / "expected")


def test_a_state_copied_into_postgresql_publishes_what_sqlite_would_have(tmp_path, pg_dsn):
    sqlite_state = tmp_path / "state.sqlite"
    config = tmp_path / "examples.toml"
    config.write_text(
        (regenerate.HERE / "digest.toml")
        .read_text(encoding="utf-8")
        .replace('inbox = "inbox"', f'inbox = "{tmp_path / "inbox"}"'),
        encoding="utf-8",
    )
    (tmp_path / "inbox").mkdir()
    shutil.copy(PLAIN, tmp_path / "inbox")
    first = digest_process("run", "--config", config, "--state", sqlite_state, "--out",
                           tmp_path / "out-a", "--now", NOW, "--settle", "0")  # fmt: skip
    assert first.returncode == 0, first.stderr
    copied = digest_process("state", "copy", sqlite_state, pg_dsn, "--config", config)
    assert copied.returncode == 0, copied.stderr
    assert "every table's count matches" in copied.stdout
    shutil.copytree(tmp_path / "out-a", tmp_path / "out-b")
    shutil.copy(PLAIN_2, tmp_path / "inbox")
    for state, out, extra in ((sqlite_state, "out-a", ()), (pg_dsn, "out-b", ("--adopt-output",))):
        result = digest_process("run", "--config", config, "--state", state, "--out",
                                tmp_path / out, "--now", "2026-11-25T08:00:00Z",
                                "--settle", "0", *extra)  # fmt: skip
        assert result.returncode == 0, result.stderr
    assert published_files(tmp_path / "out-a") == published_files(tmp_path / "out-b")


def test_a_standby_daemon_takes_over_when_the_first_dies(tmp_path, pg_dsn):
    first = machine(tmp_path, pg_dsn, "lab", name="host-a")
    second = machine(tmp_path, pg_dsn, "lab", name="host-b")
    active = DigestProcess("daemon", "--config", first, "--every", "1h")
    standby = None
    try:
        active.wait_for("daemon started")  # before the standby starts: it would take the lock
        standby = DigestProcess("daemon", "--config", second, "--every", "1h", "--standby")
        standby.wait_for(f"standing by: another daemon runs \\(pid {active.process.pid} on ")
        twin = digest_process("daemon", "--config", second, "--every", "1h", timeout=30)
        assert twin.returncode == 75 and "--standby" in twin.stderr
        active.process.send_signal(signal.SIGKILL)
        active.process.wait()
        standby.wait_for("daemon started")
        assert standby.stop() == 0
    finally:
        active.kill()
        if standby is not None:
            standby.kill()
