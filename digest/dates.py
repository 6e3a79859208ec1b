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
