"""The one path from inbox to published issue; the CLI and the daemon both call ``run``.

A run reads as its phases: lock, recover, scan, take in (and classify), publish, commit,
deliver. The order of the last ones is what makes a run safe to kill at any moment:

1. in ONE transaction, the new files, papers and sightings are recorded, with the
   issue they form marked "outputs pending"; every file of the issue and the site is
   rendered from that state and staged (complete temp files) before the commit, so a
   template or disk error rolls everything back and nothing is published;
2. the commit; then the staged files are renamed into place;
3. a second transaction clears the mark.

A run killed between 2 and 3 leaves an issue whose files may be partly in place; the
next run finds it pending and renders exactly those files again from the state
(output is deterministic) before anything else. So every paper is published exactly
once, under one issue id, and nothing published is ever removed.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from digest.backfill import Backfill, Period, PeriodIssue, moment
from digest.config.settings import Config
from digest.deliver import delivery, notify
from digest.errors import (
    DigestError,
    LockBusy,
    TemplateProblem,
)
from digest.faults import pause_point
from digest.intake import inbox
from digest.intake.inbox import InboxScan, scan_inbox
from digest.intake.take_in import Intake, Progress
from digest.model import Issue, RunResult
from digest.publish import notes, render_pool
from digest.publish.publisher import Publisher, check_output, writer_for
from digest.report import RunReport
from digest.run.record import record_issue
from digest.store import Store, memory_store, open_store
from digest.text import one_line

log = logging.getLogger("digest")


class Mode(enum.Enum):
    PUBLISH = "publish"  # take in, publish an issue of the new papers
    DRY_RUN = "dry-run"  # everything a run would do, rolled back; nothing written
    MARK_SEEN = "mark-seen"  # take in, remember the new papers as seen, publish nothing


@dataclass(frozen=True)
class RunOptions:
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    today: dt.date | None = None
    mode: Mode = Mode.PUBLISH
    wait: float = 0.0  # for the lock, and for inbox files still being written
    send: bool | None = None  # None: the config's send_after_run
    adopt_output: bool = False
    backfill: Period | None = None  # an issue per period of the digests, not one
    progress: Progress | None = None

    @property
    def day(self) -> dt.date:
        return self.today or self.now.astimezone().date()


@dataclass
class RunContext:
    """What every phase of one run works with."""

    config: Config
    store: Store
    options: RunOptions
    report: RunReport
    deadline: float  # time.monotonic() by which waiting must end
    publisher: Publisher | None = None  # None in a dry run: nothing is written

    @property
    def notes(self) -> notes.NotesFolder:
        return notes.NotesFolder(self.config.notes)


def run(config: Config, options: RunOptions | None = None) -> RunReport:
    """Take in the new files of the inbox; publish one issue if they hold new papers."""
    options = options or RunOptions()
    deadline = time.monotonic() + options.wait
    if options.mode is Mode.DRY_RUN:
        inbox.check_folder(config.inbox)
        with _state(config, options) as store, store.lock("run", options.wait):
            return _rehearse(RunContext(config, store, options, RunReport(), deadline))
    ping_url = config.monitor.ping_url
    if ping_url and config.monitor.ping_start:
        _ping(config, "start", "run started")
    try:
        inbox.check_folder(config.inbox)
        with _state(config, options) as store, store.lock("run", options.wait):
            report = _publish_run(RunContext(config, store, options, RunReport(), deadline))
    except LockBusy:
        raise  # not a failed run: another one is at work
    except Exception as exc:
        if ping_url:
            _ping(config, "fail", one_line(f"run failed: {exc}"))
        raise
    if ping_url:
        _ping(config, "success", report.one_line())
    return report


def _sends_after_run(config: Config) -> bool:
    """With ``email.review``, an issue is sent only when told (``digest send``)."""
    return config.email.send_after_run and not config.email.review


def _take_notes(context: RunContext, pending: list[Issue]) -> list[tuple[Path, str, str]]:
    """The editor's notes of this run's new issues (kept in the state with them)."""
    new = [issue for issue in pending if issue.id == context.report.issue_id
           or issue.id in context.report.backfilled]  # fmt: skip
    taken, warnings = notes.take(context.store, context.notes, new, context.report.issue_id)
    context.report.problems += warnings
    return taken


def _ping(config: Config, kind: str, body: str) -> None:
    """Tell the push monitor; record how it went (a failed ping never fails the run)."""
    result = notify.ping(config.monitor.ping_url, kind, body)
    record = {
        "at": dt.datetime.now(dt.UTC).isoformat(),
        "kind": kind,
        "ok": result.ok,
        "to": result.to,
        "error": result.error,
    }
    try:
        with open_store(config) as store:
            store.set_setting("last_ping", json.dumps(record))
    except DigestError as exc:
        log.warning("could not record the ping in the state: %s", exc.message)


@contextmanager
def _state(config: Config, options: RunOptions) -> Iterator[Store]:
    """The config's state; for a dry run without one, an empty state in memory."""
    dry = options.mode is Mode.DRY_RUN
    if dry and isinstance(config.state, Path) and not config.state.exists():
        with memory_store(config.site) as store:
            yield store
        return
    with open_store(config) as store:
        yield store


