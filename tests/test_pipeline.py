"""Run after run, exactly the papers never seen before are published, once each."""

from __future__ import annotations

import datetime as dt
import json
import os
import posixpath
import shutil
import sqlite3

import pytest
from conftest import PLAIN, PLAIN_2, WITH_META, both_backends, digest_text, papers_from

from digest.dates import short_date


def run_json(run_cli, site, *extra):
    result = run_cli("run", "--config", site.config, "--json", *extra)
    assert result.code in (0, 1), result.err
    return result.code, json.loads(result.out)


def published_titles(site) -> list[str]:
    return [row[0] for row in site.rows(
        "SELECT title FROM papers WHERE issue_seq IS NOT NULL ORDER BY id")]  # fmt: skip


@both_backends
def test_day_by_day_only_new_papers_are_published(site, run_cli):
    pairs = papers_from(PLAIN)
    day1 = site.write("day1.txt", digest_text("Mar 11", pairs[:30]))
    code, first = run_json(run_cli, site, "--now", "2026-03-11T08:00:00Z")
    assert (code, first["issue"], first["new_papers"], first["papers_parsed"]) == (
        0,
        "2026-03-11",
        30,
        30,
    )
    assert first["files"]["read"] == [str(day1)]

    # Day 2 repeats ten of day 1 (one with its title in another case, spacing and
    # punctuation) and brings twenty new ones.
    repeat = [(t.upper().replace(" ", "  ").replace(":", " :"), a) for t, a in pairs[20:21]]
    site.write("day2.txt", digest_text("Mar 12", pairs[21:30] + repeat + pairs[30:50]))
    code, second = run_json(run_cli, site, "--now", "2026-03-12T08:00:00Z")
    assert (second["issue"], second["new_papers"], second["papers_parsed"]) == (
        "2026-03-12",
        20,
        30,
    )
    assert (second["files"]["skipped"], second["files"]["copies"]) == (1, [])

    # Nothing new: nothing published, outputs untouched.
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in site.out.rglob("*") if p.is_file()}
    code, third = run_json(run_cli, site, "--now", "2026-03-13T08:00:00Z")
    assert (code, third["issue"], third["new_papers"], third["written"]) == (0, None, 0, [])
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in site.out.rglob("*") if p.is_file()}
    assert after == before

    assert published_titles(site) == [t for t, _ in pairs[:50]]


@both_backends
def test_a_renamed_copy_is_not_read_again_and_an_edited_file_is(site, run_cli):
    pairs = papers_from(PLAIN)
    original = site.write("a.txt", digest_text("Mar 11", pairs[:5]))
    run_json(run_cli, site, "--now", "2026-03-11T08:00:00Z")
    shutil.copyfile(original, site.inbox / "copy of a.txt")
    _, report = run_json(run_cli, site, "--now", "2026-03-12T08:00:00Z")
    assert report["files"]["read"] == []
    assert report["files"]["skipped"] == 2
    assert report["files"]["copies"] == [str(site.inbox / "copy of a.txt")]

    original.write_text(digest_text("Mar 11", pairs[:6]), encoding="utf-8")
    _, report = run_json(run_cli, site, "--now", "2026-03-12T09:00:00Z")
    assert report["files"]["read"] == [str(original)]
    assert report["new_papers"] == 1
    assert report["issue"] == "2026-03-12"


@both_backends
def test_a_paper_in_several_new_files_is_published_once(site, run_cli):
    pairs = papers_from(PLAIN)
    site.write("x.txt", digest_text("Mar 11", pairs[:10]))
    site.write("y.txt", digest_text("Mar 12", pairs[5:15]))
    _, report = run_json(run_cli, site, "--now", "2026-03-12T08:00:00Z")
    assert report["new_papers"] == 15 and report["papers_parsed"] == 20
    assert published_titles(site) == [t for t, _ in pairs[:15]]


@both_backends
def test_files_are_taken_in_digest_date_order_then_name(site, run_cli):
    site.write("a-late.txt", digest_text("Mar 14", [("Late paper", "Late.")]))
    site.write("b-early.txt", digest_text("Mar 2", [("Early paper", "Early.")]))
    site.write("c-early.txt", digest_text("Mar 2", [("Early too", "Early.")]))
    _, report = run_json(run_cli, site, "--today", "2026-03-20")
    assert [os.path.basename(f) for f in report["files"]["read"]] == [
        "b-early.txt",
        "c-early.txt",
        "a-late.txt",
    ]
    assert published_titles(site) == ["Early paper", "Early too", "Late paper"]


