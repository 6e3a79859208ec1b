"""Paths a user names (in the config or on the command line), made absolute."""

from __future__ import annotations

from pathlib import Path

from digest.errors import ConfigError


def resolved(path: Path, what: str) -> Path:
    """``path`` absolute, with its links followed. A link that leads back to itself
    (``ln -s out out``) is the user's to fix, not a bug: Python 3.11's ``resolve`` calls
    it a RuntimeError, which would reach the user as digest's internal error."""
    try:
        return path.resolve()
    except RuntimeError:
        raise ConfigError(
            f"{what} {path} is a symbolic link that leads back to itself",
            "remove the link, or point it at a real folder or file",
        ) from None
