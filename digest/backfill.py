"""A backlog as the archive it would have been: one issue per week (or day, or digest).

A new user often starts with months of saved listings. ``digest run --backfill`` groups
the new papers by the digest that first listed them, one issue per period, oldest first,
each dated by its period's last digest, its papers first seen on their own digest's day:
the issues, feeds and archive the digest would have built had it been running all along.
Files are taken in by digest date, so a period is a run of consecutive files; an issue is
closed (ranked, its rising papers picked, recorded) when the next period begins, before
later listings change the upvotes it is judged by.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable
from dataclasses import dataclass, field


class Period(enum.StrEnum):
    WEEK = "week"  # Monday to Sunday
    DAY = "day"
    DIGEST = "digest"  # each digest file its own issue


@dataclass
class PeriodIssue:
    """The issue of one period, as the take-in fills it."""

    seq: int
    key: tuple[object, ...]
    last_date: dt.date
    papers: int = 0  # new papers shown in it
    seen_again: list[int] = field(default_factory=list)  # candidates to rise in it


def period_key(period: Period, day: dt.date, file_name: str) -> tuple[object, ...]:
    if period is Period.WEEK:
        year, week, _ = day.isocalendar()
        return (year, week)
    if period is Period.DAY:
        return (day,)
    return (day, file_name)


def moment(day: dt.date, clock: dt.datetime) -> dt.datetime:
    """A day at the run's time of day, never later than the run itself: when a backfilled
    paper is taken as first seen, and a backfilled issue as published."""
    return min(dt.datetime.combine(day, clock.timetz()), clock)


class Backfill:
    """Which issue each file's new papers go in; ``close`` records a finished one."""

    def __init__(
        self,
        period: Period,
        first_seq: int,
        clock: dt.datetime,
        close: Callable[[PeriodIssue], None],
    ) -> None:
        self.period, self.next_seq, self.clock, self.close = period, first_seq, clock, close
        self.current: PeriodIssue | None = None
        self.closed: list[PeriodIssue] = []

    def enter(self, day: dt.date | None, file_name: str) -> PeriodIssue:
        """The issue for a file of this digest date (a file with no date of its own joins
        the period before it), closing the one before if this is a new period."""
        if day is None:
            if self.current is not None:
                return self.current
            day = self.clock.date()
        key = period_key(self.period, day, file_name)
        if self.current is not None and self.current.key == key:
            self.current.last_date = max(self.current.last_date, day)
            return self.current
        self.finish()
        self.current = PeriodIssue(self.next_seq, key, day)
        self.next_seq += 1
        return self.current

    def finish(self) -> None:
        if self.current is not None:
            if self.current.papers:
                self.close(self.current)
                self.closed.append(self.current)
            self.current = None
