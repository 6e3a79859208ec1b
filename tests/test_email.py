"""The issue email: whole, readable in both parts, under Gmail's clip, delivered once."""

from __future__ import annotations

import email
import email.policy
import json
import re
import subprocess
import sys

import html5lib
import pytest
from conftest import NOW, PLAIN, PLAIN_2, ROOT, WITH_META, digest_text, linked_page, whole_issue
from smtp_server import SMTPServer, free_port

from digest.publish.filters import first_sentences


def read_eml(site, issue="2026-11-24") -> email.message.EmailMessage:
    raw = (site.out / "issues" / f"{issue}.eml").read_bytes()
    return email.message_from_bytes(raw, policy=email.policy.default)


def parts(message):
    return message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content()


def visible_text(html: str) -> str:
    tree = html5lib.parse(html, namespaceHTMLElements=False)
    return " ".join("".join(tree.itertext()).split())


@pytest.fixture
def small_issue(site, run_cli):
    pairs = [
        ("A <small> paper", "It is short. It has two sentences."),
        ("Another paper", "Also short; see https://github.com/o/r."),
    ]
    site.write("small.txt", digest_text("Nov 23", pairs))
    assert run_cli("run", "--config", site.config, "--now", NOW).code == 0
    return site, pairs


def test_eml_is_multipart_alternative_text_first(small_issue):
    site, pairs = small_issue
    message = read_eml(site)
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["Subject"] == "Test digest — November 24, 2026: 2 new papers"
    assert message["From"] == "Digest <digest@example.org>"
    assert message["To"] == "reader@example.org"
    assert message["Date"] == "Tue, 24 Nov 2026 08:00:00 +0000"
    assert re.fullmatch(r"<digest\.2026-11-24\.[0-9a-f]{12}@example\.org>", message["Message-ID"])
    assert "List-Unsubscribe" not in message
    text, html = parts(message)
    for title, abstract in pairs:
        assert title in text and abstract in text
        assert title in visible_text(html) and abstract in visible_text(html)
    assert "All 2 papers of this issue" in visible_text(html)


def test_html_part_is_email_safe(small_issue):
    site, _ = small_issue
    _, html = parts(read_eml(site))
    tree = html5lib.parse(html, namespaceHTMLElements=False)
    assert not list(tree.iter("style")) and not list(tree.iter("script"))
    assert not list(tree.iter("link")) and not list(tree.iter("img"))
    styled = [el for el in tree.iter() if el.get("style")]
    assert styled, "CSS is inlined into style attributes"
    sheet = next(el for el in tree.iter("table") if el.get("class") == "sheet")
    assert "600px" in sheet.get("style")
    links = [a.get("href") for a in tree.iter("a")]
    assert "https://example.org/digest/issues/2026-11-24.html" in links
    assert any(
        re.fullmatch(r"https://example\.org/digest/issues/2026-11-24\.html#p-[0-9a-f]{12}", h)
        for h in links
    )
    assert all(h.startswith("https://") for h in links)


def test_text_part_is_plain_and_wrapped(small_issue):
    site, _ = small_issue
    text, _ = parts(read_eml(site))
    assert "<" not in text.replace("A <small> paper", "")
    assert "**" not in text and "](" not in text
    assert "https://github.com/o/r" in text
    long_lines = [line for line in text.splitlines() if len(line) > 76 and "://" not in line]
    assert long_lines == []


def test_message_is_the_same_bytes_when_rebuilt(small_issue, run_cli):
    site, _ = small_issue
    before = (site.out / "issues" / "2026-11-24.eml").read_bytes()
    (site.out / "issues" / "2026-11-24.eml").unlink()
    assert run_cli("rebuild", "--config", site.config).code == 0
    assert (site.out / "issues" / "2026-11-24.eml").read_bytes() == before


