"""A real SMTP server (aiosmtpd) on a free localhost port, scripted to fail on demand."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass
class Received:
    sender: str
    recipients: list[str]
    data: bytes


@dataclass
class Mailbox:
    """Records what arrives; ``failures`` holds replies to give to the next DATA commands."""

    received: list[Received] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    attempts: int = 0
    logins: list[tuple[str, str]] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):
        self.attempts += 1
        if self.failures:
            return self.failures.pop(0)
        self.received.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content)
        )
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SMTPServer:
    def __init__(self, *, password: str | None = None) -> None:
        self.mailbox = Mailbox()
        self.port = free_port()
        options = {}
        if password is not None:

            def authenticate(server, session, envelope, mechanism, auth_data):
                ok = (
                    isinstance(auth_data, LoginPassword) and auth_data.password == password.encode()
                )
                if ok:
                    self.mailbox.logins.append((auth_data.login.decode(), mechanism))
                return AuthResult(success=ok, handled=False)  # False: aiosmtpd answers 535

            options = {
                "authenticator": authenticate,
                "auth_require_tls": False,
                "auth_required": True,
            }
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port, **options)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> SMTPServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()
