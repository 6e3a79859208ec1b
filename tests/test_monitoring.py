"""Running unattended: ``digest check`` tells a quiet week from a broken pipeline, a ping
reaches the push monitor after each run, and each issue is posted once to each channel."""

from __future__ import annotations

import json
import os
import re
import signal
import time

import pytest
from conftest import NOW, PLAIN, digest_process, digest_text, linked_page
from http_receiver import Receiver
from smtp_misbehave import MisbehavingServer
from test_daemon import DigestProcess

from digest.faults import PAUSE_ENV

SECRET = "s3cr3t-token-9f2c"


def check(site, *extra) -> tuple[int, str]:
    result = digest_process("check", "--config", site.config, *extra)
    return result.returncode, result.stdout


def add_config(site, text: str) -> None:
    site.config.write_text(site.config.read_text() + "\n" + text + "\n", encoding="utf-8")


def published(site, run_cli, day: str = "2026-11-24") -> None:
    site.drop(PLAIN)
    result = run_cli("run", "--config", site.config, "--now", f"{day}T08:00:00Z")
    assert result.code == 0, result.err


# -- digest check ------------------------------------------------------------------------------


def test_a_healthy_digest_is_ok(site, run_cli):
    published(site, run_cli)
    code, out = check(site)
    assert code == 0, out
    first = out.splitlines()[0]
    assert first.startswith("DIGEST OK - healthy") and "| issues=1 papers=80" in first


def test_a_failed_run_is_critical_with_the_reason(site, run_cli):
    published(site, run_cli)
    templates = site.root / "tpl"
    templates.mkdir()
    (templates / "issue.md").write_text("{{ 1 // 0 }}", encoding="utf-8")
    site.config.write_text(site.config.read_text().replace("[email]", 'templates = "tpl"\n[email]'))
    site.write("more.txt", digest_text("Nov 24", [("A later paper", "Text.")]))
    assert run_cli("run", "--config", site.config).code == 3
    code, out = check(site)
    assert code == 2
    assert out.startswith("DIGEST CRITICAL - the last run failed") and "ZeroDivisionError" in out
    first = out.splitlines()[0]
    assert "(hint: fix the template" in first and "\\x0a" not in first, "one readable line"


def test_a_run_that_died_is_critical(site):
    site.drop(PLAIN)
    victim = DigestProcess("run", "--config", site.config, env={PAUSE_ENV: "recorded"})
    victim.wait_for("paused at recorded")
    victim.process.send_signal(signal.SIGKILL)
    victim.process.wait()
    code, out = check(site)
    assert code == 2 and "died before it finished" in out.splitlines()[0]


def test_a_run_stuck_for_hours_is_critical_and_a_busy_one_is_not(site):
    site.drop(PLAIN)
    busy = DigestProcess("run", "--config", site.config, env={PAUSE_ENV: "recorded"})
    try:
        busy.wait_for("paused at recorded")
        code, out = check(site)
        assert "is it stuck" not in out, out
        lock = site.state.with_name(site.state.name + ".lock")
        holder = lock.read_text(encoding="utf-8")
        three_hours_ago = time.strftime(
            "%Y-%m-%d %H:%M:%S %z", time.localtime(time.time() - 3 * 3600)
        )
        lock.write_text(re.sub(r"since .*", f"since {three_hours_ago}", holder), encoding="utf-8")
        code, out = check(site)
        assert code == 2, out
        assert f"a run (pid {busy.process.pid} on " in out
        assert "has held the lock for 3.0 hours, over max_run_time: is it stuck?" in out
    finally:
        busy.kill()


def test_a_rebuild_stuck_for_hours_is_critical_too(site, run_cli):
    """Not only a run holds the lock: a send, a post or a rebuild does too."""
    published(site, run_cli)
    busy = DigestProcess("rebuild", "--config", site.config, env={PAUSE_ENV: "renaming"})
    try:
        busy.wait_for("paused at renaming")
        lock = site.state.with_name(site.state.name + ".lock")
        then = time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(time.time() - 5 * 3600))
        lock.write_text(re.sub(r"since .*", f"since {then}", lock.read_text()), encoding="utf-8")
        code, out = check(site)
        assert code == 2, out
        assert "a digest process has held the lock for 5.0 hours" in out
    finally:
        busy.kill()


@pytest.mark.parametrize(("days", "code", "level"), [(3, 0, "OK"), (10, 1, "WARNING"),
                                                     (20, 2, "CRITICAL")])  # fmt: skip
