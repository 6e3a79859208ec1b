"""Values in the config and on the command line: sizes, durations, bounded numbers,
choices, the site URL. Each is checked whole, so a typo is a message naming the key."""

from __future__ import annotations

import enum
import math
import re
from typing import Any
from urllib.parse import urlsplit

from digest.errors import ConfigError
from digest.text import one_line

_SIZE = re.compile(r"(?i)\s*(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib)?\s*")
_SIZE_UNITS = {
    None: 1,
    "b": 1,
    "kb": 1000,
    "kib": 1024,
    "mb": 10**6,
    "mib": 2**20,
    "gb": 10**9,
    "gib": 2**30,
}
_DURATION = re.compile(r"(?i)\s*(\d+(?:\.\d+)?)\s*(ms|s|sec|m|min|h|d|w)?\s*")
_DURATION_UNITS = {
    None: 1,
    "ms": 0.001,
    "s": 1,
    "sec": 1,
    "m": 60,
    "min": 60,
    "h": 3600,
    "d": 86400,
    "w": 604800,
}


def parse_size(value: object, key: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**62:
        return value
    match = _SIZE.fullmatch(str(value))
    if not match or isinstance(value, bool) or float(match[1]) >= 2**50:
        raise ConfigError(f"{key}: {value!r} is not a size", 'write a number of bytes or "20MB"')
    return int(float(match[1]) * _SIZE_UNITS[match[2] and match[2].lower()])


def parse_duration(value: object, key: str, *, allow_zero: bool = False) -> float:
    """Seconds, from a number or "30s", "15m", "6h", "1d"; finite, at most a year."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _DURATION.fullmatch(str(value))
        seconds = float(match[1]) * _DURATION_UNITS[match[2] and match[2].lower()] if match else -1
    if (
        not math.isfinite(seconds)
        or seconds < 0
        or seconds > 366 * 86400
        or (seconds == 0 and not allow_zero)
    ):
        raise ConfigError(f"{key}: {value!r} is not a duration", 'write "30s", "15m", "6h" or "1d"')
    return seconds


def expect(value: object, kind: type | tuple[type, ...], key: str) -> Any:
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ConfigError(f"{key}: expected {names}, got {value!r}")
    return value


def bounded_int(value: object, key: str, low: int, high: int) -> int:
    number = int(expect(value, int, key))
    if number < low:
        raise ConfigError(f"{key}: must be {low:,} or more", f"got {number:,}")
    if number > high:
        raise ConfigError(f"{key}: must be at most {high:,}", f"got {number:,}")
    return number


def choice(value: object, kind: type[enum.StrEnum], key: str) -> Any:
    try:
        return kind(expect(value, str, key))
    except ValueError:
        choices = " or ".join(f'"{member.value}"' for member in kind)
        raise ConfigError(f"{key}: {value!r}", f"use {choices}") from None


_SCHEME = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*:)?(?P<slashes>/*)(?P<authority>[^/?#]*)")


def shown_url(url: str, *, keyed: bool = False) -> str:
    """A URL as a config error quotes it: never its credentials (``user:pass@``), and for
    a ``keyed`` URL (a push monitor's: the path is its key) only the scheme and host."""
    match = _SCHEME.match(url)
    assert match is not None  # every part is optional
    authority = match["authority"]
    if "@" in authority:
        authority = "***@" + authority.rpartition("@")[2]
    start = (match["scheme"] or "") + match["slashes"] + authority
    rest = url[match.end() :]
    return repr(one_line(start + ("/…" if keyed and rest else rest)))


def check_url(url: str, *, key: str = "url", folder: bool = True) -> None:
    """The whole URL, not only its start: pages, feeds and emails put it in links. A
    ``folder`` (the site's address) has no query or fragment; any other (a push
    monitor's) carries its key, and is quoted by its scheme and host alone."""
    parts = urlsplit(url) if not re.search(r"[\s\"'<>`\\{}|^\x00-\x1f\x7f]", url) else None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or (folder and (parts.query or parts.fragment))
        or parts.username is not None
    ):
        what = "an http(s) URL of a folder" if folder else "an http(s) URL"
        if parts is not None and parts.username is not None:
            what += " without credentials"
        raise ConfigError(
            f"{key}: {shown_url(url, keyed=not folder)} is not {what}",
            "e.g. https://example.org/digest/ (no spaces, quotes, query or fragment)"
            if folder
            else "e.g. https://hc-ping.com/your-uuid",
        )
    try:
        parts.port  # noqa: B018 - raises for a port that is not a number
    except ValueError:
        shown = shown_url(url, keyed=not folder)
        raise ConfigError(f"{key}: {shown} has a port that is not a number") from None


# A BCP 47 language tag (RFC 5646's langtag, or private use): language (with extended
# subtags; the 4- to 8-letter forms the RFC reserves are no language any registry has),
# script, region, variants, extensions, private use.
_ALNUM = "[A-Za-z0-9]"
_BCP47 = re.compile(
    r"[A-Za-z]{2,3}(?:-[A-Za-z]{3}){0,3}"  # language, extlang
    r"(?:-[A-Za-z]{4})?"  # script
    r"(?:-(?:[A-Za-z]{2}|[0-9]{3}))?"  # region
    rf"(?:-(?:{_ALNUM}{{5,8}}|[0-9]{_ALNUM}{{3}}))*"  # variants
    rf"(?:-[0-9A-WYZa-wyz](?:-{_ALNUM}{{2,8}})+)*"  # extensions
    rf"(?:-[xX](?:-{_ALNUM}{{1,8}})+)?"  # private use
    rf"|[xX](?:-{_ALNUM}{{1,8}})+"
)


def check_language(tag: str, key: str = "language") -> str:
    """The pages' and feeds' language: a BCP 47 tag, as HTML's lang and the feeds want."""
    if not _BCP47.fullmatch(tag):
        raise ConfigError(
            f"{key}: {one_line(tag)[:60]!r} is not a BCP 47 language tag",
            'e.g. "en", "en-GB", "de", "pt-BR", "zh-Hant"',
        )
    return tag


def check_unsubscribe(value: str, key: str) -> str:
    """``List-Unsubscribe`` names one target, an http(s) URL or a mailto: address, in a
    header and as a link in both parts of the email: nothing there may break out of it."""
    hint = 'one https:// URL or mailto: address, e.g. "mailto:leave@example.org"'
    if not re.fullmatch(r"[\x21-\x7e]+", value):
        raise ConfigError(
            f"{key}: {value!r} holds a space, a line break, a control character or a "
            "character that is not ASCII",
            hint + " (percent-encode what a URL needs)",
        )
    if re.search(r"[<>,\"'`\\]", value):
        raise ConfigError(
            f"{key}: {value!r} holds <, >, a comma or a quote: it must name one target", hint
        )
    scheme, _, rest = value.partition(":")
    if scheme.lower() == "mailto":
        local, _, domain = rest.split("?", 1)[0].rpartition("@")
        if not local or "." not in domain.strip("."):
            raise ConfigError(f"{key}: {value!r} is not a mailto: address", hint)
        return value
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{key}: {value!r} is not an http(s) URL or a mailto: address", hint)
    return value


def unknown_key(key: str, known: Any) -> ConfigError:
    return ConfigError(f"unknown key {key}", f"known keys: {', '.join(known)}")