def _rehearse(context: RunContext) -> RunReport:
    context.report.dry_run = True
    with context.store.rehearsal():
        _take_in(context, _scan(context), issue_seq=None)
        if context.report.new_papers:  # the note the issue would take must publish too
            issue_id, _seq = context.store.next_issue_id(context.options.day, set())
            found = context.notes.for_issue(issue_id)
            if found is not None:
                notes.parse(found[0], str(found[1]))
    return context.report


def _publish_run(context: RunContext) -> RunReport:
    config, store, options, report = context.config, context.store, context.options, context.report
    writer = writer_for(config, store)
    claimed = check_output(store, writer, adopt=options.adopt_output)
    writer.remove_stale_temp_files()
    context.publisher = publisher = Publisher.for_config(config, store, writer)
    publisher.claimed = claimed
    if options.adopt_output and not claimed:
        publisher.claim()
    run_id = store.start_run(options.now, socket.gethostname(), os.getpid())
    try:
        report.finished = [issue.id for issue in _finish_pending(publisher)]  # recover
        notes.finish(store, context.notes)
        scan = _scan(context)
        present = writer.issue_ids_present()
        issue_id, issue_seq = store.next_issue_id(options.day, present)
        publishing = options.mode is Mode.PUBLISH
        try:
            with store.transaction(), _rolled_back_on_failure():
                backfill = _backfill(context, issue_seq, present)
                intake = _take_in(context, scan, issue_seq if publishing else None, backfill)
                pause_point("recorded")
                pending = _record_issue(context, intake, issue_id, issue_seq)
                taken = _take_notes(context, pending)
                if pending and backfill is None:
                    publisher.stage(pending)  # publish: every file, staged whole
                pause_point("rendered")
            pause_point("committed")
            written = []
            if pending and backfill is not None:  # its issues on every core, from the state
                publisher.claim()
                written = render_pool.render(config, publisher, pending)
                publisher.stage_site(changed_years={issue.date.year for issue in pending})
            written += publisher.put_in_place(pending)
            for path, source, taker in taken:
                context.notes.consume(path, source, taker)
        finally:
            writer.discard()
        report.written = [str(path) for path in written]
        _note_rejections(report)
        with store.transaction():
            store.finish_run(
                run_id,
                dt.datetime.now(dt.UTC),
                report.result,
                issue_id=report.issue_id,
                new_papers=report.new_papers,
                papers_parsed=report.papers_parsed,
                summary=report.summary(),
            )
    except BaseException as exc:
        _record_failure(store, run_id, report, exc)
        raise
    if options.send if options.send is not None else _sends_after_run(config):
        _deliver(context)
    if config.channels and (report.issue_id or report.finished):
        _post(context)
    return report


@contextmanager
def _rolled_back_on_failure() -> Iterator[None]:
    """A template that fails before the commit has published nothing: say so."""
    try:
        yield
    except TemplateProblem as exc:
        hint = f"{exc.hint}; nothing was published, the next run publishes the same papers"
        raise TemplateProblem(exc.message, hint) from exc


def _finish_pending(publisher: Publisher) -> list[Issue]:
    """Write the files of issues an earlier run recorded but could not put in place."""
    pending = publisher.store.pending_issues()
    if pending:
        log.warning(
            "finishing issue(s) %s: recorded by an earlier run whose files were not all written",
            ", ".join(issue.id for issue in pending),
        )
        with publisher.writer.staging_only():
            publisher.stage(pending)
        publisher.put_in_place(pending)
    return pending


def _scan(context: RunContext) -> InboxScan:
    """The inbox, once any file still being written has settled (as far as the run may
    wait); files that have not are left for the next run."""
    config = context.config
    while True:
        scan = scan_inbox(
            config.inbox, context.store, context.options.day, config.max_file_size, config.settle
        )
        if scan.settles_at is None:
            return scan
        pause = scan.settles_at - time.time() + 0.05
        if time.monotonic() + pause > context.deadline:
            log.info("%d file(s) still being written; left for the next run", len(scan.settling))
            return scan
        log.info("waiting %.1fs for %d file(s) still being written", pause, len(scan.settling))
        time.sleep(max(pause, 0.0))


def _take_in(
    context: RunContext, scan: InboxScan, issue_seq: int | None, backfill: Backfill | None = None
) -> Intake:
    config, options = context.config, context.options
    intake = Intake(
        context.store,
        config.classifier(),
        context.report,
        options.now,
        options.day,
        issue_seq,
        backfill,
    )
    intake.take_all(scan, config.max_file_size, config.workers, options.progress)
    context.report.new_papers = intake.position
    return intake