def test_no_new_file_for_longer_than_expected_is_a_warning_then_critical(
    site, run_cli, days, code, level
):
    add_config(site, '[monitor]\nexpect_new_every = "8d"')
    published(site, run_cli)
    then = time.time() - days * 86400
    os.utime(site.inbox / PLAIN.name, (then, then))
    site.rows("UPDATE files SET taken_at = ?", ("2020-01-01T00:00:00.000Z",))
    got, out = check(site)
    assert got == code, out
    assert out.startswith(f"DIGEST {level}")
    if code:
        assert f"the newest digest file is {days}.0 days old (expected one every 8 days)" in out


def test_a_listing_far_shorter_than_the_ones_before_is_a_warning(site, run_cli):
    for day in range(1, 11):
        papers = [(f"Paper {day}-{n}", "An abstract.") for n in range(20)]
        site.write(f"{day:02}.txt", digest_text(f"Nov {day}", papers))
    short = [(f"Paper 11-{n}", "An abstract.") for n in range(3)]
    site.write("11.txt", digest_text("Nov 11", short))
    assert run_cli("run", "--config", site.config, "--now", NOW).code == 0
    code, out = check(site)
    assert code == 1
    assert "the newest file lists 3 papers, under 30% of the 20 that the 10 files before" in out


def test_rejected_files_waiting_are_a_warning(site, run_cli):
    published(site, run_cli)
    site.write("broken.txt", b"\xff\xfe not a digest at all" * 3)
    assert run_cli("run", "--config", site.config).code == 1
    code, out = check(site)
    assert code == 1 and "1 rejected file in the inbox: broken.txt" in out


def test_a_delivery_in_doubt_is_a_warning_and_a_refusal_critical(site, run_cli):
    published(site, run_cli)
    with MisbehavingServer(after_body="drop") as server:
        assert (
            run_cli("send", "--config", site.config, "--smtp", f"127.0.0.1:{server.port}").code == 4
        )
    code, out = check(site)
    assert code == 1 and "delivery in doubt for reader@example.org" in out
    with MisbehavingServer(rcpt_replies={"b@example.org": "550 5.1.1 No such user"}) as server:
        result = run_cli("send", "--config", site.config, "--smtp", f"127.0.0.1:{server.port}",
                         "--to", "b@example.org")  # fmt: skip
        assert result.code == 4
    code, out = check(site)
    assert code == 2 and "did not reach b@example.org" in out


def test_a_daemon_that_stopped_beating_is_critical(site, run_cli):
    add_config(site, '[schedule]\nevery = "1h"')
    code, out = check(site)
    assert code == 1  # no run yet: nothing to be critical about
    daemon = DigestProcess("daemon", "--config", site.config)
    try:
        daemon.wait_for("daemon started")
        daemon.wait_for("nothing new")  # an interval schedule runs at once
    finally:
        daemon.process.send_signal(signal.SIGKILL)
        daemon.process.wait()
    code, out = check(site)
    assert "daemon" not in out, out  # it beat just now
    beat = json.loads(site.rows("SELECT value FROM settings WHERE name = 'daemon_heartbeat'")[0][0])
    beat["at"] = "2026-01-01T00:00:00+00:00"  # as if three hours went by
    site.rows("UPDATE settings SET value = ? WHERE name = 'daemon_heartbeat'", (json.dumps(beat),))
    code, out = check(site)
    assert code == 2 and "the daemon's last heartbeat is" in out and "is it running?" in out


def test_an_unreadable_state_is_unknown(site):
    site.state.parent.mkdir(parents=True)
    site.state.write_bytes(b"this is not a database, just bytes" * 100)
    code, out = check(site)
    assert code == 3 and out.startswith("DIGEST UNKNOWN - ")
    code, out = check(site, "--json")
    assert code == 3 and json.loads(out)["findings"][0]["check"] == "state"


def test_check_json_is_json_even_when_the_config_is_broken(site):
    """A monitor that asked for JSON parses JSON: a config it cannot read is UNKNOWN, said
    in the same shape as every other answer."""
    site.config.write_text("inbox = [\n")
    code, out = check(site, "--json")
    answer = json.loads(out)
    assert code == 3 and answer["level"] == "UNKNOWN" and answer["code"] == 3
    assert "not valid TOML" in answer["summary"] and answer["summary"].startswith("DIGEST UNKNOWN")
    assert answer["findings"][0]["check"] == "config"


