"""How fast digest may ask: its own pace, and what the server says of its budget.

Every request is counted from the moment its answer ended (or it failed), and the next
one starts at least ``window / requests`` seconds after that. The server sees a request
somewhere between the moment it was sent and the moment its answer ended, so any N
consecutive requests span at least the whole window *as the server sees them*, whatever
the network's delays: no window ever holds more than the rate allows, and a backlog is
spread evenly rather than sent in bursts.

The server's own word only ever slows this down: ``Retry-After`` on a 429 and the
``RateLimit`` headers (the IETF draft's ``"api";r=0;t=30`` as the Hub sends them, or the
older ``RateLimit-Remaining`` / ``RateLimit-Reset``) set a moment before which nothing is
sent, and a low remaining budget spreads what is left over the time until it resets.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import time
from collections.abc import Callable
from email.message import Message

from digest.config.fetch import Rate
from digest.errors import FetchUnavailable

# The longest the server may make a fetch wait in one go: one of the Hub's fixed windows.
# Asked for longer, the fetch stops (exit 75) and the ledger remembers until when.
MAX_SERVER_WAIT = 300.0
# The longest wait a server's word can make digest remember: asked for more (a header or
# a clock gone wrong says a year, or 10^20 seconds), a fetch waits a day, not for ever.
LONGEST_SERVER_WAIT = 86_400.0
# A reset time above this is a Unix time (GitHub-style), not seconds from now.
_EPOCH_THRESHOLD = 1e9


class Pacer:
    """Keeps requests within ``rate`` and behind every wait the server asked for.

    ``clock`` is monotonic seconds and ``sleep`` waits: tests inject both."""

    def __init__(
        self,
        rate: Rate,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self._clock = clock
        self._sleep = sleep
        self._last_done: float | None = None
        self._not_before = 0.0  # asked by the server (or our backoff): nothing before this
        self._asked_by_server = False
        self._floor = 0.0  # spacing a low remaining budget asks for, until it resets
        self._floor_until = 0.0
        self.requests = 0

    def wait(self) -> None:
        """Sleep until the next request may go. A server that asks for more than
        MAX_SERVER_WAIT seconds gets no request now: FetchUnavailable says when to retry."""
        now = self._clock()
        spacing = self.rate.spacing
        if now < self._floor_until:
            spacing = max(spacing, self._floor)
        start = now if self._last_done is None else self._last_done + spacing
        if self._not_before > start:
            if self._asked_by_server and self._not_before - now > MAX_SERVER_WAIT:
                left = self._not_before - now
                raise FetchUnavailable(
                    f"rate limited: the API asks to wait {left:.0f}s before the next request",
                    "try again later; digest fetch will not ask sooner",
                    retry_after=left,
                )
            start = self._not_before
        if start > now:
            self._sleep(start - now)

    def done(self) -> None:
        """A request's answer ended (or it failed): the pace counts from here."""
        self._last_done = self._clock()
        self.requests += 1

    def hold(self, seconds: float, *, asked_by_server: bool) -> None:
        """Send nothing for ``seconds`` from now (a backoff, or the server's wish)."""
        until = self._clock() + max(0.0, seconds)
        if until > self._not_before:
            self._not_before = until
            self._asked_by_server = asked_by_server

    def budget(self, remaining: int, reset: float) -> None:
        """The server says ``remaining`` requests are left until ``reset`` seconds from
        now: none left waits for the reset; few left are spread over the time until it."""
        if remaining <= 0:
            self.hold(reset, asked_by_server=True)
        else:
            self._floor = reset / remaining
            self._floor_until = self._clock() + reset


def _number(text: str) -> float | None:
    try:
        value = float(text.strip().strip('"'))
    except ValueError:
        return None
    return value if 0 <= value < float("inf") else None


def _seconds_from(value: float, wall: float) -> float:
    return min(max(0.0, value - wall) if value > _EPOCH_THRESHOLD else value, LONGEST_SERVER_WAIT)


def rate_budget(headers: Message, wall: float) -> tuple[int, float] | None:
    """(remaining, seconds to reset) from the ``RateLimit`` headers, if they say.

    The draft's structured form may list several policies (``"api";r=4;t=30, ...``): the
    scarcest counts. ``wall`` is the Unix time now, for a reset given as a Unix time."""
    found: list[tuple[int, float]] = []
    structured = headers.get("RateLimit")
    if structured:
        for item in structured.split(","):
            params: dict[str, float | None] = {}
            for part in item.split(";"):
                key, equals, value = part.strip().partition("=")
                if equals:
                    params[key.strip().lower()] = _number(value)
            remaining = params.get("r", params.get("remaining"))
            reset = params.get("t", params.get("reset"))
            if remaining is not None and reset is not None:
                found.append((int(remaining), _seconds_from(reset, wall)))
    for prefix in ("RateLimit-", "X-RateLimit-"):
        remaining_text = headers.get(prefix + "Remaining")
        reset_text = headers.get(prefix + "Reset")
        if not found and remaining_text and reset_text:
            remaining, reset = _number(remaining_text), _number(reset_text)
            if remaining is not None and reset is not None:
                found.append((int(remaining), _seconds_from(reset, wall)))
    if not found:
        return None
    scarcest = min(remaining for remaining, _ in found)
    return scarcest, max(reset for remaining, reset in found if remaining == scarcest)


def retry_after(headers: Message, wall: float) -> float | None:
    """Seconds from ``Retry-After``: a number, or an HTTP-date (read against the answer's
    own ``Date`` when it has one, so a skewed local clock cannot shorten the wait)."""
    value = headers.get("Retry-After")
    if not value:
        return None
    seconds = _number(value)
    if seconds is not None:
        return min(seconds, LONGEST_SERVER_WAIT)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    reference = dt.datetime.fromtimestamp(wall, dt.UTC)
    with_date = headers.get("Date")
    if with_date:
        with contextlib.suppress(TypeError, ValueError, IndexError):
            reference = email.utils.parsedate_to_datetime(with_date)
    if when.tzinfo is None or reference.tzinfo is None:
        return None
    return min(max(0.0, (when - reference).total_seconds()), LONGEST_SERVER_WAIT)


def server_date(headers: Message) -> dt.datetime | None:
    """The moment an answer's ``Date`` header gives (RFC 9110), if it can be read."""
    value = headers.get("Date")
    if not value:
        return None
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return moment if moment.utcoffset() is not None else moment.replace(tzinfo=dt.UTC)


def server_wait(headers: Message, wall: float) -> float | None:
    """How long a 429 asks us to wait: the longest of what its headers say, if any."""
    hints = [retry_after(headers, wall)]
    budget = rate_budget(headers, wall)
    if budget is not None and budget[0] <= 0:
        hints.append(budget[1])
    known = [hint for hint in hints if hint is not None]
    return max(known) if known else None
