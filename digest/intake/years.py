"""When the year of a listing's date cannot be told: a warning naming the file.

A text listing's date has no year (``Oct 31``); each file's is read as the latest such
day on or before a few days past the day the file was saved (``dates``), which is right
for any file less than a year older than its modification time. Files that carry no
time of their own (copied all at once: they share one day) and whose dates cover a whole
year of days may reach back further than a year: two of them on the same day without a
year, or the newest of them, may then be a year older than read. Nothing in the text
says which, so it is said, never guessed silently.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from digest.dates import short_date
from digest.model import Problem, Severity

# Dates of one batch that leave no gap this long in the year's circle of days cover it.
WHOLE_YEAR_GAP = 14
_HINT = (
    "give 'digest run --year YYYY' (the year of these listings), or keep the files' "
    "modification times (cp -p, or touch -d the day each was saved)"
)


@dataclass(frozen=True, slots=True)
class Dated:
    """A file about to be read: its name, its date as read, the latest day that date
    could be (what it was read against), and whether it was written without a year."""

    name: str
    date: dt.date | None
    latest: dt.date
    yearless: bool


def _day_of_year(day: dt.date) -> int:
    return dt.date(2000, day.month, day.day).timetuple().tm_yday  # a leap year: Feb 29 fits


def _covers_the_year(days: Sequence[dt.date]) -> bool:
    points = sorted({_day_of_year(day) for day in days})
    if len(points) < 2:
        return False
    gaps = [later - earlier for earlier, later in pairwise(points)]
    gaps.append(points[0] + 366 - points[-1])
    return max(gaps) < WHOLE_YEAR_GAP


def wrap_warnings(files: Sequence[Dated]) -> list[Problem]:
    """A warning for each file whose year may be wrong, by the rule in the docstring."""
    batches: dict[dt.date, list[Dated]] = defaultdict(list)
    for item in files:
        if item.yearless and item.date is not None:
            batches[item.latest].append(item)
    problems: list[Problem] = []
    for batch in batches.values():
        days = [item.date for item in batch if item.date is not None]
        if not _covers_the_year(days):
            continue
        by_day: dict[dt.date, list[str]] = defaultdict(list)
        for item in batch:
            assert item.date is not None
            by_day[item.date].append(item.name)
        shared = {day: names for day, names in by_day.items() if len(names) > 1}
        if not shared:
            newest = max(by_day)
            shared = {newest: by_day[newest]}
        for day, names in sorted(shared.items()):
            for name in names:
                others = [other for other in names if other != name]
                with_whom = f", as {len(others)} other file(s) of this run" if others else ""
                problems.append(
                    Problem(
                        name,
                        None,
                        f"its date {short_date(day)} has no year{with_whom}, and the "
                        f"{len(batch)} files read with it cover a whole year of days: it may "
                        f"be a year older than read; {_HINT}",
                        Severity.WARNING,
                    )
                )
    return problems
