"""digest.deliver.smtp against real servers on 127.0.0.1: aiosmtpd when it behaves, a scripted one
(smtp_misbehave) when it must drop, go silent, trickle or speak plain text instead of TLS.

The rule every test serves: a body goes out at most once unless a server said a definite
"not accepted" (4xx), and nothing ever waits longer than the deadline.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from smtp_misbehave import MisbehavingServer
from smtp_server import free_port

from digest.deliver.smtp import (
    Outcome,
    RecipientResult,
    Security,
    SmtpPermanentError,
    SmtpSettings,
    deliver,
    deliver_once,
)

SENDER = "digest@example.org"
ANN, BOB, NOBODY = "ann@example.org", "bob@example.org", "nobody@example.org"
# LF line ends as a caller may pass them, a line starting with "." and a line that is only ".":
# without dot-stuffing the server would read the lone "." as the end of the message.
MESSAGE = b"From: digest@example.org\nSubject: hi\n\nline one\n.hidden\n.\nlast line\n"
ON_THE_WIRE = MESSAGE.replace(b"\n", b"\r\n")
PASSWORD = "correct-horse-battery"


@dataclass
class Delivered:
    rcpts: list[str]
    content: bytes
    tls: bool


@dataclass
class Scripted:
    """An aiosmtpd handler that gives scripted replies and records every RCPT it was asked."""

    rcpt_replies: dict[str, list[str]] = field(default_factory=dict)
    mail_replies: list[str] = field(default_factory=list)
    data_replies: list[str] = field(default_factory=list)
    tried: list[list[str]] = field(default_factory=list)  # RCPT addresses, one list per MAIL
    data_attempts: int = 0
    delivered: list[Delivered] = field(default_factory=list)

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        self.tried.append([])
        if self.mail_replies:
            return self.mail_replies.pop(0)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.tried[-1].append(address)
        if self.rcpt_replies.get(address):
            return self.rcpt_replies[address].pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.data_attempts += 1
        if self.data_replies:
            return self.data_replies.pop(0)
        # session.ssl is set after STARTTLS only, not for implicit TLS; the transport knows both
        tls = server.transport.get_extra_info("ssl_object") is not None
        self.delivered.append(Delivered(list(envelope.rcpt_tos), envelope.original_content, tls))
        return "250 2.0.0 Message accepted"


@contextlib.contextmanager
def aiosmtpd(handler: Scripted, **options) -> Iterator[int]:
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def fast(port: int, security: Security = Security.NONE, **options) -> SmtpSettings:
    """Settings with limits short enough for tests and long enough for a loaded machine."""
    limits = dict.fromkeys(
        ["greeting_timeout", "command_timeout", "data_init_timeout", "data_block_timeout"], 3.0
    )
    base = SmtpSettings("127.0.0.1", port, security, deadline=5.0, data_term_timeout=3.0, **limits)
    return replace(base, **options)


class Sleeps(list[float]):
    """Stands in for time.sleep: records the waits between attempts, waits for none."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture(scope="module")
