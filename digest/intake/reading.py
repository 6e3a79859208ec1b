"""Reading files safely: regular files only, never a pipe or a device, and with a limit.

Kept apart from parsing: what may be opened, and how, is a question of trust (a file
dropped into the inbox must never lead digest to read something else), not of format.
"""

from __future__ import annotations

import hashlib
import os
import stat

DEFAULT_MAX_FILE_SIZE = 32 * 1024 * 1024


def size_limit_message(max_size: int) -> str:
    return (
        f"larger than the limit of {max_size:,} bytes; not read "
        "(raise max_file_size in the config if it really is one digest)"
    )


class Unreadable(Exception):
    """A path that is not read: not a regular file, gone, or not permitted."""


_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a device"),
    (stat.S_ISBLK, "a device"),
)


def kind_of(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def read_regular(path: str, limit: int, *, follow: bool = True) -> bytes:
    """Up to ``limit`` bytes of a regular file, or Unreadable.

    The file is opened without blocking and checked on its descriptor, so a named pipe
    or a device is refused rather than read (or waited on for ever), and, without
    ``follow``, a symbolic link put in its place after the inbox was listed is refused
    too."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    if not follow:
        flags |= os.O_NOFOLLOW
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if not follow and os.path.islink(path):
            raise Unreadable(
                "a symbolic link (one put there after the folder was listed); not followed"
            ) from None
        raise Unreadable(f"cannot read: {exc.strerror}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):  # before fdopen, which refuses a directory by raising
        os.close(fd)
        raise Unreadable(f"{kind_of(mode)}, not a regular file; not read")
    with os.fdopen(fd, "rb") as handle:
        try:
            return handle.read(limit)
        except OSError as exc:
            raise Unreadable(f"cannot read: {exc.strerror}") from None


def content_hash(data: bytes) -> str:
    """A file's identity: a renamed copy is the same file, an edited one a new file."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()
