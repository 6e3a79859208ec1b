"""Is the digest healthy? What ``digest check`` tells a monitor, and ``status`` a person.

A quiet week and a broken pipeline look alike from outside: no new issue. These checks
tell them apart, each with a level in the Nagios/Icinga plugin convention that monitoring
tools understand (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN):

* the last run failed, or died before it finished (CRITICAL);
* an issue was recorded but its files are not all written (CRITICAL);
* the output folder is gone, or lacks a page of an issue the state says is written
  (CRITICAL); the state records another output folder than this config's (WARNING);
* no new digest file for longer than ``expect_new_every`` (WARNING; CRITICAL at twice);
* the newest file lists far fewer papers than the files before it (a partial scrape, not
  a quiet day: WARNING);
* rejected files wait in the inbox (WARNING);
* the newest issue's email or chat posts are in doubt (WARNING) or failed (CRITICAL);
* with a schedule configured, the daemon's last heartbeat is older than two slots
  (CRITICAL): it is not running;
* the last ping to the push monitor failed (WARNING);
* with ``[fetch]``, fetching has failed for longer than ``expect_new_every`` (WARNING;
  CRITICAL at twice): told apart from a fetch that works and finds nothing new;
* a run has held the lock for longer than ``max_run_time`` (CRITICAL): it is stuck, and
  every later run waits behind it.
"""

from __future__ import annotations

import datetime as dt
import enum
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from digest.config.remembered import suggestion
from digest.config.settings import Config
from digest.health.status import Status, collect, fetch_status
from digest.model import RunResult
from digest.store import Store, open_store
from digest.text import plural


class Level(enum.IntEnum):
    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


# Performance data's units of measure (the plugin convention's UOM: "s" for seconds);
# counts have none.
UNITS = {"newest_file_age": "s"}


@dataclass(frozen=True, slots=True)
class Finding:
    level: Level
    check: str  # a short name: last-run, freshness, short-listing, rejected, delivery, ...
    message: str


@dataclass(frozen=True, slots=True)
class Health:
    findings: list[Finding]
    metrics: dict[str, float]

    @property
    def level(self) -> Level:
        return max((finding.level for finding in self.findings), default=Level.OK)

    def summary(self) -> str:
        """The plugin's first line: the worst findings, then performance data."""
        worst = [f.message for f in self.findings if f.level == self.level and f.level]
        text = "; ".join(worst) if worst else "healthy"
        perf = " ".join(
            f"{name}={value:g}{UNITS.get(name, '')}" for name, value in self.metrics.items()
        )
        return f"DIGEST {self.level.name} - {text}" + (f" | {perf}" if perf else "")

    def as_json(self) -> dict[str, Any]:
        return {
            "level": self.level.name,
            "code": int(self.level),
            "summary": self.summary(),
            "findings": [
                {"level": f.level.name, "check": f.check, "message": f.message}
                for f in self.findings
            ],
            "metrics": self.metrics,
        }


def _age(now: dt.datetime, then: dt.datetime) -> str:
    seconds = (now - then).total_seconds()
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 7200:
        return f"{seconds / 3600:.1f} hours"
    return f"{seconds / 60:.0f} minutes"


def check(config: Config, now: dt.datetime | None = None, status: Status | None = None) -> Health:
    now = now or dt.datetime.now(dt.UTC)
    status = status or collect(config, now)
    findings: list[Finding] = []
    metrics: dict[str, float] = {"issues": status.issues, "papers": status.papers}
    _fetching(config, status, now, findings)
    if not status.state_exists:
        message = f"no run yet (no state at {status.state})"
        elsewhere = suggestion("check", Path.cwd()) if config.source is None else None
        if elsewhere:
            message += f"; {elsewhere}"
        findings.append(Finding(Level.WARNING, "last-run", message))
        _freshness(config, now, findings, metrics, None)
        return Health(findings, metrics)
    with open_store(config, create=False) as store:  # status found it: it exists
        _last_run(status, findings)
        _stuck(config, store, status, now, findings)
        _pending(status, findings)
        _output(status, findings)
        _freshness(config, now, findings, metrics, store)
        _short_listing(config, store, findings)
        _deliveries(status, findings)
        _daemon(config, store, now, findings)
        _ping(store, findings)
    if status.rejected:
        names = ", ".join(Path(name).name for name, _ in status.rejected[:3])
        more = f" and {len(status.rejected) - 3} more" if len(status.rejected) > 3 else ""
        findings.append(
            Finding(
                Level.WARNING,
                "rejected",
                f"{plural(len(status.rejected), 'rejected file')} in the inbox: {names}{more}",
            )
        )
    return Health(findings, metrics)


