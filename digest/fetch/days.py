"""Which days a fetch asks for, and when a day's listing is final.

Days are UTC days: the API files a paper under the day it was put on Daily Papers, and
"today" anywhere east of UTC would be a day the API calls the future (it answers 400).

**The finality rule.** A day's listing grows while the day lasts and for a while after
(papers are added late, from every time zone). A day D is *final* once it was fetched at
or after the end of D in UTC plus 36 hours, that is at D+2 12:00 UTC or later: by then
D has ended everywhere on Earth (UTC-12 ends it at D+1 12:00 UTC) and a further day has
passed for late additions. A final day is never fetched again (unless forced); upvotes
still change after that, but the set of papers no longer does. A day not final yet is
fetched again by every fetch until one fetch makes it final.

**Doubtful answers.** An answer that lists nothing is a weekend, or the API answering
``[]`` by mistake; one that lacks papers the inbox's file has is partial. One answer
cannot tell a mistake from the truth, and a day made final by a mistaken one would never
be asked for again. So an answer from when the day could be final that lists nothing, or
lacks some of the file's papers, makes it final only once another such answer, at least
CONFIRMED_AFTER after the first, agrees (any other answer makes it final at once); until
then a catch-up does not ask for it (a weekend day costs one request more). Whether a day
could be final is judged by the earlier of the local clock and the server's ``Date``, so a
clock that runs ahead makes no day final early.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable
from dataclasses import dataclass

from digest.errors import ConfigError

FINAL_AFTER = dt.timedelta(hours=36)
CONFIRMED_AFTER = dt.timedelta(hours=12)
FINAL_RULE = (
    "a day is final once fetched at or after its end (UTC) + 36 h, i.e. from D+2 12:00 UTC "
    "(an answer then that lists nothing, or lacks papers the inbox's file has: once a second "
    "such answer 12 h later agrees); a final day is never fetched again"
)


class Ask(enum.StrEnum):
    """What the user asked for."""

    DAY = "day"  # --date D
    RANGE = "range"  # --since D [--until D]
    CATCH_UP = "catch-up"  # the default: from the last fetched day up to today


@dataclass(frozen=True, slots=True)
class Selection:
    """The days asked for, before the ledger says which are final. Build with
    ``one_day``, ``between`` or ``catch_up``."""

    ask: Ask
    first: dt.date | None = None
    last: dt.date | None = None  # None: today
    force: bool = False  # fetch final days too

    @classmethod
    def one_day(cls, day: dt.date, *, force: bool = False) -> Selection:
        return cls(Ask.DAY, day, day, force)

    @classmethod
    def between(
        cls, since: dt.date, until: dt.date | None = None, *, force: bool = False
    ) -> Selection:
        if until is not None and until < since:
            raise ConfigError(
                f"--until {until} is before --since {since}", "give the earlier day to --since"
            )
        return cls(Ask.RANGE, since, until, force)

    @classmethod
    def catch_up(cls, *, force: bool = False) -> Selection:
        return cls(Ask.CATCH_UP, force=force)


@dataclass(frozen=True, slots=True)
class Plan:
    """The days to fetch, oldest first, and the days left alone because they are final."""

    days: tuple[dt.date, ...]
    final: tuple[dt.date, ...]
    today: dt.date
    clamped: bool = False  # the range reached past today (UTC): it stops at today
    waiting: tuple[dt.date, ...] = ()  # in doubt, left until an answer can settle it


def utc_day(now: dt.datetime) -> dt.date:
    return now.astimezone(dt.UTC).date()


def final_from(day: dt.date) -> dt.datetime:
    """The first moment a fetch of ``day`` makes it final."""
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.UTC)
    return end + FINAL_AFTER


def is_final(day: dt.date, fetched_at: dt.datetime) -> bool:
    return fetched_at >= final_from(day)


def doubtful_final(
    day: dt.date, now: dt.datetime, doubt_since: dt.datetime | None
) -> tuple[bool, dt.datetime | None]:
    """Whether a doubtful answer at ``now`` makes ``day`` final, and since when answers
    that could make it final have been doubtful (``doubt_since``: the earlier one's, kept
    in the ledger; one "after" now, from a clock that ran ahead, counts for nothing)."""
    if not is_final(day, now):
        return False, None
    since = doubt_since if doubt_since is not None and doubt_since <= now else now
    return now - since >= CONFIRMED_AFTER, since


def _span(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


def plan(
    selection: Selection,
    now: dt.datetime,
    *,
    fetched: Iterable[dt.date],
    final: Iterable[dt.date],
    days_back: int,
    waiting: Iterable[dt.date] = (),
) -> Plan:
    """The days to fetch for ``selection`` at ``now``, given the days fetched before and
    those of them that are final.

    The default catches up: from the day after the newest day fetched (or today minus
    ``days_back``, the first time) up to today, plus every earlier day fetched but not
    final yet (forced: also the final days of the last ``days_back`` days), but those
    ``waiting`` for an answer that can settle a doubt. A day in the future (UTC) is never
    fetched: asked for alone, it is an error; a range stops at today."""
    today = utc_day(now)
    fetched, final_days = set(fetched), set(final)
    clamped = False
    waited: tuple[dt.date, ...] = ()
    if selection.ask is Ask.CATCH_UP:
        window_start = today - dt.timedelta(days=days_back)
        start = max(fetched) + dt.timedelta(days=1) if fetched else window_start
        wanted = set(_span(start, today)) if start <= today else set()
        wanted |= {day for day in fetched if day <= today and day not in final_days}
        if selection.force:  # final days too, but only within the usual window
            wanted |= {day for day in fetched if window_start <= day <= today}
        else:
            waited = tuple(sorted(wanted & set(waiting)))
            wanted -= set(waited)
    else:
        assert selection.first is not None
        if selection.first > today:
            raise ConfigError(
                f"{selection.first} is in the future (today is {today} in UTC)",
                "the API lists a day once it has begun in UTC",
            )
        last = selection.last or today
        clamped = last > today
        wanted = set(_span(selection.first, min(last, today)))
    skipped = set() if selection.force else wanted & final_days
    return Plan(tuple(sorted(wanted - skipped)), tuple(sorted(skipped)), today, clamped, waited)
