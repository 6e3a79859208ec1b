"""Crashes, concurrent runs, a full disk, old and foreign state files: nothing lost,
nothing published twice, no torn file."""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import html5lib
import pytest
from conftest import (
    PLAIN,
    PLAIN_2,
    WITH_META,
    both_backends,
    digest_process,
    every_issue_page,
)
from lxml import etree
from test_daemon import DigestProcess

from digest.faults import PAUSE_ENV, STEPS
from digest.model import title_key
from digest.publish.output import OWNER_FILE, TEMP_PREFIX
from digest.store.sqlite.schema import APPLICATION_ID, MIGRATIONS


def inbox_keys(*paths: Path) -> set[str]:
    from conftest import papers_from

    return {title_key(title) for path in paths for title, _ in papers_from(path)}


def published_anchors(out: Path) -> list[str]:
    """Every paper anchor on every issue page (each must appear exactly once)."""
    anchors = []
    for page in every_issue_page(out):
        tree = html5lib.parse(page.read_text(encoding="utf-8"), namespaceHTMLElements=False)
        anchors += [article.get("id") for article in tree.iter("article")]
    return anchors


def assert_invariants(site, expected_keys: set[str]) -> None:
    if site.dsn is None:
        assert site.rows("PRAGMA integrity_check") == [("ok",)]
    keys = {row[0] for row in site.rows("SELECT key FROM papers WHERE issue_seq IS NOT NULL")}
    issues = {row[0] for row in site.rows("SELECT id FROM issues")}
    assert site.rows("SELECT count(*) FROM issues WHERE outputs_pending = 1") == [(0,)]
    assert keys == expected_keys
    anchors = published_anchors(site.out)
    assert len(anchors) == len(set(anchors)) == len(expected_keys), "each paper exactly once"
    assert {p.stem for p in (site.out / "issues").glob("*.html")} == issues
    for feed in ("rss.xml", "atom.xml"):
        etree.fromstring((site.out / feed).read_bytes())  # whole, well-formed
    for page in site.out.rglob("*.html"):
        assert page.read_text(encoding="utf-8").rstrip().endswith("</html>"), page
    assert not [p for p in site.out.rglob("*") if p.name.startswith(TEMP_PREFIX)]


@both_backends
@pytest.mark.parametrize("step", STEPS)
def test_kill_9_at_any_step_then_rerun_publishes_exactly_once(site, step):
    site.drop(PLAIN)
    assert (
        digest_process("run", "--config", site.config, "--now", "2026-11-23T08:00:00Z").returncode
        == 0
    )
    site.drop(PLAIN_2)
    victim = DigestProcess(
        "run", "--config", site.config, "--now", "2026-11-24T08:00:00Z", env={PAUSE_ENV: step}
    )
    victim.wait_for(f"paused at {step}")
    victim.process.send_signal(signal.SIGKILL)
    victim.process.wait()
    # The rerun is a day later: what the killed run left must not survive as a stray issue.
    after = digest_process(
        "run", "--config", site.config, "--json", "--now", "2026-11-25T08:00:00Z"
    )
    assert after.returncode == 0, after.stderr
    report = json.loads(after.stdout)
    if STEPS.index(step) >= STEPS.index("committed"):
        # The killed run had recorded its issue: the rerun writes exactly its files.
        assert report["new_papers"] == 0, "the killed run had already committed"
        assert report["finished"] == ["2026-11-24"]
    else:
        assert report["new_papers"] > 0, "the killed run left the state as it was"
        assert report["finished"] == []
    assert_invariants(site, inbox_keys(PLAIN, PLAIN_2))


@both_backends
def test_two_runs_at_once_are_serialized_and_publish_each_paper_once(site):
    for path in (PLAIN, WITH_META, PLAIN_2):
        site.drop(path)
    runs = [
        DigestProcess("run", "--config", site.config, "--wait", "120", "--json") for _ in range(2)
    ]
    codes = [run.process.wait(timeout=120) for run in runs]
    assert codes == [0, 0]
    reports = [json.loads(run.process.stdout.read()) for run in runs]
    assert sorted(r["new_papers"] > 0 for r in reports) == [False, True]
    assert_invariants(site, inbox_keys(PLAIN, WITH_META, PLAIN_2))


@pytest.fixture
def tiny_disk(tmp_path):
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(mount_point)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(
            f"cannot mount a small tmpfs here (needs root): {mounted.stderr.decode().strip()}"
        )
    yield mount_point
    subprocess.run(["umount", str(mount_point)], check=False)


@both_backends
def test_full_disk_fails_clearly_and_the_next_run_publishes_the_same_papers(
    site, tiny_disk, run_cli
):
    site.drop(PLAIN)
    result = run_cli("run", "--config", site.config, "--out", tiny_disk)
    assert result.code == 3
    assert "No space left on device" in result.err and "nothing was published" in result.err
    left = [p for p in tiny_disk.rglob("*") if p.is_file() and p.name != OWNER_FILE]
    assert not left, "no partial or temp file left"
    assert site.rows("SELECT count(*) FROM papers") == [(0,)]
    again = run_cli("run", "--config", site.config, "--json")
    assert again.code == 0 and json.loads(again.out)["new_papers"] == 80