def tls() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, client context trusting the test CA)."""
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client


def outcomes(results: list[RecipientResult]) -> list[tuple[str, Outcome]]:
    return [(r.recipient, r.outcome) for r in results]


# -- delivered -------------------------------------------------------------------------------


def test_an_accepted_message_arrives_as_sent_with_dots_stuffed(sleeps):
    handler = Scripted()
    with aiosmtpd(handler) as port:
        results = deliver(fast(port), MESSAGE, SENDER, [ANN, BOB], sleep=sleeps)
    assert results == [
        RecipientResult(ANN, Outcome.ACCEPTED, "250 2.0.0 Message accepted"),
        RecipientResult(BOB, Outcome.ACCEPTED, "250 2.0.0 Message accepted"),
    ]
    [delivered] = handler.delivered
    assert delivered.rcpts == [ANN, BOB]
    assert delivered.content == ON_THE_WIRE  # CRLF; ".hidden" and "." survived un-stuffing
    with MisbehavingServer() as server:
        deliver_once(fast(server.port), MESSAGE, SENDER, [ANN])
        [session] = server.sessions()
    assert session.bodies == [ON_THE_WIRE.replace(b"\r\n.", b"\r\n..")]  # stuffed on the wire


# -- the body went out, no definite answer: in doubt, never resent ---------------------------


def test_a_drop_after_the_body_is_in_doubt_and_not_resent(sleeps):
    with MisbehavingServer(after_body="drop") as server:
        results = deliver(fast(server.port), MESSAGE, SENDER, [ANN, BOB], sleep=sleeps)
        sessions = server.sessions()
    reply = "connection closed after the message was sent, before the server answered"
    assert results == [
        RecipientResult(ANN, Outcome.IN_DOUBT, reply),
        RecipientResult(BOB, Outcome.IN_DOUBT, reply),
    ]
    assert sleeps == []
    assert [len(s.bodies) for s in sessions] == [1]


def test_silence_after_the_body_is_in_doubt_after_the_timeout(sleeps):
    with MisbehavingServer(after_body="silent") as server:
        started = time.monotonic()
        [result] = deliver(
            fast(server.port, data_term_timeout=0.5), MESSAGE, SENDER, [ANN], sleep=sleeps
        )
        elapsed = time.monotonic() - started
        sessions = server.sessions()
    assert result.outcome is Outcome.IN_DOUBT
    assert result.reply.startswith("no answer within 0.5 s after the message was sent")
    assert 0.5 <= elapsed < 2.5
    assert sleeps == []
    assert [len(s.bodies) for s in sessions] == [1]


def test_a_body_the_server_stops_reading_is_in_doubt_after_the_block_timeout(sleeps):
    big = b"Subject: big\n\n" + (b"y" * 99 + b"\n") * 80_000  # 8 MB: more than the buffers hold
    with MisbehavingServer(stall_body=True) as server:
        started = time.monotonic()
        settings = fast(server.port, data_block_timeout=0.5)
        [result] = deliver(settings, big, SENDER, [ANN], sleep=sleeps)
        elapsed = time.monotonic() - started
        server.release.set()
        sessions = server.sessions()
    assert result.outcome is Outcome.IN_DOUBT
    assert result.reply == "the server took no data within 0.5 s while the message was being sent"
    assert 0.5 <= elapsed < 2.5
    assert sleeps == []
    assert len(sessions) == 1


@pytest.mark.parametrize(
    ("trickle_greeting", "outcome", "bodies"),
    [(True, Outcome.DEFERRED, 0), (False, Outcome.IN_DOUBT, 1)],
    ids=["greeting", "after-body"],
)
def test_a_trickling_server_is_cut_off_at_the_deadline(trickle_greeting, outcome, bodies):
    # A byte every 50 ms never trips a 30 s read timeout; only the deadline can end this
    # (the server itself would give up after 8 s).
    server = MisbehavingServer(trickle_greeting=trickle_greeting, after_body="trickle")
    settings = replace(
        fast(server.port, deadline=1.5),
        greeting_timeout=30,
        command_timeout=30,
        data_term_timeout=30,
    )
    with server:
        started = time.monotonic()
        [result] = deliver_once(settings, MESSAGE, SENDER, [ANN])
        elapsed = time.monotonic() - started
        sessions = server.sessions()
    assert 1.5 <= elapsed < 2.5
    assert result.outcome is outcome
    assert result.reply.startswith("the 1.5 s delivery deadline passed")
    assert [len(s.bodies) for s in sessions] == [bodies]


# -- definite answers after the body ---------------------------------------------------------


def test_451_after_the_body_is_retried_and_delivered_once(sleeps, caplog):
    handler = Scripted(data_replies=["451 4.3.0 Try again later"])
    with aiosmtpd(handler) as port, caplog.at_level(logging.WARNING):
        [result] = deliver(fast(port), MESSAGE, SENDER, [ANN], retry_wait=0.25, sleep=sleeps)
    assert result.outcome is Outcome.ACCEPTED
    assert handler.data_attempts == 2
    assert len(handler.delivered) == 1
    assert sleeps == [0.25]
    assert "451 4.3.0 Try again later" in caplog.text


def test_550_after_the_body_is_refused_without_a_retry(sleeps):
    handler = Scripted(data_replies=["550 5.7.1 Rejected as spam"])
    with aiosmtpd(handler) as port:
        results = deliver(fast(port), MESSAGE, SENDER, [ANN, BOB], sleep=sleeps)
    assert results == [
        RecipientResult(ANN, Outcome.REFUSED, "550 5.7.1 Rejected as spam"),
        RecipientResult(BOB, Outcome.REFUSED, "550 5.7.1 Rejected as spam"),
    ]
    assert handler.data_attempts == 1
    assert sleeps == []


def test_attempts_back_off_doubling(sleeps):
    handler = Scripted(data_replies=["451 4.3.0 busy"] * 3)
    with aiosmtpd(handler) as port:
        [result] = deliver(fast(port), MESSAGE, SENDER, [ANN], attempts=4, sleep=sleeps)
    assert result == RecipientResult(ANN, Outcome.ACCEPTED, "250 2.0.0 Message accepted")
    assert sleeps == [2.0, 4.0, 8.0]


# -- per recipient ---------------------------------------------------------------------------


def test_a_recipient_refused_at_rcpt_does_not_stop_the_others(sleeps):
    handler = Scripted(rcpt_replies={NOBODY: ["550 5.1.1 No such user"]})
    with aiosmtpd(handler) as port:
        results = deliver(fast(port), MESSAGE, SENDER, [NOBODY, ANN], sleep=sleeps)
    assert results == [
        RecipientResult(NOBODY, Outcome.REFUSED, "550 5.1.1 No such user"),
        RecipientResult(ANN, Outcome.ACCEPTED, "250 2.0.0 Message accepted"),
    ]
    assert [d.rcpts for d in handler.delivered] == [[ANN]]
    assert sleeps == []


def test_a_recipient_deferred_at_rcpt_is_retried_alone(sleeps):
    handler = Scripted(rcpt_replies={BOB: ["450 4.2.1 Mailbox busy"]})
    with aiosmtpd(handler) as port:
        results = deliver(fast(port), MESSAGE, SENDER, [ANN, BOB], sleep=sleeps)
    assert outcomes(results) == [(ANN, Outcome.ACCEPTED), (BOB, Outcome.ACCEPTED)]
    assert handler.tried == [[ANN, BOB], [BOB]]
    assert [d.rcpts for d in handler.delivered] == [[ANN], [BOB]]
    assert sleeps == [2.0]


@pytest.mark.parametrize(
    ("reply", "outcome", "transactions"),
    [("451 4.3.2 Not now", Outcome.DEFERRED, 2), ("550 5.7.1 Not you", Outcome.REFUSED, 1)],
)
def test_a_mail_from_reply_settles_every_recipient(sleeps, reply, outcome, transactions):
    handler = Scripted(mail_replies=[reply] * 2)
    with aiosmtpd(handler) as port:
        results = deliver(fast(port), MESSAGE, SENDER, [ANN, BOB], attempts=2, sleep=sleeps)
    assert results == [RecipientResult(r, outcome, reply) for r in (ANN, BOB)]
    assert handler.tried == [[]] * transactions
    assert handler.data_attempts == 0


# -- before the body: always safe to retry ---------------------------------------------------


def test_connection_refused_is_deferred_and_retried(sleeps):
    [result] = deliver(fast(free_port()), MESSAGE, SENDER, [ANN], retry_wait=1.0, sleep=sleeps)
    assert result == RecipientResult(ANN, Outcome.DEFERRED, "connection refused")
    assert sleeps == [1.0, 2.0]


def test_a_drop_before_the_greeting_is_retried_attempts_times(sleeps):
    with MisbehavingServer(greeting="drop") as server:
        [result] = deliver(fast(server.port), MESSAGE, SENDER, [ANN], attempts=3, sleep=sleeps)
        sessions = server.sessions()
    assert result == RecipientResult(ANN, Outcome.DEFERRED, "connection closed")
    assert len(sessions) == 3
    assert sleeps == [2.0, 4.0]


def test_a_421_mid_envelope_defers_everyone_and_sends_no_body():
    calls = []
    with MisbehavingServer(rcpt_replies={BOB: "421 4.3.2 Shutting down"}) as server:
        results = deliver_once(fast(server.port), MESSAGE, SENDER, [ANN, BOB], calls.append)
        [session] = server.sessions()
    reply = "421 4.3.2 Shutting down"
    assert results == [RecipientResult(r, Outcome.DEFERRED, reply) for r in (ANN, BOB)]
    assert calls == []
    assert [c.split(":")[0] for c in session.commands[1:]] == ["MAIL FROM", "RCPT TO", "RCPT TO"]


# -- TLS -------------------------------------------------------------------------------------


def test_implicit_tls_against_a_plain_server_is_a_plain_permanent_error(sleeps):
    with MisbehavingServer() as server:
        with pytest.raises(SmtpPermanentError) as caught:
            deliver(fast(server.port, Security.TLS), MESSAGE, SENDER, [ANN], sleep=sleeps)
        sessions = server.sessions()
    assert str(caught.value) == (
        f'127.0.0.1:{server.port} does not speak TLS (security = "tls"); '
        'use security = "starttls" (usually port 587) or check the port'
    )
    assert caught.value.detail  # the OpenSSL text, kept for a debug log
    assert len(sessions) == 1
    assert sessions[0].bodies == []
    assert sleeps == []


def test_starttls_required_but_not_offered_is_a_permanent_error(sleeps):
    handler = Scripted()
    with aiosmtpd(handler) as port, pytest.raises(SmtpPermanentError, match="not offer STARTTLS"):
        deliver(fast(port, Security.STARTTLS), MESSAGE, SENDER, [ANN], sleep=sleeps)
    assert handler.tried == []  # no MAIL FROM over the plain connection
    assert sleeps == []


def test_starttls_with_a_trusted_ca_delivers_over_tls(tls):
    server_context, client_context = tls
    handler = Scripted()
    with aiosmtpd(handler, tls_context=server_context, require_starttls=True) as port:
        settings = fast(port, Security.STARTTLS, ssl_context=client_context)
        [result] = deliver_once(settings, MESSAGE, SENDER, [ANN])
    assert result.outcome is Outcome.ACCEPTED
    assert [(d.rcpts, d.tls) for d in handler.delivered] == [([ANN], True)]


def test_implicit_tls_with_a_trusted_ca_delivers(tls):
    server_context, client_context = tls
    handler = Scripted()
    with aiosmtpd(handler, ssl_context=server_context) as port:
        settings = fast(port, Security.TLS, ssl_context=client_context)
        [result] = deliver_once(settings, MESSAGE, SENDER, [ANN])
    assert result.outcome is Outcome.ACCEPTED
    assert [(d.rcpts, d.tls) for d in handler.delivered] == [([ANN], True)]


def test_an_untrusted_certificate_is_a_permanent_error(tls, sleeps):
    server_context, _ = tls
    handler = Scripted()
    with (
        aiosmtpd(handler, ssl_context=server_context) as port,
        pytest.raises(SmtpPermanentError) as caught,
    ):
        deliver(fast(port, Security.TLS), MESSAGE, SENDER, [ANN], sleep=sleeps)
    assert str(caught.value).startswith(f"the TLS certificate of 127.0.0.1:{port} could not")
    assert "certificate" in (caught.value.detail or "")
    assert handler.tried == []
    assert sleeps == []


# -- login -----------------------------------------------------------------------------------


def login_server(handler: Scripted, replies: list[str | None], **options):
    """aiosmtpd asking for a login; each attempt takes the next scripted reply (None: check
    the password), and logins records (user, mechanism) for each success."""
    logins: list[tuple[str, str]] = []

    def authenticate(server, session, envelope, mechanism, auth_data):
        scripted = replies.pop(0) if replies else None
        if scripted is not None:
            return AuthResult(success=False, handled=False, message=scripted)
        ok = isinstance(auth_data, LoginPassword) and auth_data.password == PASSWORD.encode()
        if ok:
            logins.append((auth_data.login.decode(), mechanism))
        return AuthResult(success=ok, handled=False)

    server = aiosmtpd(
        handler, authenticator=authenticate, auth_require_tls=False, auth_required=True, **options
    )
    return server, logins


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_a_login_with_the_right_password_delivers(mechanism):
    handler = Scripted()
    other = {"PLAIN": "LOGIN", "LOGIN": "PLAIN"}[mechanism]
    server, logins = login_server(handler, [], auth_exclude_mechanism=[other])
    with server as port:
        settings = fast(port, username=SENDER, password=PASSWORD)
        [result] = deliver_once(settings, MESSAGE, SENDER, [ANN])
    assert result.outcome is Outcome.ACCEPTED
    assert logins == [(SENDER, mechanism)]


def test_a_refused_login_is_permanent_and_never_shows_the_password(sleeps, caplog):
    handler = Scripted()
    # first a temporary failure (logged, retried), then a wrong password
    server, logins = login_server(handler, ["454 4.7.0 Temporary authentication failure"])
    settings = fast(0, username=SENDER, password="wrong-" + PASSWORD)
    with (
        server as port,
        caplog.at_level(logging.DEBUG),
        pytest.raises(SmtpPermanentError) as caught,
    ):
        deliver(replace(settings, port=port), MESSAGE, SENDER, [ANN], sleep=sleeps)
    assert str(caught.value) == (
        f"535 5.7.8 Authentication credentials invalid (the login as {SENDER} was refused)"
    )
    assert "454 4.7.0 Temporary authentication failure" in caplog.text
    assert sleeps == [2.0]  # the 454 was retried once; the 535 was not
    [earlier] = caught.value.results  # what the first attempt settled is not lost
    assert earlier.outcome is Outcome.DEFERRED
    assert earlier.reply.endswith(": 454 4.7.0 Temporary authentication failure")
    assert logins == []
    assert handler.tried == []
    shown = [str(caught.value), repr(caught.value), caught.value.detail or "", caplog.text]
    shown.append(repr(settings))
    assert not any(PASSWORD in text for text in shown)


# -- before_body -----------------------------------------------------------------------------


def test_before_body_gets_the_accepted_recipients_before_any_body_byte():
    calls = []

    def before_body(accepted):
        # were a body byte on its way, the server would see it well within this wait
        calls.append((list(accepted), server.body_started.wait(0.3)))

    with MisbehavingServer(rcpt_replies={NOBODY: "550 5.1.1 No such user"}) as server:
        results = deliver_once(fast(server.port), MESSAGE, SENDER, [ANN, NOBODY, BOB], before_body)
        [session] = server.sessions()
    assert calls == [([ANN, BOB], False)]
    assert outcomes(results) == [
        (ANN, Outcome.ACCEPTED),
        (NOBODY, Outcome.REFUSED),
        (BOB, Outcome.ACCEPTED),
    ]
    assert len(session.bodies) == 1


def test_before_body_raising_means_no_body_is_sent():
    def before_body(accepted):
        raise OSError("state file: no space left on device")

    with MisbehavingServer() as server:
        with pytest.raises(OSError, match="no space left"):
            deliver(fast(server.port), MESSAGE, SENDER, [ANN], before_body=before_body)
        sessions = server.sessions()
    assert [s.bodies for s in sessions] == [[]]
    assert sessions[0].commands[-1] == "DATA"
    assert not server.body_started.is_set()
