"""What the closing hostile pass (random kill -9 across run, send, post and rebuild, on both
backends) found: each a user-visible leftover or repeat, each pinned with real processes."""

from __future__ import annotations

import signal

from conftest import NOW, PLAIN, both_backends
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
