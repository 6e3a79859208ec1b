"""Precompressed siblings (issue 25): beside each page and feed, a ``.gz`` and a ``.br``
holding exactly its bytes, written with it (so never older than it), the same bytes for
the same state, for the servers that send them as they are."""

from __future__ import annotations

import gzip
from pathlib import Path

import brotli
from conftest import NOW, digest_process, digest_text, published_files

PAGES = (".html", ".xml", ".json")


def run(site, now: str = NOW) -> None:
    done = digest_process("run", "--config", site.config, "--now", now)
    assert done.returncode == 0, done.stderr


def pages_of(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob("*") if p.is_file() and p.suffix in PAGES)


def assert_siblings_hold(page: Path) -> None:
    data = page.read_bytes()
    assert gzip.decompress(Path(f"{page}.gz").read_bytes()) == data, page
    assert brotli.decompress(Path(f"{page}.br").read_bytes()) == data, page


def test_every_page_and_feed_has_its_siblings_and_nothing_else_does(site):
    site.write("a.txt", digest_text("Nov 23", [("A paper", "Its abstract.")]))
    run(site)
    pages = pages_of(site.out)
    names = {str(p.relative_to(site.out)) for p in pages}
    assert {"index.html", "atom.xml", "rss.xml", "feed.json", "issues.xml",
            "issues/2026-11-24.html", "archive/2026.html"} <= names  # fmt: skip
    for page in pages:
        assert_siblings_hold(page)
        header = Path(f"{page}.gz").read_bytes()[:10]
        assert header[3] == 0, "no file name or other optional fields in the gzip header"
        assert header[4:8] == b"\0\0\0\0", "a zero time stamp"
    others = [p for p in site.out.rglob("*") if p.is_file() and p.suffix in (".md", ".eml")]
    assert others and not any(Path(f"{p}.gz").exists() for p in others)


def test_a_rewritten_page_has_its_siblings_rewritten(site):
    site.write("a.txt", digest_text("Nov 22", [("First", "One.")]))
    run(site, "2026-11-23T08:00:00Z")
    index = site.out / "index.html"
    before = gzip.decompress(Path(f"{index}.gz").read_bytes())
    site.write("b.txt", digest_text("Nov 23", [("Second", "Two.")]))
    run(site)
    assert index.read_bytes() != before
    for page in pages_of(site.out):
        assert_siblings_hold(page)  # the index, the feeds, and the first issue's page too


def test_turned_off_no_new_sibling_and_no_stale_one(site):
    site.write("a.txt", digest_text("Nov 22", [("First", "One.")]))
    run(site, "2026-11-23T08:00:00Z")
    site.config.write_text("precompress = false\n" + site.config.read_text())
    site.write("b.txt", digest_text("Nov 23", [("Second", "Two.")]))
    run(site)
    new_page = site.out / "issues" / "2026-11-24.html"
    assert new_page.exists() and not Path(f"{new_page}.gz").exists()
    for name in ("index.html", "atom.xml", "issues/2026-11-23.html"):
        assert_siblings_hold(site.out / name)  # rewritten with the file they compress


def test_off_from_the_start_writes_none(site):
    site.config.write_text("precompress = false\n" + site.config.read_text())
    site.write("a.txt", digest_text("Nov 23", [("A paper", "Its abstract.")]))
    run(site)
    assert not [p for p in site.out.rglob("*") if p.suffix in (".gz", ".br")]


def test_a_rebuild_gives_the_same_bytes(site):
    site.write("a.txt", digest_text("Nov 23", [("A paper", "Its abstract.")]))
    run(site)
    files = published_files(site.out)
    assert any(name.suffix == ".br" for name in files)
    assert digest_process("rebuild", "--config", site.config).returncode == 0
    assert published_files(site.out) == files


def test_a_failed_run_leaves_every_file_and_sibling_as_it_was(site):
    site.write("a.txt", digest_text("Nov 22", [("First", "One.")]))
    run(site, "2026-11-23T08:00:00Z")
    files = published_files(site.out)
    assert Path("archive/2026.html.br") in files
    mine = site.root / "my-templates"
    mine.mkdir()
    (mine / "archive.html").write_text("<p>{{ year.year }}</p><script>x</script>")
    site.config.write_text('templates = "my-templates"\n' + site.config.read_text())
    site.write("b.txt", digest_text("Nov 23", [("Second", "Two.")]))
    done = digest_process("run", "--config", site.config, "--now", NOW)
    assert done.returncode == 3, done.stderr
    assert published_files(site.out) == files
    assert not [p for p in site.out.rglob("*") if p.name.startswith(".digest-tmp")]
