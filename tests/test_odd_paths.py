"""Odd things where digest's files go (a hostile tester's finds, 12-06): a path that is a
link to itself, a FIFO where a page was, a page that is a folder or a link to nowhere,
a link that carries the writer's temp prefix. Each gets a clear error or is left alone;
none hangs a run, crashes it, or is taken for a page digest wrote."""

from __future__ import annotations

import json
import os
from pathlib import Path

from conftest import PLAIN, PLAIN_2, Site, digest_process

from digest.publish.output import OWNER_FILE, TEMP_PREFIX

FIRST, SECOND = "2026-11-24T08:00:00Z", "2026-12-01T08:00:00Z"


def _run(site: Site, *extra: str, now: str = FIRST):
    return digest_process("run", "--config", site.config, "--now", now, "--json", *extra)


def test_an_output_folder_that_links_to_itself_is_a_config_error_not_a_crash(site):
    site.out.symlink_to(site.out.name)  # ln -s out out
    site.drop(PLAIN)
    done = _run(site)
    assert done.returncode == 2, done.stderr
    assert f"output {site.out} is a symbolic link that leads back to itself" in done.stderr
    assert "internal error" not in done.stderr
    check = digest_process("check", "--config", site.config)
    assert check.returncode == 3 and "DIGEST UNKNOWN" in check.stdout, check.stdout
    status = digest_process("status", "--config", site.config)
    assert status.returncode == 2 and "leads back to itself" in status.stderr
    assert not site.state.exists(), "nothing was taken in"


def test_an_out_flag_that_links_to_itself_names_the_flag(site, tmp_path):
    loop = tmp_path / "elsewhere"
    loop.symlink_to(loop.name)
    site.drop(PLAIN)
    done = _run(site, "--out", str(loop))
    assert done.returncode == 2
    assert f"--out {loop} is a symbolic link that leads back to itself" in done.stderr


def test_a_fifo_where_the_last_issue_page_was_is_a_missing_page_not_a_hang(site):
    """The new issue rewrites the page before it (its "Next issue" link): that page read
    from a FIFO would wait for a writer for ever, holding the run's lock."""
    site.drop(PLAIN)
    assert _run(site).returncode == 0
    page = site.out / "issues" / "2026-11-24.html"
    page.unlink()
    os.mkfifo(page)
    site.drop(PLAIN_2)
    done = digest_process(
        "run", "--config", site.config, "--now", SECOND, "--json", timeout=60
    )  # a hang fails here, after the timeout
    assert done.returncode == 2, done.stderr
    assert "lacks a page of 1 issue(s) the state says are written (2026-11-24)" in done.stderr
    check = digest_process("check", "--config", site.config, timeout=60)
    assert check.returncode == 2 and "2026-11-24" in check.stdout, check.stdout
    rebuilt = digest_process("rebuild", "--config", site.config, timeout=60)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert page.is_file() and not page.is_symlink() and "<html" in page.read_text("utf-8")
    assert _run(site, now=SECOND).returncode == 0


def _paged_site(site: Site) -> Path:
    """A site whose first issue has three pages (30 papers a page)."""
    text = site.config.read_text(encoding="utf-8")
    site.config.write_text("papers_per_page = 30\n" + text, encoding="utf-8")
    site.drop(PLAIN)
    done = _run(site)
    assert done.returncode == 0, done.stderr
    folder = site.out / "issues" / "2026-11-24"
    assert (folder / "3.html").is_file()
    return folder


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        path.rmdir()
    else:
        path.unlink()


def test_a_later_page_that_is_a_folder_or_a_broken_link_is_missing(site, tmp_path):
    folder = _paged_site(site)
    site.drop(PLAIN_2)
    for make in (Path.mkdir, lambda page: page.symlink_to(tmp_path / "nowhere")):
        _remove(folder / "3.html")
        make(folder / "3.html")
        check = digest_process("check", "--config", site.config, "--json")
        assert check.returncode == 2, check.stdout
        assert "2026-11-24" in json.dumps(json.loads(check.stdout)["findings"])
        refused = _run(site, now=SECOND)
        assert refused.returncode == 2 and "lacks a page" in refused.stderr, refused.stderr


def test_a_link_with_the_writer_s_temp_prefix_is_never_removed(site, tmp_path):
    """Temp files are regular files: a link (to a folder or a file), or a FIFO, that
    carries the prefix is nobody's temp file, and stays."""
    folder = _paged_site(site)
    state_id = json.loads((site.out / OWNER_FILE).read_text(encoding="utf-8"))["state_id"]
    prefix = f"{TEMP_PREFIX}{state_id[:8]}-"
    target = tmp_path / "keep"
    target.mkdir()
    (target / "file").write_text("mine")
    left = [folder / f"{prefix}dirlink", folder / f"{prefix}filelink", site.out / f"{prefix}fifo"]
    left[0].symlink_to(target)
    left[1].symlink_to(target / "file")
    os.mkfifo(left[2])
    stale = [folder / f"{prefix}stale", site.out / "issues" / f"{prefix}stale"]
    for path in stale:
        path.write_text("a killed run's")
    site.drop(PLAIN_2)
    assert _run(site, now=SECOND).returncode == 0
    assert not any(path.exists() for path in stale), "the writer's own temp files go"
    assert all(os.path.lexists(path) for path in left)
    assert (target / "file").read_text() == "mine"