@both_backends
def test_second_and_third_issue_the_same_day(site, run_cli):
    ids = []
    for number in range(3):
        site.write(f"f{number}.txt", digest_text("Mar 4", [(f"Paper {number}", "Text.")]))
        _, report = run_json(run_cli, site, "--now", f"2026-03-04T0{number}:00:00Z")
        ids.append(report["issue"])
    assert ids == ["2026-03-04", "2026-03-04-2", "2026-03-04-3"]
    index = (site.out / "index.html").read_text(encoding="utf-8")
    table = index[index.index("<table") :]
    assert table.index("2026-03-04-3") < table.index("2026-03-04-2")


@both_backends
def test_upvotes_and_last_seen_follow_the_latest_listing(site, run_cli):
    meta1 = ["  • 3 authors\n·\nMar 1, 2026 4"]
    meta2 = ["  • 3 authors\n·\nMar 1, 2026 40"]
    site.write("one.txt", digest_text("Mar 4", [("Popular", "Text.")], meta=meta1))
    run_json(run_cli, site, "--now", "2026-03-04T08:00:00Z")
    site.write("two.txt", digest_text("Mar 5", [("Popular", "Text.")], meta=meta2))
    run_json(run_cli, site, "--now", "2026-03-05T08:00:00Z")
    ((upvotes, first_file, first_seen, last_seen),) = site.rows(
        "SELECT upvotes, first_file, first_seen, last_seen FROM papers"
    )
    ((sightings,),) = site.rows("SELECT count(*) FROM sightings")
    assert upvotes == 40
    assert first_file.endswith("one.txt")
    assert first_seen.startswith("2026-03-04") and last_seen.startswith("2026-03-05")
    assert sightings == 2


@both_backends
def test_the_real_digests_overlap_and_are_counted_right(site, run_cli):
    for path in (PLAIN, WITH_META, PLAIN_2):
        site.drop(path)
    code, report = run_json(run_cli, site, "--now", "2026-11-24T08:00:00Z")
    assert code == 0 and report["papers_parsed"] == 286
    expected = {title for path in (PLAIN, WITH_META, PLAIN_2) for title, _ in papers_from(path)}
    from digest.model import title_key

    assert report["new_papers"] == len({title_key(t) for t in expected})


def test_dry_run_shows_what_is_new_and_touches_nothing(site, run_cli):
    site.drop(PLAIN)
    result = run_cli("run", "--config", site.config, "--dry-run")
    assert result.code == 0
    assert "80 new" in result.out and "dry run: nothing was written" in result.out
    assert "new: Scaling Laws for Data Filtering" in result.out
    assert not site.out.exists() and not site.state.exists()
    run_cli("run", "--config", site.config)
    state_bytes = site.state.read_bytes()
    site.drop(PLAIN_2)
    _, report = run_json(run_cli, site, "--dry-run")
    assert report["new_papers"] > 0 and report["issue"] is None and report["written"] == []
    assert site.state.read_bytes() == state_bytes


@both_backends
def test_unwritable_output_fails_and_the_next_run_publishes_the_same_papers(site, run_cli):
    if os.geteuid() == 0:
        # root ignores permissions: make the output path a file instead of a folder.
        site.out.write_text("not a folder")
    else:
        site.out.mkdir()
        site.out.chmod(0o500)
    site.drop(PLAIN)
    result = run_cli("run", "--config", site.config)
    assert result.code == 3
    assert "cannot write" in result.err and "nothing was published" in result.err
    assert site.rows("SELECT count(*) FROM papers") == [(0,)]
    assert site.rows("SELECT result FROM runs") == [("failed",)]
    if site.out.is_file():
        site.out.unlink()
    else:
        site.out.chmod(0o700)
    _, report = run_json(run_cli, site)
    assert report["new_papers"] == 80


def test_a_rename_that_fails_half_way_leaves_no_feed_naming_a_missing_issue(site, run_cli):
    """The issue's files go in place before the index and feeds that link to them:
    should a rename fail (or the run be killed) after the state recorded the issue, no
    reader's feed names a page that is not there, and the next run finishes it."""
    site.drop(PLAIN)
    assert run_cli("run", "--config", site.config, "--now", "2026-11-24T08:00:00Z").code == 0
    site.drop(PLAIN_2)
    blocker = site.out / "issues" / "2026-12-01.html.br"  # where the page's sibling goes
    (blocker / "x").mkdir(parents=True)
    result = run_cli("run", "--config", site.config, "--now", "2026-12-01T08:00:00Z")
    assert result.code == 3 and "could not all be written" in result.err, result.err
    assert not (site.out / "issues" / "2026-12-01.html").exists()
    for name in ("index.html", "atom.xml", "rss.xml", "feed.json", "issues.xml"):
        assert "2026-12-01" not in (site.out / name).read_text(encoding="utf-8"), name
    shutil.rmtree(blocker)
    assert run_cli("run", "--config", site.config, "--now", "2026-12-02T08:00:00Z").code == 0
    assert (site.out / "issues" / "2026-12-01.html").exists()
    assert "2026-12-01" in (site.out / "atom.xml").read_text(encoding="utf-8")


