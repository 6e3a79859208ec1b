"""A full disk is never a traceback: not under standard output (a cron line's log), not
under the compiled templates' cache or the lock file beside the state."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import PLAIN, digest_process
from test_faults import tiny_disk  # noqa: F401 - the fixture: a 96 KB tmpfs


def fill(disk) -> None:
    """Every byte of the disk taken."""
    with open(disk / "filler", "wb", buffering=0) as filler:
        try:
            while True:
                filler.write(b"\0" * 4096)
        except OSError:
            pass


def test_a_full_disk_under_standard_output_is_an_error_not_a_crash(site, tiny_disk):  # noqa: F811
    site.drop(PLAIN)
    fill(tiny_disk)
    with open(tiny_disk / "digest.log", "w") as log:
        done = subprocess.run(
            [sys.executable, "-m", "digest", "run", "--config", str(site.config), "--json"],
            stdout=log,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert done.returncode == 3, done.stderr
    assert "cannot write its output (standard output): No space left on device" in done.stderr
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr
    status = json.loads(digest_process("status", "--config", site.config, "--json").stdout)
    assert status["latest_issue"]["papers"] == 80, "the run itself was done"


def test_a_full_disk_under_the_template_cache_costs_no_issue(site, tiny_disk):  # noqa: F811
    site.state.parent.mkdir(parents=True)
    (site.state.parent / "template-cache").symlink_to(tiny_disk)
    fill(tiny_disk)
    site.drop(PLAIN)
    done = digest_process("run", "--config", site.config, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["new_papers"] == 80


def test_a_full_disk_under_the_lock_file_is_no_crash(site, tiny_disk):  # noqa: F811
    site.state.parent.mkdir(parents=True)
    (site.state.parent / (site.state.name + ".lock")).symlink_to(tiny_disk / "lock")
    fill(tiny_disk)
    site.drop(PLAIN)
    done = digest_process("run", "--config", site.config, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["new_papers"] == 80


def test_help_on_a_full_disk_says_so(tiny_disk):  # noqa: F811
    """argparse drops an error writing help: 'digest --help >> log' on a full disk exited 0
    with nothing written. It is the full-disk error, exit code 3, like any command's."""
    fill(tiny_disk)
    for command in (["--help"], ["run", "--help"]):
        with open(tiny_disk / "help.txt", "w") as log:
            done = subprocess.run(
                [sys.executable, "-m", "digest", *command],
                stdout=log,
                stderr=subprocess.PIPE,
                text=True,
                timeout=60,
            )
        assert done.returncode == 3, (command, done.stderr)
        assert "cannot write its output (standard output): No space left on device" in done.stderr
        assert "Traceback" not in done.stderr
