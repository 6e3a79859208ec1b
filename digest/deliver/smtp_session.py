"""One SMTP connection, every read and write bounded by one deadline: what the protocol
dialogue in ``smtp.py`` talks over. A server that trickles bytes cannot hold a run (and
the lock it holds) for ever. Standard library only."""

from __future__ import annotations

import contextlib
import enum
import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import NamedTuple

from digest.model import Security


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
    by_digest: bool = False  # refused by digest itself, never offered to the server


class SmtpPermanentError(Exception):
    """No attempt can work until the settings change; `detail` keeps the low-level cause.
    `results` holds what earlier attempts of `deliver` settled (some may have been accepted)."""

    def __init__(self, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        self.detail = detail
        self.results: list[RecipientResult] = []


class Broken(Exception):
    """The conversation ended without a definite reply; the text is a plain reason."""


class Reply(NamedTuple):
    code: int
    text: str  # "550 5.1.1 No such user", continuation lines joined
    lines: tuple[str, ...]


_QUIT_WAIT = 5.0  # the outcome is known by then; lingering would only hold the caller's lock


def failure_reason(exc: OSError | Broken) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, OSError):
        return f"network error: {(exc.strerror or str(exc) or type(exc).__name__).lower()}"
    return str(exc)


class Session:
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
            raise Broken(f"the {self.settings.deadline:g} s delivery deadline passed")
        raise Broken(f"{what} within {limit:g} s")

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
            raise Broken(f"cannot find the address of {s.host}") from exc
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
            raise Broken("connection closed during the TLS handshake") from exc
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
            raise Broken("no answer to the TLS handshake") from exc
        self.buf.clear()  # bytes that came before the handshake are unauthenticated: drop them

    def send(self, data: bytes, limit: float) -> None:
        # in blocks of at most 64 KiB, each with its own limit, as RFC 5321 means the timeout
        view, block_end = memoryview(data), time.monotonic() + limit
        while view:
            sock = self._socket(block_end, limit, "the server took no data")
            with contextlib.suppress(TimeoutError):  # the next _socket() names the reason
                view = view[sock.send(view[:65536]) :]
                block_end = time.monotonic() + limit

    def reply(self, limit: float) -> Reply:
        limit_end, texts = time.monotonic() + limit, list[str]()
        while True:
            while (cut := self.buf.find(b"\n")) < 0:
                if len(self.buf) > 8192:
                    raise Broken("the server sent a reply that never ends")
                with contextlib.suppress(TimeoutError):  # the next _socket() names the reason
                    data = self._socket(limit_end, limit).recv(4096)
                    if not data:
                        raise Broken("connection closed")
                    self.buf += data
            line = bytes(self.buf[:cut]).rstrip(b"\r")
            del self.buf[: cut + 1]
            if not line[:3].isdigit() or line[3:4] not in (b"", b" ", b"-"):
                raise Broken("the server sent something that is not an SMTP reply")
            texts.append(line[4:].decode("utf-8", "replace").strip())
            if len(texts) > 100:
                raise Broken("the server sent a reply that never ends")
            if line[3:4] != b"-":
                text = " ".join([line[:3].decode(), *filter(None, texts)])
                return Reply(int(line[:3]), text[:1000], tuple(texts))

    def command(self, line: str, limit: float | None = None) -> Reply:
        limit = self.settings.command_timeout if limit is None else limit
        self.send(line.encode() + b"\r\n", limit)
        reply = self.reply(limit)
        if reply.code == 421:  # the server is closing: nothing more will work on this connection
            raise Broken(reply.text)
        return reply

    def quit(self) -> None:
        with contextlib.suppress(OSError, Broken):
            self.command("QUIT", min(self.settings.command_timeout, _QUIT_WAIT))

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
