"""The editor's note is read as the inbox is: only a regular file inside the notes folder
(never a link out of it, never a pipe), within a size, its control characters removed, its
raw HTML escaped in every output, never a remote image in the email, never more than half
of it, and an edit made while a run publishes is never taken silently."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import html
import json
import os
import re
import signal

from conftest import NOW, PLAIN, digest_process, digest_text
from hypothesis import given, settings
from hypothesis import strategies as st
from test_daemon import DigestProcess

from digest.faults import PAUSE_ENV

ISSUE = "2026-11-24"


def notes(site):
    folder = site.root / "notes"
    folder.mkdir(exist_ok=True)
    return folder


def published_files(site) -> list[str]:
    folder = site.out / "issues"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_a_note_linked_out_of_the_notes_folder_is_refused_before_anything_is_published(
    site, run_cli
):
    secret = site.root / "secret.txt"
    secret.write_text("root:x:0:0:the secret outside the notes folder\n", encoding="utf-8")
    link = notes(site) / "next.md"
    link.symlink_to(secret)
    site.drop(PLAIN)
    result = run_cli("run", "--config", site.config, "--now", NOW)
    assert result.code == 3
    assert "is a symbolic link to a file outside the notes folder; not read" in result.err
    assert "nothing was published" in result.err
    assert published_files(site) == []
    rehearsal = run_cli("run", "--config", site.config, "--now", NOW, "--dry-run")
    assert rehearsal.code == 3 and "outside the notes folder" in rehearsal.err
    assert link.is_symlink(), "the link is left as it is"
    link.unlink()
    link.symlink_to("/etc/passwd")
    assert run_cli("run", "--config", site.config, "--now", NOW).code == 3
    assert published_files(site) == []
    # A link to a note inside the folder is a note like any other.
    link.unlink()
    (notes(site) / "drafts").mkdir()
    (notes(site) / "drafts" / "week.md").write_text("A week of drafts.\n", encoding="utf-8")
    link.symlink_to(notes(site) / "drafts" / "week.md")
    done = run_cli("run", "--config", site.config, "--now", NOW)
    assert done.code == 0, done.err
    page = (site.out / "issues" / f"{ISSUE}.html").read_text(encoding="utf-8")
    assert "A week of drafts." in page and "root:x" not in page


def test_a_named_pipe_as_the_note_never_hangs_the_run(site):
    os.mkfifo(notes(site) / "next.md")
    site.drop(PLAIN)
    result = digest_process("run", "--config", site.config, "--now", NOW, timeout=60)
    assert result.returncode == 3, result.stderr
    assert "a named pipe (FIFO), not a regular file; not read" in result.stderr
    assert published_files(site) == []
    dry = digest_process("run", "--config", site.config, "--now", NOW, "--dry-run", timeout=60)
    assert dry.returncode == 3 and "named pipe" in dry.stderr
    status = digest_process("status", "--config", site.config, timeout=60)
    assert status.returncode == 0, "the lock was let go"


def test_control_characters_in_a_note_and_a_pick_are_removed_with_a_warning(site, run_cli):
    (notes(site) / "next.md").write_text(
        '+++\n[[picks]]\ntitle = "No such paper"\ncomment = "Bell \\u0007 and NUL \\u0000."\n'
        "+++\nA note\x1b[31m in red,\x0c a form feed and a NUL\x00 byte.\n",
        encoding="utf-8",
    )
    site.drop(PLAIN)
    result = run_cli("run", "--config", site.config, "--now", NOW, "--json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    (warning,) = [p for p in report["problems"] if "control character" in p["message"]]
    assert warning["severity"] == "warning" and warning["file"].endswith("next.md")
    assert "removed 5 control character(s) from the note" in warning["message"]
    page = (site.out / "issues" / f"{ISSUE}.html").read_text(encoding="utf-8")
    assert "A note[31m in red, a form feed and a NUL byte." in page
    for name in (f"issues/{ISSUE}.md", f"issues/{ISSUE}.eml", "issues.xml", "atom.xml"):
        data = (site.out / name).read_bytes()
        assert not any(byte in data for byte in (0, 7, 12, 27)), name
    # The stored note keeps the control characters: a rebuild must not crash either.
    rebuilt = run_cli("rebuild", "--config", site.config)
    assert rebuilt.code == 0, rebuilt.err


def test_a_note_too_long_for_a_note_is_refused(site, run_cli):
    (notes(site) / "next.md").write_text("A long week. " * 10_000, encoding="utf-8")
    site.drop(PLAIN)
    result = run_cli("run", "--config", site.config, "--now", NOW)
    assert result.code == 3 and "over the limit of 65,536 bytes for a note" in result.err
    assert published_files(site) == []


def test_brackets_that_would_take_markdown_minutes_are_refused_at_once(site, run_cli):
    (notes(site) / "next.md").write_text("[" * 4000 + "\n", encoding="utf-8")
    site.drop(PLAIN)
    result = run_cli("run", "--config", site.config, "--now", NOW)
    assert result.code == 3
    assert "its '[' would take Markdown minutes to read (paragraph 1 has 4,000)" in result.err
    assert published_files(site) == []
    spread = ("[" * 99 + "a" * 100 + "\n\n") * 300  # few per paragraph, many in all
    (notes(site) / "next.md").write_text(spread, encoding="utf-8")
    assert run_cli("run", "--config", site.config, "--now", NOW).code == 3
    note = "".join(f"[link {n}](https://example.org/{n}) and " for n in range(300))
    (notes(site) / "next.md").write_text(note + "[a plain bracket.\n", encoding="utf-8")
    assert run_cli("run", "--config", site.config, "--now", NOW).code == 0, "links are fine"


def sent_parts(raw: bytes) -> tuple[str, str]:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    return message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content()


def later_issue(site, run, day: str = "2026-11-25"):
    """A later issue, by ``run`` (run_cli, or digest_process)."""
    label = dt.date.fromisoformat(day).strftime("%b %d").replace(" 0", " ")
    site.write(f"later-{day}.txt", digest_text(label, [(f"A paper of {day}", "Text.")]))
    return run("run", "--config", site.config, "--now", f"{day}T08:00:00Z")


def test_a_note_edited_while_the_run_publishes_is_left_for_the_next_issue_with_a_warning(site):
    note = notes(site) / "next.md"
    note.write_text("The note as the run read it.\n", encoding="utf-8")
    site.drop(PLAIN)
    victim = DigestProcess("run", "--config", site.config, "--now", NOW, "--json",
                           env={PAUSE_ENV: "committed"})  # fmt: skip
    victim.wait_for("paused at committed")
    _, how = os.waitpid(victim.process.pid, os.WUNTRACED)  # until it has stopped itself
    assert os.WIFSTOPPED(how)
    note.write_text("The note, edited for next week.\n", encoding="utf-8")
    victim.process.send_signal(signal.SIGCONT)
    assert victim.process.wait(timeout=60) == 0
    assert victim.process.stdout is not None
    report = json.loads(victim.process.stdout.read())
    (warning,) = [p for p in report["problems"] if "changed while" in p["message"]]
    assert warning["severity"] == "warning"
    assert f"changed while issue {ISSUE} was being published" in warning["message"]
    assert "the changed next.md stays, for the next issue published" in warning["message"]
    assert f"rename it to {ISSUE}.md and run 'digest rebuild {ISSUE}'" in warning["message"]
    page = (site.out / "issues" / f"{ISSUE}.html").read_text(encoding="utf-8")
    assert "as the run read it" in page and "edited for next week" not in page
    assert note.read_text(encoding="utf-8") == "The note, edited for next week.\n"
    later = later_issue(site, digest_process)
    assert later.returncode == 0, later.stderr
    page = (site.out / "issues" / "2026-11-25.html").read_text(encoding="utf-8")
    assert "edited for next week" in page, "the next issue takes it, as the warning said"
    assert not note.exists()


HOSTILE_NOTE = """A week with <script>alert(1)</script> and <img src=x onerror=alert(2)> in it,
<!-- a comment -->, \\<b>bold?</b>, `code <i>` kept as code, and <https://example.org/> linked.

    <zz>indented</zz>

