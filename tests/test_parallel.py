"""A large import parses files in helper processes; what it publishes is exactly what one
process publishes, and a helper that fails costs nothing but time."""

from __future__ import annotations

import json
import sys

from conftest import DATA, EXAMPLES, NOW, digest_process, published_files


def inbox_of_every_kind(site) -> None:
    """The real digests and every hostile file: papers, warnings and rejections."""
    for path in [*EXAMPLES.glob("*.txt"), *(DATA / "hostile").iterdir()]:
        site.drop(path)


def run_with(run_cli, site, workers: str, name: str):
    out, state = site.root / f"out-{name}", site.root / f"state-{name}.db"
    result = run_cli(
        "run", "--config", site.config, "--out", out, "--state", state, "--now", NOW,
        "--json", "--workers", workers, "-v",
    )  # fmt: skip
    report = json.loads(result.out)
    report.pop("written")  # paths under this run's own output folder
    files = published_files(out)
    return result, report, files


def test_helpers_publish_exactly_what_one_process_publishes(site, run_cli):
    inbox_of_every_kind(site)
    alone, alone_report, alone_files = run_with(run_cli, site, "0", "alone")
    helped, helped_report, helped_files = run_with(run_cli, site, "3", "helped")
    assert "with 3 helper processes" in helped.err
    assert "helper process" not in alone.err
    assert helped.code == alone.code == 1  # the hostile folder has files to reject
    assert helped_report == alone_report
    assert alone_report["new_papers"] > 200 and alone_report["files"]["rejected"]
    assert helped_files == alone_files


def test_a_helper_that_fails_costs_nothing_but_time(site, run_cli, monkeypatch):
    inbox_of_every_kind(site)
    _, alone_report, alone_files = run_with(run_cli, site, "0", "alone")
    monkeypatch.setattr(sys, "executable", "/bin/false")  # helpers exit at once, silent
    broken, broken_report, broken_files = run_with(run_cli, site, "2", "broken")
    assert "a helper process stopped; reading its files here instead" in broken.err
    assert broken_report == alone_report
    assert broken_files == alone_files


def test_workers_must_be_a_count(site):
    result = digest_process("run", "--config", site.config, "--workers", "two")
    assert result.returncode == 2
    assert "'two' is not a number of processes (0 or more)" in result.stderr