def test_check_json_and_status_say_the_same(site, run_cli):
    published(site, run_cli)
    site.write("broken.txt", b"\x00" * 100)
    run_cli("run", "--config", site.config)
    code, out = check(site, "--json")
    report = json.loads(out)
    assert (code, report["level"], report["code"]) == (1, "WARNING", 1)
    assert {f["check"] for f in report["findings"] if f["level"] == "WARNING"} == {"rejected"}
    status = run_cli("status", "--config", site.config).out
    assert "health:   warning" in status and "1 rejected file in the inbox" in status


# -- a ping after each run ---------------------------------------------------------------------


def test_pings_say_start_success_and_failure_and_never_fail_the_run(site, run_cli):
    with Receiver() as monitor:
        add_config(site, f'[monitor]\nping_url = "{monitor.url}/ping/{SECRET}"\nping_start = true')
        published(site, run_cli)
        paths = [r.path for r in monitor.requests]
        assert paths == [f"/ping/{SECRET}/start", f"/ping/{SECRET}"]
        assert monitor.requests[-1].body.decode().startswith("published issue 2026-11-24;")
        site.config.write_text(site.config.read_text().replace("ping_start = true", ""))
        site.config.write_text(site.config.read_text().replace('"inbox"', '"no-such-inbox"'))
        failed = run_cli("run", "--config", site.config)
        assert failed.code == 2
        assert monitor.requests[-1].path == f"/ping/{SECRET}/fail"
        assert "the inbox folder" in monitor.requests[-1].body.decode()
    for text in (failed.out, failed.err, run_cli("status", "--config", site.config).out):
        assert SECRET not in text


def test_a_ping_is_retried_and_a_dead_monitor_only_warns(site, run_cli):
    with Receiver() as monitor:
        monitor.replies["/ping"] = [503]
        add_config(site, f'[monitor]\nping_url = "{monitor.url}/ping/{SECRET}"')
        published(site, run_cli)
        assert len(monitor.to("/ping")) == 2, "one retry after the 503"
    dead = f"http://127.0.0.1:{monitor.port}/ping/{SECRET}"  # nothing listens any more
    site.write("more.txt", digest_text("Nov 25", [("A later paper", "Text.")]))
    result = run_cli("run", "--config", site.config, "--now", "2026-11-25T08:00:00Z")
    assert result.code == 0, "a failed ping never fails the run"
    assert "ping to http://127.0.0.1/… (success) failed" in result.err
    code, out = check(site)
    assert code == 1 and "the last ping to http://127.0.0.1/… failed" in out
    assert SECRET not in result.err + out and dead not in result.err


# -- chat channels -----------------------------------------------------------------------------


@pytest.fixture
def chat(site, monkeypatch):
    with Receiver() as receiver:
        monkeypatch.setenv("TEST_CHAT_JSON", f"json://127.0.0.1:{receiver.port}/hook/{SECRET}")
        monkeypatch.setenv("TEST_CHAT_NTFY", f"ntfy://127.0.0.1:{receiver.port}/digest-topic")
        add_config(site, '[[channels]]\nname = "team"\nurl_env = "TEST_CHAT_JSON"\n'
                         'max_papers = 3\n'
                         '[[channels]]\nname = "phone"\nurl_env = "TEST_CHAT_NTFY"\n')  # fmt: skip
        yield receiver


def test_each_new_issue_is_posted_once_to_each_channel(site, run_cli, chat):
    published(site, run_cli)
    (post,) = chat.to("/hook")
    message = json.loads(post.body)
    assert message["title"] == "Test digest: November 24, 2026, 80 new papers"
    assert message["message"].count("\n1. ") + message["message"].startswith("1. ") == 1
    assert "4. " not in message["message"], "max_papers = 3"
    assert "<https://example.org/digest/issues/2026-11-24.html>" in message["message"]
    assert len([r for r in chat.requests if r.path == "/"]) == 1  # ntfy posts to its root
    site.write("more.txt", digest_text("Nov 24", [("A paper", "Text.")]))
    again = run_cli("run", "--config", site.config, "--now", "2026-11-25T08:00:00Z")
    assert again.code == 0 and len(chat.to("/hook")) == 2, "the new issue, once"
    assert run_cli("post", "--config", site.config).code == 0
    assert len(chat.to("/hook")) == 2, "nothing posted twice"
    status = json.loads(run_cli("status", "--config", site.config, "--json").out)
    assert status["latest_issue"]["posted_to"] == ["phone", "team"]
    assert status["latest_issue"]["delivered_to"] == []


