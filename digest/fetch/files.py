"""What a fetch writes into the inbox, and how: whole files or nothing, one fetch at a time.

A file is written under a hidden temporary name beside its target (the inbox scan skips
hidden files), flushed to disk, renamed over the target, and the folder synced: a run
reading the inbox sees the old file or the new one, whole, never half. A fetch killed
mid-write leaves only such a hidden temp file, which the next fetch removes (it holds the
lock, so no other fetch can be writing one). Names are digest's own; nothing is written
outside the inbox and no file digest did not write is removed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import tempfile
import time
from pathlib import Path

from digest.errors import LockBusy, OutputError
from digest.faults import pause_point
from digest.host import host_name

LOCK_NAME = ".digest-fetch.lock"
POLL_SECONDS = 0.05
# Our temp files: ".<target name>.<random>.tmp", for the listings and the ledger.
_TEMP = re.compile(r"\.(?:hf-\d{4}-\d{2}-\d{2}|digest-fetch)\.json\.[A-Za-z0-9_]+\.tmp")


def write_atomically(folder: Path, name: str, data: bytes, *, step: str | None = None) -> Path:
    """``data`` as ``folder/name``, all or nothing (see the module's docstring). ``step``
    names the moment between the temp file's last byte and the rename, where the
    crash-safety tests stop the process (``digest.faults``)."""
    target = folder / name
    temp_name = ""
    try:
        fd, temp_name = tempfile.mkstemp(prefix=f".{name.lstrip('.')}.", suffix=".tmp", dir=folder)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp_name, 0o644)
        if step:
            pause_point(step)
        os.replace(temp_name, target)
        temp_name = ""
        sync_folder(folder)
    except OSError as exc:
        raise OutputError(
            f"cannot write {target}: {exc.strerror}",
            "free some disk space or fix the inbox's permissions; what was fetched before "
            "stays written",
        ) from None
    finally:
        if temp_name:
            with contextlib.suppress(OSError):
                os.unlink(temp_name)
    return target


def sync_folder(folder: Path) -> None:
    """Make a rename durable: the folder's entry, not only the file's bytes."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def remove_stale_temp_files(folder: Path) -> list[str]:
    """Temp files a killed fetch left (only ours, by their exact shape). Call it holding
    the lock."""
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            if _TEMP.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
                    removed.append(entry.name)
    return sorted(removed)


class FetchLock:
    """One fetch at a time per inbox: ``flock`` on a hidden file in it, released by the
    kernel when the holder dies (even by ``kill -9``). A second fetch waits ``wait``
    seconds, then raises LockBusy (exit 75)."""

    def __init__(self, inbox: Path, wait: float) -> None:
        self.path = inbox / LOCK_NAME
        self.wait = wait
        self._fd: int | None = None

    def __enter__(self) -> FetchLock:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as exc:
            raise OutputError(
                f"cannot create the lock file {self.path}: {exc.strerror}",
                "the inbox must be writable by this user",
            ) from None
        deadline = time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _read_holder(fd)
                    os.close(fd)
                    raise LockBusy(
                        f"another digest fetch ({holder or 'unknown'}) is writing into "
                        f"{self.path.parent}",
                        "wait for it to finish; try again later",
                        holder=holder,
                    ) from None
                time.sleep(POLL_SECONDS)
        os.ftruncate(fd, 0)
        since = time.strftime("%Y-%m-%d %H:%M:%S %z")
        os.write(fd, f"pid {os.getpid()} on {host_name()} since {since}\n".encode())
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def _read_holder(fd: int) -> str:
    try:
        return os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    except OSError:
        return ""
