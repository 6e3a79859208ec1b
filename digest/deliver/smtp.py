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
import contextlib
import enum
import logging
import re
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from digest.model import Security

__all__ = ["Outcome", "RecipientResult", "Security", "SmtpPermanentError", "SmtpSettings",
           "deliver", "deliver_once"]  # fmt: skip


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str
    port: int
    security: Security
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # kept out of tracebacks and logs
    deadline: float = 600.0  # one attempt, connect to QUIT; RFC 5321 §4.5.3.2 timeouts below
    greeting_timeout: float = 300.0
    command_timeout: float = 300.0
    data_init_timeout: float = 120.0
    data_block_timeout: float = 180.0
    data_term_timeout: float = 600.0
    ssl_context: ssl.SSLContext | None = None  # None: the system's trusted CAs
    local_hostname: str | None = None


class Outcome(enum.StrEnum):
    ACCEPTED = "accepted"  # 250 after the body
    REFUSED = "refused"  # 5xx: permanent
    DEFERRED = "deferred"  # 4xx, or any failure before the body: safe to retry
    IN_DOUBT = "in-doubt"  # the body (maybe part of it) left, no definite reply came: never resend


@dataclass(frozen=True, slots=True)
class RecipientResult:
    recipient: str
    outcome: Outcome
    reply: str  # the server's code and text, or a plain description of what happened


