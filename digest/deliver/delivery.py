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

import datetime as dt
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.utils import format_datetime, parseaddr

from digest.config.settings import Config
from digest.deliver import smtp as client
from digest.errors import ConfigError, DeliveryError, NotFound, PendingOutputs
from digest.faults import pause_point
from digest.model import DeliveryStatus
from digest.publish.message import header_text, sender_domain
from digest.publish.publisher import Publisher
from digest.report import RefusedRecipient
from digest.store import DeliveryUpdate

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
    wanted = [address for address in (recipients or config.email.to) if address.strip()]
    if not wanted:
        raise ConfigError("no recipients", "set email.to in the config, or pass --to ADDR")
    for address in wanted:
        if "@" not in parseaddr(address)[1] or header_text(address) != address:
            raise ConfigError(f"{address!r} is not an email address")
    return list(dict.fromkeys(wanted))


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
    known = store.deliveries(issue.id)
    already = [a for a in wanted if a in known and known[a].status is DeliveryStatus.SENT]
    doubtful = [
        a
        for a in wanted
        if a in known and known[a].status in (DeliveryStatus.CLAIMED, DeliveryStatus.IN_DOUBT)
    ]
    skip = set(already) | set(doubtful)
    if automatic:
        skip |= {a for a in wanted if a in known and known[a].status is DeliveryStatus.REFUSED}
    pending = wanted if force else [a for a in wanted if a not in skip]
    if not pending:
        return SendOutcome(issue.id, [], already, doubtful if not force else [])
    settings = _settings(config, smtp)
    message = publisher.email(issue, pending)
    del message["Date"]
    message["Date"] = format_datetime(now.astimezone(dt.UTC))  # when it is sent
    claimed = store.claim_deliveries(issue.id, pending, message["Message-ID"], now, force=force)
    pause_point("sending")
    sender = (
        parseaddr(message["From"])[1] or f"digest@{sender_domain(config.email, publisher.site)}"
    )
    try:
        results = _deliver(config, settings, message.as_bytes(), sender, claimed)
    except client.SmtpPermanentError as exc:
        store.settle_deliveries(
            issue.id,
            [DeliveryUpdate(a, DeliveryStatus.FAILED, str(exc)) for a in claimed],
            dt.datetime.now(dt.UTC),
        )
        raise DeliveryError(
            f"the SMTP server {settings.host}:{settings.port} refused issue {issue.id}: {exc}",
            "check the server, security setting and credentials; the issue stays unsent",
            temporary=False,
        ) from None
    updates = [
        DeliveryUpdate(
            r.recipient,
            _SETTLED[r.outcome],
            None if r.outcome is client.Outcome.ACCEPTED else r.reply,
        )
        for r in results
    ]
    store.settle_deliveries(issue.id, updates, dt.datetime.now(dt.UTC))
    return _outcome(issue.id, settings, config, results, already, doubtful if not force else [])


def _deliver(
    config: Config, settings: client.SmtpSettings, body: bytes, sender: str, recipients: list[str]
) -> list[client.RecipientResult]:
    if not recipients:
        return []
    return client.deliver(
        settings,
        body,
        sender,
        recipients,
        attempts=config.email.retries,
        retry_wait=config.email.retry_wait,
        log=log,
    )


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
    deferred = [RefusedRecipient(r.recipient, r.reply) for r in by[client.Outcome.DEFERRED]]
    in_doubt = [r.recipient for r in by[client.Outcome.IN_DOUBT]]
    where = f"{settings.host}:{settings.port}"
    problems = []
    if refused:
        by_reason: dict[str, list[str]] = {}
        for r in refused:
            by_reason.setdefault(r.reason, []).append(r.recipient)
        problems.append(
            f"the SMTP server {where} refused issue {issue_id}: "
            + "; ".join(f"{why} ({', '.join(who)})" for why, who in by_reason.items())
        )
    if deferred:
        reasons = sorted({r.reason for r in deferred})
        problems.append(
            f"could not deliver issue {issue_id} via {where} after {config.email.retries} "
            f"attempts: {'; '.join(reasons)} (the issue stays unsent to "
            f"{', '.join(r.recipient for r in deferred)}; 'digest send' or the next run tries "
            "again)"
        )
    if in_doubt:
        problems.append(
            f"issue {issue_id} went to {where} for {', '.join(in_doubt)}, but the server never "
            "confirmed it: it may have arrived, so it is not sent again ('digest send --force' "
            "does)"
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
