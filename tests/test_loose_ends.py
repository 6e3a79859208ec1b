"""Loose ends of the last round: a refused run creates nothing; files that are no digest
whatever their header say why; the page's header variants; UTF-16 without a byte-order
mark; the language tag; removing a note; a dry run's preview; a template's line; status
telling a file being written from one the next run takes."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

from conftest import (
    EXAMPLES,
    NOW,
    PLAIN,
    PLAIN_2,
    ROOT,
    TODAY,
    WITH_META,
    both_backends,
    digest_process,
    papers_from,
)

from digest.intake.loader import parse_text


def write(folder: Path, name: str, text: str | bytes) -> Path:
    path = folder / name
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8")
    else:
        path.write_bytes(text)
    return path


@both_backends
def test_a_run_refused_by_a_foreign_output_folder_creates_no_state(site, run_cli):
    site.drop(PLAIN)
    assert run_cli("run", "--config", site.config, "--now", "2026-11-23T08:00:00Z").code == 0
    site.drop(PLAIN_2)
    if site.dsn is None:
        fresh = site.root / "fresh" / "state.sqlite"
        refused = run_cli("run", "--config", site.config, "--state", fresh)
        assert refused.code == 2 and "a new state at" in refused.err, refused
        assert not fresh.parent.exists(), "no state file, no lock file, no folder"
    else:
        site.config.write_text('site = "fresh"\n' + site.config.read_text())
        refused = run_cli("run", "--config", site.config)
        assert refused.code == 2 and "a new state at" in refused.err, refused
        schemas = site.rows("SELECT nspname FROM pg_namespace WHERE nspname = 'digest_fresh'")
        assert schemas == [], "no site created"
    assert f"the output folder {site.out} belongs to another digest state" in refused.err


CHANGELOG = """New

v1.2.0

- Fixed a crash when the inbox is empty.
- Added the --year option.

v1.1.0

- Faster scans of large inboxes.
"""
MEETING = """Dec 1

Attendees: Ada, Grace, Alan

Ada presented the plan.

Action items

