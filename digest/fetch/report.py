"""What a fetch did: the CLI prints it, ``--json`` dumps it, the daemon logs its line."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from typing import Any

from digest.dates import moment_text
from digest.fetch.days import FINAL_RULE, Ask
from digest.fetch.ledger import Failure
from digest.text import plural


class Outcome(enum.StrEnum):
    WRITTEN = "written"  # a new file, or one that changed (the file's papers all kept)
    UNCHANGED = "unchanged"  # 304, or the same bytes as the inbox's file
    KEPT = "kept"  # the answer listed no paper new to the inbox's file, and lacked some
    EMPTY = "empty"  # nothing listed that day: no file, remembered as such
    FINAL = "final"  # not asked for: final already
    WAITING = "waiting"  # not asked for: in doubt until confirm_from (digest.fetch.days)


@dataclass(frozen=True, slots=True)
class DayResult:
    day: dt.date
    outcome: Outcome
    papers: int  # in the API's answer (final, unchanged: in the inbox's file)
    inbox_papers: int | None  # in the inbox's file before, when it held a listing
    file: str | None  # the day's file in the inbox, if there is one
    final: bool  # after this fetch
    requests: int = 0
    # A day in doubt (its answer listed nothing, or lacked papers of the inbox's file):
    # from when an answer can settle it.
    confirm_from: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class FetchReport:
    started: dt.datetime
    ask: Ask
    today: dt.date
    days: tuple[DayResult, ...]  # oldest first; final days skipped are listed too
    failure: Failure | None = None  # what stopped the fetch; days before it stay written
    requests: int = 0
    warnings: tuple[str, ...] = ()
    removed_temp_files: tuple[str, ...] = ()  # left by a fetch that was killed
    not_before: dt.datetime | None = None  # the API asked for no request before then

    def _with(self, outcome: Outcome) -> list[DayResult]:
        return [result for result in self.days if result.outcome is outcome]

    @property
    def written(self) -> list[str]:
        return [result.file or "" for result in self._with(Outcome.WRITTEN)]

    @property
    def nothing_new(self) -> bool:
        """Whether the API had nothing the inbox lacked."""
        return not self._with(Outcome.WRITTEN)

    @property
    def exit_code(self) -> int:
        return self.failure.exit_code if self.failure else 0

    def one_line(self) -> str:
        """The fetch in one line: a log line, a status line."""
        left = (Outcome.FINAL, Outcome.WAITING)
        asked = [o for o in Outcome if o not in left and self._with(o)]
        counts = ", ".join(f"{len(self._with(o))} {o.value}" for o in asked)
        line = f"fetched {plural(sum(len(self._with(o)) for o in asked), 'day')}"
        line += f" ({counts})" if counts else ""
        if self._with(Outcome.FINAL):
            line += f", {len(self._with(Outcome.FINAL))} final (not asked again)"
        if self._with(Outcome.WAITING):
            waiting = self._with(Outcome.WAITING)
            first = min(r.confirm_from for r in waiting if r.confirm_from).astimezone(dt.UTC)
            line += f", {len(waiting)} in doubt (asked again from {first:%Y-%m-%d %H:%M} UTC)"
        line += f", {plural(self.requests, 'request')}"
        if self.written:
            line += f"; wrote {', '.join(self.written)}"
        if self.failure:
            where = f" on {self.failure.day}" if self.failure.day else ""
            line += f"; stopped{where}: {self.failure.reason}"
        return line

    def as_json(self) -> dict[str, Any]:
        failure = self.failure
        return {
            "ask": self.ask.value,
            "started": moment_text(self.started),
            "today": self.today.isoformat(),
            "days": [
                {
                    "day": r.day.isoformat(),
                    "outcome": r.outcome.value,
                    "papers": r.papers,
                    "inbox_papers": r.inbox_papers,
                    "file": r.file,
                    "final": r.final,
                    "requests": r.requests,
                    "confirm_from": moment_text(r.confirm_from) if r.confirm_from else None,
                }
                for r in self.days
            ],
            "written": self.written,
            "unchanged": [r.day.isoformat() for r in self._with(Outcome.UNCHANGED)],
            "kept": [r.day.isoformat() for r in self._with(Outcome.KEPT)],
            "empty": [r.day.isoformat() for r in self._with(Outcome.EMPTY)],
            "skipped_final": [r.day.isoformat() for r in self._with(Outcome.FINAL)],
            "waiting": [r.day.isoformat() for r in self._with(Outcome.WAITING)],
            "nothing_new": self.nothing_new,
            "failure": None
            if failure is None
            else {
                "day": failure.day.isoformat() if failure.day else None,
                "reason": failure.reason,
                "hint": failure.hint,
                "exit_code": failure.exit_code,
            },
            "requests": self.requests,
            "warnings": list(self.warnings),
            "removed_temp_files": list(self.removed_temp_files),
            "not_before": moment_text(self.not_before) if self.not_before else None,
            "final_rule": FINAL_RULE,
        }
