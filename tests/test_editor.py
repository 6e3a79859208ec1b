"""The editor's voice: a note and picks in an issue, in every output, used once, never
lost, and a review step before the email goes out."""

from __future__ import annotations

import email
import email.policy
import json
import signal

import feedparser
import html5lib
import markdown
from conftest import NOW, PLAIN, digest_text, papers_from
from smtp_server import SMTPServer
from test_daemon import DigestProcess

from digest.faults import PAUSE_ENV

NOTE = """+++
[[picks]]
title = "{first}"
comment = "Read this one first."
[[picks]]
title = "No such paper, anywhere"
+++
A *quiet* week. The [issue](https://example.org/digest/) has `code <b>` in it.

- one point
- and a <script>alert(1)</script> shown as written
"""


def first_titles(count: int = 2) -> list[str]:
    return [title for title, _ in papers_from(PLAIN)[:count]]


def write_note(site, name: str = "next.md", text: str | None = None):
    folder = site.root / "notes"
    folder.mkdir(exist_ok=True)
    title = first_titles(1)[0]
    # The pick as an editor would type it: other case, other spacing and punctuation.
    variant = title.upper().replace(":", " :").replace("  ", " ")
    path = folder / name
    path.write_text(text if text is not None else NOTE.format(first=variant), encoding="utf-8")
    return path


def parts(site, issue: str = "2026-11-24"):
    raw = (site.out / "issues" / f"{issue}.eml").read_bytes()
    message = email.message_from_bytes(raw, policy=email.policy.default)
    return message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content()


def test_a_note_and_its_picks_open_the_issue_in_every_output(site, run_cli):
    note = write_note(site)
    site.drop(PLAIN)
    result = run_cli("run", "--config", site.config, "--now", NOW, "--json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert any("'No such paper, anywhere' matches no paper" in p["message"]
               and p["severity"] == "warning" for p in report["problems"])  # fmt: skip
    page = (site.out / "issues" / "2026-11-24.html").read_text(encoding="utf-8")
    tree = html5lib.parse(page, namespaceHTMLElements=False)
    (section,) = [s for s in tree.iter("section") if s.get("class") == "note"]
    assert section.find(".//em").text == "quiet"
    assert section.find(".//a").get("href") == "https://example.org/digest/"
    assert section.find(".//code").text == "code <b>"
    assert "<script>alert(1)</script>" in "".join(section.itertext()), "shown, not run"
    assert not list(tree.iter("script"))
    (picks,) = [s for s in tree.iter("section") if s.get("class") == "picks"]
    title = first_titles(1)[0]
    assert "".join(picks.find(".//li").itertext()) == f"{title}: Read this one first."
    assert page.count("Editor's pick</p>") == 1, "marked in its section too"
    text, html = parts(site)
    flat = " ".join(text.split())
    assert "A quiet week. The issue <https://example.org/digest/> has code <b> in it." in flat
    assert "<em>" not in text and "== Editor's picks ==" in text and title.split()[0] in text
    assert "<em>quiet</em>" in html and "Editor's pick" in html
    md = (site.out / "issues" / "2026-11-24.md").read_text(encoding="utf-8")
    assert "A *quiet* week. The [issue](https://example.org/digest/)" in md, "verbatim"
    assert "<em>quiet</em>" in markdown.markdown(md)
    entry = feedparser.parse((site.out / "issues.xml").read_bytes()).entries[0]
    assert "<em>quiet</em>" in entry.content[0].value
    # Used once: renamed to the issue's own note, and the next issue has none.
    assert not note.exists() and (note.parent / "2026-11-24.md").exists()
    site.write("later.txt", digest_text("Nov 25", [("A later paper", "Text.")]))
    assert run_cli("run", "--config", site.config, "--now", "2026-11-25T08:00:00Z").code == 0
    later = (site.out / "issues" / "2026-11-25.html").read_text(encoding="utf-8")
    assert 'class="note"' not in later


def test_a_note_with_a_javascript_link_fails_the_run_and_publishes_nothing(site, run_cli):
    note = write_note(site, text="Click [here](javascript:alert(1)).\n")
    site.drop(PLAIN)
    result = run_cli("run", "--config", site.config, "--now", NOW)
    assert result.code == 3
    assert "a javascript: link (href) is not allowed" in result.err
    assert result.err.count("nothing was published") == 1
    rehearsal = run_cli("run", "--config", site.config, "--now", NOW, "--dry-run")
    assert rehearsal.code == 3, "a dry run must find what the run would fail on"
    assert "a javascript: link (href) is not allowed" in rehearsal.err
    assert not (site.out / "issues").exists() or not list((site.out / "issues").iterdir())
    assert note.exists(), "the note stays for the next run"


