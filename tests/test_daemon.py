"""The daemon as a real process: it publishes, refuses a twin, survives failures, stops cleanly."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
import os
import queue
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import zoneinfo
from pathlib import Path

import pytest
from conftest import PLAIN, PLAIN_2, digest_process

from digest.config.settings import ScheduleConfig
from digest.run import schedule
from digest.store.sqlite.lock import RunLock

UTC = dt.UTC


class DigestProcess:
    """A digest subprocess whose log lines can be awaited, with a deadline, never a sleep."""

    def __init__(self, *args: str | Path, env: dict | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "digest", *map(str, args)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.log: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, pattern: str, timeout: float = 30) -> str:
        deadline = dt.datetime.now() + dt.timedelta(seconds=timeout)
        while True:
            remaining = (deadline - dt.datetime.now()).total_seconds()
            if remaining <= 0:
                raise AssertionError(f"no line matching {pattern!r} in:\n{''.join(self.log)}")
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                code = self.process.wait()
                raise AssertionError(f"exited {code} before {pattern!r}:\n{''.join(self.log)}")
            self.log.append(line)
            if re.search(pattern, line):
                return line

    def stop(self, timeout: float = 10) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def daemons():
    started: list[DigestProcess] = []

    def start(*args, **kwargs) -> DigestProcess:
        process = DigestProcess(*args, **kwargs)
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()


def runs(site) -> list[tuple[str, str | None]]:
    with sqlite3.connect(site.state) as db:
        return db.execute("SELECT result, error FROM runs ORDER BY id").fetchall()


def test_daemon_publishes_dropped_files_and_stops_on_sigterm(site, daemons):
    daemon = daemons("daemon", "--config", site.config, "--every", "1s")
    daemon.wait_for("daemon started")
    site.drop(PLAIN)
    daemon.wait_for(r"published issue \d{4}-\d{2}-\d{2}: 80 new papers")
    assert len(list((site.out / "issues").glob("*.html"))) == 1
    site.drop(PLAIN_2)
    daemon.wait_for(r"published issue \S+: \d+ new papers")
    assert daemon.stop() == 0
    daemon.wait_for("daemon stopped")
    assert len(list((site.out / "issues").glob("*.html"))) == 2


def test_a_second_daemon_exits_75(site, daemons):
    first = daemons("daemon", "--config", site.config, "--every", "1h")
    first.wait_for("daemon started")
    second = digest_process("daemon", "--config", site.config, "--every", "1s", timeout=30)
    assert second.returncode == 75
    assert "another digest daemon is already running" in second.stderr
    assert f"pid {first.process.pid}" in second.stderr
    assert first.stop() == 0


def test_a_failed_run_is_logged_recorded_and_the_next_slot_succeeds(site, daemons):
    templates = site.root / "tpl"
    templates.mkdir()
    (templates / "issue.html").write_text("{% for paper in papers %}{{ paper.title }")  # broken
    site.config.write_text(site.config.read_text().replace("[email]", 'templates = "tpl"\n[email]'))
    site.drop(PLAIN)
    daemon = daemons("daemon", "--config", site.config, "--every", "1s")
    daemon.wait_for(r"run failed: template \S+/tpl/issue.html:1")
    assert runs(site)[-1][0] == "failed"
    assert "issue.html" in runs(site)[-1][1]
    assert not (site.out / "issues").exists() or not list((site.out / "issues").glob("*.html"))
    (templates / "issue.html").unlink()  # back to the built-in template
    daemon.wait_for(r"published issue \S+: 80 new papers")
    assert "left by a run that did not finish" not in "".join(daemon.log)
    assert daemon.stop() == 0
    status = json.loads(digest_process("status", "--config", site.config, "--json").stdout)
    assert status["last_run"]["result"] in ("published", "nothing-new")


def test_rejected_only_inbox_is_a_warning(site, daemons):
    site.write("empty.txt", "")
    daemon = daemons("daemon", "--config", site.config, "--every", "1h")
    daemon.wait_for("WARNING the inbox had 1 file but no paper could be read from it")
    assert daemon.stop() == 0


def test_sighup_reloads_the_config_and_keeps_the_old_one_if_bad(site, daemons):
    daemon = daemons("daemon", "--config", site.config, "--every", "1h")
    daemon.wait_for("daemon started")
    good = site.config.read_text()
    site.config.write_text("bogus_key = 1\n" + good)
    daemon.process.send_signal(signal.SIGHUP)
    daemon.wait_for("config not reloaded, keeping the old one: unknown key 'bogus_key'")
    site.config.write_text(good)
    daemon.process.send_signal(signal.SIGHUP)
    daemon.wait_for("config reloaded")
    assert daemon.stop() == 0


def test_daemon_started_after_a_missed_slot_runs_once_at_start(site, daemons):
    assert (
        digest_process("run", "--config", site.config, "--now", "2026-11-01T08:00:00Z").returncode
        == 0
    )
    daemon = daemons(
        "daemon", "--config", site.config, "--cron", "0 8 * * mon", "--timezone", "UTC"
    )
    daemon.wait_for("a scheduled run was missed")
    daemon.wait_for("nothing new")
    assert daemon.stop() == 0
    assert [result for result, _ in runs(site)] == ["nothing-new", "nothing-new"]


def test_daemon_started_after_a_recent_run_waits_for_the_next_slot(site, daemons):
    assert digest_process("run", "--config", site.config).returncode == 0
    daemon = daemons(
        "daemon", "--config", site.config, "--cron", "0 8 * * mon", "--timezone", "UTC"
    )
    line = daemon.wait_for("next run: ")
    upcoming = dt.datetime.fromisoformat(line.split("next run: ")[1].strip())
    assert upcoming > dt.datetime.now(UTC) and upcoming.weekday() == 0 and upcoming.hour == 8
    assert daemon.stop() == 0
    assert "missed" not in "".join(daemon.log)
    assert len(runs(site)) == 1


def test_manual_run_waits_for_the_lock_then_runs_or_exits_75(site, daemons):
    site.drop(PLAIN)
    holder = RunLock(site.state.with_name(site.state.name + ".lock"))
    site.state.parent.mkdir(parents=True, exist_ok=True)
    holder.acquire()
    try:
        refused = digest_process("run", "--config", site.config, "--wait", "0.2")
        assert refused.returncode == 75
        assert "another digest process" in refused.stderr and "--wait" in refused.stderr
        waiting = daemons("run", "--config", site.config, "--wait", "60")
        waiting.wait_for("waiting up to 60s")
    finally:
        holder.release()
    assert waiting.process.wait(timeout=60) == 0
    assert "published issue" in waiting.process.stdout.read()


def test_the_lock_is_released_when_its_holder_is_killed(tmp_path):
    lock_path = tmp_path / "state.lock"
    code = (
        "import sys; from pathlib import Path; from digest.store.sqlite.lock import RunLock\n"
        f"RunLock(Path({str(lock_path)!r})).acquire(); print('locked', flush=True)\n"
        "sys.stdin.read()  # hold the lock until killed\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(Exception, match="another digest process"):
            RunLock(lock_path).acquire()
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        lock = RunLock(lock_path)
        lock.acquire()
        lock.release()
    finally:
        holder.kill()


def test_stop_during_a_run_publishes_nothing(site):
    from digest.config import loading as config_module

    site.drop(PLAIN)
    daemon = schedule.Daemon(config_module.load(site.config))
    daemon.stop.set()
    daemon.run_once()
    with sqlite3.connect(site.state) as db:
        assert db.execute("SELECT count(*) FROM papers").fetchone()[0] == 0
        assert db.execute("SELECT result FROM runs").fetchall() == [("failed",)]
    assert not (site.out / "issues").exists()


def test_a_fetch_that_crashes_still_lets_the_run_publish(site, monkeypatch, caplog):
    """A bug in the fetch (any exception, not only digest's own errors: a lone
    surrogate once raised UnicodeEncodeError there) is logged, and what the inbox holds
    is published: a failed fetch never stops the run."""
    from digest.config import loading as config_module
    from digest.fetch import fetcher

    site.config.write_text(
        site.config.read_text() + '\n[fetch]\nsource = "http://127.0.0.1:9/api/daily_papers"\n'
    )

    def crash(*args: object, **kwargs: object) -> None:
        raise UnicodeEncodeError("utf-8", "\ud83d", 0, 1, "surrogates not allowed")

    monkeypatch.setattr(fetcher, "fetch_listings", crash)  # a bug cannot be had on cue
    site.drop(PLAIN)
    daemon = schedule.Daemon(config_module.load(site.config))
    with caplog.at_level(logging.INFO, logger="digest"):
        daemon.run_once()
    assert "fetch failed unexpectedly" in caplog.text
    assert "published issue" in caplog.text, caplog.text
    assert list((site.out / "issues").glob("*.html"))


def test_status_shows_the_schedule_and_next_run_in_the_zone(site):
    site.config.write_text(
        site.config.read_text() + '\n[schedule]\ncron = "0 8 * * mon"\ntimezone = "Europe/Berlin"\n'
    )
    process = digest_process("status", "--config", site.config, "--json")
    info = json.loads(process.stdout)
    assert info["schedule"]["description"] == "cron '0 8 * * mon' in Europe/Berlin"
    upcoming = dt.datetime.fromisoformat(info["schedule"]["next_run"])
    assert upcoming.utcoffset() in (dt.timedelta(hours=1), dt.timedelta(hours=2))
    assert (upcoming.weekday(), upcoming.hour, upcoming.minute) == (0, 8, 0)


def test_bad_schedule_config_is_a_clear_error(site):
    site.config.write_text(site.config.read_text() + '\n[schedule]\ncron = "every monday"\n')
    process = digest_process("daemon", "--config", site.config)
    assert process.returncode == 2 and "is not a crontab expression" in process.stderr
    site.config.write_text(
        site.config.read_text().replace(
            '"every monday"', '"0 8 * * mon"\ntimezone = "Mars/Olympus"'
        )
    )
    process = digest_process("daemon", "--config", site.config)
    assert process.returncode == 2 and "unknown time zone 'Mars/Olympus'" in process.stderr


# -- the decisions, with fixed datetimes ----------------------------------------------------

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


def weekly() -> object:
    return schedule.trigger_for(ScheduleConfig(cron="0 8 * * mon", timezone="Europe/Berlin"))


@pytest.mark.parametrize(
    ("last_success", "now", "expected"),
    [
        (None, dt.datetime(2026, 11, 24, 9, tzinfo=BERLIN), False),  # nothing missed yet
        # The last run was before Monday's slot and the daemon starts on Tuesday: missed.
        (
            dt.datetime(2026, 11, 16, 8, 0, 5, tzinfo=BERLIN),
            dt.datetime(2026, 11, 24, 9, tzinfo=BERLIN),
            True,
        ),
        # Weeks missed: still one catch-up run (the decision is a yes, not a count).
        (
            dt.datetime(2026, 9, 7, 8, tzinfo=BERLIN),
            dt.datetime(2026, 11, 24, 9, tzinfo=BERLIN),
            True,
        ),
        # The last run was Monday's: nothing missed.
        (
            dt.datetime(2026, 11, 23, 8, 0, 5, tzinfo=BERLIN),
            dt.datetime(2026, 11, 24, 9, tzinfo=BERLIN),
            False,
        ),
        # Starting on Monday before the slot: last week's ran, this week's is still ahead.
        (
            dt.datetime(2026, 11, 16, 8, 0, 5, tzinfo=BERLIN),
            dt.datetime(2026, 11, 23, 7, 59, tzinfo=BERLIN),
            False,
        ),
        (
            dt.datetime(2026, 11, 16, 8, 0, 5, tzinfo=BERLIN),
            dt.datetime(2026, 11, 23, 8, 0, tzinfo=BERLIN),
            True,
        ),
    ],
)
def test_catch_up_decision_for_a_weekly_cron(last_success, now, expected):
    assert schedule.should_catch_up(weekly(), last_success, now) is expected


def test_catch_up_decision_for_an_interval():
    trigger = schedule.trigger_for(ScheduleConfig(every=6 * 3600, timezone="UTC"))
    now = dt.datetime(2026, 11, 24, 12, tzinfo=UTC)
    assert schedule.should_catch_up(trigger, None, now) is True
    assert schedule.should_catch_up(trigger, now - dt.timedelta(hours=5), now) is False
    assert schedule.should_catch_up(trigger, now - dt.timedelta(hours=7), now) is True


def fire_times(trigger, start: dt.datetime, count: int) -> list[dt.datetime]:
    """As the scheduler asks: after each fire, "what next?", a second later in real time."""
    times, previous, moment = [], None, start
    for _ in range(count):
        moment = trigger.get_next_fire_time(previous, moment)
        times.append(moment)
        previous = moment
        moment = (moment.astimezone(UTC) + dt.timedelta(seconds=1)).astimezone(moment.tzinfo)
    return times


def test_weekly_cron_stays_at_8_local_across_both_dst_changes():
    times = fire_times(weekly(), dt.datetime(2026, 3, 20, tzinfo=BERLIN), 32)
    assert all((t.weekday(), t.hour, t.minute) == (0, 8, 0) for t in times)
    utc_hours = {t.astimezone(UTC).hour for t in times}
    assert utc_hours == {6, 7}  # summer and winter time both covered
    assert len(set(times)) == 32 and all(
        b - a >= dt.timedelta(days=6) for a, b in itertools.pairwise(times)
    )


def test_daily_cron_in_the_repeated_hour_fires_once_on_the_autumn_change():
    trigger = schedule.trigger_for(ScheduleConfig(cron="30 2 * * *", timezone="Europe/Berlin"))
    times = fire_times(trigger, dt.datetime(2026, 10, 24, tzinfo=BERLIN), 4)
    days = [t.date() for t in times]
    assert days == [
        dt.date(2026, 10, 24),
        dt.date(2026, 10, 25),
        dt.date(2026, 10, 26),
        dt.date(2026, 10, 27),
    ]


def test_daily_cron_in_the_skipped_hour_still_fires_on_the_spring_change():
    trigger = schedule.trigger_for(ScheduleConfig(cron="30 2 * * *", timezone="Europe/Berlin"))
    times = fire_times(trigger, dt.datetime(2026, 3, 28, tzinfo=BERLIN), 3)
    assert [t.date() for t in times] == [
        dt.date(2026, 3, 28),
        dt.date(2026, 3, 29),
        dt.date(2026, 3, 30),
    ]
