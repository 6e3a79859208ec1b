"""A backlog becomes an archive: one issue per week of listings, dated by them, each paper
once, rising judged within the sequence, only the newest emailed."""

from __future__ import annotations

import datetime as dt
import json
import signal

import feedparser
import pytest
from conftest import (
    NOW,
    PLAIN,
    PLAIN_2,
    WITH_META,
    both_backends,
    digest_text,
    papers_from,
    published_files,
)
from smtp_server import SMTPServer
from test_daemon import DigestProcess

from digest.faults import PAUSE_ENV
from digest.model import title_key

META = "  • 3 authors\n·\nMar 1, 2026 {votes}"
# (file name, digest date, papers); Nov 2 2026 is a Monday.
WEEKS = [
    ("a.txt", "Nov 2", papers_from(PLAIN)[:20]),
    ("b.txt", "Nov 4", papers_from(PLAIN)[20:30]),
    ("c.txt", "Nov 10", papers_from(PLAIN_2)[:15]),
    ("d.txt", "Nov 18", papers_from(PLAIN_2)[15:25] + papers_from(PLAIN)[:2]),
    ("e.txt", "Nov 24", papers_from(WITH_META)[:12]),
]


def backlog(site, *, votes: dict[str, int] | None = None) -> set[str]:
    votes = votes or {}
    keys: set[str] = set()
    for name, day, pairs in WEEKS:
        meta = [META.format(votes=votes.get(f"{name}:{title}", 2)) for title, _ in pairs]
        site.write(name, digest_text(day, pairs, meta=meta))
        keys |= {title_key(title) for title, _ in pairs}
    return keys


def run(run_cli, site, *extra):
    result = run_cli("run", "--config", site.config, "--json", "--now", NOW, *extra)
    assert result.code == 0, result.err
    return json.loads(result.out)


@both_backends
def test_a_backlog_becomes_one_issue_per_week_dated_by_its_listings(site, run_cli):
    keys = backlog(site)
    report = run(run_cli, site, "--backfill")
    assert report["backfilled"] == ["2026-11-04", "2026-11-10", "2026-11-18", "2026-11-24"]
    assert report["issue"] == "2026-11-24" and report["new_papers"] == len(keys)
    seen: set[str] = set()
    first_listed = []  # new papers per week, as a person would count them
    for week in ([WEEKS[0], WEEKS[1]], [WEEKS[2]], [WEEKS[3]], [WEEKS[4]]):
        week_keys = {title_key(t) for _, _, pairs in week for t, _ in pairs} - seen
        first_listed.append(len(week_keys))
        seen |= week_keys
    counts = [
        (site.out / "issues" / f"{issue}.html").read_text(encoding="utf-8").count("<article")
        for issue in report["backfilled"]
    ]
    assert counts == first_listed, "each paper in the week it was first listed"
    feed = feedparser.parse((site.out / "atom.xml").read_bytes())
    first_seen = {entry.title: entry.published[:10] for entry in feed.entries}
    assert first_seen[WEEKS[0][2][0][0]] == "2026-11-02", "first seen on its own digest's day"
    assert first_seen[WEEKS[1][2][0][0]] == "2026-11-04"
    assert first_seen[WEEKS[4][2][0][0]] == "2026-11-24"
    assert len(feed.entries) == len({e.id for e in feed.entries}) == len(keys) == sum(counts)
    index = (site.out / "index.html").read_text(encoding="utf-8")
    assert all(f"issues/{issue}.html" in index for issue in report["backfilled"])
    again = run(run_cli, site, "--backfill")
    assert again["new_papers"] == 0 and again["backfilled"] == []


def test_rising_is_judged_within_the_backfilled_sequence(site, run_cli):
    site.config.write_text(
        site.config.read_text().replace("[email]", "[rising]\nmin_gain = 10\n[email]")
    )
    title = WEEKS[0][2][0][0]
    backlog(site, votes={f"a.txt:{title}": 2, f"d.txt:{title}": 40})
    report = run(run_cli, site, "--backfill")
    assert report["rising"] == 1
    page = (site.out / "issues" / "2026-11-18.html").read_text(encoding="utf-8")
    rising = page.split('id="rising"')[1]
    assert title in rising and "▲ 2 → 40" in rising
    assert 'id="rising"' not in (site.out / "issues" / "2026-11-10.html").read_text()


def test_only_the_newest_backfilled_issue_is_emailed(site, run_cli):
    backlog(site)
    with SMTPServer() as server:
        site.config.write_text(
            site.config.read_text()
            + f'smtp_host = "127.0.0.1"\nsmtp_port = {server.port}\nsecurity = "none"\n'
        )
        report = run(run_cli, site, "--backfill", "--send")
        assert report["sent_issue"] == "2026-11-24"
        assert len(server.mailbox.received) == 1


@both_backends
def test_a_backfill_killed_midway_is_finished_by_a_rerun_exactly_once(site, run_cli):
    keys = backlog(site)
    for step in ("recorded", "renaming"):
        victim = DigestProcess("run", "--config", site.config, "--now", NOW, "--backfill",
                               env={PAUSE_ENV: step})  # fmt: skip
        victim.wait_for(f"paused at {step}")
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait()
    report = run(run_cli, site, "--backfill")
    assert report["finished"] == ["2026-11-04", "2026-11-10", "2026-11-18", "2026-11-24"]
    from test_faults import assert_invariants

    assert_invariants(site, keys)


