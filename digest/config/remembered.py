"""The config the last run in a folder used, remembered beside the default state.

``digest run --config examples/digest.toml`` keeps its state where that config says; a
``digest status`` typed next, in the same folder and without ``--config``, would look at
the default state (``.digest/state.sqlite`` here), find none, and show an empty digest.
So a run that names a config writes its path to ``.digest/last-config`` in the working
folder (a line of text, written whole or not at all), and ``status`` and ``check`` found
there with no config of their own name it: ``--config examples/digest.toml``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from digest.config.settings import DEFAULT_CONFIG_NAME

MEMORY = Path(".digest") / "last-config"


def remember(config: Path, cwd: Path) -> None:
    """Note ``config`` as the last one used in ``cwd`` (not the folder's own digest.toml,
    which needs no reminder). Best effort: a folder that cannot be written is no error."""
    config = config.resolve()
    if config == (cwd / DEFAULT_CONFIG_NAME).resolve():
        return
    target = cwd / MEMORY
    with contextlib.suppress(OSError):
        if target.is_file() and target.read_text(encoding="utf-8").strip() == str(config):
            return
        target.parent.mkdir(exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=".last-config-", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(f"{config}\n")
            os.replace(temp, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)


def last_config(cwd: Path) -> Path | None:
    """The config the last run in ``cwd`` named, if it is still there."""
    try:
        text = (cwd / MEMORY).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    path = Path(text)
    return path if text and path.is_absolute() and path.is_file() else None


def shown(path: Path, cwd: Path) -> str:
    """A path as a person in ``cwd`` would type it."""
    try:
        return str(path.relative_to(cwd.resolve()))
    except ValueError:
        return str(path)


def suggestion(command: str, cwd: Path) -> str | None:
    """``the last run here used --config X: digest status --config X``, or None."""
    found = last_config(cwd)
    if found is None:
        return None
    typed = shown(found, cwd)
    return f"the last run in {cwd} used --config {typed}: 'digest {command} --config {typed}'"
