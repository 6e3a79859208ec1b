"""How digest starts its own helper processes (parsing, rendering, chat posts).

``python -m module`` puts the working folder first on ``sys.path``, so a ``jinja2.py`` or
``apprise.py`` lying beside the config (someone's script, a shared folder's) would be
imported, and run, by every helper: a file outside the inbox, output and state read and
executed. ``-P`` (Python 3.11+) leaves it off; the folder digest itself is imported from is
passed on instead, so a digest run from a source folder still finds itself.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def helper_command(module: str) -> list[str]:
    return [sys.executable, "-P", "-m", module]


def helper_env() -> dict[str, str]:
    here = str(Path(__file__).resolve().parent.parent)
    inherited = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": here + (os.pathsep + inherited if inherited else "")}