def test_header_injection_is_impossible(site, run_cli):
    site.config.write_text(
        site.config.read_text().replace(
            'title = "Test digest"', 'title = "Evil\\r\\nBcc: victim@example.org\\nX-Injected: 1"'
        )
    )
    site.write("a.txt", digest_text("Nov 23", [("Title", "Text.")]))
    assert run_cli("run", "--config", site.config, "--now", NOW).code == 0
    raw = (site.out / "issues" / "2026-11-24.eml").read_bytes()
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert "Bcc" not in message and "X-Injected" not in message
    assert message["Subject"].startswith("Evil Bcc: victim@example.org X-Injected: 1")


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("mailto:u@example.org\r\nBcc: x@y", "holds a space, a line break, a control character"),
        ("mailto:u@example.org\u0000", "holds a space, a line break, a control character"),
        ("https://example.org/leave me", "holds a space"),
        ("https://example.org/leave>,<mailto:b@example.org", "it must name one target"),
        ("javascript:alert(1)", "is not an http(s) URL or a mailto: address"),
        ("mailto:nobody", "is not a mailto: address"),
    ],
)
def test_list_unsubscribe_is_checked_as_config(site, run_cli, value, why):
    site.config.write_text(site.config.read_text() + f"list_unsubscribe = {json.dumps(value)}\n")
    site.write("a.txt", digest_text("Nov 23", [("Title", "Text.")]))
    result = run_cli("run", "--config", site.config, "--now", NOW)
    assert result.code == 2 and "email.list_unsubscribe:" in result.err and why in result.err
    assert "one https:// URL or mailto: address" in result.err
    assert not site.out.exists(), "nothing published with a broken header"


def test_tldr_is_the_first_sentence_or_two():
    assert first_sentences("One. Two! Three? Four.") == "One. Two! …"
    assert first_sentences("Only one sentence.") == "Only one sentence."
    assert (
        first_sentences("e.g. this stays one sentence. Next one.")
        == "e.g. this stays one sentence. Next one."
    )
    assert len(first_sentences("word " * 500)) <= 325


@pytest.fixture
def large_issue(site, run_cli, tmp_path):
    """All the shared digests plus a generated corpus: several hundred new papers."""
    corpus = tmp_path / "corpus"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "make_corpus.py"),
            "--seeds",
            str(ROOT / "examples" / "digests"),
            "--out",
            str(corpus),
            "--files",
            "8",
            "--papers-per-file",
            "60",
            "--overlap",
            "0.1",
            "--seed",
            "7",
            "--start",
            "2026-10-01",
        ],
        check=True,
        capture_output=True,
    )
    for path in [PLAIN, WITH_META, PLAIN_2, *sorted(corpus.glob("*.txt"))]:
        site.drop(path)
    result = run_cli("run", "--config", site.config, "--now", NOW, "--json")
    assert result.code == 0, result.err
    return site, json.loads(result.out)


@pytest.mark.slow
def test_large_issue_stays_under_the_html_budget_and_says_so(large_issue):
    site, report = large_issue
    total = report["new_papers"]
    assert total >= 400
    message = read_eml(site)
    text, html = parts(message)
    assert len(html.encode("utf-8")) < 100_000  # as received: CRLF lines
    shown_html = visible_text(html)
    match = re.search(r"This email shows ([\d,]+) of ([\d,]+) papers", shown_html)
    assert match, shown_html[:300]
    shown, said_total = (int(group.replace(",", "")) for group in match.groups())
    assert said_total == total and 0 < shown < total
    assert f"and {total - shown:,} more papers" in shown_html
    assert f"This email shows {shown:,} of {total:,} papers" in text
    assert f"and {total - shown:,} more papers" in text
    tree = html5lib.parse(html, namespaceHTMLElements=False)
    assert "https://example.org/digest/issues/2026-11-24.html" in {
        a.get("href") for a in tree.iter("a")
    }
    assert "First sentences:" in shown_html  # what a shortened abstract is (it was "TL;DR")
    # Every paper is on the web page, whatever the email left out.
    assert whole_issue(site.out, "2026-11-24").count("<article ") == total


