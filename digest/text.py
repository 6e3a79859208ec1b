"""Text from outside (file names, scraped titles) made safe to print on one line.

A file name may hold a newline (which would forge a line in a log), a terminal escape,
or bytes that are not UTF-8 at all. What is printed keeps every printable character
and writes the rest as escapes, so a log line is one line and says what the name is.
"""

from __future__ import annotations

import os
import re

# What no email header may carry: a line break would start another header.
HEADER_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def one_line(text: str) -> str:
    """``text`` with controls, line breaks and bidi controls written as escapes."""
    return _UNPRINTABLE.sub(_escape, text)


def shown_name(path: str) -> str:
    """A path as it can be printed: bytes that are not UTF-8 as ``\\xff``, controls
    escaped."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        path = os.fsencode(path).decode("utf-8", errors="backslashreplace")
    return one_line(path)


def plural(count: int, singular: str, plural: str | None = None) -> str:
    """``1 file``, ``2 files``, ``1,000 papers``: a count and its word, agreed."""
    word = singular if count == 1 else (plural or singular + "s")
    return f"{count:,} {word}"
