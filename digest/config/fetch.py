"""The config of fetching the listing from the Daily Papers API: the ``[fetch]`` table.

Defaults are those of a good citizen of an API that is not ours: the anonymous limit it
publishes (500 calls per 5 minutes per IP) as the pace, timeouts on everything, a cap on
what one answer may weigh, and a User-Agent that says who is asking. The token, when
there is one, comes only from the environment (``HF_TOKEN``), never from this file.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from digest import __version__
from digest.config.values import (
    bounded_int,
    expect,
    parse_duration,
    parse_size,
    shown_url,
    unknown_key,
)
from digest.errors import ConfigError

DEFAULT_SOURCE = "https://huggingface.co/api/daily_papers"
# The API refuses a larger ``limit`` ("Too big: expected number to be <=100", a reported
# live answer; its own client defaults to 50).
MAX_PAGE_SIZE = 100
TOKEN_ENV = "HF_TOKEN"

_URL_UNSAFE = re.compile(r"[\s\"'<>`\\{}|^\x00-\x1f\x7f]")
_CONTACT = re.compile(r"[^\s@()<>;,]+@[^\s@()<>;,]+\.[^\s@()<>;,]+|https?://[^\s()<>;,]+")
_HEADER_TEXT = re.compile(r"[\x20-\x7e]{1,200}")


@dataclass(frozen=True, slots=True)
class Rate:
    """At most ``requests`` requests in any ``window`` seconds."""

    requests: int
    window: float

    @property
    def spacing(self) -> float:
        """Seconds between one answer and the next request when spread evenly."""
        return self.window / self.requests

    def __str__(self) -> str:
        return f"{self.requests}/{self.window:g}s"


ANONYMOUS_LIMIT = Rate(500, 300.0)


@dataclass(frozen=True)
class FetchConfig:
    source: str = DEFAULT_SOURCE
    enabled: bool = True  # for the daemon: fetch before each run ('digest fetch' always does)
    days_back: int = 3  # a first fetch starts this many days before today; the daemon's window
    timeout: float = 30.0  # seconds, to connect and for each read
    deadline: float = 120.0  # seconds for one whole answer, however the server trickles it
    user_agent: str = ""  # empty: the default (see ``agent``)
    contact: str = ""  # an email address or URL the User-Agent carries
    max_bytes: int = 16 * 1024 * 1024  # a day's listing is some 100 KB
    retries: int = 4  # after the first try, on timeouts, resets, 5xx and 429
    rate: Rate = field(default=ANONYMOUS_LIMIT)
    page_size: int = MAX_PAGE_SIZE  # the ``limit`` parameter

    @property
    def agent(self) -> str:
        """The User-Agent: names digest and its version, and the contact when set, so an
        API operator who sees a problem knows what and whom to ask. A ``user_agent`` of
        the config's own is sent as written, with digest's token added if it lacks it."""
        if self.user_agent:
            if "digest/" in self.user_agent:
                return self.user_agent
            return f"{self.user_agent} digest/{__version__}"
        about = "Daily Papers newsletter" + (f"; contact: {self.contact}" if self.contact else "")
        return f"digest/{__version__} ({about})"


def is_loopback(host: str) -> bool:
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_source(url: str, key: str = "fetch.source") -> str:
    """https only, except on this machine (a test server, a local mirror); no
    credentials, query or fragment: digest adds the query, and a URL is shown in messages."""
    parts = urlsplit(url) if not _URL_UNSAFE.search(url) else None
    try:
        port_ok = parts is not None and (parts.port or 0) >= 0
    except ValueError:
        port_ok = False
    if parts is None or not port_ok or not parts.hostname or parts.scheme not in ("http", "https"):
        raise ConfigError(f"{key}: {shown_url(url)} is not an https URL", f"e.g. {DEFAULT_SOURCE}")
    if parts.username is not None or parts.password is not None:
        raise ConfigError(
            f"{key}: credentials do not belong in the URL",
            f"leave them out; a token is read from {TOKEN_ENV} in the environment",
        )
    if parts.query or parts.fragment:
        raise ConfigError(
            f"{key}: {shown_url(url)} has a query or fragment",
            "digest adds date, limit and p itself",
        )
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigError(
            f"{key}: {shown_url(url)} is not https",
            "only a server on this machine (127.0.0.1, ::1, localhost) may be plain http",
        )
    return url


def parse_rate(value: object, key: str) -> Rate:
    """``"500/5m"``: requests per window."""
    text = expect(value, str, key)
    count, slash, window = text.partition("/")
    if not slash or not count.strip().isdigit():
        raise ConfigError(f"{key}: {value!r} is not a rate", 'write requests per window: "500/5m"')
    return Rate(bounded_int(int(count), key, 1, 100_000), parse_duration(window, key))


def _header_text(value: object, key: str) -> str:
    text = expect(value, str, key)
    if not _HEADER_TEXT.fullmatch(text):
        raise ConfigError(
            f"{key}: {text!r} is not one line of plain ASCII (at most 200 characters)",
            "it is sent in a header",
        )
    return text


def fetch(table: dict[str, Any]) -> FetchConfig:
    values: dict[str, Any] = {}
    for key, value in table.items():
        name = f"fetch.{key}"
        if key == "source":
            values[key] = check_source(expect(value, str, name), name)
        elif key == "enabled":
            values[key] = expect(value, bool, name)
        elif key == "days_back":
            values[key] = bounded_int(value, name, 0, 3660)
        elif key in ("timeout", "deadline"):
            values[key] = parse_duration(value, name)
        elif key == "user_agent":
            values[key] = _header_text(value, name)
        elif key == "contact":
            values[key] = _header_text(value, name)
            if not _CONTACT.fullmatch(values[key]):
                raise ConfigError(
                    f"{name}: {value!r} is not an email address or http(s) URL",
                    "e.g. ops@example.org or https://example.org/digest",
                )
        elif key == "max_bytes":
            values[key] = parse_size(value, name)
            if not 1024 <= values[key] <= 2**30:
                raise ConfigError(f"{name}: must be from 1KiB to 1GiB", f"got {value!r}")
        elif key == "retries":
            values[key] = bounded_int(value, name, 0, 10)
        elif key == "rate":
            values[key] = parse_rate(value, name)
        elif key == "page_size":
            values[key] = bounded_int(value, name, 1, MAX_PAGE_SIZE)
        elif key == "token":
            raise ConfigError(
                f"{name}: a token does not belong in the config file",
                f"set {TOKEN_ENV} in the environment instead",
            )
        else:
            raise unknown_key(name, FETCH_KEYS)
    return FetchConfig(**values)


FETCH_KEYS = tuple(name for name in FetchConfig.__dataclass_fields__)