def test_a_chat_post_links_each_paper_on_the_page_that_shows_it(site, run_cli, monkeypatch):
    """An issue of 80 papers is two pages: the post's links to papers of the second page
    go there, not to the issue's first page."""
    site.config.write_text("papers_per_page = 10\n" + site.config.read_text(), encoding="utf-8")
    with Receiver() as receiver:
        monkeypatch.setenv("TEST_CHAT_JSON", f"json://127.0.0.1:{receiver.port}/hook/{SECRET}")
        add_config(site, '[[channels]]\nname = "team"\nurl_env = "TEST_CHAT_JSON"\n'
                         'max_papers = 25\n')  # fmt: skip
        published(site, run_cli)
        (post,) = receiver.to("/hook")
    links = re.findall(r"<(https://example\.org/digest/issues/[^>]+#p-[0-9a-f]+)>",
                       json.loads(post.body)["message"])  # fmt: skip
    assert len(links) == 25 and any("/2026-11-24/3.html#" in link for link in links)
    for link in links:
        page, anchor = linked_page(site.out, "https://example.org/digest/", link)
        assert f'<article id="{anchor}">' in page, link


def test_a_broken_channel_stops_nothing_else_and_is_posted_later(site, run_cli, chat):
    chat.replies["/hook"] = [500, 500, 500]
    site.drop(PLAIN)
    published_run = run_cli("run", "--config", site.config, "--now", NOW)
    assert published_run.code == 4, "a failed channel fails like a failed email"
    assert "published issue 2026-11-24" in published_run.out
    assert len([r for r in chat.requests if r.path == "/"]) == 1, "the other channel got it"
    later = run_cli("post", "--config", site.config, "--channel", "team")
    assert later.code == 0 and "posted issue 2026-11-24 to team" in later.out
    forced = run_cli("post", "--config", site.config, "--channel", "team", "--force")
    assert forced.code == 0 and len(chat.to("/hook")) == 5
    for text in (published_run.out, published_run.err, later.out, later.err):
        assert SECRET not in text


def test_a_post_killed_after_its_claim_is_not_repeated(site, run_cli, chat):
    site.drop(PLAIN)
    victim = DigestProcess("run", "--config", site.config, "--now", NOW,
                           env={PAUSE_ENV: "posting"})  # fmt: skip
    victim.wait_for("paused at posting")
    victim.process.send_signal(signal.SIGKILL)
    victim.process.wait()
    result = run_cli("post", "--config", site.config, "--channel", "team")
    assert result.code == 4 and "may have been posted" in result.err
    assert chat.to("/hook") == []


def test_a_channel_url_in_the_config_is_refused(site, run_cli):
    add_config(site, '[[channels]]\nname = "x"\nurl_env = "X"\nurl = "json://h/secret"')
    result = run_cli("status", "--config", site.config)
    assert result.code == 2 and "does not belong here" in result.err


def hostile_channel(site, monkeypatch, receiver, query: str = "", extra: str = "") -> None:
    url = f"json://127.0.0.1:{receiver.port}/hook/{SECRET}{query}"
    monkeypatch.setenv("TEST_CHAT_JSON", url)
    add_config(site, f'[[channels]]\nname = "team"\nurl_env = "TEST_CHAT_JSON"\n{extra}')


def test_a_post_that_got_no_answer_is_in_doubt_and_never_posted_again(site, run_cli, monkeypatch):
    with Receiver() as receiver:
        receiver.silent.add("/hook")  # reads the whole post, never answers
        hostile_channel(site, monkeypatch, receiver, "?rto=1")  # Apprise's read timeout: 1 s
        site.drop(PLAIN)
        first = run_cli("run", "--config", site.config, "--now", NOW)
        assert first.code == 4 and "published issue 2026-11-24" in first.out
        assert len(receiver.to("/hook")) == 1, "once the post went out, it is never repeated"
        assert "may have been posted" in first.err
        status = json.loads(run_cli("status", "--config", site.config, "--json").out)
        assert status["latest_issue"]["in_doubt"] == ["chat channel team"]
        said = run_cli("status", "--config", site.config).out
        assert "'digest post --force' for a chat channel): chat channel team" in said
        code, out = check(site)
        assert code == 1 and "delivery in doubt for chat channel team" in out
        later = run_cli("post", "--config", site.config)
        assert later.code == 4 and "may have been posted" in later.err
        assert len(receiver.to("/hook")) == 1, "digest post leaves it alone"
        forced = run_cli("post", "--config", site.config, "--force")
        assert forced.code == 4 and len(receiver.to("/hook")) == 2, "--force posts it again"
    for text in (first.err, later.err, forced.err):
        assert SECRET not in text


