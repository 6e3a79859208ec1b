"""Trust: a state never deletes or overwrites an archive it did not publish, a published
issue is never lost or published twice, and nothing outside the inbox is ever read."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
from pathlib import Path

import pytest
from conftest import (
    NOW,
    PLAIN,
    PLAIN_2,
    WITH_META,
    both_backends,
    digest_process,
    digest_text,
    published_files,
)
from test_daemon import DigestProcess

from digest.faults import PAUSE_ENV
from digest.publish.output import OWNER_FILE

SECRET = "root:x:0:0:digest-test-secret-line"


def run(run_cli, site, *extra):
    result = run_cli("run", "--config", site.config, "--json", *extra)
    return result, (json.loads(result.out) if result.out.strip().startswith("{") else None)


def everything(folder: Path) -> dict[Path, bytes]:
    """Every file under a folder, the owner marker included."""
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def published(site, run_cli):
    """A site that has published two issues."""
    site.drop(PLAIN)
    assert run_cli("run", "--config", site.config, "--now", "2026-11-23T08:00:00Z").code == 0
    site.drop(PLAIN_2)
    assert run_cli("run", "--config", site.config, "--now", NOW).code == 0
    return site


# -- 1. the output folder belongs to one state ------------------------------------------------


@pytest.mark.parametrize("how", ["new path", "deleted", "emptied", "other folder"])
def test_a_state_that_does_not_know_the_output_folder_deletes_nothing(published, run_cli, how):
    site = published
    before = everything(site.out)
    extra: list[str | Path] = []
    if how == "new path":
        extra = ["--state", site.root / "fresh.sqlite"]
    elif how == "deleted":
        for path in site.state.parent.glob(site.state.name + "*"):
            path.unlink()
    elif how == "emptied":
        site.state.write_bytes(b"")
        for suffix in ("-wal", "-shm"):
            site.state.with_name(site.state.name + suffix).unlink(missing_ok=True)
    else:  # the default state of another folder: a config there, same output
        other = site.root / "elsewhere"
        other.mkdir()
        (other / "digest.toml").write_text(
            f'inbox = "{site.inbox}"\noutput = "{site.out}"\nsettle = 0\n'
            'url = "https://example.org/digest/"\n',
            encoding="utf-8",
        )
        extra = ["--config", other / "digest.toml"]
    result = (
        run_cli("run", *extra)
        if how == "other folder"
        else (run_cli("run", "--config", site.config, *extra))
    )
    assert result.code == 2, result.err
    assert f"the output folder {site.out}" in result.err
    assert "--adopt-output" in result.err
    assert everything(site.out) == before, "nothing deleted, nothing overwritten"


def test_adopting_a_folder_keeps_every_file_and_never_reuses_an_issue_id(published, run_cli):
    site = published
    before = everything(site.out)
    fresh = site.root / "fresh.sqlite"
    site.drop(WITH_META)
    result = run_cli(
        "run", "--config", site.config, "--state", fresh, "--adopt-output", "--json", "--now", NOW
    )
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["issue"] == "2026-11-24-2", "2026-11-24 has files in the folder already"
    after = everything(site.out)
    for path, data in before.items():
        if path.parts[0] == "issues":
            assert after[path] == data, f"{path} was changed"
    marker = json.loads((site.out / OWNER_FILE).read_text())
    again = run_cli("run", "--config", site.config, "--state", fresh)
    assert again.code == 0, "the adopting state owns the folder now"
    refused = run_cli("run", "--config", site.config)
    assert refused.code == 2 and marker["state_id"] in refused.err


def test_an_output_folder_of_an_older_digest_is_claimed_by_the_state_that_wrote_it(
    published, run_cli
):
    site = published
    (site.out / OWNER_FILE).unlink()  # as digest wrote folders before they were claimed
    site.drop(WITH_META)
    result = run_cli("run", "--config", site.config, "--now", "2026-11-25T08:00:00Z")
    assert result.code == 0, result.err
    assert (site.out / OWNER_FILE).exists()


def test_runs_remove_nothing_they_did_not_write(published, run_cli):
    site = published
    strangers = {
        site.out / "issues" / "2020-01-01.html": b"someone else's page",
        site.out / "issues" / ".digest-tmp-not-ours": b"a temp file of another tool",
        site.out / "notes.txt": b"the owner's notes",
    }
    for path, data in strangers.items():
        path.write_bytes(data)
    site.drop(WITH_META)
    assert run_cli("run", "--config", site.config, "--now", "2026-11-25T08:00:00Z").code == 0
    assert run_cli("rebuild", "--config", site.config).code == 0
    for path, data in strangers.items():
        assert path.read_bytes() == data


# -- 2. recorded first, then written: a killed run's issue is finished, never redone ------------


@both_backends
def test_an_issue_recorded_but_not_written_is_finished_by_the_next_run(site, run_cli):
    site.drop(PLAIN)
    victim = DigestProcess(
        "run", "--config", site.config, "--now", NOW, env={PAUSE_ENV: "renaming"}
    )
    victim.wait_for("paused at renaming")
    victim.process.send_signal(signal.SIGKILL)
    victim.process.wait()
    status = json.loads(run_cli("status", "--config", site.config, "--json").out)
    assert status["pending_issues"] == ["2026-11-24"]
    assert status["last_run"]["result"] == "interrupted", "a dead run is not 'running'"
    text = run_cli("status", "--config", site.config).out
    assert "pending:  issue 2026-11-24" in text and "interrupted" in text
    refused = run_cli("send", "--config", site.config, "--smtp", "127.0.0.1:9")
    assert refused.code == 3 and "not all written" in refused.err
    result, report = run(run_cli, site, "--now", "2026-11-25T08:00:00Z")
    assert result.code == 0 and report["finished"] == ["2026-11-24"]
    assert report["issue"] is None and report["new_papers"] == 0
    assert (site.out / "issues" / "2026-11-24.html").exists()
    assert (
        json.loads(run_cli("status", "--config", site.config, "--json").out)["pending_issues"] == []
    )


def test_a_finished_issue_is_byte_identical_to_one_written_in_one_go(tmp_path, site, run_cli):
    site.drop(PLAIN)
    victim = DigestProcess(
        "run", "--config", site.config, "--now", NOW, env={PAUSE_ENV: "committed"}
    )
    victim.wait_for("paused at committed")
    victim.process.send_signal(signal.SIGKILL)
    victim.process.wait()
    assert run_cli("run", "--config", site.config, "--now", NOW).code == 0
    clean = tmp_path / "clean"
    (clean / "inbox").mkdir(parents=True)
    (clean / "inbox" / PLAIN.name).write_bytes(PLAIN.read_bytes())
    config = clean / "digest.toml"
    config.write_text(
        site.config.read_text(encoding="utf-8").replace('output = "out"', 'output = "o"')
    )
    assert run_cli("run", "--config", config, "--now", NOW).code == 0
    assert published_files(site.out) == published_files(clean / "o")


# -- 5, 6. only regular files inside the inbox are opened --------------------------------------


def test_links_out_of_the_inbox_and_special_files_are_refused_and_never_read(site, run_cli):
    secret = site.root / "secret.txt"
    secret.write_text(digest_text("Nov 23", [("Leaked paper", SECRET + ".")]), encoding="utf-8")
    (site.inbox / "passwd.txt").symlink_to("/etc/passwd")
    (site.inbox / "environ.txt").symlink_to("/proc/self/environ")
    (site.inbox / "secret.txt").symlink_to(secret)
    (site.inbox / "dangling.txt").symlink_to(site.root / "nothing-here")
    (site.inbox / "loop-a.txt").symlink_to(site.inbox / "loop-b.txt")
    (site.inbox / "loop-b.txt").symlink_to(site.inbox / "loop-a.txt")
    os.mkfifo(site.inbox / "pipe.txt")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(site.inbox / "socket.txt"))
    (site.inbox / "kept").mkdir()
    site.drop(PLAIN, "kept/real.txt")
    (site.inbox / "inside.txt").symlink_to(site.inbox / "kept" / "real.txt")
    try:
        result = digest_process("run", "--config", site.config, "--json", "--now", NOW, timeout=60)
    finally:
        listener.close()
    assert result.returncode == 1, result.stderr  # input was rejected, the rest published
    report = json.loads(result.stdout)
    reasons = {Path(r["file"]).name: r["reason"] for r in report["files"]["rejected"]}
    assert reasons == {
        "passwd.txt": "a symbolic link to a file outside the inbox; not read",
        "environ.txt": "a symbolic link to a file outside the inbox; not read",
        "secret.txt": "a symbolic link to a file outside the inbox; not read",
        "dangling.txt": "a symbolic link to nothing (dangling); not read",
        "loop-a.txt": "a symbolic link loop; not read",
        "loop-b.txt": "a symbolic link loop; not read",
        "pipe.txt": "a named pipe (FIFO); not read",
        "socket.txt": "a socket; not read",
    }
    assert report["files"]["read"] == [str(site.inbox / "inside.txt")]
    assert report["new_papers"] == 80
    for data in everything(site.out).values():
        assert SECRET.encode() not in data and b"root:x:0:0" not in data
    status = run_cli("status", "--config", site.config, "--json")
    rejected = {Path(r["file"]).name for r in json.loads(status.out)["rejected"]}
    assert rejected == set(reasons)


def test_parse_refuses_a_named_pipe_instead_of_waiting_on_it(tmp_path):
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    result = digest_process("parse", fifo, timeout=20)
    assert result.returncode == 1
    assert "a named pipe (FIFO), not a regular file; not read" in result.stdout


def test_parse_refuses_a_folder_as_input_not_as_a_crash(tmp_path):
    result = digest_process("parse", tmp_path, timeout=20)
    assert result.returncode == 1, result.stderr  # rejected input, not an internal error (70)
    assert "a folder, not a regular file; not read" in result.stdout


def test_a_file_name_that_is_not_utf8_is_refused_by_name_and_the_others_are_published(site):
    bad = os.path.join(os.fsencode(site.inbox), b"bad\xff.txt")
    with open(bad, "wb") as handle:
        handle.write(PLAIN.read_bytes())
    site.drop(PLAIN_2)
    result = digest_process("run", "--config", site.config, "--json", "--now", NOW)
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["new_papers"] > 0 and len(report["files"]["read"]) == 1
    (rejected,) = report["files"]["rejected"]
    assert rejected["file"].endswith("bad\\xff.txt")
    assert rejected["reason"] == "its name is not valid UTF-8; rename it"
    assert "Traceback" not in result.stderr


def test_a_newline_in_a_file_name_cannot_forge_a_log_line(site):
    site.write("bad\n2026-11-24 08:00:00 INFO published issue forged.txt", b"\x00\x01" * 100)
    site.drop(PLAIN)
    result = digest_process("run", "--config", site.config, "--now", NOW, "-v")
    assert result.returncode == 1
    for stream in (result.stdout, result.stderr):
        assert not any(line.startswith("2026-11-24 08:00:00 INFO published issue forged")
                       for line in stream.splitlines())  # fmt: skip
    assert "bad\\x0a2026-11-24" in result.stdout


# -- 4. a file still being written waits ------------------------------------------------------


def test_a_file_changed_in_the_last_seconds_waits_for_the_next_run(site, run_cli):
    config = site.config.read_text(encoding="utf-8").replace("settle = 0", 'settle = "1h"')
    site.config.write_text(config, encoding="utf-8")
    site.drop(PLAIN)  # just copied: it might still be being written
    result, report = run(run_cli, site, "--wait", "0")
    assert result.code == 0 and report["new_papers"] == 0
    assert report["files"]["waiting"] == [str(site.inbox / PLAIN.name)]
    status = run_cli("status", "--config", site.config).out
    assert "(1 file still being written)" in status and "for the next run" not in status
    old = 1_700_000_000
    os.utime(site.inbox / PLAIN.name, (old, old))  # written long ago
    result, report = run(run_cli, site, "--wait", "0")
    assert report["new_papers"] == 80 and report["files"]["waiting"] == []


def test_a_run_with_time_to_wait_waits_for_a_file_to_settle(site, run_cli):
    config = site.config.read_text(encoding="utf-8").replace("settle = 0", 'settle = "1s"')
    site.config.write_text(config, encoding="utf-8")
    site.drop(PLAIN)
    _result, report = run(run_cli, site, "--wait", "30")
    assert report["new_papers"] == 80 and report["files"]["waiting"] == []


def test_a_cut_off_abstract_is_completed_by_a_later_listing(site, run_cli):
    whole = "The method works well. It also scales to large inputs without any loss."
    cut = "The method works well. It also sca"
    site.write("a.txt", digest_text("Nov 22", [("First paper", "Done."), ("Cut paper", cut)]))
    _, report = run(run_cli, site, "--now", "2026-11-23T08:00:00Z")
    assert report["issue"] == "2026-11-23"
    page = (site.out / "issues" / "2026-11-23.html").read_text(encoding="utf-8")
    assert cut in page and whole not in page
    site.write("b.txt", digest_text("Nov 23", [("Cut paper", whole), ("New paper", "New.")]))
    _result, report = run(run_cli, site, "--now", NOW)
    assert report["completed"] == 1 and report["issue"] == "2026-11-24"
    page = (site.out / "issues" / "2026-11-23.html").read_text(encoding="utf-8")
    assert whole in page, "the earlier issue shows the whole text now"
    assert str(site.out / "issues" / "2026-11-23.html") in report["written"]
    import feedparser

    feed = feedparser.parse((site.out / "atom.xml").read_bytes())
    (entry,) = [e for e in feed.entries if e.title == "Cut paper"]
    assert whole in entry.content[0].value
    assert entry.updated > entry.published, "readers are told the entry changed"
    ids = [e.id for e in feed.entries]
    assert len(ids) == len(set(ids)) == 3


# -- 7. every failure a user can cause has its message and its exit code ----------------------


def test_numbers_out_of_range_and_urls_with_junk_are_config_errors(tmp_path, run_cli):
    for line, message in [
        ("feed_size = 99999999999999999999", "feed_size: must be at most 10,000"),
        ("feed_size = 0", "feed_size: must be 1 or more"),
        ('url = "https://example.org/ digest/"', "is not an http(s) URL"),
        ('url = "https://example.org/\\"><script>"', "is not an http(s) URL"),
        ('url = "https://example.org/?q=1"', "is not an http(s) URL"),
        ('site = "Lab X"', "site: 'Lab X' is not a site name"),
        ("[email]\nsmtp_port = 99999", "email.smtp_port: must be at most 65,535"),
        ('settle = "forever"', "settle: 'forever' is not a duration"),
        ('[email]\nto = ["r@localhost\\nBcc: y@evil.example"]', "email.to: 'r@localhost\\nBcc"),
        ('[email]\nsender = "me@x.org\\r\\nBcc: z@evil"', "holds a line break or a control"),
    ]:
        config = tmp_path / "digest.toml"
        config.write_text(line + "\n", encoding="utf-8")
        (tmp_path / "inbox").mkdir(exist_ok=True)
        result = run_cli("run", "--config", config)
        assert (result.code, message in result.err) == (2, True), (line, result.err)


def test_wait_must_be_a_finite_number_of_seconds(site):
    for value in ("nan", "inf", "-1"):
        result = digest_process("run", "--config", site.config, "--wait", value)
        assert result.returncode == 2 and "is not a number of seconds" in result.stderr


def test_a_template_that_fails_while_rendering_names_itself_and_publishes_nothing(site, run_cli):
    templates = site.root / "tpl"
    templates.mkdir()
    (templates / "issue.md").write_text("# {{ site.title }}\n\n{{ 1 // 0 }}\n", encoding="utf-8")
    site.config.write_text(
        site.config.read_text().replace("[email]", 'templates = "tpl"\n[email]'), encoding="utf-8"
    )
    site.drop(PLAIN)
    result = run_cli("run", "--config", site.config)
    assert result.code == 3, result.err
    assert f"template {templates / 'issue.md'}:3: ZeroDivisionError" in result.err
    assert "nothing was published" in result.err
    assert not [p for p in site.out.rglob("*") if p.is_file() and p.name != OWNER_FILE]
    with sqlite3.connect(site.state) as db:
        assert db.execute("SELECT count(*) FROM papers").fetchone()[0] == 0


def test_a_dry_run_waits_for_the_lock_like_a_run(site):
    from digest.store.sqlite.lock import RunLock

    site.drop(PLAIN)
    assert digest_process("run", "--config", site.config, "--now", NOW).returncode == 0
    holder = RunLock(site.state.with_name(site.state.name + ".lock"))
    holder.acquire()
    try:
        result = digest_process("run", "--config", site.config, "--dry-run", "--wait", "0.2")
    finally:
        holder.release()
    assert result.returncode == 75 and "another digest process" in result.stderr
    assert "Traceback" not in result.stderr


def test_output_that_the_terminal_cannot_encode_is_escaped_not_a_crash(tmp_path):
    path = tmp_path / "unicode.txt"
    path.write_text(digest_text("Nov 23", [("Über 漢字 🚀", "Text é.")]), encoding="utf-8")
    result = digest_process("parse", path, env={"PYTHONIOENCODING": "ascii"})
    assert result.returncode == 0, result.stderr
    assert "\\xdcber" in result.stdout and "Traceback" not in result.stderr


def test_an_internal_error_has_its_own_exit_code_and_a_pointer_to_the_traceback(
    site, run_cli, monkeypatch
):
    from digest.intake import take_in as intake

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(intake.Intake, "take_all", broken)
    site.drop(PLAIN)
    result = run_cli("run", "--config", site.config)
    assert result.code == 70
    assert "internal error: RuntimeError: a bug" in result.err
    crash = Path(result.err.split("the traceback is in ")[1].split(" ")[0])
    assert "Traceback" in crash.read_text() and "take_all" in crash.read_text()
    crash.unlink()


@pytest.fixture
def tmpfs(tmp_path):
    """A real filesystem of a given size (a full disk, a read-only remount), where mount is
    allowed."""
    mounted_points: list[Path] = []

    def mount(size: str) -> Path:
        mount_point = tmp_path / f"mnt-{len(mounted_points)}"
        mount_point.mkdir()
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                                  str(mount_point)], capture_output=True)  # fmt: skip
        if mounted.returncode != 0:
            pytest.skip(
                f"cannot mount a tmpfs here (needs root): {mounted.stderr.decode().strip()}"
            )
        mounted_points.append(mount_point)
        return mount_point

    yield mount
    for mount_point in mounted_points:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_full_disk_under_the_state_says_so(site, run_cli, tmpfs):
    small_mount = tmpfs("256k")
    for number in range(6):
        pairs = [(f"Paper {number}-{n}", "An abstract. " * 80) for n in range(60)]
        site.write(f"{number}.txt", digest_text("Nov 23", pairs))
    result = run_cli("run", "--config", site.config, "--state", small_mount / "state.sqlite")
    assert result.code == 2, result.err
    assert "the disk holding it is full" in result.err and "not a readable" not in result.err


def test_a_read_only_state_says_so_with_its_path(site, run_cli, tmpfs):
    small_mount = tmpfs("8m")
    site.drop(PLAIN)
    state = small_mount / "state.sqlite"
    assert run_cli("run", "--config", site.config, "--state", state, "--now", NOW).code == 0
    site.drop(PLAIN_2)
    remounted = subprocess.run(["mount", "-o", "remount,ro", str(small_mount)], capture_output=True)
    assert remounted.returncode == 0, remounted.stderr
    result = run_cli("run", "--config", site.config, "--state", state)
    assert result.code == 2, result.err
    assert str(state) in result.err and "Traceback" not in result.err
    assert "read-only" in result.err or "cannot be written" in result.err


# -- 8. smaller ones -----------------------------------------------------------------------------


def test_sections_with_different_non_ascii_names_get_feeds_of_their_own(site, run_cli):
    site.config.write_text(
        site.config.read_text().replace(
            "[email]",
            '[[sections]]\nname = "Модели"\nmatch = ["model"]\n'
            '[[sections]]\nname = "Данные"\nmatch = ["data"]\n[email]',
        ),
        encoding="utf-8",
    )
    site.drop(PLAIN)
    assert run_cli("run", "--config", site.config, "--now", NOW).code == 0
    folders = {p.parent.name for p in (site.out / "sections").glob("*/atom.xml")}
    assert len(folders) == 3  # two sections and "Other"
    import feedparser

    titles = {feedparser.parse((site.out / "sections" / f / "atom.xml").read_bytes()).feed.title
              for f in folders}  # fmt: skip
    assert titles == {"Test digest: Модели", "Test digest: Данные", "Test digest: Other"}


def test_a_bidi_override_left_open_is_closed_within_its_own_text(site, run_cli):
    title = "Evil \u202etitle with an override"
    site.write("a.txt", digest_text("Nov 23", [(title, "Abstract.")]))
    _result, report = run(run_cli, site, "--now", NOW)
    assert any("closed 1 bidirectional control" in p["message"] for p in report["problems"])
    page = (site.out / "issues" / "2026-11-24.html").read_text(encoding="utf-8")
    assert title + "\u202c</a>" in page, "closed right where its own text ends"
