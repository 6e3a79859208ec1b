"""The daemon: ``pipeline.run`` on a schedule, unattended, for months.

Known ways scheduled tools fail silently, and what this module does about each:

* a machine asleep at the scheduled minute: APScheduler's default misfire grace is one
  second, so the run would be skipped for good. Here the grace is unlimited by default
  (``coalesce`` makes a late wake-up run once, not once per missed slot), and a daemon
  that starts after a missed slot runs once at start (the decision uses the last
  successful run recorded in the store, not APScheduler's job store);
* cron in UTC firing on the user's Saturday: schedules are in an IANA zone, by default
  the machine's; APScheduler >= 3.11.2 handles the daylight-saving changes;
* two copies: a second daemon on the same state exits at once with code 75;
  ``digest run`` and the daemon share the run lock, so their runs never overlap;
* a failed run killing the daemon: every run is wrapped; the failure is logged and
  recorded in the store, and the next slot runs as planned.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import signal
import threading
import time
import zoneinfo
from collections.abc import Callable
from typing import Any

from digest.config.settings import Config, ScheduleConfig
from digest.errors import ConfigError, DigestError, LockBusy, Unavailable
from digest.host import host_name
from digest.store.records import Heartbeat

log = logging.getLogger("digest")

DEFAULT_CRON = "0 8 * * mon"
HEARTBEAT_SECONDS = 60.0
STANDBY_POLL = 2.0  # seconds a standby daemon waits for the lock between checks for a stop


class Cancelled(Exception):
    """The daemon was asked to stop during a run; the run publishes nothing."""


def with_cli_schedule(
    config: Config, *, every: float | None, cron: str | None, timezone: str | None
) -> Config:
    schedule = config.schedule
    if every:
        schedule = dataclasses.replace(schedule, every=every, cron="")
    elif cron:
        schedule = dataclasses.replace(schedule, cron=cron, every=0.0)
    if timezone:
        schedule = dataclasses.replace(schedule, timezone=timezone)
    return dataclasses.replace(config, schedule=schedule)


def zone(schedule: ScheduleConfig) -> dt.tzinfo:
    if schedule.timezone:
        try:
            return zoneinfo.ZoneInfo(schedule.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                f"schedule.timezone: unknown time zone {schedule.timezone!r}",
                "use an IANA name such as Europe/Berlin or America/New_York",
            ) from None
    import tzlocal

    return tzlocal.get_localzone()


def _once_per_wall_clock_cron() -> Any:
    from apscheduler.triggers.cron import CronTrigger

    class OncePerWallClockCron(CronTrigger):
        """A cron trigger that fires once for a wall-clock time repeated by a DST change.

        When clocks go back, 02:30 happens twice; APScheduler's CronTrigger fires at
        both. A daily digest at 02:30 would then publish twice that night.
        """

        def get_next_fire_time(self, previous_fire_time, now):
            upcoming = super().get_next_fire_time(previous_fire_time, now)
            if upcoming is None or previous_fire_time is None:
                return upcoming
            before = previous_fire_time.astimezone(upcoming.tzinfo)
            if upcoming.replace(tzinfo=None, fold=0) == before.replace(tzinfo=None, fold=0):
                later = (upcoming.astimezone(dt.UTC) + dt.timedelta(seconds=1)).astimezone(
                    upcoming.tzinfo
                )
                return super().get_next_fire_time(upcoming, later)
            return upcoming

    return OncePerWallClockCron


def trigger_for(schedule: ScheduleConfig) -> Any:
    """An APScheduler 3 trigger: an interval, or a crontab expression in the zone."""
    from apscheduler.triggers.interval import IntervalTrigger

    CronTrigger = _once_per_wall_clock_cron()
    tz = zone(schedule)
    if schedule.every:
        return IntervalTrigger(seconds=schedule.every, timezone=tz)
    expression = schedule.cron or DEFAULT_CRON
    try:
        return CronTrigger.from_crontab(expression, timezone=tz)
    except ValueError as exc:
        raise ConfigError(
            f"schedule.cron: {expression!r} is not a crontab expression: {exc}",
            'five fields: minute hour day month weekday, e.g. "0 8 * * mon"',
        ) from None


def describe(config: Config, now: dt.datetime) -> dict[str, Any]:
    schedule = config.schedule
    if not (schedule.cron or schedule.every):
        return {"description": None, "next_run": None}
    trigger = trigger_for(schedule)
    tz = zone(schedule)
    text = f"every {schedule.every:g}s" if schedule.every else f"cron {schedule.cron!r} in {tz}"
    upcoming = trigger.get_next_fire_time(None, now.astimezone(tz))
    return {"description": text, "next_run": upcoming.isoformat() if upcoming else None}


def slot_seconds(config: Config, now: dt.datetime) -> float:
    """How long one schedule slot lasts now: the interval, or the time between the next
    two cron slots (a week for a weekly digest)."""
    trigger = trigger_for(config.schedule)
    if config.schedule.every:
        return config.schedule.every
    first = trigger.get_next_fire_time(None, now.astimezone(zone(config.schedule)))
    second = trigger.get_next_fire_time(first, first + dt.timedelta(seconds=1)) if first else None
    return (second - first).total_seconds() if first and second else 7 * 86400.0


def should_catch_up(trigger: Any, last_success: dt.datetime | None, now: dt.datetime) -> bool:
    """True if a slot passed since the last successful run (one catch-up run, not one per slot).

    With no successful run ever, an interval schedule runs at once (there is no reason
    to wait), a cron schedule waits for its first slot (nothing was missed).
    """
    from apscheduler.triggers.interval import IntervalTrigger

    if last_success is None:
        return isinstance(trigger, IntervalTrigger)
    if isinstance(trigger, IntervalTrigger):
        return now - last_success >= trigger.interval
    upcoming = trigger.get_next_fire_time(None, last_success + dt.timedelta(microseconds=1))
    return upcoming is not None and upcoming <= now


class Daemon:
    """Runs until SIGTERM/SIGINT; SIGHUP reloads the config (kept if the new one is bad)."""

    def __init__(self, config: Config, reload: Callable[[], Config] | None = None) -> None:
        self.config = config
        self.reload = reload
        self.stop = threading.Event()
        self.reload_wanted = threading.Event()
        self.running = threading.Event()
        self.scheduler: Any = None
        self.lost_state = False

    # -- one scheduled run ------------------------------------------------------------------

    def _progress(self, done: int, total: int, papers: int) -> None:
        if self.stop.is_set():
            raise Cancelled("stopping: the run was cancelled before publishing")

    def fetch_first(self) -> None:
        """With ``[fetch]`` in the config, the listing comes in before each run. A failed
        fetch never stops the run: what the inbox holds is still published, the failure
        is in the fetch ledger, and ``digest check`` says so once it lasts."""
        fetch = self.config.fetch
        if fetch is None or not fetch.enabled:
            return
        from digest.fetch.days import Selection
        from digest.fetch.fetcher import fetch_listings

        try:
            report = fetch_listings(
                fetch, self.config.inbox, Selection.catch_up(), dt.datetime.now(dt.UTC)
            )
        except DigestError as exc:
            log.error("fetch failed: %s", str(exc).replace("\n", " "))
            return
        except Exception:  # a bug in the fetch: still never the run's end
            log.exception("fetch failed unexpectedly (a bug in digest); publishing the inbox")
            return
        for warning in report.warnings:
            log.warning("fetch: %s", warning)
        if report.failure is not None:
            log.error("fetch stopped: %s", report.failure.reason)
        log.info("fetch: %s", report.one_line())

    def run_once(self) -> None:
        from digest.run import pipeline
        from digest.run.context import RunOptions

        self.running.set()
        try:
            self.fetch_first()
            options = RunOptions(wait=60.0, progress=self._progress)
            report = pipeline.run(self.config, options)
        except Cancelled:
            log.info("run cancelled before publishing; nothing was changed")
            return
        except LockBusy as exc:
            log.warning("run skipped: %s", exc.message)
            return
        except DigestError as exc:
            log.error("run failed: %s", str(exc).replace("\n", " "))
            return
        except Exception:
            log.exception("run failed unexpectedly")
            return
        finally:
            self.running.clear()
        for path, reason in report.files_rejected:
            log.warning("rejected %s: %s", path, reason)
        for problem in report.problems:  # what the editor must know of the notes
            if problem.file.startswith(str(self.config.notes)):
                log.warning("%s", problem)
        for issue_id in report.finished:
            log.info("finished issue %s (recorded by an earlier run)", issue_id)
        if report.issue_id:
            log.info("published issue %s: %d new papers", report.issue_id, report.new_papers)
            if report.delivery_error:
                log.error("issue %s not sent: %s", report.issue_id, report.delivery_error)
        else:
            log.info("nothing new (%d papers parsed)", report.papers_parsed)

    # -- the loop -----------------------------------------------------------------------------

    def _scheduler(self, config: Config) -> Any:
        from apscheduler.schedulers.background import BackgroundScheduler

        grace = config.schedule.misfire_grace_seconds or None
        return BackgroundScheduler(
            timezone=zone(config.schedule),
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": grace},
        )

    def _add_job(self, now: dt.datetime) -> None:
        from digest.store import open_store

        trigger = trigger_for(self.config.schedule)
        with open_store(self.config) as store:
            record = store.last_run(successful=True)
            last = record.started_at if record else None
        catch_up = should_catch_up(trigger, last, now)
        options: dict[str, Any] = {"id": "digest", "replace_existing": True}
        if catch_up:
            options["next_run_time"] = now
            if last is None:
                log.info("no run yet: running now")
            else:
                log.info("a scheduled run was missed (last success: %s); running now", last)
        self.scheduler.add_job(self.run_once, trigger, **options)
        job = self.scheduler.get_job("digest")
        log.info(
            "next run: %s", job.next_run_time.isoformat() if job and job.next_run_time else "?"
        )

    def _on_signal(self, signum: int, frame: Any) -> None:
        if signum == signal.SIGHUP:
            self.reload_wanted.set()
        else:
            self.stop.set()

    def _reload(self) -> None:
        self.reload_wanted.clear()
        if self.reload is None:
            return
        try:
            config = self.reload()
            trigger_for(config.schedule)
        except DigestError as exc:
            log.error("config not reloaded, keeping the old one: %s", str(exc).replace("\n", " "))
            return
        self.config = config
        self.scheduler.remove_all_jobs()
        self._add_job(dt.datetime.now(dt.UTC))
        log.info("config reloaded")

    def serve(self, *, standby: bool = False) -> int:
        """Run the schedule. With ``standby``, wait while another daemon holds the state's
        daemon lock (on another machine, say), and take over when it stops or dies."""
        from digest.store import open_store

        trigger_for(self.config.schedule)  # a bad schedule fails now, not at the first slot
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._on_signal)
        with open_store(self.config) as store:
            said = False
            while not self.stop.is_set():
                try:
                    with store.lock("daemon", STANDBY_POLL if standby else 0):
                        return self._serve(store)
                except LockBusy as exc:
                    if self.scheduler is not None:
                        raise
                    if not standby:
                        raise LockBusy(
                            f"another digest daemon is already running for {self.config.state} "
                            f"({exc.holder or 'pid unknown'})",
                            "stop it first (kill PID / systemctl stop digest), use another "
                            "--state, or start this one with --standby to take over when it "
                            "stops",
                        ) from None
                    if not said:
                        log.info("standing by: another daemon runs (%s)", exc.holder or "?")
                        said = True
        return 0

    def _heartbeat(self, store: Any) -> None:
        """Say in the state that the daemon is alive: ``digest check`` raises the alarm
        when the last heartbeat is older than two slots."""
        beat = Heartbeat(dt.datetime.now(dt.UTC), os.getpid(), host_name())
        try:
            store.record_heartbeat(beat)
        except Unavailable as exc:
            # The database went away, and with it the daemon lock (a server restart drops
            # it silently): stop, so that the supervisor restarts a daemon that locks anew.
            log.error("lost the state (%s); stopping", exc.message)
            self.lost_state = True
            self.stop.set()
        except DigestError as exc:  # a long run may hold the state: the next beat will do
            log.debug("heartbeat not recorded: %s", exc.message)

    def _serve(self, store: Any) -> int:
        self.scheduler = self._scheduler(self.config)
        try:
            self._heartbeat(store)
            self.scheduler.start()
            self._add_job(dt.datetime.now(dt.UTC))
            log.info("daemon started (pid %d)", os.getpid())
            every = min(HEARTBEAT_SECONDS, slot_seconds(self.config, dt.datetime.now(dt.UTC)) / 4)
            last_beat = time.monotonic()
            while not self.stop.wait(0.5):
                if self.reload_wanted.is_set():
                    self._reload()
                if time.monotonic() - last_beat >= every:
                    self._heartbeat(store)
                    last_beat = time.monotonic()
            log.info("stopping%s", ": waiting for the current run" if self.running.is_set() else "")
        finally:
            self.scheduler.shutdown(wait=True)
        log.info("daemon stopped")
        return Unavailable.exit_code if self.lost_state else 0
