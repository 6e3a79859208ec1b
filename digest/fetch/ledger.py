"""What fetching remembers, kept in the inbox beside the listings it wrote.

``.digest-fetch.json`` (hidden: the inbox scan skips it) holds, per day, when it was
fetched, how many papers it listed, the file written, its validators (for conditional
requests) and whether it is final; and the last attempt: when, which days, what failed,
whether the API had anything new, and until when the API asked us to wait.

It lives with the inbox rather than in the state because it describes the inbox's files
(an inbox copied elsewhere keeps knowing which days are final), and because fetching
runs before any state exists. It is a cache of facts the files also show: one that
cannot be read is treated as empty, with a warning (every day is then asked for again,
and a file in the inbox is still never replaced by a shorter listing). Nothing in the
inbox is ever removed because of it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from digest.dates import moment_text, parse_moment
from digest.errors import StateError
from digest.fetch.files import write_atomically
from digest.intake.reading import Unreadable, read_regular

LEDGER_NAME = ".digest-fetch.json"
LEDGER_VERSION = 1
MAX_LEDGER_BYTES = 64 * 1024 * 1024
log = logging.getLogger("digest")


@dataclass(frozen=True, slots=True)
class DayRecord:
    day: dt.date
    fetched_at: dt.datetime  # the last fetch that got an answer for the day
    papers: int  # distinct papers in the inbox's file (0: nothing listed, no file)
    file: str | None  # its name in the inbox; None when nothing was listed
    content_hash: str | None  # of the file as written: a conditional request needs it intact
    etag: str | None
    last_modified: str | None
    final: bool
    # A day that could be final, whose answer then listed nothing or lacked papers of the
    # inbox's file (a weekend, a partial answer, or the API's mistake): when the first such
    # answer came. Such a day is final only once another one, CONFIRMED_AFTER later, agrees.
    doubt_since: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class Failure:
    """What stopped a fetch: the day (None: before any day), in one line."""

    day: dt.date | None
    reason: str
    exit_code: int  # 75 temporary, 1 not a listing, 3 the inbox could not be written
    hint: str | None = None


@dataclass(frozen=True, slots=True)
class Attempt:
    at: dt.datetime
    days: tuple[dt.date, ...]  # the days it asked the API for
    failure: Failure | None
    nothing_new: bool  # no day's file was written or grown
    not_before: dt.datetime | None = None  # the API asked for no request before then


def _empty_days() -> Mapping[dt.date, DayRecord]:
    return MappingProxyType({})


@dataclass(frozen=True)
class Ledger:
    days: Mapping[dt.date, DayRecord] = field(default_factory=_empty_days)
    last_attempt: Attempt | None = None
    warning: str | None = None  # why what was on disk was not used

    def with_day(self, record: DayRecord) -> Ledger:
        return dataclasses.replace(self, days=MappingProxyType({**self.days, record.day: record}))

    def with_attempt(self, attempt: Attempt) -> Ledger:
        return dataclasses.replace(self, last_attempt=attempt)

    @property
    def final_days(self) -> set[dt.date]:
        return {day for day, record in self.days.items() if record.final}

    def final_at(self, now: dt.datetime) -> set[dt.date]:
        """The days final as of ``now``, never asked for again. Not: a day made final by a
        fetch "later" than now (a clock that ran ahead; it may have asked for days that had
        not begun), nor one a digest before the rule of doubtful answers made final on one
        answer that listed nothing (final, no papers, no doubt recorded): both are asked
        for again."""
        return {
            day
            for day, record in self.days.items()
            if record.final
            and record.fetched_at <= now
            and (record.papers or record.doubt_since is not None)
        }

    def waiting_at(self, now: dt.datetime) -> dict[dt.date, dt.datetime]:
        """Days in doubt that no answer before ``CONFIRMED_AFTER`` has passed can settle,
        with the moment from which one can: a catch-up leaves them until then."""
        from digest.fetch.days import CONFIRMED_AFTER

        waiting = {}
        for day, record in self.days.items():
            since = record.doubt_since
            if not record.final and since is not None and since <= now < since + CONFIRMED_AFTER:
                waiting[day] = since + CONFIRMED_AFTER
        return waiting


def _moment(value: Any) -> dt.datetime | None:
    """A moment with its UTC offset (one without cannot be compared with the clock)."""
    if value is None:
        return None
    moment = parse_moment(_text(value))
    if moment.utcoffset() is None:
        raise ValueError(f"{value!r} has no UTC offset")
    return moment


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {type(value).__name__}")
    return value


def _optional_text(value: Any) -> str | None:
    return None if value is None else _text(value)


def _day_record(day: str, data: dict[str, Any]) -> DayRecord:
    papers = data["papers"]
    if not isinstance(papers, int) or isinstance(papers, bool) or papers < 0:
        raise TypeError("papers is not a count")
    fetched_at = _moment(data["fetched_at"])
    if fetched_at is None or not isinstance(data["final"], bool):
        raise TypeError("fetched_at or final missing")
    return DayRecord(
        dt.date.fromisoformat(_text(day)),
        fetched_at,
        papers,
        _optional_text(data.get("file")),
        _optional_text(data.get("content_hash")),
        _optional_text(data.get("etag")),
        _optional_text(data.get("last_modified")),
        data["final"],
        _moment(data.get("doubt_since")),
    )


def _attempt(data: dict[str, Any]) -> Attempt:
    failure = data.get("failure")
    at = _moment(data["at"])
    if at is None:
        raise TypeError("at missing")
    return Attempt(
        at,
        tuple(dt.date.fromisoformat(_text(day)) for day in data["days"]),
        None
        if failure is None
        else Failure(
            None if failure["day"] is None else dt.date.fromisoformat(_text(failure["day"])),
            _text(failure["reason"]),
            int(failure["exit_code"]),
            _optional_text(failure.get("hint")),
        ),
        bool(data["nothing_new"]),
        _moment(data.get("not_before")),
    )


def read_ledger(inbox: Path) -> Ledger:
    """The ledger in ``inbox``: empty when there is none, and empty with a warning when
    it cannot be read or understood (never a crash: a fetch then asks for every day
    again). One written by a newer digest is refused rather than overwritten."""
    path = inbox / LEDGER_NAME
    try:
        data = json.loads(read_regular(str(path), MAX_LEDGER_BYTES, follow=False))
    except Unreadable as exc:
        if not path.exists() and not path.is_symlink():
            return Ledger()
        return _unusable(path, str(exc))
    except (UnicodeDecodeError, ValueError) as exc:
        return _unusable(path, f"not JSON ({type(exc).__name__})")
    if not isinstance(data, dict):
        return _unusable(path, "not a JSON object")
    version = data.get("version")
    if isinstance(version, int) and not isinstance(version, bool) and version > LEDGER_VERSION:
        raise StateError(
            f"{path} was written by a newer digest (version {version}; this one knows "
            f"{LEDGER_VERSION})",
            "upgrade digest, or remove the file to start over (every day is asked for again)",
        )
    if version != LEDGER_VERSION:
        return _unusable(path, f"version {version!r} is not {LEDGER_VERSION}")
    try:
        days = {
            record.day: record
            for record in (_day_record(day, value) for day, value in data["days"].items())
        }
        attempt = None if data.get("last_attempt") is None else _attempt(data["last_attempt"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return _unusable(path, f"its content is not a fetch ledger ({exc})")
    return Ledger(MappingProxyType(days), attempt)


def _unusable(path: Path, why: str) -> Ledger:
    warning = (
        f"{path.name} in the inbox cannot be used ({why}): treated as empty, so every day "
        "is asked for again; no file in the inbox is removed or shortened"
    )
    log.warning("%s", warning)
    return Ledger(warning=warning)


def _record_json(record: DayRecord) -> dict[str, Any]:
    return {
        "fetched_at": moment_text(record.fetched_at),
        "papers": record.papers,
        "file": record.file,
        "content_hash": record.content_hash,
        "etag": record.etag,
        "last_modified": record.last_modified,
        "final": record.final,
        **({"doubt_since": moment_text(record.doubt_since)} if record.doubt_since else {}),
    }


def _attempt_json(attempt: Attempt) -> dict[str, Any]:
    failure = attempt.failure
    return {
        "at": moment_text(attempt.at),
        "days": [day.isoformat() for day in attempt.days],
        "failure": None
        if failure is None
        else {
            "day": failure.day.isoformat() if failure.day else None,
            "reason": failure.reason,
            "exit_code": failure.exit_code,
            "hint": failure.hint,
        },
        "nothing_new": attempt.nothing_new,
        "not_before": moment_text(attempt.not_before) if attempt.not_before else None,
    }


def write_ledger(inbox: Path, ledger: Ledger) -> None:
    """Write the ledger whole, atomically (a temp file, fsync, rename, fsync the folder)."""
    data = {
        "version": LEDGER_VERSION,
        "note": "what 'digest fetch' remembers of the days it fetched into this inbox",
        "days": {day.isoformat(): _record_json(ledger.days[day]) for day in sorted(ledger.days)},
        "last_attempt": _attempt_json(ledger.last_attempt) if ledger.last_attempt else None,
    }
    text = json.dumps(data, ensure_ascii=False, indent=1) + "\n"
    write_atomically(inbox, LEDGER_NAME, text.encode("utf-8"))
