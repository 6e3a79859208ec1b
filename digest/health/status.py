"""What ``digest status`` reports: the state's contents, the last run, deliveries, the
inbox, the schedule. One typed record, with its JSON and its text."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from digest.config.remembered import suggestion
from digest.config.settings import Config
from digest.errors import DigestError, NoState
from digest.intake.inbox import list_inbox
from digest.intake.reading import size_limit_message
from digest.model import DeliveryStatus, Medium, RunResult
from digest.publish.folder import folder_state
from digest.publish.output import OutputWriter, Owner
from digest.store import RunRecord, Store, open_store
from digest.text import plural, shown_name


@dataclass(frozen=True, slots=True)
class LatestIssue:
    id: str
    papers: int
    published_at: dt.datetime
    delivered_to: list[str]
    in_doubt: list[str]  # sent, or being sent, with no answer: never resent without --force
    refused: list[tuple[str, str]]  # refused for good, with the server's reason
    outputs_pending: bool
    failed: list[tuple[str, str]] = field(default_factory=list)  # still failing after retries
    posted_to: list[str] = field(default_factory=list)  # chat channels
    awaiting_review: bool = False  # email.review: published, not sent until told


@dataclass(frozen=True, slots=True)
class FetchStatus:
    """What the fetch ledger in the inbox says: the last attempt, and the last success."""

    last_attempt: dt.datetime | None
    asked: tuple[dt.date, ...]  # the days the last attempt asked for
    failure: str | None  # what stopped it, in one line (with the day)
    nothing_new: bool  # it ended well, and the API had nothing the inbox lacked
    last_success: dt.datetime | None  # the newest answer the API gave for any day
    days: int  # days fetched so far
    final: int  # of which final (never asked again)
    not_before: dt.datetime | None = None  # the API asked for no request before then
    ahead: int = 0  # days recorded at a time after now: by a clock that ran ahead

    def as_json(self) -> dict[str, Any]:
        return {
            "last_attempt": self.last_attempt and self.last_attempt.isoformat(),
            "asked": [day.isoformat() for day in self.asked],
            "failure": self.failure,
            "nothing_new": self.nothing_new,
            "last_success": self.last_success and self.last_success.isoformat(),
            "days": self.days,
            "final": self.final,
            "not_before": self.not_before and self.not_before.isoformat(),
            "ahead": self.ahead,
        }

    def as_text(self) -> str:
        if self.last_attempt is None:
            return "fetch:    never"
        asked = (
            f"{self.asked[0]} to {self.asked[-1]}"
            if len(self.asked) > 1
            else str(self.asked[0])
            if self.asked
            else "no day"
        )
        outcome = (
            f"failed: {self.failure}"
            if self.failure
            else "the API had nothing new"
            if self.nothing_new
            else "new listings"
        )
        line = f"fetch:    {self.last_attempt.isoformat()} ({asked}) → {outcome}"
        return line + f"; {plural(self.days, 'day')} fetched, {self.final:,} final"


def fetch_status(config: Config, now: dt.datetime) -> FetchStatus | None:
    """None when this inbox was never fetched into and the config asks for no fetching.
    A day recorded after ``now`` (a clock that ran ahead) is no answer yet, nor final."""
    from digest.fetch.ledger import LEDGER_NAME, read_ledger

    if config.fetch is None and not (config.inbox / LEDGER_NAME).exists():
        return None
    try:
        ledger = read_ledger(config.inbox)
    except DigestError as exc:
        return FetchStatus(None, (), exc.message, False, None, 0, 0)
    attempt = ledger.last_attempt
    answered = [r.fetched_at for r in ledger.days.values() if r.fetched_at <= now]
    failure = None
    if attempt is not None and attempt.failure is not None:
        where = f"{attempt.failure.day}: " if attempt.failure.day else ""
        failure = where + attempt.failure.reason
    return FetchStatus(
        attempt.at if attempt else None,
        attempt.days if attempt else (),
        failure,
        bool(attempt and attempt.failure is None and attempt.nothing_new),
        max(answered) if answered else None,
        len(ledger.days),
        len(ledger.final_at(now)),
        attempt.not_before if attempt else None,
        sum(record.fetched_at > now for record in ledger.days.values()),
    )


@dataclass(frozen=True, slots=True)
class Status:
    state: str
    inbox: str
    output: str
    schedule: dict[str, Any]
    state_exists: bool
    files: int = 0
    papers: int = 0
    issues: int = 0
    schema_version: int | None = None
    waiting: int = 0  # new or changed files still being written (changed within settle)
    new_files: int = 0  # new or changed files settled: the next run takes them
    rejected: list[tuple[str, str]] = field(default_factory=list)
    latest_issue: LatestIssue | None = None
    last_run: RunRecord | None = None
    pending: list[str] = field(default_factory=list)  # issues whose files are not all written
    hint: str | None = None
    fetch: FetchStatus | None = None  # the listing fetched into the inbox, if it is
    output_problem: str | None = None  # gone, or lacking issues' pages the state has
    recorded_output: str | None = None  # the folder the state records, when another

    def as_json(self) -> dict[str, Any]:
        latest, run = self.latest_issue, self.last_run
        return {
            "state": self.state,
            "inbox": self.inbox,
            "output": self.output,
            "schedule": self.schedule,
            "files": self.files,
            "papers": self.papers,
            "issues": self.issues,
            "schema_version": self.schema_version,
            "waiting": self.waiting,
            "new_files": self.new_files,
            "rejected": [{"file": name, "reason": reason} for name, reason in self.rejected],
            "pending_issues": self.pending,
            "latest_issue": latest
            and {
                "id": latest.id,
                "papers": latest.papers,
                "published_at": latest.published_at.isoformat(),
                "delivered_to": latest.delivered_to,
                "in_doubt": latest.in_doubt,
                "refused": [{"recipient": r, "reason": why} for r, why in latest.refused],
                "failed": [{"recipient": r, "reason": why} for r, why in latest.failed],
                "posted_to": latest.posted_to,
                "outputs_pending": latest.outputs_pending,
                "awaiting_review": latest.awaiting_review,
            },
            "last_run": run
            and {
                "started_at": run.started_at.isoformat(),
                "finished_at": run.finished_at.isoformat() if run.finished_at else None,
                "result": run.result.value,
                "issue": run.issue_id,
                "new_papers": run.new_papers,
                "papers_parsed": run.papers_parsed,
                "error": run.error,
                "host": run.host,
                "pid": run.pid,
            },
            "fetch": self.fetch.as_json() if self.fetch else None,
            "output_problem": self.output_problem,
            "recorded_output": self.recorded_output,
            "hint": self.hint,
        }

    def inbox_text(self) -> str:
        """New files the next run takes apart from files still being written (which it
        leaves, unless it may wait for them to settle)."""
        parts = []
        if self.new_files:
            parts.append(f"{plural(self.new_files, 'new file')} for the next run")
        if self.waiting:
            parts.append(f"{plural(self.waiting, 'file')} still being written")
        return ", ".join(parts) or "nothing new"

    def as_text(self) -> str:
        lines = [
            f"state:    {self.state}" + ("" if self.state_exists else " (none yet)"),
            f"inbox:    {self.inbox} ({self.inbox_text()})",
            f"output:   {self.output}",
            *([f"          {self.output_problem}"] if self.output_problem else []),
            *(
                [f"          the state publishes into {self.recorded_output}"]
                if self.recorded_output and not self.output_problem
                else []
            ),
            f"store:    {plural(self.files, 'file')}, {plural(self.papers, 'paper')}, "
            f"{plural(self.issues, 'issue')}",
        ]
        latest = self.latest_issue
        if latest:
            sent = ", ".join(latest.delivered_to) or "not sent"
            lines.append(f"latest:   issue {latest.id}, {plural(latest.papers, 'paper')} ({sent})")
            if latest.awaiting_review:
                lines.append(
                    "          waiting for review: read it, edit notes/"
                    f"{latest.id}.md, 'digest rebuild {latest.id}', then 'digest send'"
                )
            if latest.in_doubt:
                lines.append(
                    "          in doubt (sent, no answer; 'digest send --force' resends, "
                    f"'digest post --force' for a chat channel): "
                    f"{', '.join(latest.in_doubt)}"
                )
            for recipient, reason in latest.refused:
                lines.append(f"          refused: {recipient}: {reason}")
            for recipient, reason in latest.failed:
                lines.append(f"          failed: {recipient}: {reason}")
            if latest.posted_to:
                lines.append(f"          posted to: {', '.join(latest.posted_to)}")
        for issue_id in self.pending:
            lines.append(f"pending:  issue {issue_id}: files not all written; the next run does")
        run = self.last_run
        if run:
            line = f"last run: {run.started_at.isoformat()} → {run.result.value}"
            if run.issue_id:
                line += f", issue {run.issue_id}"
            if run.result is RunResult.INTERRUPTED and run.pid:
                line += f" (pid {run.pid} on {run.host} died before it finished)"
            lines.append(line)
            if run.error:
                lines.append(f"          error: {run.error}")
        else:
            lines.append("last run: never")
        if self.fetch is not None:
            lines.append(self.fetch.as_text())
        if self.schedule.get("description"):
            lines.append(f"schedule: {self.schedule['description']}")
            if self.schedule.get("next_run"):
                lines.append(f"next run: {self.schedule['next_run']}")
        for name, reason in self.rejected:
            lines.append(f"rejected: {name}: {reason}")
        if self.hint:
            lines.append(f"hint:     {self.hint}")
        return "\n".join(lines)


def _inbox(config: Config, remembered: set[tuple[str, int, int]]) -> tuple[int, int, list]:
    """Files still being written, files the next run takes, and files it rejects."""
    entries, refused = list_inbox(config.inbox)
    waiting = new = 0
    settled_before = time.time_ns() - int(config.settle * 1e9)  # by the clock, as a run
    rejected = [(item.name, item.reason) for item in refused]
    for entry in entries:
        if entry.size > config.max_file_size:
            rejected.append((shown_name(entry.path), size_limit_message(config.max_file_size)))
        elif (entry.path, entry.size, entry.mtime_ns) not in remembered:
            if config.settle and entry.mtime_ns > settled_before:
                waiting += 1
            else:
                new += 1
    return waiting, new, rejected


def collect(config: Config, now: dt.datetime | None = None) -> Status:
    from digest.run import schedule

    now = now or dt.datetime.now(dt.UTC)
    base: dict[str, Any] = {
        "state": shown_name(str(config.state)),
        "inbox": shown_name(str(config.inbox)),
        "output": shown_name(str(config.output)),
        "schedule": schedule.describe(config, now),
        "fetch": fetch_status(config, now),
    }
    try:
        with open_store(config, create=False) as store:
            return _collect(config, store, base)
    except NoState:
        waiting, new, rejected = _inbox(config, set())
        hint = None
        if config.source is None:
            hint = suggestion("status", Path.cwd()) or (
                f"no digest.toml in {Path.cwd()}, so these are the defaults; "
                "point at your site's config with --config FILE"
            )
        return Status(
            **base,
            state_exists=False,
            waiting=waiting,
            new_files=new,
            rejected=sorted(rejected),
            hint=hint,
        )


def _collect(config: Config, store: Store, base: dict[str, Any]) -> Status:
    counts = store.counts()
    run = store.last_run()
    if run is not None and run.result is RunResult.RUNNING and store.lock_is_free("run"):
        run = dataclasses.replace(run, result=RunResult.INTERRUPTED)
    waiting, new, refused = _inbox(config, store.inbox_fingerprints())
    latest = store.issue(None)
    latest_issue = None
    if latest is not None:
        from digest.deliver.delivery import by_mailbox  # one per reader, however written

        emails = list(by_mailbox(store.deliveries(latest.id)).values())
        posts = list(store.deliveries(latest.id, Medium.CHAT).values())
        # A chat channel is named as such wherever it stands beside email addresses.
        deliveries = emails + [
            dataclasses.replace(d, recipient=f"chat channel {d.recipient}") for d in posts
        ]

        def who(*statuses: DeliveryStatus) -> list[str]:
            return [d.recipient for d in deliveries if d.status in statuses]

        def why(status: DeliveryStatus) -> list[tuple[str, str]]:
            return [(d.recipient, d.reason or "") for d in deliveries if d.status is status]

        latest_issue = LatestIssue(
            latest.id,
            latest.paper_count,
            latest.published_at,
            [d.recipient for d in emails if d.status is DeliveryStatus.SENT],
            who(DeliveryStatus.CLAIMED, DeliveryStatus.IN_DOUBT),
            why(DeliveryStatus.REFUSED),
            latest.outputs_pending,
            why(DeliveryStatus.FAILED),
            [d.recipient for d in posts if d.status is DeliveryStatus.SENT],
            config.email.review and not emails,
        )
    rejected = [(shown_name(path), reason) for path, reason in store.rejections()] + refused
    folder = folder_state(store, OutputWriter(config.output, Owner(store.state_id, config.site)))
    return Status(
        **base,
        state_exists=True,
        files=counts.files,
        papers=counts.papers,
        issues=counts.issues,
        schema_version=store.schema_version,
        waiting=waiting,
        new_files=new,
        rejected=rejected,
        latest_issue=latest_issue,
        last_run=run,
        pending=[issue.id for issue in store.pending_issues()],
        output_problem=folder.problem,
        recorded_output=folder.recorded and shown_name(folder.recorded),
    )
