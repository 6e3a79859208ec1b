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
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from digest.backfill import Backfill
from digest.config.settings import Config
from digest.errors import (
    DigestError,
    LockBusy,
    NoState,
    TemplateProblem,
)
from digest.faults import pause_point
from digest.host import host_name
from digest.intake import inbox
from digest.intake.inbox import InboxScan, scan_inbox
from digest.intake.take_in import Intake
from digest.model import Issue, Problem, RunResult, Severity
from digest.publish import notes, render_pool
from digest.publish.folder import check_complete
from digest.publish.output import OutputWriter
from digest.publish.ownership import check_output, check_output_for_a_new_state
from digest.publish.publisher import Publisher, writer_for
from digest.report import RunReport
from digest.run import announce
from digest.run.context import Mode, RunContext, RunOptions
from digest.run.record import backfill_for, record_new_issues, take_notes
from digest.store import Store, memory_store, open_store
from digest.text import one_line, plural

log = logging.getLogger("digest")


def run(config: Config, options: RunOptions | None = None) -> RunReport:
    """Take in the new files of the inbox; publish one issue if they hold new papers."""
    options = options or RunOptions()
    deadline = time.monotonic() + options.wait
    if options.mode is Mode.DRY_RUN:
        inbox.check_folder(config.inbox)
        if options.preview is not None:
            from digest.run import preview  # a rehearsal's: not a scheduled run's

            preview.check_folder(options.preview, config.output)
        with _state(config, options) as store, store.lock("run", options.wait):
            return _rehearse(RunContext(config, store, options, RunReport(), deadline))
    ping_url = config.monitor.ping_url
    if ping_url and config.monitor.ping_start:
        announce.ping(config, "start", "run started")
    try:
        inbox.check_folder(config.inbox)
        with _state(config, options) as store, store.lock("run", options.wait):
            report = _publish_run(RunContext(config, store, options, RunReport(), deadline))
    except LockBusy:
        raise  # not a failed run: another one is at work
    except Exception as exc:
        if ping_url:
            announce.ping(config, "fail", one_line(f"run failed: {exc}"))
        raise
    if ping_url:
        announce.ping(config, "success", report.one_line())
    return report


@contextmanager
def _state(config: Config, options: RunOptions) -> Iterator[Store]:
    """The config's state; for a dry run without one, an empty state in memory."""
    dry = options.mode is Mode.DRY_RUN
    if dry and isinstance(config.state, Path) and not config.state.exists():
        with memory_store(config.site) as store:
            yield store
        return
    try:
        store = open_store(config, create=False)
    except NoState:  # a new state: one that a foreign output folder refuses is not made
        if options.mode is not Mode.DRY_RUN and not options.adopt_output:
            check_output_for_a_new_state(config, str(config.state))
        store = open_store(config)
    with store:
        yield store


def _rehearse(context: RunContext) -> RunReport:
    context.report.dry_run = True
    store, options = context.store, context.options
    with store.rehearsal():
        present = OutputWriter(context.config.output).issue_ids_present()
        issue_id, seq = store.next_issue_id(options.day, present)
        intake = _take_in(context, _scan(context), issue_seq=seq if options.preview else None)
        if context.report.new_papers:  # the note the issue would take must publish too
            found = context.notes.for_issue(issue_id)
            if found is not None:
                notes.parse(found[0], str(found[1]))
            if options.preview is not None:
                from digest.run import preview

                context.report.preview = preview.write_preview(context, intake, issue_id, seq)
    return context.report


def _publish_run(context: RunContext) -> RunReport:
    config, store, options, report = context.config, context.store, context.options, context.report
    writer = writer_for(config, store)
    claimed = check_output(store, writer, adopt=options.adopt_output)
    check_complete(store, writer, adopt=options.adopt_output)
    writer.remove_stale_temp_files()
    context.publisher = publisher = Publisher.for_config(config, store, writer)
    publisher.claimed = claimed
    if options.adopt_output and not claimed:
        publisher.claim()
    report.first_run = store.last_run() is None
    run_id = store.start_run(options.now, host_name(), os.getpid())
    try:
        report.finished = [issue.id for issue in _finish_pending(publisher)]  # recover
        notes.finish(store, context.notes)
        scan = _scan(context)
        present = writer.issue_ids_present()
        issue_id, issue_seq = store.next_issue_id(options.day, present)
        publishing = options.mode is Mode.PUBLISH
        try:
            with store.transaction(), _rolled_back_on_failure():
                backfill = backfill_for(context, issue_seq, present)
                intake = _take_in(context, scan, issue_seq if publishing else None, backfill)
                pause_point("recorded")
                pending = record_new_issues(context, intake, issue_id, issue_seq)
                taken = take_notes(context, pending)
                # A backfill's issues, or one large issue, render on every core from the
                # committed state; otherwise every file is staged before the commit.
                on_every_core = bool(pending) and (
                    backfill is not None or render_pool.worth_helpers(config, pending)
                )
                if pending:
                    publisher.mark_site_pending()
                if pending and not on_every_core:
                    publisher.stage(pending)  # publish: every file, staged whole
                pause_point("rendered")
            pause_point("committed")
            written = []
            if on_every_core:  # from the state, its files pending until written
                publisher.claim()
                written = render_pool.render(config, publisher, pending)
                publisher.stage_neighbour_pages(pending)
                publisher.stage_site(changed_years={issue.date.year for issue in pending})
            written += publisher.put_in_place(pending)
            for note in taken:
                changed = context.notes.consume(note.path, note.source, note.issue_id)
                if changed is not None:  # the CLI prints it; the daemon logs it
                    report.problems.append(Problem(str(note.path), None, changed, Severity.WARNING))
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
    asked = options.send if options.send is not None else config.email.send_after_run
    if asked and config.email.review and (report.issue_id or report.finished):
        # Never mail an issue nobody has read: review = true wins over --send too.
        report.held_for_review = (
            f"issue {report.issue_id or report.finished[-1]}: review = true: not sent; "
            "read it, then 'digest send'"
        )
        log.info("%s", report.held_for_review)
    elif asked and not config.email.review:
        announce.deliver(context)
    if config.channels and (report.issue_id or report.finished):
        announce.post(context)
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
    """Write the files of issues an earlier run recorded but could not put in place (only
    those: an issue of a backfill killed half way whose files are all in place is done),
    and the site's pages and feeds if they were not written after them."""
    pending = publisher.store.pending_issues()
    if pending:
        log.warning(
            "finishing %s: recorded by an earlier run whose files were not all written",
            ("issue " if len(pending) == 1 else "issues ") + ", ".join(i.id for i in pending),
        )
    if pending or publisher.site_pending:
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
            config.inbox,
            context.store,
            context.options.day,
            config.max_file_size,
            config.settle,
            context.options.year,
        )
        if scan.settles_at is None:
            return scan
        pause = scan.settles_at - time.time() + 0.05
        if time.monotonic() + pause > context.deadline:
            log.info(
                "%s still being written; left for the next run", plural(len(scan.settling), "file")
            )
            return scan
        log.info(
            "waiting %.1fs for %s still being written", pause, plural(len(scan.settling), "file")
        )
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


def _note_rejections(report: RunReport) -> None:
    if report.files_rejected and not report.files_read:
        log.warning(
            "the inbox had %s but no paper could be read from %s",
            plural(len(report.files_rejected), "file"),
            "it" if len(report.files_rejected) == 1 else "them",
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