1. Grace writes the summary.
"""


def test_a_file_with_a_header_or_a_date_but_no_papers_is_rejected_saying_why(tmp_path):
    for name, text in (("CHANGES.txt", CHANGELOG), ("meeting.txt", MEETING)):
        result = parse_text(text, name, TODAY)
        assert result.rejected, name
        assert result.errors.startswith("this does not look like a digest file: "), result.errors
        assert "entries are not shaped as papers (line" in result.errors
    # The page's own header does not make a list into papers either.
    listed = "Daily Papers\n\nNov 3\n\nRelease notes\n\n- A fix.\n\nMore notes\n\n- Another.\n"
    result = parse_text(listed, "list.txt", TODAY)
    assert result.rejected and "a list or heading, not an abstract" in result.errors
    # A run rejects it with the reason, and publishes nothing of it.
    done = digest_process("parse", "--json", write(tmp_path, "CHANGES.txt", CHANGELOG))
    assert done.returncode == 1
    assert "not shaped as papers" in json.loads(done.stdout)[0]["problems"][0]["message"]


def test_the_real_digests_and_both_variants_of_the_format_still_load_fully():
    counts = {}
    for path in sorted(EXAMPLES.glob("*.txt")):
        loaded = parse_text(path.read_text(encoding="utf-8"), path.name, TODAY)
        assert not loaded.errors, (path.name, loaded.errors)
        counts[path.name] = len(loaded.papers)
    assert counts == {
        "000_0e5cb4eac3db34fe.txt": 80,  # title and abstract pairs only
        "002_b459e3eae30a13fb.txt": len(papers_from(WITH_META)),  # with metadata
        "003_73824512330c0a56.txt": 101,
    }
    assert counts["002_b459e3eae30a13fb.txt"] > 20


def test_header_variants_of_the_real_page_are_recognised():
    lines = PLAIN.read_text(encoding="utf-8").split("\n")
    assert lines[6] == "byAK and the research community" and lines[8] == "Mar 12"
    for by, date, expected in (
        ("by AK and the research community", "March 12", dt.date(2026, 3, 12)),
        ("by AK and the research community", "Sept 12", dt.date(2026, 9, 12)),
        ("byAK and the research community", "June 3", dt.date(2026, 6, 3)),
    ):
        text = "\n".join([*lines[:6], by, "", date, *lines[9:]])
        loaded = parse_text(text, "variant.txt", TODAY)
        assert loaded.digest_date == expected, (by, date)
        assert len(loaded.papers) == 80 and not loaded.problems, loaded.problems
        assert loaded.papers[0].title.startswith("Scaling Laws for Data Filtering")


def test_utf16_without_a_byte_order_mark_is_named_as_such(site, run_cli):
    text = (EXAMPLES / "003_73824512330c0a56.txt").read_text(encoding="utf-8") + "Café.\n"
    for codec, order, name in (
        ("utf-16-be", "big-endian", "UTF-16BE"),
        ("utf-16-le", "little-endian", "UTF-16LE"),
    ):
        path = site.write(f"{codec}.txt", text.encode(codec))
        before = path.read_bytes()
        done = digest_process("parse", path)
        assert done.returncode == 1
        assert f"UTF-16 ({order}) without a byte-order mark" in done.stdout, done.stdout
        assert f"iconv -f {name} -t UTF-8 FILE" in done.stdout
        assert "cp1252" not in done.stdout
        assert path.read_bytes() == before
    result = run_cli("run", "--config", site.config, "--json")
    assert result.code == 1
    reasons = [r["reason"] for r in json.loads(result.out)["files"]["rejected"]]
    assert len(reasons) == 2 and all("without a byte-order mark" in r for r in reasons)


def test_the_language_is_a_bcp47_tag_or_a_config_error(tmp_path, run_cli):
    config = tmp_path / "digest.toml"
    for tag in ("en", "en-GB", "pt-BR", "zh-Hant-TW", "es-419", "de-CH-1996", "x-lab"):
        config.write_text(f'language = "{tag}"\n')
        assert run_cli("status", "--config", config).code == 0, tag
    for tag in ("english", "en_US", "en GB", "en-", '" onload="x'):
        config.write_text(f"language = {json.dumps(tag)}\n")
        result = run_cli("status", "--config", config)
        assert result.code == 2, tag
        assert "is not a BCP 47 language tag" in result.err and "en-GB" in result.err


@both_backends
def test_rebuild_no_note_removes_an_issue_note_a_deleted_file_cannot(site, run_cli):
    notes = site.root / "notes"
    notes.mkdir()
    (notes / "next.md").write_text("A *quiet* week, said the editor.\n", encoding="utf-8")
    site.drop(PLAIN)
    assert run_cli("run", "--config", site.config, "--now", NOW).code == 0
    page = site.out / "issues" / "2026-11-24.html"
    assert "said the editor" in page.read_text(encoding="utf-8")
    own = notes / "2026-11-24.md"
    assert own.exists(), "next.md became the issue's own note"
    refused = run_cli("rebuild", "2026-11-24", "--config", site.config, "--no-note")
    assert refused.code == 2 and "notes/2026-11-24.md is still there" in refused.err
    own.unlink()
    assert run_cli("rebuild", "2026-11-24", "--config", site.config).code == 0
    assert "said the editor" in page.read_text(encoding="utf-8"), "a missing file is no change"
    done = run_cli("rebuild", "2026-11-24", "--config", site.config, "--no-note")
    assert done.code == 0, done.err
    for name in ("issues/2026-11-24.html", "issues/2026-11-24.md", "issues/2026-11-24.eml"):
        assert "said the editor" not in (site.out / name).read_text(encoding="utf-8"), name
    assert "said the editor" not in (site.out / "issues.xml").read_text(encoding="utf-8")
    assert run_cli("rebuild", "--config", site.config).code == 0
    assert "said the editor" not in page.read_text(encoding="utf-8"), "gone for good"
    whole = run_cli("rebuild", "--config", site.config, "--no-note")
    assert whole.code == 2 and "name the issue" in whole.err


def test_a_dry_run_previews_the_issue_it_would_publish(site, run_cli):
    notes = site.root / "notes"
    notes.mkdir()
    (notes / "next.md").write_text("A *quiet* week, said the editor.\n", encoding="utf-8")
    site.drop(PLAIN)
    preview = site.root / "preview"
    result = run_cli(
        "run", "--config", site.config, "--dry-run", "--preview", preview, "--now", NOW
    )
    assert result.code == 0, result.err
    assert f"preview: {preview}/issues/2026-11-24.html" in result.out
    page = (preview / "issues" / "2026-11-24.html").read_text(encoding="utf-8")
    assert "said the editor" in page and papers_from(PLAIN)[0][0] in page
    assert (preview / "issues" / "2026-11-24.eml").exists()
    assert (preview / "issues" / "2026-11-24.md").exists()
    assert sorted(str(p.relative_to(preview)) for p in preview.rglob("*")) == [
        "issues", "issues/2026-11-24", "issues/2026-11-24.eml", "issues/2026-11-24.html",
        "issues/2026-11-24.md", "issues/2026-11-24/2.html",  # 80 papers: two pages
    ]  # fmt: skip
    assert not site.out.exists() and not site.state.parent.exists(), "nothing else written"
    assert (notes / "next.md").exists(), "the note is the real run's to take"
    json_run = run_cli("run", "--config", site.config, "--dry-run", "--preview", preview,
                       "--json", "--now", NOW)  # fmt: skip
    assert json.loads(json_run.out)["preview"][1].endswith("issues/2026-11-24.html")
    inside = run_cli("run", "--config", site.config, "--dry-run", "--preview", site.out / "p")
    assert inside.code == 2 and "is the output folder" in inside.err
    alone = run_cli("run", "--config", site.config, "--preview", preview)
    assert alone.code == 2 and "--preview goes with --dry-run" in alone.err
    published = run_cli("run", "--config", site.config, "--now", NOW)
    assert published.code == 0
    assert (site.out / "issues" / "2026-11-24.html").read_text(encoding="utf-8") == page


def test_a_template_error_from_a_missing_attribute_names_the_template_and_its_line(site, run_cli):
    templates = site.root / "tpl"
    templates.mkdir()
    issue_md = (ROOT / "templates" / "issue.md").read_text(encoding="utf-8").split("\n")
    issue_md.insert(3, "{{ issue.no_such_attribute }}")
    (templates / "issue.md").write_text("\n".join(issue_md), encoding="utf-8")
    rows = (ROOT / "templates" / "issue_rows.html").read_text(encoding="utf-8").split("\n")
    rows.insert(1, "{{ no_such_name.attr }}")
    (templates / "issue_rows.html").write_text("\n".join(rows), encoding="utf-8")
    site.config.write_text(site.config.read_text().replace("[email]", 'templates = "tpl"\n[email]'))
    site.drop(PLAIN)
    # The site's pages are staged first: the index includes the rows.
    result = run_cli("run", "--config", site.config)
    assert result.code == 3
    assert f"template {templates / 'issue_rows.html'}:2: 'no_such_name' is undefined" in result.err
    (templates / "issue_rows.html").unlink()  # the built-in one; the issue's Markdown still fails
    result = run_cli("run", "--config", site.config)
    assert result.code == 3
    assert f"template {templates / 'issue.md'}:4: " in result.err, result.err
    assert "has no attribute 'no_such_attribute'" in result.err


def test_status_tells_a_file_being_written_from_one_the_next_run_takes(site, run_cli):
    site.config.write_text(site.config.read_text().replace("settle = 0", 'settle = "1h"'))
    site.drop(PLAIN)  # just written: it may still be being written
    settled = site.drop(PLAIN_2)
    os.utime(settled, (1_700_000_000, 1_700_000_000))  # written long ago
    text = run_cli("status", "--config", site.config).out
    assert "(1 new file for the next run, 1 file still being written)" in text, text
    info = json.loads(run_cli("status", "--config", site.config, "--json").out)
    assert (info["new_files"], info["waiting"]) == (1, 1)