@pytest.mark.slow
def test_a_budget_that_fits_titles_only_still_says_how_many(large_issue, run_cli):
    site, report = large_issue
    site.config.write_text(
        site.config.read_text().replace("[email]", "[email]\nmax_html_bytes = 30000")
    )
    assert run_cli("rebuild", "--config", site.config).code == 0
    _, html = parts(read_eml(site))
    assert len(html.encode("utf-8")) < 30_000
    assert f"of {report['new_papers']:,} papers" in visible_text(html)


# -- delivery --------------------------------------------------------------------------------


def test_send_delivers_once_then_nothing(small_issue, run_cli):
    site, pairs = small_issue
    with SMTPServer() as server:
        first = run_cli("send", "--config", site.config, "--smtp", server.address)
        assert first.code == 0, first.err
        assert "sent issue 2026-11-24 to reader@example.org" in first.out
        (received,) = server.mailbox.received
        assert received.recipients == ["reader@example.org"]
        assert received.sender == "digest@example.org"
        message = email.message_from_bytes(received.data, policy=email.policy.default)
        assert message["Message-ID"] == read_eml(site)["Message-ID"]
        text, html = parts(message)
        for title, _ in pairs:
            assert title in text and title in visible_text(html)

        second = run_cli("send", "--config", site.config, "--smtp", server.address)
        assert second.code == 0
        assert "already sent to reader@example.org; nothing sent" in second.out
        assert len(server.mailbox.received) == 1

        forced = run_cli("send", "--config", site.config, "--smtp", server.address, "--force")
        assert forced.code == 0 and len(server.mailbox.received) == 2

        other = run_cli(
            "send", "--config", site.config, "--smtp", server.address, "--to", "b@example.org"
        )
        assert other.code == 0 and server.mailbox.received[-1].recipients == ["b@example.org"]
    status = json.loads(run_cli("status", "--config", site.config, "--json").out)
    assert status["latest_issue"]["delivered_to"] == ["b@example.org", "reader@example.org"]


def test_connection_refused_is_retried_then_reported_and_left_unsent(small_issue, run_cli):
    site, _ = small_issue
    port = free_port()  # nothing listens here
    result = run_cli("send", "--config", site.config, "--smtp", f"127.0.0.1:{port}")
    assert result.code == 4
    assert "could not deliver issue 2026-11-24" in result.err and "after 3 attempts" in result.err
    assert "tries again" in result.err
    with SMTPServer() as server:
        later = run_cli("send", "--config", site.config, "--smtp", server.address)
        assert later.code == 0 and len(server.mailbox.received) == 1


def test_temporary_451_is_retried_and_then_delivered(small_issue, run_cli):
    site, _ = small_issue
    with SMTPServer() as server:
        server.mailbox.failures = ["451 4.3.0 Try again later"]
        result = run_cli("send", "--config", site.config, "--smtp", server.address)
        assert result.code == 0, result.err
        assert server.mailbox.attempts == 2 and len(server.mailbox.received) == 1
        assert "451" in result.err  # the retry is logged


def test_451_every_time_gives_up_after_the_retries(small_issue, run_cli):
    site, _ = small_issue
    with SMTPServer() as server:
        server.mailbox.failures = ["451 4.3.0 Try again later"] * 5
        result = run_cli("send", "--config", site.config, "--smtp", server.address)
        assert result.code == 4 and server.mailbox.attempts == 3
        assert "451 4.3.0 Try again later" in result.err


def test_permanent_550_is_reported_at_once(small_issue, run_cli):
    site, _ = small_issue
    with SMTPServer() as server:
        server.mailbox.failures = ["550 5.7.1 Rejected as spam"]
        result = run_cli("send", "--config", site.config, "--smtp", server.address)
        assert result.code == 4 and server.mailbox.attempts == 1
        assert "refused issue 2026-11-24: 550 5.7.1 Rejected as spam" in result.err
        again = run_cli("send", "--config", site.config, "--smtp", server.address)
        assert again.code == 0 and len(server.mailbox.received) == 1


def test_send_with_nothing_published_has_a_hint(site, run_cli):
    site.write("a.txt", "")
    run_cli("run", "--config", site.config)
    result = run_cli("send", "--config", site.config, "--smtp", "127.0.0.1:1")
    assert result.code == 2 and "no issue has been published yet" in result.err


