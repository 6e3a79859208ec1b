"""What the closing hostile pass (random kill -9 across run, send, post and rebuild, on both
backends) found: each a user-visible leftover or repeat, each pinned with real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from conftest import NOW, PLAIN, both_backends
from http_receiver import Receiver
from test_daemon import DigestProcess

from digest.faults import PAUSE_ENV
from digest.publish.output import TEMP_PREFIX


def temp_files(site):
    return sorted(p.name for p in site.out.rglob(f"{TEMP_PREFIX}*"))


@both_backends
def test_a_rebuild_killed_midway_leaves_no_temp_file_after_the_next_rebuild(site, run_cli):
    """A killed rebuild leaves its staged files; rebuilding again (what a user does after the
    kill) must clear them, not wait for a later `digest run`: they are served as they are."""
    site.drop(PLAIN)
    assert run_cli("run", "--config", site.config, "--now", NOW).code == 0
    victim = DigestProcess("rebuild", "--config", site.config, env={PAUSE_ENV: "renaming"})
    victim.wait_for("paused at renaming")
    victim.process.send_signal(signal.SIGKILL)
    victim.process.wait()
    assert temp_files(site), "the kill left staged files (else this test proves nothing)"
    assert run_cli("rebuild", "--config", site.config).code == 0
    assert temp_files(site) == []


SHADOW = 'open({marker!r}, "a").write(__name__ + "\\n")\nraise ImportError("shadowed")\n'


def test_a_python_file_in_the_working_folder_is_never_imported_by_a_helper(site):
    """`python -m` puts the working folder first on sys.path: a `jinja2.py` or `apprise.py`
    lying there (someone's script, or a shared folder's) was imported, and run, by the
    helper processes that render a backfill and post to chat, and failed the run."""
    from test_backfill import NOW as BACKFILL_NOW
    from test_backfill import backlog

    backlog(site)
    marker = site.root / "imported.txt"
    for module in ("jinja2", "apprise"):
        (site.root / f"{module}.py").write_text(SHADOW.format(marker=str(marker)))
    with Receiver() as receiver:
        site.config.write_text(
            site.config.read_text(encoding="utf-8")
            + '[[channels]]\nname = "team"\nurl_env = "TEST_CHAT"\n',
            encoding="utf-8",
        )
        env = {**os.environ, "TEST_CHAT": f"json://127.0.0.1:{receiver.port}/hook"}
        digest = Path(sys.executable).parent / "digest"  # the installed command, as a user types
        result = subprocess.run(
            [
                digest,
                "run",
                "--config",
                site.config,
                "--now",
                BACKFILL_NOW,
                "--backfill",
                "--workers",
                "2",
            ],
            cwd=site.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        posts = receiver.to("/hook")
    assert not marker.exists(), marker.read_text()
    assert result.returncode == 0, result.stderr
    assert len(posts) == 1
    assert len(list((site.out / "issues").glob("*.html"))) == 4
