"""This machine's name, as lock files, runs and the daemon's heartbeat record it."""

from __future__ import annotations

import os


def host_name() -> str:
    """The kernel's name for this machine: what ``socket.gethostname()`` returns on the
    systems digest runs on (it locks with ``fcntl``), without importing ``socket`` and
    ``selectors`` into every cron run for it."""
    return os.uname().nodename