def test_a_post_whose_connection_drops_after_the_body_is_in_doubt(site, run_cli, monkeypatch):
    with Receiver() as receiver:
        hostile_channel(site, monkeypatch, receiver)
        receiver.replies["/hook"] = [0]  # 0: read the whole post, then hang up
        site.drop(PLAIN)
        result = run_cli("run", "--config", site.config, "--now", NOW)
        assert result.code == 4 and len(receiver.to("/hook")) == 1
        assert "the connection failed after the post went out" in result.err


def test_a_post_the_service_answered_2xx_is_never_posted_again(site, run_cli, monkeypatch):
    """A last answer of 2xx the plugin calls a failure (ntfy's plugin takes 200 alone)
    may have posted: in doubt, never posted again unasked."""
    with Receiver() as receiver:
        receiver.replies["/"] = [201] * 5  # ntfy posts to the server's root
        monkeypatch.setenv("TEST_CHAT_NTFY", f"ntfy://127.0.0.1:{receiver.port}/digest-topic")
        add_config(site, '[[channels]]\nname = "team"\nurl_env = "TEST_CHAT_NTFY"\n')
        site.drop(PLAIN)

        def posts() -> int:
            return len([r for r in receiver.requests if r.path == "/"])

        first = run_cli("run", "--config", site.config, "--now", NOW)
        assert first.code == 4 and "may have been posted" in first.err, first.err
        assert posts() == 1
        later = run_cli("post", "--config", site.config)
        assert later.code == 4 and posts() == 1, "never posted twice"
        status = json.loads(run_cli("status", "--config", site.config, "--json").out)
        assert status["latest_issue"]["in_doubt"] == ["chat channel team"]


def test_a_channel_that_cannot_be_reached_is_retried(site, run_cli, monkeypatch):
    with Receiver() as receiver:
        port = receiver.port
    monkeypatch.setenv("TEST_CHAT_JSON", f"json://127.0.0.1:{port}/hook/{SECRET}")
    add_config(site, '[[channels]]\nname = "team"\nurl_env = "TEST_CHAT_JSON"\n')
    site.drop(PLAIN)
    result = run_cli("run", "--config", site.config, "--now", NOW)
    assert result.code == 4 and "could not connect: connection refused" in result.err
    status = json.loads(run_cli("status", "--config", site.config, "--json").out)
    assert status["latest_issue"]["in_doubt"] == [], "nothing went out: not in doubt"
    with Receiver() as receiver:
        monkeypatch.setenv("TEST_CHAT_JSON", f"json://127.0.0.1:{receiver.port}/hook/{SECRET}")
        later = run_cli("post", "--config", site.config)
        assert later.code == 0 and len(receiver.to("/hook")) == 1


def test_a_post_has_a_deadline_however_slowly_the_answer_comes(site, monkeypatch):
    with Receiver() as receiver:
        receiver.trickle.add("/hook")  # a byte every 0.2 s: no read ever times out
        hostile_channel(site, monkeypatch, receiver, "?rto=5", 'deadline = "2s"\n')
        site.drop(PLAIN)
        env = {"TEST_CHAT_JSON": os.environ["TEST_CHAT_JSON"]}
        run = digest_process("run", "--config", site.config, "--now", NOW, env=env, timeout=60)
        assert run.returncode == 4, run.stderr
        assert "no answer within the 2 s deadline after the post went out" in run.stderr
        assert len(receiver.to("/hook")) == 1
        again = digest_process("post", "--config", site.config, env=env, timeout=60)
        assert again.returncode == 4 and len(receiver.to("/hook")) == 1


def test_a_ping_has_a_deadline_however_slowly_the_monitor_answers(site, run_cli, monkeypatch):
    from digest.deliver import notify

    monkeypatch.setattr(notify, "PING_DEADLINE", 2.0, raising=False)
    with Receiver() as monitor:
        monitor.trickle.add("/ping")  # a byte every 0.2 s, 8 s for the whole answer
        add_config(site, f'[monitor]\nping_url = "{monitor.url}/ping/{SECRET}"')
        published(site, run_cli)
        assert len(monitor.to("/ping")) == 1, "no time left for a second try"
    code, out = check(site)
    assert code == 1 and "the last ping to http://127.0.0.1/… failed" in out
    status = run_cli("status", "--config", site.config).out
    assert "no answer within the 2 s deadline" in status