def test_a_note_survives_a_kill_at_any_moment_and_is_used_once(site, run_cli):
    note = write_note(site)
    site.drop(PLAIN)
    for step in ("rendered", "written"):
        victim = DigestProcess("run", "--config", site.config, "--now", NOW,
                               env={PAUSE_ENV: step})  # fmt: skip
        victim.wait_for(f"paused at {step}")
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait()
        if step == "rendered":
            assert note.exists(), "killed before the commit: the note is still next"
    # Killed after the commit: the next run finishes the issue and renames the note.
    result = run_cli("run", "--config", site.config, "--now", "2026-11-25T08:00:00Z")
    assert result.code == 0, result.err
    assert not note.exists() and (note.parent / "2026-11-24.md").exists()
    page = (site.out / "issues" / "2026-11-24.html").read_text(encoding="utf-8")
    assert "A <em>quiet</em> week" in page


def test_with_review_nothing_is_sent_until_told_and_the_edit_is_what_is_sent(site, run_cli):
    with SMTPServer() as server:
        site.config.write_text(
            site.config.read_text()
            + f'smtp_host = "127.0.0.1"\nsmtp_port = {server.port}\nsecurity = "none"\n'
            "send_after_run = true\nreview = true\n"
        )
        write_note(site, text="First draft.\n")
        site.drop(PLAIN)
        assert run_cli("run", "--config", site.config, "--now", NOW).code == 0
        assert server.mailbox.received == []
        status = run_cli("status", "--config", site.config)
        assert "waiting for review" in status.out and "digest rebuild 2026-11-24" in status.out
        ids = [e.id for e in feedparser.parse((site.out / "atom.xml").read_bytes()).entries]
        own = site.root / "notes" / "2026-11-24.md"
        own.write_text("The edited note, after a careful read.\n", encoding="utf-8")
        early = run_cli("send", "--config", site.config)
        assert early.code == 3 and server.mailbox.received == [], "the old note would go out"
        assert "notes/2026-11-24.md changed after issue 2026-11-24 was built" in early.err
        assert "'digest rebuild 2026-11-24'" in early.err
        rebuilt = run_cli("rebuild", "2026-11-24", "--config", site.config)
        assert rebuilt.code == 0, rebuilt.err
        page = (site.out / "issues" / "2026-11-24.html").read_text(encoding="utf-8")
        assert "The edited note" in page and "First draft" not in page
        assert ids == [e.id for e in feedparser.parse((site.out / "atom.xml").read_bytes()).entries]
        assert "The edited note" in parts(site)[0]
        sent = run_cli("send", "--config", site.config)
        assert sent.code == 0 and len(server.mailbox.received) == 1
        message = email.message_from_bytes(server.mailbox.received[0].data,
                                           policy=email.policy.default)  # fmt: skip
        assert "The edited note" in message.get_body(("plain",)).get_content()
        assert "waiting for review" not in run_cli("status", "--config", site.config).out


def test_run_send_never_mails_an_issue_waiting_for_review(site, run_cli):
    with SMTPServer() as server:
        site.config.write_text(
            site.config.read_text()
            + f'smtp_host = "127.0.0.1"\nsmtp_port = {server.port}\nsecurity = "none"\n'
            "review = true\n"
        )
        site.drop(PLAIN)
        result = run_cli("run", "--config", site.config, "--now", NOW, "--send")
        assert result.code == 0, result.err
        assert server.mailbox.received == [], "an unreviewed issue is never mailed"
        assert "issue 2026-11-24: review = true: not sent; read it, then 'digest send'" in (
            result.out
        )
        site.write("more.txt", digest_text("Nov 25", [("A later paper", "Text.")]))
        later = ("--now", "2026-11-25T08:00:00Z", "--send", "--json")
        as_json = run_cli("run", "--config", site.config, *later)
        assert json.loads(as_json.out)["held_for_review"].startswith("issue 2026-11-25: review")
        assert server.mailbox.received == []
        sent = run_cli("send", "--config", site.config)
        assert sent.code == 0 and len(server.mailbox.received) == 1, "'digest send' sends it"
