"""Named points in a run where the crash-safety tests stop the process to kill it.

With ``DIGEST_TEST_PAUSE_AT=STEP`` in the environment, a run that reaches STEP writes
``paused at STEP`` to stderr and stops itself (SIGSTOP), so a test can ``kill -9`` it
at exactly that point. Without the variable this costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal
import sys

PAUSE_ENV = "DIGEST_TEST_PAUSE_AT"
# In the order a run passes them: papers recorded (uncommitted); every file staged; the
# state committed (the issue recorded, its files pending); files being renamed into
# place; all in place (the pending mark not yet cleared).
STEPS = ("recorded", "rendered", "committed", "renaming", "written")
# digest fetch: a day's listing complete in its hidden temp file, not yet renamed.
FETCH_STEPS = ("fetch-staged",)


def pause_point(step: str) -> None:
    if os.environ.get(PAUSE_ENV) == step:
        sys.stderr.write(f"paused at {step}\n")
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGSTOP)
