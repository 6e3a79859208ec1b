"""The records the store answers with, and the names of its locks: what the stages read
of the state, whichever backend holds it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal, NamedTuple

from digest.model import DeliveryStatus, RunResult

LockKind = Literal["run", "daemon"]
POLL_SECONDS = 0.05  # how often a waiting process asks again for a lock


class KnownFile(NamedTuple):
    """What the store remembers of a path in the inbox, to skip it without reading."""

    size: int
    mtime_ns: int
    hash: str
    rejection: str | None = None  # why its content was rejected, if it was


class KnownPaper(NamedTuple):
    id: int
    abstract_cut: bool  # its listing ended mid-abstract


class PaperTitle(NamedTuple):
    """A published paper as a list of titles needs it: what it is called and where its
    issue shows it (a tenth of reading it whole, for lists of thousands)."""

    key: str
    title: str
    page: int  # the page of its issue that shows it


@dataclass(frozen=True, slots=True)
class CutAbstract:
    """A paper whose abstract was cut off, as stored (to be completed by a later listing)."""

    id: int
    abstract: str
    issue_seq: int | None


PingKind = Literal["start", "success", "fail"]


@dataclass(frozen=True, slots=True)
class PingRecord:
    """How the last ping to the push monitor went (``digest check`` warns on a failed one)."""

    at: dt.datetime
    kind: PingKind
    ok: bool
    to: str  # scheme and host only: the path is the monitor's key
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """The daemon saying it is alive, every minute or so (``digest check`` raises the alarm
    when the last one is older than two slots)."""

    at: dt.datetime
    pid: int
    host: str


@dataclass(frozen=True, slots=True)
class RunRecord:
    id: int
    started_at: dt.datetime
    finished_at: dt.datetime | None
    result: RunResult
    issue_id: str | None
    new_papers: int
    papers_parsed: int
    error: str | None
    summary: dict
    host: str | None = None
    pid: int | None = None


@dataclass(frozen=True, slots=True)
class Counts:
    files: int
    papers: int
    issues: int
    rejected_files: int


@dataclass(frozen=True, slots=True)
class Delivery:
    """One recipient's copy of one issue."""

    recipient: str
    status: DeliveryStatus
    at: dt.datetime
    message_id: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class DeliveryUpdate:
    recipient: str
    status: DeliveryStatus
    reason: str | None = None
