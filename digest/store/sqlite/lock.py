"""One runner at a time per state: an advisory lock file beside the state.

``flock`` locks belong to the open file, so the kernel releases them when the holder
dies, even by ``kill -9``: a crashed run never leaves a lock that needs cleaning up.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import logging
import os
import re
import time
from pathlib import Path

from digest.errors import LockBusy, StateError
from digest.host import host_name
from digest.store.records import POLL_SECONDS

log = logging.getLogger("digest.store.sqlite")


class RunLock:
    """Hold with ``with RunLock(path, wait=...)``; raises LockBusy after ``wait`` seconds."""

    def __init__(self, path: Path, wait: float = 0.0) -> None:
        self.path = path
        self.wait = wait
        self._fd: int | None = None

    def holder(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8").strip()
        except OSError:
            return ""

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StateError(
                f"cannot create the lock file {self.path}: {exc.strerror}",
                "the state's folder must be writable by this user",
            ) from None
        deadline = time.monotonic() + self.wait
        waiting = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waiting and self.wait > 0:
                    waiting = True
                    log.info(
                        "waiting up to %gs for %s to finish",
                        self.wait,
                        self.holder() or "another run",
                    )
                if time.monotonic() >= deadline:
                    os.close(fd)
                    holder = self.holder()
                    raise LockBusy(
                        f"another digest process ({holder or 'unknown'}) is using "
                        f"{self.path.with_suffix('')}",
                        "wait for it to finish, or give 'digest run' more time with --wait SECONDS",
                        holder=holder,
                    ) from None
                time.sleep(POLL_SECONDS)
        since = time.strftime("%Y-%m-%d %H:%M:%S %z")
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"pid {os.getpid()} on {host_name()} since {since}\n".encode())
        except OSError:  # a full disk: the lock is held all the same, its holder unnamed
            pass
        self._fd = fd

    def held_since(self) -> dt.datetime | None:
        """When the holder took the lock, as it wrote (None when free or unknown)."""
        if self.is_free():
            return None
        found = re.search(r" since (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)( [+-]\d{4})?", self.holder())
        if found is None:
            return None
        moment = dt.datetime.strptime(found[1], "%Y-%m-%d %H:%M:%S")
        if found[2]:
            return moment.replace(tzinfo=dt.datetime.strptime(found[2].strip(), "%z").tzinfo)
        return moment.astimezone()  # written by an older digest: local time

    def is_free(self) -> bool:
        """Whether nobody holds the lock now. (Taken and let go at once, if free.)"""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        finally:
            os.close(fd)
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
