"""Sending an issue: once per recipient, and never twice without being asked.

Before anything goes out, each recipient is *claimed* in the state (durably). Once the
server has the body, only its answer settles the claim: accepted (sent), refused, or a
definite "try later". A claim with no answer (the connection dropped after the body,
the server fell silent, the process was killed) stays *in doubt*: ``status`` shows it,
a later ``digest send`` leaves it alone, ``digest send --force`` sends it again with
the same Message-ID, so a mail client shows one message. The caller holds the run
lock; the claims also keep two senders from sending one copy twice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import format_datetime

from digest.addresses import FORM, AddressError, MailAddress, mail_address, mailbox
from digest.config.settings import Config
from digest.deliver import smtp as client
from digest.errors import ConfigError, DeliveryError, NotFound, PendingOutputs
from digest.faults import pause_point
from digest.model import DeliveryStatus
from digest.publish.message import addressed, sender_domain
from digest.publish.publisher import Publisher
from digest.report import RefusedRecipient
from digest.store import Delivery, DeliveryUpdate

log = logging.getLogger("digest")

_SETTLED = {
    client.Outcome.ACCEPTED: DeliveryStatus.SENT,
    client.Outcome.REFUSED: DeliveryStatus.REFUSED,
    client.Outcome.DEFERRED: DeliveryStatus.FAILED,
    client.Outcome.IN_DOUBT: DeliveryStatus.IN_DOUBT,
}


@dataclass(frozen=True)
class SendOutcome:
    issue_id: str
    sent_to: list[str]
    already_sent: list[str]
    in_doubt_before: list[str] = field(default_factory=list)  # left alone (no --force)
    in_doubt_now: list[str] = field(default_factory=list)  # this send got no answer
    refused: list[RefusedRecipient] = field(default_factory=list)
    deferred: list[RefusedRecipient] = field(default_factory=list)  # still failing after retries
    error: str | None = None  # what went wrong, in one sentence, if anything did

    @property
    def failed(self) -> bool:
        return bool(self.error)


def _recipients(config: Config, recipients: Sequence[str] | None) -> list[str]:
    """The recipients as written, each once (by the address they name)."""
    wanted = [address for address in (recipients or config.email.to) if address.strip()]
    if not wanted:
        raise ConfigError("no recipients", "set email.to in the config, or pass --to ADDR")
    by_address: dict[str, str] = {}
    for address in wanted:
        try:
            reader = mail_address(address).mailbox
        except AddressError as exc:
            raise ConfigError(f"digest refused the address {address!r}: {exc}", FORM) from None
        by_address.setdefault(reader, address)
    return list(by_address.values())


def by_mailbox(known: Mapping[str, Delivery]) -> dict[str, Delivery]:
    """One record per mailbox, of records kept under forms an older digest wrote (``Ann
    <ann@x>``): a copy that may have arrived over one that did not (never sent twice),
    else the latest."""
    found: dict[str, Delivery] = {}
    for recipient, record in known.items():
        key = mailbox(recipient)
        weight = (record.status.may_have_arrived, record.at)
        held = found.get(key)
        if held is None or weight > (held.status.may_have_arrived, held.at):
            found[key] = record
    return found


def _sender(config: Config, publisher: Publisher) -> MailAddress:
    text = config.email.sender or f"digest@{sender_domain(config.email, publisher.site)}"
    try:
        return mail_address(text)
    except AddressError as exc:
        raise ConfigError(f"no sender address to send from ({text!r}: {exc})", FORM) from None


def _settings(config: Config, override: str | None) -> client.SmtpSettings:
    email = config.email
    if override:
        host, _, port = override.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(
                f"--smtp {override!r}: expected HOST:PORT", "e.g. --smtp localhost:1025"
            )
        return client.SmtpSettings(
            host.strip("[]"), int(port), client.Security.NONE, deadline=email.deadline
        )
    if not email.smtp_host:
        raise ConfigError(
            "no SMTP server", "set email.smtp_host in the config, or pass --smtp HOST:PORT"
        )
    password = None
    if email.username:
        name = email.password_env
        password = os.environ.get(name) if name else None
        if password is None:
            raise ConfigError(
                f"email.username is set but no password: environment variable "
                f"{name or '(email.password_env is not set)'} is empty",
                "export the password in the variable email.password_env names",
            )
    return client.SmtpSettings(
        email.smtp_host,
        email.smtp_port,
        email.security,
        username=email.username or None,
        password=password,
        deadline=email.deadline,
    )


def send_issue(
    config: Config,
    publisher: Publisher,
    issue_id: str | None,
    *,
    recipients: Sequence[str] | None = None,
    smtp: str | None = None,
    force: bool = False,
    now: dt.datetime,
    automatic: bool = False,
) -> SendOutcome:
    """Send an issue to each recipient who has not had it. ``automatic`` (after a run):
    recipients the server refused for good are not tried again; ``digest send`` does."""
    store = publisher.store
    issue = store.issue(issue_id)
    if issue is None:
        if issue_id is None:
            raise NotFound("no issue has been published yet", "run 'digest run' first")
        raise NotFound(f"no issue {issue_id!r}", "'digest status' lists the issues")
    if issue.outputs_pending:
        raise PendingOutputs(
            f"issue {issue.id} is recorded, but its files are not all written yet",
            "'digest run' (or 'digest rebuild') writes them; then send it",
        )
    wanted = _recipients(config, recipients)
    # Kept by mailbox, whatever form an address is written in (one written another way
    # before, in a state from before that, is found by its mailbox too).
    box = {address: mailbox(address) for address in wanted}
    known = by_mailbox(store.deliveries(issue.id))

    def stands(address: str, *statuses: DeliveryStatus) -> bool:
        found = known.get(box[address])
        return found is not None and found.status in statuses

    already = [a for a in wanted if stands(a, DeliveryStatus.SENT)]
    doubtful = [a for a in wanted if stands(a, DeliveryStatus.CLAIMED, DeliveryStatus.IN_DOUBT)]
    skip = set(already) | set(doubtful)
    if automatic:
        skip |= {a for a in wanted if stands(a, DeliveryStatus.REFUSED)}
    pending = wanted if force else [a for a in wanted if a not in skip]
    if not pending:
        return SendOutcome(issue.id, [], already, doubtful if not force else [])
    settings = _settings(config, smtp)
    message = publisher.email(issue, pending)
    del message["Date"]
    message["Date"] = format_datetime(now.astimezone(dt.UTC))  # when it is sent
    written = {box[a]: a for a in pending}
    claimed = [
        written[claimed_box]
        for claimed_box in store.claim_deliveries(
            issue.id, list(written), message["Message-ID"], now, force=force
        )
    ]
    pause_point("sending")
    sender = _sender(config, publisher)
    # An address that is not ASCII before its @ goes out only over SMTPUTF8, in a message
    # whose headers are UTF-8: those recipients get a transaction of their own.
    utf8 = [a for a in claimed if sender.needs_smtputf8 or mail_address(a).needs_smtputf8]
    groups = [[a for a in claimed if a not in utf8], utf8]
    results: list[client.RecipientResult] = []
    try:
        for group in filter(None, groups):
            body = addressed(message, group)
            results += _deliver(config, settings, body, sender.envelope, group)
    except client.SmtpPermanentError as exc:
        settled = {r.recipient: r for r in results + exc.results}
        store.settle_deliveries(
            issue.id,
            [
                DeliveryUpdate(box[a], _SETTLED[settled[a].outcome], settled[a].reply)
                if a in settled
                else DeliveryUpdate(box[a], DeliveryStatus.FAILED, str(exc))
                for a in claimed
            ],
            dt.datetime.now(dt.UTC),
        )
        raise DeliveryError(
            f"the SMTP server {settings.host}:{settings.port} refused issue {issue.id}: {exc}",
            "check the server, security setting and credentials; the issue stays unsent",
            temporary=False,
        ) from None
    updates = [
        DeliveryUpdate(
            box[r.recipient],
            _SETTLED[r.outcome],
            None if r.outcome is client.Outcome.ACCEPTED else r.reply,
        )
        for r in results
    ]
    store.settle_deliveries(issue.id, updates, dt.datetime.now(dt.UTC))
    # With --force every recipient was sent to again: what happened now is all there is
    # to say of each (one thing per recipient, never "already sent" and "in doubt" both).
    before = ([], []) if force else (already, doubtful)
    return _outcome(issue.id, settings, config, results, *before)


def _deliver(
    config: Config, settings: client.SmtpSettings, body: bytes, sender: str, recipients: list[str]
) -> list[client.RecipientResult]:
    """Results for ``recipients`` as written (the envelope names the address alone)."""
    if not recipients:
        return []
    written = {mail_address(a).envelope: a for a in recipients}

    def as_written(found: list[client.RecipientResult]) -> list[client.RecipientResult]:
        return [dataclasses.replace(r, recipient=written[r.recipient]) for r in found]

    try:
        results = client.deliver(
            settings,
            body,
            sender,
            list(written),
            attempts=config.email.retries,
            retry_wait=config.email.retry_wait,
            log=log,
        )
    except client.SmtpPermanentError as exc:
        exc.results = as_written(exc.results)
        raise
    return as_written(results)


SHOWN = 3  # recipients (and reasons) an error line names; 'digest status' lists them all


def _some(names: Sequence[str]) -> str:
    """The first few names: an error line about 500 recipients stays one readable line."""
    if len(names) <= SHOWN:
        return ", ".join(names)
    return f"{', '.join(names[:SHOWN])} and {len(names) - SHOWN:,} more"


def _by_reason(items: Sequence[RefusedRecipient]) -> str:
    """``reason (who); reason (who)``: the first few reasons, each with its first few."""
    groups: dict[str, list[str]] = {}
    for item in items:
        groups.setdefault(item.reason[:200], []).append(item.recipient)
    reasons = list(groups.items())
    text = "; ".join(f"{why} ({_some(who)})" for why, who in reasons[:SHOWN])
    rest = sum(len(who) for _, who in reasons[SHOWN:])
    if rest:
        text += f"; and {rest:,} more for other reasons"
    if len(items) > SHOWN:
        text += "; 'digest status' lists them"
    return text


def _outcome(
    issue_id: str,
    settings: client.SmtpSettings,
    config: Config,
    results: list[client.RecipientResult],
    already: list[str],
    doubtful: list[str],
) -> SendOutcome:
    by = {outcome: [r for r in results if r.outcome is outcome] for outcome in client.Outcome}
    refused = [RefusedRecipient(r.recipient, r.reply) for r in by[client.Outcome.REFUSED]]
    ours = [
        RefusedRecipient(r.recipient, r.reply) for r in by[client.Outcome.REFUSED] if r.by_digest
    ]
    theirs = [r for r in refused if r not in ours]
    deferred = [RefusedRecipient(r.recipient, r.reply) for r in by[client.Outcome.DEFERRED]]
    in_doubt = [r.recipient for r in by[client.Outcome.IN_DOUBT]]
    where = f"{settings.host}:{settings.port}"
    problems = []
    if ours:  # never offered to the server: the server is not to blame
        what = f"the address {ours[0].recipient}" if len(ours) == 1 else f"{len(ours):,} addresses"
        problems.append(
            f"digest refused {what} (issue {issue_id} was not sent to "
            f"{'it' if len(ours) == 1 else 'them'}): {_by_reason(ours)}"
        )
    if theirs:
        many = f"{len(theirs):,} recipients: " if len(theirs) > SHOWN else ""
        problems.append(
            f"the SMTP server {where} refused issue {issue_id}: {many}{_by_reason(theirs)}"
        )
    if deferred:
        reasons = sorted({r.reason[:200] for r in deferred})
        shown = "; ".join(reasons[:SHOWN]) + (
            f"; and {len(reasons) - SHOWN:,} other reasons" if len(reasons) > SHOWN else ""
        )
        problems.append(
            f"could not deliver issue {issue_id} via {where} after {config.email.retries} "
            f"attempts: {shown} (the issue stays unsent to "
            f"{_some([r.recipient for r in deferred])}; 'digest send' or the next run tries "
            "again)"
        )
    if in_doubt:
        problems.append(
            f"issue {issue_id} went to {where} for {_some(in_doubt)}, but the server never "
            f"confirmed it: it may have arrived, so it is not sent again ('digest send "
            f"{issue_id} --force' does)"
        )
    for line in problems:
        log.error("%s", line)
    return SendOutcome(
        issue_id,
        [r.recipient for r in by[client.Outcome.ACCEPTED]],
        already,
        doubtful,
        in_doubt,
        refused,
        deferred,
        " / ".join(problems) or None,
    )