def test_state_of_an_older_schema_is_migrated_keeping_its_data(site, run_cli):
    site.state.parent.mkdir(parents=True)
    with sqlite3.connect(site.state) as db:
        db.executescript(MIGRATIONS[0])
        db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        db.execute("PRAGMA user_version = 1")
        stamp = "2026-01-01T08:00:00.000Z"
        db.execute("INSERT INTO issues VALUES (1, '2026-01-01', '2026-01-01', ?, 1)", (stamp,))
        db.execute(
            "INSERT INTO papers VALUES (1, 'old paper', 'Old paper', 'Text.', NULL, NULL, NULL,"
            " NULL, NULL, '[]', NULL, 'f.txt', 11, ?, ?, 1)",
            (stamp, stamp),
        )
    (site.out / "issues").mkdir(parents=True)  # the old issue's page, as it published it
    (site.out / "issues" / "2026-01-01.html").write_text("<p>an old digest's page</p>\n")
    site.drop(PLAIN)
    result = run_cli("run", "--config", site.config, "--json")
    assert result.code == 0, result.err
    with sqlite3.connect(site.state) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert db.execute("SELECT count(*) FROM deliveries").fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM papers").fetchone()[0] == 81
    index = (site.out / "index.html").read_text(encoding="utf-8")
    assert "January 1, 2026" in index
    # The old issue's paper is still in its place: the newest 100 papers in the feed
    # are today's 80, then it.
    feed = etree.fromstring((site.out / "atom.xml").read_bytes())
    titles = feed.findall("{http://www.w3.org/2005/Atom}entry/{http://www.w3.org/2005/Atom}title")
    assert [t.text for t in titles][-1] == "Old paper" and len(titles) == 81


def test_chat_posts_recorded_by_an_older_digest_become_posts_of_their_own(site, run_cli):
    """Before schema 9 a post to chat was an email delivery to "channel:<name>"; migrated,
    it is a post to that channel, still posted (no second post), and no email."""
    site.state.parent.mkdir(parents=True)
    with sqlite3.connect(site.state) as db:
        for step in MIGRATIONS[:8]:
            if callable(step):
                step(db)
            else:
                db.executescript(step)
        db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        db.execute("PRAGMA user_version = 8")
        db.executemany(
            "INSERT INTO deliveries VALUES ('2026-11-24', ?, 'sent', '2026-11-24T08:00:00Z', ?, "
            "NULL)",
            [("channel:team", "chat"), ("ann@example.org", "<m@x>")],
        )
    from digest.model import Medium
    from digest.store import SqliteStore

    with SqliteStore(site.state) as store:
        assert list(store.deliveries("2026-11-24", Medium.CHAT)) == ["team"]
        assert list(store.deliveries("2026-11-24")) == ["ann@example.org"]


@both_backends
def test_kill_9_at_random_moments_never_loses_or_repeats_a_paper(site):
    """Runs killed at random moments (not only at the named points), day after day, then
    one run to the end: every paper is published exactly once, no temp file is left, and
    a dead run never shows as running."""
    from conftest import digest_text, papers_from

    rng = random.Random(20261201)
    pairs = papers_from(PLAIN) + papers_from(PLAIN_2)
    expected: set[str] = set()
    killed = 0
    whole_run = 0.0  # how long a run takes on this machine today: kills fall within it
    for day in range(1, 22):
        fresh = pairs[(day - 1) * 7 : day * 7]
        repeats = rng.sample(pairs[: day * 7], 3)
        site.write(f"day-{day:02}.txt", digest_text(f"Nov {day}", fresh + repeats))
        expected |= {title_key(title) for title, _ in fresh + repeats}
        started = time.monotonic()
        run = subprocess.Popen(
            [sys.executable, "-m", "digest", "run", "--config", str(site.config),
             "--now", f"2026-11-{day:02}T08:00:00Z"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        if day == 1:  # the first run goes to the end, and is timed
            assert run.wait() == 0
            whole_run = time.monotonic() - started
            continue
        try:
            run.wait(timeout=rng.uniform(0.1, 1.1) * whole_run)  # the kill, at random
        except subprocess.TimeoutExpired:
            run.kill()
            run.wait()
            killed += 1
        status = digest_process("status", "--config", site.config, "--json")
        assert status.returncode == 0, status.stderr
        last = json.loads(status.stdout)["last_run"]
        assert last is None or last["result"] != "running", "a dead run shows as running"
    assert killed >= 5, "the delays must catch runs in the middle"
    final = digest_process("run", "--config", site.config, "--now", "2026-11-30T08:00:00Z")
    assert final.returncode == 0, final.stderr
    assert_invariants(site, expected)
