"""After a run: the push monitor pinged, the new issue emailed and posted to chat.

None of these ever undoes what the run published: a failed ping is recorded and shown
by ``check``; an issue not delivered to everyone is reported (exit code 4) and the next
run or ``digest send`` tries the rest, never anyone twice.
"""

from __future__ import annotations

import datetime as dt
import logging

from digest.config.settings import Config
from digest.errors import DigestError
from digest.run.context import RunContext
from digest.store import open_store
from digest.store.records import PingKind, PingRecord

log = logging.getLogger("digest")


def ping(config: Config, kind: PingKind, body: str) -> None:
    """Tell the push monitor; record how it went (a failed ping never fails the run)."""
    from digest.deliver import notify  # a run that pings nobody never imports it

    result = notify.ping(config.monitor.ping_url, kind, body)
    record = PingRecord(dt.datetime.now(dt.UTC), kind, result.ok, result.to, result.error)
    try:
        with open_store(config) as store:
            store.record_ping(record)
    except DigestError as exc:
        log.warning("could not record the ping in the state: %s", exc.message)


def deliver(context: RunContext) -> None:
    """Send the newest issue to whoever has not had it: the one this run published, or
    one an earlier run could not deliver. Deliveries are per recipient, so nobody gets an
    issue twice."""
    from digest.deliver import delivery

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
        return  # the server fails still: earlier issues wait for a run it answers
    _retry_earlier(context, newest.id)


def _retry_earlier(context: RunContext, newest: str) -> None:
    """Earlier issues whose copy failed for some recipients (the server down until the
    retries ran out) go to those of them still on the list: the failure said the next run
    tries again, and a newer issue must not make it forget. Nobody else gets an old issue
    unasked (a reader added since, say); an issue whose note was edited since it was built
    waits for its rebuild (as 'digest send' does); the first that fails again stops the
    rest (the server fails still)."""
    from digest.addresses import mailbox
    from digest.deliver import delivery
    from digest.errors import NoteNotRebuilt
    from digest.model import DeliveryStatus
    from digest.run.actions import refuse_an_unbuilt_edit

    assert context.publisher is not None
    store, report = context.store, context.report
    listed = {mailbox(address): address for address in context.config.email.to}
    for issue_id in store.issues_with_failed_deliveries():
        if issue_id == newest:
            continue
        failed = {
            mailbox(recipient)
            for recipient, record in store.deliveries(issue_id).items()
            if record.status is DeliveryStatus.FAILED
        }
        again = [listed[box] for box in sorted(failed) if box in listed]
        if not again:
            continue
        try:
            refuse_an_unbuilt_edit(context.config, store, issue_id)  # as 'digest send' does
        except NoteNotRebuilt as exc:
            log.warning("issue %s is not sent again: %s (%s)", issue_id, exc.message, exc.hint)
            continue
        try:
            outcome = delivery.send_issue(
                context.config,
                context.publisher,
                issue_id,
                recipients=again,
                now=context.options.now,
                automatic=True,
            )
        except DigestError as exc:
            report.delivery_error = report.delivery_error or str(exc)
            log.error("issue %s could not be sent again: %s", issue_id, exc.message)
            return  # the server is down still: the next run tries again
        if outcome.sent_to:
            log.info(
                "issue %s sent to %s, whose copy had failed", issue_id, ", ".join(outcome.sent_to)
            )
        report.in_doubt += list(outcome.in_doubt_now)
        if outcome.error:
            report.delivery_error = report.delivery_error or outcome.error
            log.error("issue %s was not sent to everyone again: %s", issue_id, outcome.error)
            return


def post(context: RunContext) -> None:
    """Post the newest issue to each chat channel that has not had it."""
    from digest.deliver import notify

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