def _backfill(context: RunContext, first_seq: int, avoid: set[str]) -> Backfill | None:
    """An issue per period of the digests, if asked (or the config's ``backfill``, for a
    state's first run), each recorded as soon as its period is over."""
    store, options = context.store, context.options
    period = options.backfill
    if period is None and context.config.backfill is not None and store.issue(None) is None:
        period = context.config.backfill
    if period is None or options.mode is not Mode.PUBLISH:
        return None

    def close(issue: PeriodIssue) -> None:
        issue_id, _ = store.next_issue_id(issue.last_date, avoid)
        recorded, risen = record_issue(
            store,
            context.config,
            issue_id,
            issue.seq,
            issue.last_date,
            moment(issue.last_date, options.now),
            issue.papers,
            issue.seen_again,
        )
        context.report.backfilled.append(recorded.id)
        context.report.rising += risen

    return Backfill(period, first_seq, options.now, close)


def _record_issue(
    context: RunContext, intake: Intake, issue_id: str, issue_seq: int
) -> list[Issue]:
    """The new issue, if the run found new papers, and earlier issues whose text changed:
    recorded with their outputs pending, to be staged in this transaction."""
    config, store, report, options = context.config, context.store, context.report, context.options
    pending: list[Issue] = []
    if options.mode is Mode.MARK_SEEN:
        report.marked_seen, report.new_papers = report.new_papers, 0
    elif intake.backfill is not None:
        pending = [issue for issue in store.pending_issues() if issue.id in set(report.backfilled)]
        report.issue_id = report.backfilled[-1] if report.backfilled else None
    elif report.new_papers:
        issue, report.rising = record_issue(
            store,
            config,
            issue_id,
            issue_seq,
            options.day,
            options.now,
            report.new_papers,
            intake.seen_again,
        )
        pending.append(issue)
        report.issue_id = issue_id
        report.advice = _advice(intake)
    if intake.rewritten:
        store.mark_outputs_pending(intake.rewritten)
        seqs = {issue.seq for issue in pending}
        pending += [
            issue
            for issue in store.pending_issues()
            if issue.seq in intake.rewritten and issue.seq not in seqs
        ]
    return pending


BIG_BACKLOG_PAPERS, BIG_BACKLOG_DAYS = 2000, 14


def _advice(intake: Intake) -> str | None:
    """A backlog made one huge issue: say what else there is."""
    days = intake.listed_days
    span = (max(days) - min(days)).days + 1 if days else 0
    if intake.position <= BIG_BACKLOG_PAPERS or span <= BIG_BACKLOG_DAYS:
        return None
    weeks = len({day.isocalendar()[:2] for day in days})
    return (
        f"these {intake.position:,} new papers span {span:,} days "
        f"of digests: 'digest run --backfill' would have published them as {weeks:,} weekly "
        "issues, and 'digest run --mark-seen' would have taken them in as seen and published "
        "nothing"
    )


def _note_rejections(report: RunReport) -> None:
    if report.files_rejected and not report.files_read:
        log.warning(
            "the inbox had %d file(s) but no paper could be read from them",
            len(report.files_rejected),
        )


def _record_failure(store: Store, run_id: int, report: RunReport, exc: BaseException) -> None:
    if isinstance(exc, DigestError):  # one line: status and check show it as a line
        message = exc.message + (f" (hint: {exc.hint})" if exc.hint else "")
    else:
        message = f"{type(exc).__name__}: {exc}"
    try:
        store.finish_run(
            run_id,
            dt.datetime.now(dt.UTC),
            RunResult.FAILED,
            error=message,
            summary=report.summary(),
        )
    except Exception:  # the state itself may be what failed
        log.error("could not record the failed run in the state")


def _deliver(context: RunContext) -> None:
    """Send the newest issue to whoever has not had it: the one this run published, or
    one an earlier run could not deliver. Deliveries are per recipient, so nobody gets an
    issue twice."""
    assert context.publisher is not None
    report = context.report
    newest = context.store.issue(None)
    if newest is None:
        return
    try:
        outcome = delivery.send_issue(
            context.config, context.publisher, newest.id, now=context.options.now, automatic=True
        )
    except DigestError as exc:
        report.delivery_error = str(exc)
        log.error("issue %s was published but not sent: %s", newest.id, exc.message)
        return
    report.sent_to = list(outcome.sent_to)
    report.sent_issue = newest.id if outcome.sent_to else None
    report.refused_recipients = list(outcome.refused)
    report.in_doubt = list(outcome.in_doubt_now)
    if outcome.error:
        report.delivery_error = outcome.error
        log.error("issue %s was published but not sent to everyone: %s", newest.id, outcome.error)


def _post(context: RunContext) -> None:
    """Post the newest issue to each chat channel that has not had it."""
    assert context.publisher is not None
    try:
        outcome = notify.post_issue(
            context.config, context.publisher, None, now=context.options.now, automatic=True
        )
    except DigestError as exc:
        context.report.post_error = str(exc)
        return
    context.report.posted_to = outcome.posted_to
    context.report.post_error = outcome.error
