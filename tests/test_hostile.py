"""Hostile input: every bad file reported, every good paper published once, nothing altered,
nothing unsafe in any output."""

from __future__ import annotations

import email
import email.policy
import hashlib
import json
import sqlite3
from pathlib import Path
from urllib.parse import urlsplit

import feedparser
import html5lib
import pytest
from conftest import (
    DATA,
    NOW,
    PLAIN,
    WITH_META,
    digest_text,
    papers_from,
    shown_title,
    whole_issue,
)
from lxml import etree

from digest.model import title_key

HOSTILE = DATA / "hostile"
EXPECTED = json.loads((DATA / "hostile-expected.json").read_text(encoding="utf-8"))


def fingerprint(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def all_html(out: Path) -> list[tuple[str, str]]:
    pages = [(str(p), p.read_text(encoding="utf-8")) for p in out.rglob("*.html")]
    for eml in out.rglob("*.eml"):
        message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
        pages.append((str(eml), message.get_body(("html",)).get_content()))
    for feed in ("rss.xml", "atom.xml"):
        for entry in feedparser.parse((out / feed).read_bytes()).entries:
            body = entry.content[0].value if "content" in entry else entry.summary
            pages.append((f"{feed}:{entry.id}", body))
    return pages


def assert_nothing_unsafe(out: Path) -> None:
    for name, page in all_html(out):
        tree = html5lib.parse(page, namespaceHTMLElements=False)
        for element in tree.iter():
            tag = element.tag if isinstance(element.tag, str) else ""
            assert tag not in ("script", "iframe", "object", "embed", "form"), (name, tag)
            if tag == "svg":
                assert name.endswith("index.html"), "only the archive's own chart is SVG"
            if tag == "style":
                assert name.endswith(".html"), "only our own web pages carry a style sheet"
            for attribute, value in element.attrib.items():
                assert not attribute.startswith("on"), (name, tag, attribute)
                if tag == "link" and element.get("rel") == "icon" and attribute == "href":
                    # The page's own icon, inline, so that no page asks for a favicon.
                    assert value.startswith("data:image/svg+xml,"), (name, value)
                elif attribute in ("href", "src", "action"):
                    assert urlsplit(value).scheme in ("http", "https", "mailto", ""), (name, value)


@pytest.fixture
def hostile_run(site, run_cli):
    for path in sorted(HOSTILE.iterdir()):
        site.drop(path)
    site.drop(PLAIN)
    site.drop(WITH_META)
    before = fingerprint(site.inbox)
    result = run_cli("run", "--config", site.config, "--json", "--now", NOW)
    return site, result, before


def test_mixed_inbox_runs_to_the_end_and_reports_every_bad_file(hostile_run):
    site, result, before = hostile_run
    assert result.code == 1
    report = json.loads(result.out)
    rejected = {Path(item["file"]).name: item["reason"] for item in report["files"]["rejected"]}
    expected_rejected = {name: e["rejected"] for name, e in EXPECTED.items() if "rejected" in e}
    assert rejected.keys() == expected_rejected.keys()
    for name, reason in expected_rejected.items():
        assert reason in rejected[name], (name, rejected[name])
    read = {Path(path).name for path in report["files"]["read"]}
    assert read == {n for n, e in EXPECTED.items() if "papers" in e} | {PLAIN.name, WITH_META.name}
    problems = {(Path(p["file"]).name, f"{p['line']}:{p['severity']}") for p in report["problems"]}
    for name, outcome in EXPECTED.items():
        for problem in outcome.get("problems", []):
            assert (name, problem) in problems
    good = sum(e.get("new", e.get("papers", 0)) for e in EXPECTED.values())
    real = len({title_key(t) for path in (PLAIN, WITH_META) for t, _ in papers_from(path)})
    assert report["new_papers"] == good + real
    assert fingerprint(site.inbox) == before, "no input file was altered"


def test_every_good_paper_is_published_once_and_bad_files_stay_reported(hostile_run, run_cli):
    site, _, before = hostile_run
    again = run_cli("run", "--config", site.config, "--json", "--now", "2026-11-25T08:00:00Z")
    report = json.loads(again.out)
    assert report["new_papers"] == 0 and report["issue"] is None
    assert len(report["files"]["rejected"]) == sum("rejected" in e for e in EXPECTED.values())
    status = json.loads(run_cli("status", "--config", site.config, "--json").out)
    assert {Path(r["file"]).name for r in status["rejected"]} == {
        n for n, e in EXPECTED.items() if "rejected" in e
    }
    with sqlite3.connect(site.state) as db:
        keys = [row[0] for row in db.execute("SELECT key FROM papers")]
    assert len(keys) == len(set(keys))
    page = whole_issue(site.out, "2026-11-24")
    assert page.count("<article ") == len(keys)
    assert fingerprint(site.inbox) == before


def test_a_fixed_copy_of_a_rejected_file_is_taken_in_next_run(hostile_run, run_cli):
    site, _, _ = hostile_run
    broken = site.inbox / "cp1252.txt"
    broken.write_text(broken.read_bytes().decode("cp1252"), encoding="utf-8")
    report = json.loads(run_cli("run", "--config", site.config, "--json").out)
    assert report["files"]["read"] == [str(broken)] and report["new_papers"] == 1
    assert "cp1252.txt" not in {Path(r["file"]).name for r in report["files"]["rejected"]}


def test_no_output_carries_script_handlers_or_unsafe_links(hostile_run):
    site, _, _ = hostile_run
    assert_nothing_unsafe(site.out)
    page = whole_issue(site.out, "2026-11-24")
    shown = " ".join("".join(html5lib.parse(page, namespaceHTMLElements=False).itertext()).split())
    assert "<script>alert(1)</script> Script title" in shown
    assert '<a href="javascript:alert(3)">here</a>' in shown
    assert "[md link](javascript:alert(5))" in shown


def test_feeds_from_control_characters_and_markup_parse_cleanly(hostile_run):
    site, _, _ = hostile_run
    for name in ("rss.xml", "atom.xml"):
        data = (site.out / name).read_bytes()
        etree.fromstring(data)
        feed = feedparser.parse(data)
        assert not feed.bozo, feed.get("bozo_exception")
        titles = {shown_title(entry) for entry in feed.entries}
        assert "Control chars[31m in a title" in titles
        assert "Lone surrogate  title" in titles
        assert "<script>alert(1)</script> Script title" in titles


def test_unicode_is_kept_exactly(hostile_run):
    site, _, _ = hostile_run
    atom = feedparser.parse((site.out / "atom.xml").read_bytes())
    titles = {shown_title(entry) for entry in atom.entries}
    assert "עברית العربية right-to-left title" in titles
    assert (
        "Cafe\u0301 combining marks: e\u0301 a\u0308 \U0001f680\U0001f469\u200d\U0001f52c emoji"
        in titles
    )
    assert not any(t.startswith("Caf\u00e9 combining") for t in titles), (
        "NFC twin is the same paper"
    )
    page = whole_issue(site.out, "2026-11-24")
    assert "\u202eRTL override\u202c and \u200bzero\u200c-width\u200d joiners" in page
    assert "漢字とかな CJK 한국어 text." in page


def test_huge_abstract_and_title_are_processed(site, run_cli):
    abstract = ("word " * 200_000).strip() + "."
    title = "T" * 10_000
    site.write("long.txt", digest_text("Mar 4", [(title, abstract), ("Short", "Fine.")]))
    result = run_cli("run", "--config", site.config, "--json", "--now", NOW)
    assert result.code == 0
    assert json.loads(result.out)["new_papers"] == 2
    page = whole_issue(site.out, "2026-11-24")
    assert abstract in page and title in page
    message = email.message_from_bytes(
        (site.out / "issues" / "2026-11-24.eml").read_bytes(), policy=email.policy.default
    )
    assert len(message.get_body(("html",)).get_content().encode()) < 100_000


def test_a_file_over_the_size_limit_is_rejected_unread(site, run_cli):
    huge = site.inbox / "huge.txt"
    with huge.open("wb") as handle:
        handle.truncate(100 * 1024 * 1024)  # 100 MB, sparse: costs no disk
    site.drop(PLAIN)
    result = run_cli("run", "--config", site.config, "--json")
    report = json.loads(result.out)
    assert result.code == 1
    (rejected,) = report["files"]["rejected"]
    assert (
        rejected["file"] == str(huge)
        and "larger than the limit of 33,554,432 bytes" in rejected["reason"]
    )
    assert report["new_papers"] == 80
    status = json.loads(run_cli("status", "--config", site.config, "--json").out)
    assert [r["file"] for r in status["rejected"]] == [str(huge)]
    site.config.write_text(
        site.config.read_text().replace("[email]", 'max_file_size = "200MB"\n[email]')
    )
    again = json.loads(run_cli("run", "--config", site.config, "--json").out)
    (rejected,) = again["files"]["rejected"]
    assert "binary data" in rejected["reason"]


def test_a_template_that_lets_markup_through_is_refused(site, run_cli):
    templates = site.root / "tpl"
    templates.mkdir()
    builtin = (Path(__file__).parent.parent / "templates" / "issue.html").read_text()
    (templates / "issue.html").write_text(
        builtin.replace("{{ paper.title }}</a>", "{{ paper.title | safe }}</a>")
    )
    site.config.write_text(site.config.read_text().replace("[email]", 'templates = "tpl"\n[email]'))
    site.write("x.txt", digest_text("Mar 4", [("<script>alert(1)</script>", "Text.")]))
    result = run_cli("run", "--config", site.config)
    assert result.code == 3
    assert "refusing to write issues/" in result.err and "<script> element" in result.err
    assert not (site.out / "issues").exists() or not list((site.out / "issues").iterdir())
    with sqlite3.connect(site.state) as db:
        assert db.execute("SELECT count(*) FROM papers").fetchone()[0] == 0


def test_output_paths_never_come_from_input(site, run_cli):
    site.write("name with .. and spaces.txt", digest_text("Mar 4", [("../../../evil", "Text.")]))
    assert run_cli("run", "--config", site.config, "--now", NOW).code == 0
    written = {p.relative_to(site.root) for p in site.root.rglob("*") if p.is_file()}
    outside = {p for p in written if p.parts[0] not in ("out", "state", "inbox", "digest.toml")}
    assert outside == set()
    assert {p.name for p in (site.out / "issues").iterdir()} == {
        "2026-11-24.md",
        "2026-11-24.html",
        "2026-11-24.html.gz",
        "2026-11-24.html.br",
        "2026-11-24.eml",
    }