class SmtpPermanentError(Exception):
    """No attempt can work until the settings change; `detail` keeps the low-level cause.
    `results` holds what earlier attempts of `deliver` settled (some may have been accepted)."""

    def __init__(self, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        self.detail = detail
        self.results: list[RecipientResult] = []


class _Broken(Exception):
    """The conversation ended without a definite reply; the text is a plain reason."""


class _Reply(NamedTuple):
    code: int
    text: str  # "550 5.1.1 No such user", continuation lines joined
    lines: tuple[str, ...]


_BAD_ADDRESS = re.compile(r"[\x00-\x20<>\x7f]")  # would let an address smuggle in a command
_QUIT_WAIT = 5.0  # the outcome is known by then; lingering would only hold the caller's lock


def _wire_body(message: bytes) -> bytes:
    """CRLF line ends (a bare LF is refused by some servers), dot-stuffed, terminated."""
    body = re.sub(rb"(?m)^\.", b"..", re.sub(rb"\r\n|\r|\n", b"\r\n", message))
    return body + (b"" if body.endswith(b"\r\n") else b"\r\n") + b".\r\n"


def _outcome(code: int) -> Outcome | None:
    return {2: Outcome.ACCEPTED, 4: Outcome.DEFERRED, 5: Outcome.REFUSED}.get(code // 100)


def _reason(exc: OSError | _Broken) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, OSError):
        return f"network error: {(exc.strerror or str(exc) or type(exc).__name__).lower()}"
    return str(exc)


class _Session:
    """One connection. Each read and write waits at most what is left of both its own limit
    and the overall deadline, so the deadline holds however slowly bytes arrive."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings, self.where = settings, f"{settings.host}:{settings.port}"
        self.end = time.monotonic() + settings.deadline
        self.sock: socket.socket | None = None
        self.buf = bytearray()

    def _left(self, limit_end: float, limit: float, what: str = "no answer") -> float:
        left = min(limit_end, self.end) - time.monotonic()
        if left > 0:
            return left
        if self.end <= limit_end:
            raise _Broken(f"the {self.settings.deadline:g} s delivery deadline passed")
        raise _Broken(f"{what} within {limit:g} s")

    def _socket(self, limit_end: float, limit: float, what: str = "no answer") -> socket.socket:
        assert self.sock is not None, "connect() first"
        self.sock.settimeout(self._left(limit_end, limit, what))
        return self.sock

    def connect(self) -> None:
        s, limit = self.settings, self.settings.greeting_timeout
        limit_end = time.monotonic() + limit
        try:
            infos = socket.getaddrinfo(s.host, s.port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise _Broken(f"cannot find the address of {s.host}") from exc
        for number, (family, kind, proto, _, address) in enumerate(infos, 1):
            left = self._left(limit_end, limit, "no connection")
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(left)
                sock.connect(address)
                self.sock = sock
                break
            except OSError:
                sock.close()
                if number == len(infos):
                    self._left(limit_end, limit, "no connection")  # names a timeout plainly
                    raise
        if s.security == Security.TLS:
            self.start_tls()

    def start_tls(self) -> None:
        s, where = self.settings, self.where
        limit_end = time.monotonic() + s.command_timeout
        sock = self._socket(limit_end, s.command_timeout)
        try:
            self.sock = (s.ssl_context or ssl.create_default_context()).wrap_socket(
                sock, server_hostname=s.host
            )
        except ssl.SSLCertVerificationError as exc:
            raise SmtpPermanentError(
                f"the TLS certificate of {where} could not be verified; check that smtp_host "
                "is the name on the certificate and that its issuer is trusted",
                detail=exc.verify_message or str(exc),
            ) from exc
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError) as exc:
            raise _Broken("connection closed during the TLS handshake") from exc
        except ssl.SSLError as exc:
            message = (
                f'{where} does not speak TLS (security = "tls"); use security = "starttls" '
                "(usually port 587) or check the port"
                if s.security == Security.TLS
                else f"the TLS handshake with {where} failed after STARTTLS"
            )
            raise SmtpPermanentError(message, detail=str(exc)) from exc
        except TimeoutError as exc:
            self._left(limit_end, s.command_timeout)
            raise _Broken("no answer to the TLS handshake") from exc
        self.buf.clear()  # bytes that came before the handshake are unauthenticated: drop them

    def send(self, data: bytes, limit: float) -> None:
        # in blocks of at most 64 KiB, each with its own limit, as RFC 5321 means the timeout
        view, block_end = memoryview(data), time.monotonic() + limit
        while view:
            sock = self._socket(block_end, limit, "the server took no data")
            with contextlib.suppress(TimeoutError):  # the next _socket() names the reason
                view = view[sock.send(view[:65536]) :]
                block_end = time.monotonic() + limit

    def reply(self, limit: float) -> _Reply:
        limit_end, texts = time.monotonic() + limit, list[str]()
        while True:
            while (cut := self.buf.find(b"\n")) < 0:
                if len(self.buf) > 8192:
                    raise _Broken("the server sent a reply that never ends")
                with contextlib.suppress(TimeoutError):  # the next _socket() names the reason
                    data = self._socket(limit_end, limit).recv(4096)
                    if not data:
                        raise _Broken("connection closed")
                    self.buf += data
            line = bytes(self.buf[:cut]).rstrip(b"\r")
            del self.buf[: cut + 1]
            if not line[:3].isdigit() or line[3:4] not in (b"", b" ", b"-"):
                raise _Broken("the server sent something that is not an SMTP reply")
            texts.append(line[4:].decode("utf-8", "replace").strip())
            if len(texts) > 100:
                raise _Broken("the server sent a reply that never ends")
            if line[3:4] != b"-":
                text = " ".join([line[:3].decode(), *filter(None, texts)])
                return _Reply(int(line[:3]), text[:1000], tuple(texts))

    def command(self, line: str, limit: float | None = None) -> _Reply:
        limit = self.settings.command_timeout if limit is None else limit
        self.send(line.encode() + b"\r\n", limit)
        reply = self.reply(limit)
        if reply.code == 421:  # the server is closing: nothing more will work on this connection
            raise _Broken(reply.text)
        return reply

    def quit(self) -> None:
        with contextlib.suppress(OSError, _Broken):
            self.command("QUIT", min(self.settings.command_timeout, _QUIT_WAIT))

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def _expect(session: _Session, reply: _Reply, code: int) -> None:
    """For replies about the whole session: a 5xx will not change by retrying, others may."""
    if reply.code == code:
        return
    if reply.code // 100 == 5:
        raise SmtpPermanentError(f"{session.where} refused the session: {reply.text}")
    raise _Broken(reply.text)


def _hello(session: _Session) -> dict[str, list[str]]:
    """EHLO; returns the extensions offered, upper-cased, with their arguments."""
    name = session.settings.local_hostname
    if name is None and session.sock is not None:  # an address literal needs no DNS lookup
        address = session.sock.getsockname()[0]
        name = f"[IPv6:{address}]" if ":" in address else f"[{address}]"
    _expect(session, reply := session.command(f"EHLO {name}"), 250)
    words = [line.upper().replace("=", " ").split() for line in reply.lines[1:]]
    return {w[0]: w[1:] for w in words if w}


def _open(session: _Session) -> dict[str, list[str]]:
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


def _login(session: _Session, offered: list[str] | None) -> None:
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
        raise _Broken(f"the server could not check the login for user {user} now: {text}")
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
    session, accepted = _Session(settings), list[int]()  # accepted: only once DATA got 354

    def settle(indexes: Sequence[int], outcome: Outcome | None, reply: str) -> None:
        for i in indexes:
            results[i] = RecipientResult(recipients[i], outcome or Outcome.DEFERRED, reply)

    def envelope() -> list[int]:  # up to the 354: the recipients the server took
        extensions = _open(session)
        params = " BODY=8BITMIME" if "8BITMIME" in extensions and not message.isascii() else ""
        if "SMTPUTF8" in extensions and not all(a.isascii() for a in [sender, *recipients]):
            params += " SMTPUTF8"
        reply, taken = session.command(f"MAIL FROM:<{sender}>{params}"), list[int]()
        if reply.code // 100 == 2:
            for i in todo:
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

    settle([i for i in range(len(recipients)) if i not in todo], Outcome.REFUSED, "not an address")
    try:
        try:
            accepted = envelope() if todo else []
        except (_Broken, OSError) as exc:
            settle([i for i in todo if i not in results], Outcome.DEFERRED, _reason(exc))
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
            except (_Broken, OSError) as exc:
                settle(accepted, Outcome.IN_DOUBT, f"{_reason(exc)} {when}")
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
