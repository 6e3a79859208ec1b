"""Deliver one built message over SMTP without ever sending its body twice on our own.

smtplib hides the moment the body starts going out, and that moment is what matters: before
it, any failure is safe to retry (DEFERRED); after it, a drop or a timeout means the server
may or may not have queued the message (IN_DOUBT), and only a person may decide to resend.
So this module speaks the protocol itself. Every read and write is bounded by one deadline,
so a server that trickles bytes cannot hold a run (and the lock it holds) for ever.
Standard library only (and the enum of security modes, from digest.model).
"""

from __future__ import annotations

import base64
import logging
import re
import time
from collections.abc import Callable, Sequence

from digest.deliver.smtp_session import (
    Broken,
    Outcome,
    RecipientResult,
    Reply,
    Session,
    SmtpPermanentError,
    SmtpSettings,
    failure_reason,
)
from digest.model import Security

__all__ = [
    "Outcome",
    "RecipientResult",
    "Security",
    "SmtpPermanentError",
    "SmtpSettings",
    "deliver",
    "deliver_once",
]


_BAD_ADDRESS = re.compile(r"[\x00-\x20<>\x7f]")  # would let an address smuggle in a command


def _wire_body(message: bytes) -> bytes:
    """CRLF line ends (a bare LF is refused by some servers), dot-stuffed, terminated."""
    body = re.sub(rb"(?m)^\.", b"..", re.sub(rb"\r\n|\r|\n", b"\r\n", message))
    return body + (b"" if body.endswith(b"\r\n") else b"\r\n") + b".\r\n"