def _last_run(status: Status, findings: list[Finding]) -> None:
    run = status.last_run
    if run is None:
        findings.append(Finding(Level.WARNING, "last-run", "no run yet"))
    elif run.result is RunResult.FAILED:
        findings.append(
            Finding(
                Level.CRITICAL,
                "last-run",
                f"the last run failed ({run.started_at:%Y-%m-%d %H:%M}): {run.error}",
            )
        )
    elif run.result is RunResult.INTERRUPTED:
        findings.append(
            Finding(
                Level.CRITICAL,
                "last-run",
                f"the last run ({run.started_at:%Y-%m-%d %H:%M}, pid {run.pid}) "
                "died before it finished",
            )
        )
    else:
        findings.append(Finding(Level.OK, "last-run", f"the last run: {run.result.value}"))


def _stuck(
    config: Config, store: Store, status: Status, now: dt.datetime, findings: list[Finding]
) -> None:
    """Whatever holds the run lock far longer than any run takes (a run, a send, a
    rebuild) is stuck, not busy: every later run waits for it, and all would look well."""
    limit = config.monitor.max_run_time
    since = store.lock_held_since("run") if limit else None
    if since is None or (now - since).total_seconds() <= limit:
        return
    run = status.last_run
    who = (
        f"a run (pid {run.pid} on {run.host})"
        if run is not None and run.result is RunResult.RUNNING
        else "a digest process"
    )
    findings.append(
        Finding(
            Level.CRITICAL,
            "last-run",
            f"{who} has held the lock for {_age(now, since)}, over max_run_time: is it stuck?",
        )
    )


def _pending(status: Status, findings: list[Finding]) -> None:
    for issue_id in status.pending:
        findings.append(
            Finding(
                Level.CRITICAL,
                "pending",
                f"issue {issue_id} is recorded but its files are not all written",
            )
        )


def _output(status: Status, findings: list[Finding]) -> None:
    """The folder readers are served from holds every page the state says it published,
    and is the one the state publishes into."""
    if status.output_problem:
        findings.append(Finding(Level.CRITICAL, "output", status.output_problem))
    elif status.recorded_output:
        findings.append(
            Finding(
                Level.WARNING,
                "output",
                f"the state publishes into {status.recorded_output}, not this config's "
                f"output folder {status.output}",
            )
        )


def _freshness(
    config: Config,
    now: dt.datetime,
    findings: list[Finding],
    metrics: dict[str, float],
    store: Store | None,
) -> None:
    """When the newest digest file arrived: the newest in the inbox, or taken in."""
    from digest.intake.inbox import list_inbox

    entries, _ = list_inbox(config.inbox)
    times = [dt.datetime.fromtimestamp(e.mtime_ns / 1e9, dt.UTC) for e in entries]
    if store is not None:
        taken = store.newest_file_taken()
        if taken is not None:
            times.append(taken)
    limit = config.monitor.expect_new_every
    if not times:
        if limit:
            findings.append(Finding(Level.WARNING, "freshness", "no digest file has arrived yet"))
        return
    newest = max(times)
    age = (now - newest).total_seconds()
    metrics["newest_file_age"] = round(max(age, 0))
    if not limit:
        return
    wanted = (
        f"expected one every {limit / 86400:g} days"
        if limit >= 86400
        else (f"expected one every {limit / 3600:g} hours")
    )
    if age > 2 * limit:
        level = Level.CRITICAL
    elif age > limit:
        level = Level.WARNING
    else:
        level = Level.OK
    quiet = ""
    fetch = fetch_status(config, now)
    if level and fetch is not None and fetch.last_attempt is not None:
        quiet = (
            "; fetching works: the API had nothing new"
            if fetch.failure is None
            else "; fetching fails"
        )
    findings.append(
        Finding(
            level,
            "freshness",
            f"the newest digest file is {_age(now, newest)} old ({wanted}){quiet}",
        )
    )


