"""Dates and their written forms, in one place.

Month names are spelled out here, not taken from ``strftime``: output must not depend
on the machine's locale, and the same state must render the same bytes everywhere.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

MONTH_ABBREVIATIONS = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)
MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
MONTH_NUMBERS = {name: number for number, name in enumerate(MONTH_ABBREVIATIONS, start=1)}
# How pages write a month: "Mar", "March", and "Sept" (the one four-letter abbreviation).
MONTHS_WRITTEN = {
    **MONTH_NUMBERS,
    **{name: number for number, name in enumerate(MONTH_NAMES, start=1)},
    "Sept": 9,
}
# A listing is dated where it was published: at most a day or so ahead of the date of the
# machine that saved it (a listing dated "tomorrow" in a US evening is already today in
# UTC). A date without a year further ahead than this is the year before's.
AHEAD_DAYS = 3
# No listing of the kind is older: a modification time before this (an archive that lost
# its times, a clock at 1970) says nothing of when a file was saved.
EARLIEST_LISTING = dt.date(2023, 1, 1)


def moment_text(moment: dt.datetime) -> str:
    """RFC 3339 in UTC with milliseconds (``2026-11-24T08:00:00.000Z``): how the store
    keeps instants, and how feeds write them. Such strings sort as the instants do."""
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@lru_cache(maxsize=1024)
def parse_moment(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


@lru_cache(maxsize=4096)  # reading an issue back asks for the same few dates over and over
def parse_day(text: str | None) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


def day_text(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


def long_date(value: dt.date | dt.datetime | None) -> str:
    """``November 24, 2026``."""
    if value is None:
        return ""
    return f"{MONTH_NAMES[value.month - 1]} {value.day}, {value.year}"


def short_date(value: dt.date) -> str:
    """``Nov 24, 2026``."""
    return f"{MONTH_ABBREVIATIONS[value.month - 1]} {value.day}, {value.year}"


def saved_day(mtime_ns: int) -> dt.date:
    """The day a file was last modified, on this machine's calendar (as ``today`` is)."""
    return dt.datetime.fromtimestamp(mtime_ns / 1e9).date()


def latest_listing_day(
    today: dt.date, saved: dt.date | None = None, year: int | None = None
) -> dt.date:
    """The latest day a file's dates without a year may be: the end of ``year`` when the
    user says which year they are in; else a few days past the earlier of the run's day
    and the day the file was saved (a page is saved on or after its date, so its date
    cannot wrap into the next year however long it waits in the inbox)."""
    if year is not None:
        return dt.date(year, 12, 31)
    if saved is not None and EARLIEST_LISTING <= saved < today:
        today = saved
    return today + dt.timedelta(days=AHEAD_DAYS)


def resolve_year(month: int, day: int, reference: dt.date) -> dt.date:
    """The latest month/day on or before ``reference`` (Feb 29 looks back to a leap year)."""
    for year in range(reference.year, reference.year - 9, -1):
        try:
            candidate = dt.date(year, month, day)
        except ValueError:
            continue
        if candidate <= reference:
            return candidate
    raise ValueError(f"no such date: {month}/{day}")