def test_send_unknown_issue(small_issue, run_cli):
    site, _ = small_issue
    result = run_cli("send", "2020-01-01", "--config", site.config, "--smtp", "127.0.0.1:1")
    assert (
        result.code == 2 and "no issue '2020-01-01'" in result.err and "digest status" in result.err
    )


def test_run_sends_after_publishing_with_login_and_the_password_stays_secret(
    site, run_cli, monkeypatch
):
    secret = "s3cret-Pa55word"
    with SMTPServer(password=secret) as server:
        site.config.write_text(
            site.config.read_text()
            + f'smtp_host = "127.0.0.1"\nsmtp_port = {server.port}\nsecurity = "none"\n'
            'username = "digest-user"\npassword_env = "TEST_DIGEST_SMTP_PASSWORD"\n'
            "send_after_run = true\n"
        )
        monkeypatch.setenv("TEST_DIGEST_SMTP_PASSWORD", secret)
        site.write("a.txt", digest_text("Nov 23", [("Mailed paper", "Text.")]))
        result = run_cli("run", "--config", site.config, "--now", NOW, "-v")
        assert result.code == 0, result.err
        assert "sent issue 2026-11-24 to reader@example.org" in result.out
        assert (
            server.mailbox.logins == [("digest-user", "LOGIN")]
            or server.mailbox.logins[0][0] == "digest-user"
        )
        assert len(server.mailbox.received) == 1
        status = run_cli("status", "--config", site.config, "--json")
    for text in (result.out, result.err, status.out, site.config.read_text()):
        assert secret not in text
    for path in site.state.parent.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes()


def test_missing_password_variable_is_a_clear_error(small_issue, run_cli, monkeypatch):
    site, _ = small_issue
    monkeypatch.delenv("TEST_DIGEST_NOPE", raising=False)
    site.config.write_text(
        site.config.read_text() + 'smtp_host = "127.0.0.1"\nsmtp_port = 1\nsecurity = "none"\n'
        'username = "u"\npassword_env = "TEST_DIGEST_NOPE"\n'
    )
    result = run_cli("send", "--config", site.config)
    assert result.code == 2 and "TEST_DIGEST_NOPE" in result.err and "export" in result.err


def test_a_failed_send_after_run_keeps_the_issue_and_a_later_run_sends_it(site, run_cli):
    port = free_port()
    site.config.write_text(
        site.config.read_text()
        + f'smtp_host = "127.0.0.1"\nsmtp_port = {port}\nsecurity = "none"\n'
        + "send_after_run = true\n"
    )
    site.write("a.txt", digest_text("Nov 23", [("Paper", "Text.")]))
    result = run_cli("run", "--config", site.config, "--now", NOW)
    assert result.code == 4
    assert "published issue 2026-11-24" in result.out and "not sent" in result.err
    assert (site.out / "issues" / "2026-11-24.html").exists()
    with SMTPServer() as server:
        site.config.write_text(
            site.config.read_text().replace(f"smtp_port = {port}", f"smtp_port = {server.port}")
        )
        later = run_cli("run", "--config", site.config, "--now", "2026-11-25T08:00:00Z")
        assert later.code == 0 and "nothing new" in later.out
        assert "sent issue 2026-11-24 to reader@example.org" in later.out
        again = run_cli("run", "--config", site.config, "--now", "2026-11-26T08:00:00Z")
        assert "sent issue" not in again.out
        assert len(server.mailbox.received) == 1


def test_a_wrong_password_is_a_permanent_failure_reported_at_once(
    small_issue, run_cli, monkeypatch
):
    site, _ = small_issue
    with SMTPServer(password="right") as server:
        site.config.write_text(
            site.config.read_text()
            + f'smtp_host = "127.0.0.1"\nsmtp_port = {server.port}\nsecurity = "none"\n'
            'username = "digest-user"\npassword_env = "TEST_DIGEST_SMTP_PASSWORD"\n'
        )
        monkeypatch.setenv("TEST_DIGEST_SMTP_PASSWORD", "wrong")
        result = run_cli("send", "--config", site.config)
        assert result.code == 4
        assert "refused issue 2026-11-24: 535" in result.err
        assert "wrong" not in result.err  # the password itself is never shown
        assert server.mailbox.attempts == 0 and server.mailbox.received == []


