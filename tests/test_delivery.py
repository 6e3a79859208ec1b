"""Email to subscribers: one copy each, whatever the server does. A copy that may have
arrived is never sent again unless asked; every refusal is reported with its reason."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import email.utils
import json
import re
import signal

import pytest
from conftest import NOW, both_backends, digest_process, digest_text
from smtp_misbehave import MisbehavingServer
from smtp_server import SMTPServer
from test_daemon import DigestProcess

from digest.faults import PAUSE_ENV

READER, OTHER = "reader@example.org", "other@example.org"


@pytest.fixture
def issue(site, run_cli):
    site.write("a.txt", digest_text("Nov 23", [("Mailed paper", "It is short.")]))
    assert run_cli("run", "--config", site.config, "--now", NOW).code == 0
    return site


def configure(site, port: int, **email_keys: str) -> None:
    lines = ['smtp_host = "127.0.0.1"', f"smtp_port = {port}", 'security = "none"']
    lines += ['deadline = "2s"', *(f"{key} = {value}" for key, value in email_keys.items())]
    text = site.config.read_text()
    if "to" in email_keys:  # the fixture names one recipient already
        text = text.replace('to = ["reader@example.org"]\n', "")
    site.config.write_text(text + "\n".join(lines) + "\n", encoding="utf-8")


def status(run_cli, site) -> dict:
    return json.loads(run_cli("status", "--config", site.config, "--json").out)["latest_issue"]


@pytest.mark.parametrize("after_body", ["drop", "silent"])
def test_no_answer_after_the_body_is_one_copy_in_doubt_never_resent_unasked(
    issue, run_cli, after_body
):
    site = issue
    with MisbehavingServer(after_body=after_body) as server:
        configure(site, server.port)
        first = run_cli("send", "--config", site.config)
        assert first.code == 4
        assert "never confirmed it" in first.err
        assert "('digest send 2026-11-24 --force' does)" in first.err, "names the issue"
        assert status(run_cli, site)["in_doubt"] == [READER]
        assert "in doubt" in run_cli("status", "--config", site.config).out
        second = run_cli("send", "--config", site.config)
        assert second.code == 4, "still in doubt: a monitor must keep hearing of it"
        assert "may already have reached reader@example.org" in second.out
        sessions = server.sessions()
        assert sum(len(s.bodies) for s in sessions) == 1, "one copy, not one per retry"
    with SMTPServer() as good:
        site.config.write_text(
            site.config.read_text().replace(
                f"smtp_port = {server.port}", f"smtp_port = {good.port}"
            )
        )
        forced = run_cli("send", "--config", site.config, "--force")
        assert forced.code == 0 and len(good.mailbox.received) == 1
        resent = email.message_from_bytes(
            good.mailbox.received[0].data, policy=email.policy.default
        )
    body = sessions[0].bodies[0].decode()
    assert f"Message-ID: {resent['Message-ID']}" in body, "the same message, recognisably"
    assert status(run_cli, site)["delivered_to"] == [READER]


@both_backends
def test_a_send_killed_after_its_claim_is_in_doubt_and_not_resent(issue, run_cli):
    site = issue
    with SMTPServer() as server:
        configure(site, server.port)
        victim = DigestProcess("send", "--config", site.config, env={PAUSE_ENV: "sending"})
        victim.wait_for("paused at sending")
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait()
        assert status(run_cli, site)["in_doubt"] == [READER]
        again = run_cli("send", "--config", site.config)
        assert again.code == 4 and server.mailbox.received == []  # in doubt, said so


def test_a_refused_recipient_is_reported_with_the_reason_and_the_others_get_it_once(issue, run_cli):
    site = issue
    with MisbehavingServer(rcpt_replies={OTHER: "550 5.1.1 No such user"}) as server:
        configure(site, server.port, to=f'["{READER}", "{OTHER}"]')
        result = run_cli("send", "--config", site.config, "--json")
        assert result.code == 4
        report = json.loads(result.out)
        assert report["sent_to"] == [READER]
        assert report["refused"] == [{"recipient": OTHER, "reason": "550 5.1.1 No such user"}]
        text = run_cli("send", "--config", site.config)
        assert text.code == 4
        assert "refused issue 2026-11-24: 550 5.1.1 No such user (other@example.org)" in text.err
        latest = status(run_cli, site)
        assert latest["delivered_to"] == [READER]
        assert latest["refused"] == [{"recipient": OTHER, "reason": "550 5.1.1 No such user"}]
        sessions = server.sessions()
    assert [s.rcpts for s in sessions] == [[[READER, OTHER]], [[OTHER]]], "the reader, once"


def test_a_refused_recipient_is_not_retried_by_every_later_run(site, run_cli):
    with MisbehavingServer(rcpt_replies={OTHER: "550 5.1.1 No such user"}) as server:
        configure(site, server.port, to=f'["{READER}", "{OTHER}"]', send_after_run="true")
        site.write("a.txt", digest_text("Nov 23", [("Mailed paper", "It is short.")]))
        first = run_cli("run", "--config", site.config, "--now", NOW)
        assert first.code == 4 and "No such user" in first.err
        later = run_cli("run", "--config", site.config, "--now", "2026-11-25T08:00:00Z")
        assert later.code == 0, later.err
        assert len(server.sessions()) == 1


def test_an_issue_that_failed_reaches_its_readers_after_a_newer_one(site, run_cli):
    """The server down (421) until the retries ran out: 'the next run tries again' holds
    when that run has a newer issue of its own. Nobody added since gets the old one."""
    with MisbehavingServer(greeting="421 4.3.2 down for maintenance") as server:
        configure(site, server.port, to=f'["{READER}"]', send_after_run="true", retries="1")
        site.write("a.txt", digest_text("Nov 23", [("Mailed paper", "It is short.")]))
        first = run_cli("run", "--config", site.config, "--now", NOW)
        assert first.code == 4 and "published issue 2026-11-24" in first.out
    with MisbehavingServer() as server:
        text = site.config.read_text(encoding="utf-8")
        text = re.sub(r"smtp_port = \d+", f"smtp_port = {server.port}", text)
        site.config.write_text(text.replace(f'["{READER}"]', f'["{READER}", "{OTHER}"]'))
        site.write("b.txt", digest_text("Nov 24", [("A later paper", "Text.")]))
        later = run_cli("run", "--config", site.config, "--now", "2026-11-25T08:00:00Z")
        assert later.code == 0, later.err
        sessions = server.sessions()
    issues = sorted(
        (headers_of(body)["Message-ID"].split(".")[1], tuple(rcpts))
        for session in sessions
        for body, rcpts in zip(session.bodies, session.rcpts, strict=True)
    )
    assert issues == [("2026-11-24", (READER,)), ("2026-11-25", (READER, OTHER))]


def test_earlier_failed_issues_wait_while_the_server_fails_or_their_note_is_unbuilt(site, run_cli):
    """The server down for two runs: the second tries its own issue alone (not every
    earlier one as well, under the lock). Once it answers, an earlier issue whose note was
    edited since it was built is not mailed with the old note; the other one is."""
    with MisbehavingServer(greeting="421 4.3.2 down for maintenance") as down:
        configure(site, down.port, to=f'["{READER}"]', send_after_run="true", retries="1")
        for day, now in (("Nov 23", NOW), ("Nov 24", "2026-11-25T08:00:00Z")):
            site.write(f"{day}.txt", digest_text(day, [(f"Paper of {day}", "Text.")]))
            assert run_cli("run", "--config", site.config, "--now", now).code == 4
        assert len(down.sessions()) == 2, "each run tried its own issue, once and a retry"
    (site.root / "notes").mkdir(exist_ok=True)
    (site.root / "notes" / "2026-11-24.md").write_text("An edit not rebuilt.\n")
    with MisbehavingServer() as server:
        text = re.sub(r"smtp_port = \d+", f"smtp_port = {server.port}", site.config.read_text())
        site.config.write_text(text)
        site.write("Nov 25.txt", digest_text("Nov 25", [("Paper of Nov 25", "Text.")]))
        later = run_cli("run", "--config", site.config, "--now", "2026-11-26T08:00:00Z")
        assert later.code == 0, later.err
        assert "issue 2026-11-24 is not sent again: notes/2026-11-24.md changed" in later.err
        sent = sorted(headers_of(b)["Message-ID"].split(".")[1]
                      for s in server.sessions() for b in s.bodies)  # fmt: skip
    assert sent == ["2026-11-25", "2026-11-26"]


def test_a_state_that_kept_an_address_as_written_is_read_by_mailbox(issue, run_cli):
    """An older digest kept 'Ann <ann@example.org>' failed; the send that reaches her
    keeps 'ann@example.org' sent: status and check speak of one reader, delivered."""
    from digest.config.loading import load
    from digest.model import DeliveryStatus
    from digest.store import DeliveryUpdate, open_store

    site, ann = issue, "Ann <ann@example.org>"
    with open_store(load(site.config)) as store:
        store.claim_deliveries("2026-11-24", [ann], "<m>", dt.datetime(2026, 11, 24, tzinfo=dt.UTC))
        store.settle_deliveries(
            "2026-11-24",
            [DeliveryUpdate(ann, DeliveryStatus.FAILED, "421 down")],
            dt.datetime.now(dt.UTC),
        )
    with MisbehavingServer() as server:
        configure(site, server.port, to=json.dumps([ann]))
        assert run_cli("send", "--config", site.config).code == 0
    shown = status(run_cli, site)
    assert shown["delivered_to"] == ["ann@example.org"] and not shown["failed"], shown
    done = digest_process("check", "--config", site.config)
    assert done.returncode == 0, done.stdout


def test_a_recipient_deferred_with_4xx_is_retried_alone(issue, run_cli):
    site = issue
    with MisbehavingServer(rcpt_replies={OTHER: "450 4.2.1 Mailbox busy"}) as server:
        configure(site, server.port, to=f'["{READER}", "{OTHER}"]')
        result = run_cli("send", "--config", site.config)
        assert result.code == 4
        assert "after 3 attempts: 450 4.2.1 Mailbox busy" in result.err
        rcpts = [s.rcpts for s in server.sessions()]
    assert rcpts == [[[READER, OTHER]], [[OTHER]], [[OTHER]]]


def test_tls_against_a_server_that_does_not_speak_it_is_one_plain_failure(issue, run_cli):
    site = issue
    with MisbehavingServer() as server:
        configure(site, server.port)
        site.config.write_text(
            site.config.read_text().replace('security = "none"', 'security = "tls"')
        )
        result = run_cli("send", "--config", site.config)
        assert result.code == 4
        assert "does not speak TLS" in result.err
        assert "WRONG_VERSION_NUMBER" not in result.err and "SSL" not in result.err
        assert len(server.sessions()) == 1, "a permanent error is not retried"


@both_backends
def test_two_sends_at_once_deliver_one_copy(issue):
    site = issue
    with SMTPServer() as server:
        senders = [DigestProcess("send", "--config", site.config, "--smtp", server.address)
                   for _ in range(2)]  # fmt: skip
        codes = [sender.process.wait(timeout=60) for sender in senders]
        assert codes == [0, 0]
        assert len(server.mailbox.received) == 1


def test_the_date_is_when_the_email_is_sent_not_when_the_issue_was_built(issue, run_cli):
    site = issue
    eml = email.message_from_bytes(
        (site.out / "issues" / "2026-11-24.eml").read_bytes(), policy=email.policy.default
    )
    assert eml["Date"] == "Tue, 24 Nov 2026 08:00:00 +0000"
    with SMTPServer() as server:
        before = dt.datetime.now(dt.UTC).replace(microsecond=0)
        assert run_cli("send", "--config", site.config, "--smtp", server.address).code == 0
        after = dt.datetime.now(dt.UTC)
        sent = email.message_from_bytes(
            server.mailbox.received[0].data, policy=email.policy.default
        )
    assert before <= email.utils.parsedate_to_datetime(sent["Date"]) <= after
    assert sent["Message-ID"] == eml["Message-ID"]


def test_a_server_that_trickles_cannot_hold_the_run_for_ever(issue):
    site = issue
    with MisbehavingServer(trickle_greeting=True, trickle_for=30) as server:
        configure(site, server.port, retries="1")
        result = digest_process("send", "--config", site.config, timeout=25)
    assert result.returncode == 4 and "could not deliver issue 2026-11-24" in result.stderr


def headers_of(body: bytes) -> email.message.EmailMessage:
    head = body.split(b"\r\n\r\n", 1)[0]
    return email.message_from_bytes(head + b"\r\n\r\n", policy=email.policy.default)


def test_international_addresses_go_out_as_servers_and_mail_clients_read_them(issue, run_cli):
    site = issue
    idn, utf8, named = "reader@bücher.example", "jörg@example.org", "Jane Doe <jane@example.org>"
    with MisbehavingServer(extensions=("8BITMIME",)) as server:  # no SMTPUTF8
        configure(site, server.port, to=json.dumps([idn, utf8, named], ensure_ascii=False))
        result = run_cli("send", "--config", site.config, "--json")
        assert result.code == 4
        report = json.loads(result.out)
        assert report["sent_to"] == [idn, named]
        (refused,) = report["refused"]
        assert refused["recipient"] == utf8
        assert refused["reason"].startswith("it is not ASCII, and 127.0.0.1:")
        assert refused["reason"].endswith("does not offer SMTPUTF8 (RFC 6531)")
        again = run_cli("send", "--config", site.config)
        assert f"digest refused the address {utf8} (issue 2026-11-24 was not sent to it)" in (
            again.err
        )
        assert "SMTP server" not in again.err, "digest refused it, not the server"
        sessions = server.sessions()
    assert sessions[0].rcpts == [["reader@xn--bcher-kva.example", "jane@example.org"]]
    assert all("jörg" not in command for s in sessions for command in s.commands)
    sent = headers_of(sessions[0].bodies[0])
    assert sessions[0].bodies[0].split(b"\r\n\r\n")[0].isascii()
    assert sent["To"] == "reader@xn--bcher-kva.example, Jane Doe <jane@example.org>"
    with MisbehavingServer(extensions=("8BITMIME", "SMTPUTF8")) as server:
        site.config.write_text(
            site.config.read_text(encoding="utf-8").replace(
                "smtp_port = ", f"smtp_port = {server.port}\n# was: "
            ),
            encoding="utf-8",
        )
        result = run_cli("send", "--config", site.config, "--json")
        assert result.code == 0, result.err
        assert json.loads(result.out)["sent_to"] == [utf8]
        (session,) = server.sessions()
    assert session.rcpts == [[utf8]] and session.commands[1].endswith(" SMTPUTF8")
    head = session.bodies[0].split(b"\r\n\r\n")[0]
    assert "To: jörg@example.org".encode() in head.split(b"\r\n"), "UTF-8, no encoded word"


def test_a_mailbox_written_another_way_later_is_not_mailed_again(issue, run_cli):
    """The list as first written, then as edited: a name added, a domain's case changed,
    a domain in IDNA. Each is the same mailbox, which has had the issue."""
    site = issue
    first = ["ann@example.org", "bob@Example.org", "reader@bücher.example"]
    again = ["Ann <ann@example.org>", "bob@EXAMPLE.ORG", "reader@xn--bcher-kva.example"]
    with MisbehavingServer() as server:
        configure(site, server.port, to=json.dumps(first, ensure_ascii=False))
        assert run_cli("send", "--config", site.config).code == 0
        site.config.write_text(
            site.config.read_text(encoding="utf-8").replace(
                json.dumps(first, ensure_ascii=False), json.dumps(again)
            ),
            encoding="utf-8",
        )
        result = run_cli("send", "--config", site.config, "--json")
        assert result.code == 0, result.err
        assert json.loads(result.out)["already_sent"] == again
        sessions = server.sessions()
    assert [rcpts for s in sessions for rcpts in s.rcpts] == [
        ["ann@example.org", "bob@Example.org", "reader@xn--bcher-kva.example"]
    ]


def test_an_error_for_hundreds_of_recipients_stays_one_readable_line(issue, run_cli):
    site = issue
    everyone = [f"reader{n}@example.org" for n in range(500)]
    refusals = {a: f"550 5.1.1 <{a}>: Recipient address rejected" for a in everyone[20:]}
    with MisbehavingServer(rcpt_replies=refusals) as server:
        configure(site, server.port, to=json.dumps(everyone))
        result = run_cli("send", "--config", site.config, "--json")
        assert result.code == 4
        assert len(json.loads(result.out)["refused"]) == 480, "--json lists every one"
        text = run_cli("send", "--config", site.config)
    lines = [line for line in text.err.splitlines() if "refused issue" in line]
    assert lines and all(len(line) < 600 for line in lines), "the log's line and the error"
    line = lines[-1]
    assert "refused issue 2026-11-24: 480 recipients: 550 5.1.1 <reader20@example.org>" in line
    assert "and 477 more for other reasons; 'digest status' lists them" in line


def test_a_forced_resend_that_is_in_doubt_says_one_thing_of_each_recipient(issue, run_cli):
    site = issue
    with SMTPServer() as good:
        configure(site, good.port)
        assert run_cli("send", "--config", site.config).code == 0
    with MisbehavingServer(after_body="drop") as server:
        site.config.write_text(
            site.config.read_text().replace(
                f"smtp_port = {good.port}", f"smtp_port = {server.port}"
            )
        )
        forced = run_cli("send", "--config", site.config, "--force", "--json")
        report = json.loads(forced.out)
        assert forced.code == 4
        assert report["already_sent"] == [] and report["sent_to"] == []
        assert report["in_doubt"] == [READER]
        text = run_cli("send", "--config", site.config, "--force")
        assert "already sent" not in text.out + text.err
        assert f"went to 127.0.0.1:{server.port} for {READER}, but the server never" in text.err


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("a@example.org, b@example.org", "it is not one email address"),
        ("nobody", "it is not one email address"),
        ("two words@example.org", "its part before the @, 'two words', is not one"),
        ("r@exa_mple.org", "its domain 'exa_mple.org' is not a valid domain name"),
    ],
)
def test_an_address_digest_cannot_send_to_is_a_config_error(issue, run_cli, address, why):
    site = issue
    bad = run_cli("send", "--config", site.config, "--to", address, "--smtp", "127.0.0.1:25")
    assert bad.code == 2 and f"digest refused the address {address!r}: {why}" in bad.err
    configure(site, 25, to=json.dumps([address]))
    result = run_cli("status", "--config", site.config)
    assert result.code == 2 and f"email.to: {address!r} is not an address to send to" in result.err
    assert why in result.err and "Name <name@example.org>" in result.err


def test_a_permanent_error_on_a_retry_keeps_who_already_got_it_as_sent(issue, run_cli):
    site = issue
    busy = {OTHER: "450 4.2.1 Mailbox busy"}
    with MisbehavingServer(rcpt_replies=busy, later_greeting="554 5.3.2 go away") as server:
        configure(site, server.port, to=f'["{READER}", "{OTHER}"]')
        result = run_cli("send", "--config", site.config)
        assert result.code == 4 and "go away" in result.err
        assert status(run_cli, site)["delivered_to"] == [READER]
        again = run_cli("send", "--config", site.config)
        assert again.code == 4
        rcpts = [s.rcpts for s in server.sessions()]
    assert [READER] not in [r for s in rcpts[1:] for r in s], "the reader got it once"
    assert sum(READER in r for s in rcpts for r in s) == 1
