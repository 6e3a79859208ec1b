"""Locks: session advisory locks on the store's own connection. They die with their
holder, even by ``kill -9``, and ``pg_locks`` with ``pg_stat_activity`` say who holds one
(its ``application_name`` names the process and host)."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import time
from collections.abc import Iterator

from digest.errors import DigestError, LockBusy
from digest.store.postgres.connection import PgSession
from digest.store.records import POLL_SECONDS, LockKind

log = logging.getLogger("digest.store.postgres")


def lock_key(name: str) -> int:
    """An advisory lock key (a signed bigint) for a name: the same in every process."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), signed=True)


CREATE_KEY = lock_key("digest: create sites")


class PgLocks(PgSession):
    def _lock_tag(self, kind: LockKind) -> tuple[int, int, int]:
        """The key, and how pg_locks shows it (two unsigned 32-bit halves)."""
        key = lock_key(f"digest:{self.site}:{kind}")
        unsigned = key & 0xFFFF_FFFF_FFFF_FFFF
        return key, unsigned >> 32, unsigned & 0xFFFF_FFFF

    _HELD = (
        "FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
        "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND l.classid::bigint = %s AND l.objid::bigint = %s"
    )

    @contextlib.contextmanager
    def lock(self, kind: LockKind, wait: float) -> Iterator[None]:
        key, high, low = self._lock_tag(kind)
        deadline = time.monotonic() + wait
        waiting = False
        while not self._raw_scalar("SELECT pg_try_advisory_lock(%s)", (key,)):
            if not waiting and wait > 0:
                waiting = True
                log.info(
                    "waiting up to %gs for %s to finish",
                    wait,
                    self._holder(high, low) or "another run",
                )
            if time.monotonic() >= deadline:
                holder = self._holder(high, low)
                raise LockBusy(
                    f"another digest process ({holder or 'unknown'}) is using {self.location}",
                    "wait for it to finish, or give 'digest run' more time with --wait SECONDS",
                    holder=holder,
                )
            time.sleep(POLL_SECONDS)
        try:
            yield
        finally:
            with contextlib.suppress(DigestError):  # a lost connection has let go already
                self._raw("SELECT pg_advisory_unlock(%s)", (key,))

    def _holder(self, high: int, low: int) -> str:
        """Who holds a lock: ``pid 12 on host-a, from 10.0.0.5, connected 2026-...``."""
        row = self._raw(
            f"SELECT l.pid, a.application_name, host(a.client_addr), a.backend_start {self._HELD}",
            (high, low),
        ).fetchone()
        if row is None:
            return ""
        pid, name, address, start = row
        who = name[7:] if name and name.startswith("digest pid ") else f"backend {pid}"
        who += f", from {address}" if address else ""
        return who + (f", connected {start:%Y-%m-%d %H:%M:%S %z}" if start else "")

    def lock_is_free(self, kind: LockKind) -> bool:
        _key, high, low = self._lock_tag(kind)
        return not self._raw_scalar(f"SELECT EXISTS (SELECT 1 {self._HELD})", (high, low))

    def lock_held_since(self, kind: LockKind) -> dt.datetime | None:
        since = self._raw_scalar(f"SELECT a.backend_start {self._HELD}", self._lock_tag(kind)[1:])
        return since if isinstance(since, dt.datetime) else None