def test_state_from_a_newer_digest_is_refused_and_left_alone(site, run_cli):
    site.state.parent.mkdir(parents=True)
    with sqlite3.connect(site.state) as db:
        db.execute("PRAGMA application_id = 1145521491")
        db.execute("CREATE TABLE x (y)")
        db.execute("PRAGMA user_version = 99")
    before = site.state.read_bytes()
    result = run_cli("run", "--config", site.config)
    assert result.code == 2
    assert "schema version 99" in result.err and "upgrade digest" in result.err
    assert site.state.read_bytes() == before


@pytest.mark.parametrize(
    "content", [b"garbage, not a database" * 100, b"SQLite format 3\x00" + b"\x01" * 200]
)
def test_corrupt_state_is_refused_with_a_hint(site, run_cli, content):
    site.state.parent.mkdir(parents=True)
    site.state.write_bytes(content)
    result = run_cli("run", "--config", site.config)
    assert result.code == 2
    assert "not a readable digest state" in result.err and "backup" in result.err
    assert site.state.read_bytes() == content


def test_a_foreign_sqlite_file_is_not_taken_for_a_state(site, run_cli):
    site.state.parent.mkdir(parents=True)
    with sqlite3.connect(site.state) as db:
        db.execute("CREATE TABLE notes (text)")
    result = run_cli("run", "--config", site.config)
    assert result.code == 2 and "not a digest state" in result.err


@both_backends
def test_a_rejected_file_taken_out_of_the_inbox_is_no_longer_reported(site, run_cli):
    pairs = papers_from(PLAIN)
    site.write("good.txt", digest_text("Mar 11", pairs[:3]))
    broken = site.write("broken.txt", b"caf\xe9 \x80 not UTF-8 text\n\nmore")
    code, first = run_json(run_cli, site, "--now", "2026-03-11T08:00:00Z")
    assert code == 1 and [r["file"] for r in first["files"]["rejected"]] == [str(broken)]

    broken.unlink()
    code, second = run_json(run_cli, site, "--now", "2026-03-12T08:00:00Z")
    assert (code, second["files"]["rejected"]) == (0, [])
    status = json.loads(run_cli("status", "--config", site.config, "--json").out)
    assert status["rejected"] == []

    # Put back, it is rejected again: the store forgot it, it did not just hide it.
    site.write("broken.txt", b"caf\xe9 \x80 not UTF-8 text\n\nmore")
    code, third = run_json(run_cli, site, "--now", "2026-03-13T08:00:00Z")
    assert code == 1 and [r["file"] for r in third["files"]["rejected"]] == [str(broken)]


@both_backends
def test_old_files_of_every_kind_are_told_apart_without_reading_them(site, run_cli):
    """Taken in, duplicate, rejected and edited files side by side in one inbox."""
    pairs = papers_from(PLAIN)
    taken = site.write("a.txt", digest_text("Mar 11", pairs[:3]))
    site.write("b-copy.txt", taken.read_bytes())
    broken = site.write("c-broken.txt", b"caf\xe9 \x80 not UTF-8 text\n\nmore")
    edited = site.write("d.txt", digest_text("Mar 11", pairs[3:5]))
    _, first = run_json(run_cli, site, "--now", "2026-03-11T08:00:00Z")
    # A copy arriving with its original is found once read, and not taken in twice.
    assert first["files"]["read"] == [str(taken), str(edited)]
    assert first["files"]["copies"] == [str(site.inbox / "b-copy.txt")]
    assert (first["papers_parsed"], first["new_papers"]) == (5, 5)

    edited.write_text(digest_text("Mar 11", pairs[3:6]), encoding="utf-8")
    code, report = run_json(run_cli, site, "--now", "2026-03-12T08:00:00Z")
    assert code == 1
    assert report["files"]["read"] == [str(edited)]
    assert (report["files"]["skipped"], report["files"]["copies"]) == (2, [])
    assert [r["file"] for r in report["files"]["rejected"]] == [str(broken)]
    assert report["new_papers"] == 1


