"""SQLite's errors in words a user can act on: a full disk is not a corrupt state, and a
corrupt state is never to be replaced by a new one."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from digest.errors import StateError

# SQLite's own words for what went wrong, as the user can act on it.
_ERROR_HINTS = {
    "SQLITE_FULL": ("the disk holding it is full", "free some space; nothing was published"),
    "SQLITE_READONLY": (
        "it cannot be written (a read-only file, folder or filesystem)",
        "give this user write access to the file and its folder, or move the state to a "
        "writable disk; nothing was changed",
    ),
    "SQLITE_CANTOPEN": (
        "it cannot be opened",
        "check that its folder exists and this user may write there",
    ),
    "SQLITE_IOERR": ("the disk failed to read or write it", "check the disk and free space"),
    "SQLITE_PERM": ("permission denied", "give this user access to the file and its folder"),
    "SQLITE_BUSY": (
        "another program holds it locked",
        "close the program that has it open (a database browser?) and try again",
    ),
}


def explain(path: Path | str, exc: sqlite3.Error) -> StateError:
    """A StateError that says what SQLite meant, with a hint that fits: a full disk is
    not a corrupt state, and a corrupt state is never to be replaced by a new one."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    base = name.split("_")[0] + "_" + name.split("_")[1] if name.count("_") >= 2 else name
    if base in ("SQLITE_CANTOPEN", "SQLITE_READONLY", "SQLITE_IOERR") and _read_only(Path(path)):
        base = name = "SQLITE_READONLY"
    known = _ERROR_HINTS.get(name) or _ERROR_HINTS.get(base)
    if known:
        what, hint = known
        return StateError(f"the state {path}: {what} ({exc})", hint)
    if name in ("SQLITE_CORRUPT", "SQLITE_NOTADB") or "not a database" in str(exc):
        return StateError(
            f"{path} is not a readable digest state: {exc}",
            "restore it from a backup; digest never replaces a state it cannot read "
            "(a new state cannot take over the output folder without --adopt-output)",
        )
    return StateError(f"the state {path} could not be used: {exc}", "check the file and its disk")


def _read_only(path: Path) -> bool:
    """Whether the state (or the folder its journal must go in) cannot be written."""
    try:
        if os.statvfs(path.parent).f_flag & os.ST_RDONLY:
            return True
    except OSError:
        return False
    return (path.exists() and not os.access(path, os.W_OK)) or not os.access(path.parent, os.W_OK)