```
<zz onclick=alert(3)>fenced</zz>
```
"""


def test_raw_html_in_a_note_never_runs_in_the_issues_markdown(site, run_cli):
    from readers import markdown_renderers

    (notes(site) / "next.md").write_text(HOSTILE_NOTE, encoding="utf-8")
    site.drop(PLAIN)
    assert run_cli("run", "--config", site.config, "--now", NOW).code == 0
    source = (site.out / "issues" / f"{ISSUE}.md").read_text(encoding="utf-8")
    assert "[issue page]" not in source and "`code <i>`" in source, "code stays code"
    for name, to_html in markdown_renderers().items():
        rendered = to_html(source)
        for raw in ("<script", "<img", "<!--", "<b>", "<zz", "</zz"):
            assert raw not in rendered, (name, raw)
        assert "<code>code &lt;i&gt;</code>" in rendered, name
        assert '<a href="https://example.org/">' in rendered, name
        text = html.unescape(re.sub(r"<[^>]+>", "", rendered))
        assert "<script>alert(1)</script>" in text, (name, "shown as written")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["<", ">", "`", "``", "\\", " ", "\n", "\n\n", "zz", "/", "!",
                                 "?", "a", "=", '"', "-", "    ", "```", "~~~", "*"]),
                max_size=40).map("".join))  # fmt: skip
def test_no_markdown_renderer_finds_raw_html_in_an_escaped_note(text):
    from readers import markdown_renderers

    from digest.publish.markdown_text import markdown_without_html

    escaped = markdown_without_html(text)
    for name, to_html in markdown_renderers().items():
        rendered = to_html(escaped)
        for raw in ("<zz", "</zz", "<!", "<?", "</ zz"):
            assert raw not in rendered, (name, text, escaped, rendered)


def test_an_image_in_a_note_is_a_link_in_the_email_never_a_remote_image(site, run_cli):
    (notes(site) / "next.md").write_text(
        "This week's chart: ![upvotes by day](https://example.org/chart.png).\n",
        encoding="utf-8",
    )
    site.drop(PLAIN)
    assert run_cli("run", "--config", site.config, "--now", NOW).code == 0
    text, markup = sent_parts((site.out / "issues" / f"{ISSUE}.eml").read_bytes())
    assert "<img" not in markup, "an email loads nothing from elsewhere"
    assert '<a href="https://example.org/chart.png"' in markup
    assert "[image: upvotes by day]" in markup
    assert "[image: upvotes by day] <https://example.org/chart.png>" in " ".join(text.split())
    page = (site.out / "issues" / f"{ISSUE}.html").read_text(encoding="utf-8")
    assert '<img alt="upvotes by day" src="https://example.org/chart.png"' in page


def test_a_long_note_is_cut_in_the_email_with_a_link_and_the_email_keeps_its_budget(site, run_cli):
    paragraphs = [f"Paragraph {n}: " + "a thought on this week's papers, " * 3 for n in range(500)]
    (notes(site) / "next.md").write_text("\n\n".join(paragraphs) + "\n", encoding="utf-8")
    site.drop(PLAIN)
    result = run_cli("run", "--config", site.config, "--now", NOW, "--json")
    assert result.code == 0, result.err
    (warning,) = [p for p in json.loads(result.out)["problems"] if "budget" in p["message"]]
    assert "more than half of the email's budget (max_html_bytes = 90,000)" in warning["message"]
    assert "shows its first paragraphs and links to the rest" in warning["message"]
    raw = (site.out / "issues" / f"{ISSUE}.eml").read_bytes()
    text, markup = sent_parts(raw)
    lines = markup.replace("\r\n", "\n")  # as the budget counts: UTF-8, CRLF line ends
    assert len(lines.encode("utf-8")) + lines.count("\n") < 90_000
    goes_on = "The editor's note goes on in the web version of this issue:"
    assert goes_on in markup and "Paragraph 0:" in markup and "Paragraph 499:" not in markup
    assert goes_on in " ".join(text.split())
    assert "https://example.org/digest/issues/2026-11-24.html" in text
    assert markup.count("paper: <a") >= 20, "the papers keep their half"
    page = (site.out / "issues" / f"{ISSUE}.html").read_text(encoding="utf-8")
    assert "Paragraph 499:" in page, "the page has the whole note"
    # One paragraph too long for half the email: the email has just the link.
    (notes(site) / "2026-11-24.md").write_text("word " * 12_000 + "\n", encoding="utf-8")
    assert run_cli("rebuild", ISSUE, "--config", site.config).code == 0
    text, markup = sent_parts((site.out / "issues" / f"{ISSUE}.eml").read_bytes())
    assert goes_on in markup and "word word" not in markup