@both_backends
def test_the_index_lists_the_newest_issues_and_a_page_per_year_lists_the_rest(
    site, run_cli, monkeypatch
):
    from lxml import html

    from digest.publish import publisher as publish

    monkeypatch.setattr(publish, "INDEX_ISSUES", 2)
    pairs = papers_from(PLAIN)
    written = []
    for number, day in enumerate(["2025-12-30", "2026-01-02", "2026-01-03"]):
        listed = short_date(dt.date.fromisoformat(day)).rsplit(",", 1)[0]  # "Dec 30"
        site.write(f"{day}.txt", digest_text(listed, pairs[number * 5 : number * 5 + 5]))
        _, report = run_json(run_cli, site, "--now", f"{day}T08:00:00Z")
        written.append({os.path.relpath(p, site.out) for p in report["written"]})

    def links(page: str) -> list[str]:
        tree = html.fromstring((site.out / page).read_bytes())
        # The site's own links are relative to the page: each as a path from the folder.
        folder = posixpath.dirname(page)
        return [posixpath.normpath(posixpath.join(folder, a.get("href"))) for a in tree.iter("a")]

    index = links("index.html")
    assert [link for link in index if link.startswith("issues/")] == [
        "issues/2026-01-03.html",
        "issues/2026-01-02.html",
    ]
    assert [link for link in index if link.startswith("archive/")] == [
        "archive/2026.html",
        "archive/2025.html",
    ]
    assert [link for link in links("archive/2025.html") if link.startswith("issues/")] == [
        "issues/2025-12-30.html"
    ]
    assert [link for link in links("archive/2026.html") if link.startswith("issues/")] == [
        "issues/2026-01-03.html",
        "issues/2026-01-02.html",
    ]
    # A run rewrites the index and its own year's page, not every year's.
    assert "archive/2026.html" in written[2] and "archive/2025.html" not in written[2]

    # A missing year page is written again by the next run; rebuild writes every year.
    (site.out / "archive" / "2025.html").unlink()
    site.write("2026-01-04.txt", digest_text("2026-01-04", pairs[20:22]))
    _, report = run_json(run_cli, site, "--now", "2026-01-04T08:00:00Z")
    assert str(site.out / "archive" / "2025.html") in report["written"]
    before = (site.out / "archive" / "2025.html").read_bytes()
    (site.out / "archive" / "2025.html").write_text("from an older template")
    result = run_cli("rebuild", "--config", site.config)
    assert result.code == 0, result.err
    assert (site.out / "archive" / "2025.html").read_bytes() == before


@both_backends
def test_an_edited_file_and_a_new_one_with_the_same_content_are_taken_in_once(site, run_cli):
    pairs = papers_from(PLAIN)
    edited = site.write("b.txt", digest_text("Mar 11", pairs[:3]))
    run_json(run_cli, site, "--now", "2026-03-11T08:00:00Z")

    same = digest_text("Mar 12", pairs[3:6])
    edited.write_text(same, encoding="utf-8")
    newcomer = site.write("a.txt", same)  # same date, earlier name: read first
    code, report = run_json(run_cli, site, "--now", "2026-03-12T08:00:00Z")
    assert code == 0
    assert report["files"]["read"] == [str(newcomer)]
    assert report["files"]["copies"] == [str(edited)]
    assert report["new_papers"] == 3


@both_backends
def test_mark_seen_takes_a_backlog_in_without_publishing_it(site, run_cli):
    site.drop(PLAIN)
    code, report = run_json(run_cli, site, "--mark-seen", "--now", "2026-03-11T08:00:00Z")
    assert (code, report["issue"], report["new_papers"], report["marked_seen"]) == (0, None, 0, 80)
    assert report["written"] == [] and not site.out.exists()
    status = json.loads(run_cli("status", "--config", site.config, "--json").out)
    assert (status["papers"], status["issues"], status["last_run"]["result"]) == (
        80,
        0,
        "marked-seen",
    )

    # The backlog's papers never come back new; what is new after it is published.
    pairs = papers_from(PLAIN)
    fresh = ("A paper after the backlog", "It came later.")
    site.write("next.txt", digest_text("Mar 12", [*pairs[:5], fresh]))
    code, report = run_json(run_cli, site, "--now", "2026-03-12T08:00:00Z")
    assert (code, report["issue"], report["new_papers"], report["marked_seen"]) == (
        0,
        "2026-03-12",
        1,
        0,
    )
    assert published_titles(site) == [fresh[0]]


def test_mark_seen_says_what_it_did_and_is_not_a_dry_run(site, run_cli):
    site.drop(PLAIN)
    with pytest.raises(SystemExit) as refused:
        run_cli("run", "--config", site.config, "--mark-seen", "--dry-run")
    assert refused.value.code == 2
    result = run_cli("run", "--config", site.config, "--mark-seen")
    assert result.code == 0, result.err
    assert "80 new papers marked as seen; nothing published." in result.out