def _outcome(code: int) -> Outcome | None:
    return {2: Outcome.ACCEPTED, 4: Outcome.DEFERRED, 5: Outcome.REFUSED}.get(code // 100)


def _expect(session: Session, reply: Reply, code: int) -> None:
    """For replies about the whole session: a 5xx will not change by retrying, others may."""
    if reply.code == code:
        return
    if reply.code // 100 == 5:
        raise SmtpPermanentError(f"{session.where} refused the session: {reply.text}")
    raise Broken(reply.text)


def _hello(session: Session) -> dict[str, list[str]]:
    """EHLO; returns the extensions offered, upper-cased, with their arguments."""
    name = session.settings.local_hostname
    if name is None and session.sock is not None:  # an address literal needs no DNS lookup
        address = session.sock.getsockname()[0]
        name = f"[IPv6:{address}]" if ":" in address else f"[{address}]"
    _expect(session, reply := session.command(f"EHLO {name}"), 250)
    words = [line.upper().replace("=", " ").split() for line in reply.lines[1:]]
    return {w[0]: w[1:] for w in words if w}


def _open(session: Session) -> dict[str, list[str]]:
    s = session.settings
    session.connect()
    _expect(session, session.reply(s.greeting_timeout), 220)
    extensions = _hello(session)
    if s.security == Security.STARTTLS:
        if "STARTTLS" not in extensions:
            raise SmtpPermanentError(
                f'{session.where} does not offer STARTTLS (security = "starttls"); use '
                'security = "tls" if the port expects TLS from the start (usually 465)'
            )
        _expect(session, session.command("STARTTLS"), 220)
        session.start_tls()
        extensions = _hello(session)
    if s.username is not None:
        _login(session, extensions.get("AUTH"))
    return extensions


def _login(session: Session, offered: list[str] | None) -> None:
    user, password = session.settings.username or "", session.settings.password or ""
    plain = _b64(f"\0{user}\0{password}")
    if offered and "PLAIN" in offered:
        reply = session.command(f"AUTH PLAIN {plain}")
    elif offered and "LOGIN" in offered:
        reply = session.command("AUTH LOGIN")
        for answer in (user, password):
            if reply.code == 334:
                reply = session.command(_b64(answer))
    else:
        raise SmtpPermanentError(
            f"{session.where} offers no login this client can use (AUTH PLAIN or LOGIN); "
            'many servers offer it only after STARTTLS (security = "starttls")'
        )
    if reply.code == 235:
        return
    text = reply.text  # a server that echoes what it got must not put the password in our text
    for secret in filter(None, (password, _b64(password), plain)):
        text = text.replace(secret, "***")
    if reply.code // 100 == 4:
        raise Broken(f"the server could not check the login for user {user} now: {text}")
    raise SmtpPermanentError(f"{text} (the login as {user} was refused)")


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def deliver_once(
    settings: SmtpSettings,
    message: bytes,
    sender: str,
    recipients: Sequence[str],
    before_body: Callable[[Sequence[str]], None] | None = None,
) -> list[RecipientResult]:
    """One SMTP transaction; one result per recipient, in input order.

    `before_body` runs after the server's 354, right before the first body byte, so the caller
    can durably mark those recipients "in doubt" first. If it raises, the connection is closed
    without the final "." (a RSET or QUIT would now be read as body text), which makes the
    server cancel the transaction (RFC 5321 §3.8), and the exception propagates.
    """
    if _BAD_ADDRESS.search(sender):
        raise ValueError(f"not a usable sender address: {sender!r}")
    results: dict[int, RecipientResult] = {}
    todo = [i for i, r in enumerate(recipients) if r and not _BAD_ADDRESS.search(r)]
    session, accepted = Session(settings), list[int]()  # accepted: only once DATA got 354

    def settle(
        indexes: Sequence[int], outcome: Outcome | None, reply: str, by_digest: bool = False
    ) -> None:
        for i in indexes:
            results[i] = RecipientResult(
                recipients[i], outcome or Outcome.DEFERRED, reply, by_digest
            )

    def envelope() -> list[int]:  # up to the 354: the recipients the server took
        extensions = _open(session)
        params = " BODY=8BITMIME" if "8BITMIME" in extensions and not message.isascii() else ""
        if "SMTPUTF8" not in extensions:  # an address that is not ASCII cannot go out
            unsent = (
                todo if not sender.isascii() else [i for i in todo if not recipients[i].isascii()]
            )
            whose = "the sender's address is" if not sender.isascii() else "it is"
            why = f"{whose} not ASCII, and {session.where} does not offer SMTPUTF8 (RFC 6531)"
            settle(unsent, Outcome.REFUSED, why, by_digest=True)
        elif not all(a.isascii() for a in [sender, *recipients]):
            params += " SMTPUTF8"
        if all(i in results for i in todo):
            session.quit()
            return []
        reply, taken = session.command(f"MAIL FROM:<{sender}>{params}"), list[int]()
        if reply.code // 100 == 2:
            for i in (i for i in todo if i not in results):
                answer = session.command(f"RCPT TO:<{recipients[i]}>")
                if answer.code // 100 == 2:
                    taken.append(i)
                else:
                    settle([i], _outcome(answer.code), answer.text)
            if taken:
                reply = session.command("DATA", settings.data_init_timeout)
                if reply.code == 354:
                    return taken
        permanent = Outcome.REFUSED if reply.code // 100 == 5 else Outcome.DEFERRED
        settle([i for i in todo if i not in results], permanent, reply.text)
        session.quit()
        return []

    refused = [i for i in range(len(recipients)) if i not in todo]
    settle(refused, Outcome.REFUSED, "not an address (a space, <, > or a control in it)", True)
    try:
        try:
            accepted = envelope() if todo else []
        except (Broken, OSError) as exc:
            settle([i for i in todo if i not in results], Outcome.DEFERRED, failure_reason(exc))
        except SmtpPermanentError:
            session.quit()
            raise
        if accepted:
            if before_body is not None:
                before_body([recipients[i] for i in accepted])
            when = "while the message was being sent"
            try:
                session.send(_wire_body(message), settings.data_block_timeout)
                when = "after the message was sent, before the server answered"
                reply = session.reply(settings.data_term_timeout)
            except (Broken, OSError) as exc:
                settle(accepted, Outcome.IN_DOUBT, f"{failure_reason(exc)} {when}")
            else:
                settle(accepted, _outcome(reply.code) or Outcome.IN_DOUBT, reply.text)
                session.quit()
    finally:
        session.close()
    return [results[i] for i in range(len(recipients))]


def deliver(
    settings: SmtpSettings,
    message: bytes,
    sender: str,
    recipients: Sequence[str],
    *,
    attempts: int = 3,
    retry_wait: float = 2.0,
    before_body: Callable[[Sequence[str]], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    log: logging.Logger | None = None,
) -> list[RecipientResult]:
    """deliver_once, then again for the DEFERRED recipients only, waiting twice as long each
    time. IN_DOUBT is final here: whether to resend is for a person to decide."""
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    final: dict[int, RecipientResult] = {}
    pending = list(range(len(recipients)))
    for attempt in range(1, attempts + 1):
        try:
            results = deliver_once(
                settings, message, sender, [recipients[i] for i in pending], before_body
            )
        except SmtpPermanentError as exc:  # keep what earlier attempts settled, accepted or not
            exc.results = [final[i] for i in sorted(final)]
            raise
        final.update(zip(pending, results, strict=True))
        pending = [i for i in pending if final[i].outcome is Outcome.DEFERRED]
        if not pending or attempt == attempts:
            break
        wait = retry_wait * 2 ** (attempt - 1)
        why = "; ".join(f"{final[i].recipient}: {final[i].reply}" for i in pending)
        (log or logging.getLogger(__name__)).warning(
            "SMTP %s:%d deferred %s; retrying in %g s", settings.host, settings.port, why, wait
        )
        sleep(wait)
    return [final[i] for i in range(len(recipients))]
