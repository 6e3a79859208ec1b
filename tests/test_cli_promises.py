"""The command line's small promises: a path is printed on one line whatever it holds;
'rebuild' and 'send' wait for the lock as 'run' does (--wait)."""

from __future__ import annotations

import signal

from conftest import PLAIN, PLAIN_2, digest_process
from test_daemon import DigestProcess

from digest.faults import PAUSE_ENV


def test_a_line_break_in_the_output_path_is_printed_escaped(site, run_cli):
    """A path is printed on one line whatever it holds: a newline in a folder's name
    cannot forge a line of a cron mail or a log."""
    out = site.root / "out\nFORGED line"
    site.drop(PLAIN)
    for command in (["run"], ["rebuild"], ["status"], ["check"]):
        result = run_cli(*command, "--config", site.config, "--out", out)
        assert result.code in (0, 1), result
        lines = (result.out + result.err).splitlines()
        assert not [line for line in lines if line.startswith("FORGED")], command
        if command != ["check"]:  # a healthy check names no folder
            assert any("out\\x0aFORGED line" in line for line in lines), command
    init = run_cli("init", site.root / "new\nFORGED folder")
    assert init.code == 0 and "new\\x0aFORGED folder" in init.out
    assert not [line for line in init.out.splitlines() if line.startswith("FORGED")]


def test_rebuild_send_and_post_wait_for_the_lock_as_long_as_told(site, run_cli):
    site.drop(PLAIN)
    assert run_cli("run", "--config", site.config, "--now", "2026-11-23T08:00:00Z").code == 0
    site.drop(PLAIN_2)
    holder = DigestProcess("run", "--config", site.config, env={PAUSE_ENV: "recorded"})
    try:
        holder.wait_for("paused at recorded")
        for command in ("send", "post", "rebuild"):
            busy = digest_process(command, "--config", site.config, "--wait", "0.2")
            assert busy.returncode == 75, (command, busy.stderr)
            assert "another digest process (pid" in busy.stderr
        waiting = DigestProcess("rebuild", "--config", site.config, "--wait", "60", "-v")
        waiting.wait_for("waiting up to 60s")
        holder.process.send_signal(signal.SIGCONT)
        assert holder.process.wait(timeout=60) == 0
        assert waiting.process.wait(timeout=60) == 0, "it waited, then rebuilt"
    finally:
        holder.kill()