def _fetching(config: Config, status: Status, now: dt.datetime, findings: list[Finding]) -> None:
    """A fetch that fails now and then is the network; one that has failed for as long as
    a new listing may take to come is a pipeline that stopped. And a fetch that works but
    finds nothing new is a quiet API, not a broken digest: said so, not as a failure."""
    fetch = status.fetch
    if fetch is None:
        return
    if fetch.last_attempt is None:
        level = Level.WARNING if config.fetch is not None and config.fetch.enabled else Level.OK
        findings.append(Finding(level, "fetch", "the listing has never been fetched"))
        return
    if fetch.ahead:
        findings.append(
            Finding(
                Level.WARNING,
                "fetch",
                f"{plural(fetch.ahead, 'day')} of the fetch ledger recorded after now: fetched "
                "by a clock that ran ahead; the next fetch asks for them again",
            )
        )
    when = f"{fetch.last_attempt:%Y-%m-%d %H:%M}"
    if fetch.failure is None:
        said = "the API had nothing new" if fetch.nothing_new else "new listings came in"
        findings.append(Finding(Level.OK, "fetch", f"the last fetch ({when}): {said}"))
        return
    limit = config.monitor.expect_new_every
    since = fetch.last_success
    age = (now - since).total_seconds() if since is not None else None
    level = Level.OK
    if limit and (age is None or age > limit):
        level = Level.CRITICAL if age is None or age > 2 * limit else Level.WARNING
    last_good = f"the last answer came {_age(now, since)} ago" if since else "no answer ever"
    findings.append(
        Finding(level, "fetch", f"the last fetch ({when}) failed: {fetch.failure} ({last_good})")
    )


def _short_listing(config: Config, store: Store, findings: list[Finding]) -> None:
    window, ratio = config.monitor.short_listing_window, config.monitor.short_listing
    counts = store.recent_file_sizes(window + 1)  # newest first
    if len(counts) < 3 or not ratio:
        return
    newest, before = counts[0], counts[1:]
    median = statistics.median(before)
    if median and newest < ratio * median:
        findings.append(
            Finding(
                Level.WARNING,
                "short-listing",
                f"the newest file lists {newest} papers, under {ratio:.0%} of the {median:g} "
                f"that the {plural(len(before), 'file')} before it list (a partial scrape?)",
            )
        )


def _deliveries(status: Status, findings: list[Finding]) -> None:
    latest = status.latest_issue
    if latest is None:
        return
    if latest.in_doubt:
        findings.append(
            Finding(
                Level.WARNING,
                "delivery",
                f"issue {latest.id}: delivery in doubt for {', '.join(latest.in_doubt)}",
            )
        )
    if latest.refused or latest.failed:
        who = [name for name, _ in latest.refused + latest.failed]
        findings.append(
            Finding(Level.CRITICAL, "delivery", f"issue {latest.id} did not reach {', '.join(who)}")
        )


def _daemon(config: Config, store: Store, now: dt.datetime, findings: list[Finding]) -> None:
    schedule = config.schedule
    if not (schedule.cron or schedule.every):
        return
    from digest.run.schedule import slot_seconds

    beat = store.last_heartbeat()
    if beat is None:
        findings.append(Finding(Level.CRITICAL, "daemon", "the daemon has never run"))
        return
    at = beat.at
    slot = slot_seconds(config, now)
    if (now - at).total_seconds() > 2 * slot:
        findings.append(
            Finding(
                Level.CRITICAL,
                "daemon",
                f"the daemon's last heartbeat is {_age(now, at)} old "
                f"(pid {beat.pid} on {beat.host}): is it running?",
            )
        )


def _ping(store: Store, findings: list[Finding]) -> None:
    last = store.last_ping()
    if last is not None and not last.ok:
        findings.append(
            Finding(Level.WARNING, "ping", f"the last ping to {last.to} failed: {last.error}")
        )