def test_the_email_shares_its_budget_among_every_section(site, run_cli):
    """Three sections of 300 papers: the budget cannot show all in detail. Every section
    gets its first papers with their first sentences before any gets a second tier; a
    table of sections and counts opens the email; each section ends with "N more in
    <section>", linking to that section on the issue's page. Still within 90 KB."""
    site.config.write_text(
        site.config.read_text().replace(
            "[email]",
            '[[sections]]\nname = "Vision"\nmatch = ["image"]\n'
            '[[sections]]\nname = "Language"\nmatch = ["text"]\n[email]',
        ),
        encoding="utf-8",
    )
    topics = ("image", "text", "protein")
    long = " ".join(["This sentence only makes the abstract long enough to fold."] * 4)
    pairs = [(f"Paper {n} on {topics[n % 3]}", f"We study {topics[n % 3]} data. {long}")
             for n in range(900)]  # fmt: skip
    site.write("big.txt", digest_text("Nov 24", pairs))
    assert run_cli("run", "--config", site.config, "--now", NOW).code == 0
    message = email.message_from_bytes(
        (site.out / "issues" / "2026-11-24.eml").read_bytes(), policy=email.policy.default
    )
    html = message.get_body(("html",)).get_content()
    assert len(html.encode("utf-8")) < 90_000  # (lines end in CRLF already)
    tree = html5lib.parse(html, namespaceHTMLElements=False)
    # Section by section, in page order: the detailed papers of each.
    detailed: dict[str, int] = {}
    section = None
    for element in tree.iter():
        if element.get("class") == "section":
            section = "".join(element.itertext())
        elif element.get("class") == "paper":
            detailed[section] = detailed.get(section, 0) + 1
    assert set(detailed) == {"Vision", "Language", "Other"}
    assert len(set(detailed.values())) == 1, f"one tier for every section: {detailed}"
    toc = [" ".join("".join(td.itertext()).split()) for td in tree.iter("td")
           if td.get("class") in ("toc-name", "toc-count")]  # fmt: skip
    assert toc == ["Vision", "300 papers", "Language", "300 papers", "Other", "300 papers"]
    more = [a for p in tree.iter("p") if p.get("class") == "more-in" for a in p.iter("a")]
    assert [a.text for a in more] == ["Vision", "Language", "Other"]
    toc_links = [a for td in tree.iter("td") if td.get("class") == "toc-name" for a in td.iter("a")]
    for link in [*more, *toc_links]:  # each to the page (of a paged issue) it begins on
        page, anchor = linked_page(site.out, "https://example.org/digest/", link.get("href"))
        assert f'<h2 class="section" id="{anchor}">' in page
    text = message.get_body(("plain",)).get_content()
    assert "In this issue:" in text and "more papers in Language:" in text


@pytest.mark.parametrize(
    ("url", "domain"),
    [
        ("http://[::1]:8000/", "digest.invalid"),
        ("https://papers.example.net:8443/x/", "papers.example.net"),
    ],
)
def test_without_a_sender_the_site_url_names_the_domain(site, run_cli, url, domain):
    """No sender: the email is from digest@ the site's host; an IPv6 literal is no domain
    (it crashed every run: a Message-ID ending in '@[')."""
    text = site.config.read_text(encoding="utf-8")
    text = text.replace('sender = "Digest <digest@example.org>"\n', "")
    site.config.write_text(
        text.replace('url = "https://example.org/digest/"', f'url = "{url}"'), encoding="utf-8"
    )
    site.write("a.txt", digest_text("Nov 23", [("A paper", "Short.")]))
    done = run_cli("run", "--config", site.config, "--now", NOW)
    assert done.code == 0, done.err
    message = read_eml(site)
    assert message["From"].endswith(f"<digest@{domain}>")
    assert message["Message-ID"].endswith(f"@{domain}>")