@both_backends
def test_a_backfill_killed_after_some_issues_renders_only_the_rest(site, run_cli):
    """Each issue rendered whole is marked written once its files are in place: a rerun
    after a kill renders the issues that were not, and the site, never the others again."""
    keys = backlog(site)
    victim = DigestProcess("run", "--config", site.config, "--now", NOW, "--backfill",
                           "--workers", "0", env={PAUSE_ENV: "issue-written"})  # fmt: skip
    victim.wait_for("paused at issue-written")
    victim.process.send_signal(signal.SIGKILL)
    victim.process.wait()
    first = site.out / "issues" / "2026-11-04.html"
    before = first.stat()
    assert not (site.out / "index.html").exists()  # the site comes after the issues
    report = run(run_cli, site, "--backfill")
    assert report["finished"] == ["2026-11-10", "2026-11-18", "2026-11-24"]
    after = first.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    index = (site.out / "index.html").read_text(encoding="utf-8")
    assert all(f"issues/{day}.html" in index for day in ("2026-11-04", "2026-11-24"))
    from test_faults import assert_invariants

    assert_invariants(site, keys)


def test_a_large_issue_renders_its_page_and_markdown_on_two_cores_byte_identically(
    site, run_cli, monkeypatch, tmp_path, caplog
):
    from digest.publish import render_pool

    backlog(site)
    monkeypatch.setattr(render_pool, "SPLIT_PAPERS", 20)  # a large issue, for this test
    alone = tmp_path / "alone"
    one = run_cli("run", "--config", site.config, "--now", NOW, "--workers", "0", "--out",
                  alone, "--state", tmp_path / "alone.sqlite")  # fmt: skip
    assert one.code == 0, one.err
    with caplog.at_level("INFO", logger="digest"):
        two = run_cli("run", "--config", site.config, "--now", NOW, "--workers", "1")
    assert two.code == 0, two.err
    assert "rendering issue 2026-11-24 in 2 processes" in two.err + caplog.text
    assert published_files(site.out) == published_files(alone)


def test_a_backlog_as_one_issue_says_what_else_there_is(site, run_cli):
    for week in range(3):
        day = dt.date(2026, 10, 5) + dt.timedelta(weeks=week)
        pairs = [(f"Paper {week}-{n}", "An abstract.") for n in range(700)]
        site.write(f"{week}.txt", digest_text(f"{day:%b} {day.day}", pairs))
    report = run(run_cli, site)
    assert report["new_papers"] == 2100 and report["backfilled"] == []
    assert (
        "'digest run --backfill' would have published them as 3 weekly issues" in (report["advice"])
    )
    text = run_cli("run", "--config", site.config, "--dry-run")
    assert "note:" not in text.out  # nothing new, nothing to advise


def test_the_config_makes_a_first_run_a_backfill(site, run_cli):
    site.config.write_text(site.config.read_text().replace("[email]", 'backfill = "week"\n[email]'))
    backlog(site)
    assert len(run(run_cli, site)["backfilled"]) == 4
    site.write("f.txt", digest_text("Nov 30", [("A later paper", "Text.")]))
    later = run(run_cli, site, "--now", "2026-11-30T08:00:00Z")
    assert later["backfilled"] == [] and later["issue"] == "2026-11-30", "once: the first run"


@pytest.mark.parametrize("period", ["day", "digest"])
def test_a_day_or_a_digest_per_issue(site, run_cli, period):
    backlog(site)
    report = run(run_cli, site, "--backfill", period)
    assert report["backfilled"] == [
        "2026-11-02", "2026-11-04", "2026-11-10", "2026-11-18", "2026-11-24"
    ]  # fmt: skip
    assert published_files(site.out)


def test_issues_rendered_on_every_core_are_byte_identical_to_one_process(site, run_cli):
    pairs = papers_from(PLAIN) + papers_from(PLAIN_2)
    for day in range(1, 13):
        site.write(f"{day:02}.txt", digest_text(f"Nov {day}", pairs[(day - 1) * 6 : day * 6]))
    outputs = []
    for workers in ("0", "2"):
        out, state = site.root / f"out-{workers}", site.root / f"state-{workers}.db"
        result = run_cli("run", "--config", site.config, "--out", out, "--state", state,
                         "--now", NOW, "--backfill", "day", "--workers", workers, "-v")  # fmt: skip
        assert result.code == 0, result.err
        assert ("rendering 12 issues in 3 processes" in result.err) == (workers == "2")
        outputs.append(published_files(out))
    assert len(outputs[0]) > 12 * 3 and outputs[0] == outputs[1]


def test_a_backfill_says_what_it_published_and_nothing_else(site, run_cli):
    backlog(site)
    result = run_cli("run", "--config", site.config, "--now", NOW, "--backfill")
    assert result.code == 0, result.err
    assert f"published 4 issues, 2026-11-04 to 2026-11-24: {site.out / 'index.html'}" in (
        result.out
    )
    assert "nothing new" not in result.out
