"""A PostgreSQL state as libpq reads it: a ``postgresql://`` URL or a keyword string
(``host=db dbname=digest``), parsed by libpq's own rules, so that what digest judges (is
there a secret in it?) is what libpq would use, and what digest shows never holds one.

libpq percent-decodes a URL's user, password and every query keyword and value
(``?pass%77ord=x`` is the password ``x``), and reads ``password``, ``sslpassword`` (the
client key's passphrase) and ``oauth_client_secret`` from either form. Where psycopg is
installed, libpq itself (``conninfo_to_dict``) reads the text too; without it (a SQLite
user never needs it) this careful reader is the judge.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

URL_PREFIXES = ("postgresql://", "postgres://")
# What libpq reads as a secret, in a URL's query or a keyword string.
SECRET_KEYWORDS = frozenset({"password", "sslpassword", "oauth_client_secret"})
# libpq's connection keywords (PostgreSQL 17/18): a text that starts with one of them
# and "=" is a keyword string, never a file name.
KEYWORDS = frozenset(
    {
        "host",
        "hostaddr",
        "port",
        "dbname",
        "user",
        "password",
        "passfile",
        "require_auth",
        "channel_binding",
        "connect_timeout",
        "client_encoding",
        "options",
        "application_name",
        "fallback_application_name",
        "keepalives",
        "keepalives_idle",
        "keepalives_interval",
        "keepalives_count",
        "tcp_user_timeout",
        "replication",
        "gssencmode",
        "sslmode",
        "sslnegotiation",
        "sslcompression",
        "sslcert",
        "sslkey",
        "sslpassword",
        "sslcertmode",
        "sslrootcert",
        "sslcrl",
        "sslcrldir",
        "sslsni",
        "requirepeer",
        "ssl_min_protocol_version",
        "ssl_max_protocol_version",
        "krbsrvname",
        "gsslib",
        "gssdelegation",
        "service",
        "target_session_attrs",
        "load_balance_hosts",
        "min_protocol_version",
        "max_protocol_version",
        "sslkeylogfile",
        "oauth_issuer",
        "oauth_client_id",
        "oauth_client_secret",
        "oauth_scope",
    }
)
_KEYWORD_START = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=")
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")
_PERCENT_SPLIT = re.compile(r"(%[0-9A-Fa-f]{2})")


class Unreadable(ValueError):
    """The text cannot be read as libpq reads it. The message never quotes a value."""


@dataclass(frozen=True, slots=True)
class Field:
    """One setting as libpq reads it, and where its value stands in the text."""

    keyword: str  # decoded
    value: str  # decoded
    start: int  # the value's span in the text, as written
    end: int


def is_url(text: str) -> bool:
    return text.startswith(URL_PREFIXES)


def looks_like_keywords(text: str) -> bool:
    """Whether the text starts as a keyword string does (``name=``): it is then read as
    one, or refused; never taken for a file name."""
    return _KEYWORD_START.match(text) is not None


def _decode(text: str) -> str:
    """libpq's percent-decoding: every ``%`` starts two hex digits; NUL is refused."""
    if re.search(r"%(?![0-9A-Fa-f]{2})", text):
        raise Unreadable("a '%' that does not start two hex digits")
    data = bytearray()
    for piece in _PERCENT_SPLIT.split(text):
        if _PERCENT.fullmatch(piece):
            data.append(int(piece[1:], 16))
        else:
            data += piece.encode("utf-8", "surrogateescape")
    if 0 in data:
        raise Unreadable("an encoded NUL (%00)")
    return data.decode("utf-8", "replace")


def url_fields(text: str) -> list[Field]:
    """The user, password and query settings of a URL, as libpq decodes them. libpq
    looks for ``@`` before the first ``/``: what precedes it is ``user[:password]``."""
    start = len(next(prefix for prefix in URL_PREFIXES if text.startswith(prefix)))
    fields: list[Field] = []
    at = start
    while at < len(text) and text[at] not in "@/":
        at += 1
    rest = start
    if at < len(text) and text[at] == "@":
        userinfo = text[start:at]
        user, colon, _password = userinfo.partition(":")
        fields.append(Field("user", _decode(user), start, start + len(user)))
        if colon:
            fields.append(Field("password", _decode(_password), start + len(user) + 1, at))
        rest = at + 1
    query = text.find("?", rest)
    if query < 0:
        return fields
    position = query + 1
    for part in text[query + 1 :].split("&"):
        keyword, equals, value = part.partition("=")
        if not equals:
            raise Unreadable("a query parameter without '='")
        value_start = position + len(keyword) + 1
        fields.append(
            Field(_decode(keyword), _decode(value), value_start, value_start + len(value))
        )
        position += len(part) + 1
    return fields


def keyword_fields(text: str) -> list[Field]:
    """``key = value`` pairs, as libpq's conninfo_parse reads them: a value is a word
    (backslash escapes) or single-quoted (backslash escapes inside)."""
    fields: list[Field] = []
    index, length = 0, len(text)
    while True:
        while index < length and text[index].isspace():
            index += 1
        if index >= length:
            return fields
        key_start = index
        while index < length and text[index] != "=" and not text[index].isspace():
            index += 1
        keyword = text[key_start:index]
        while index < length and text[index].isspace():
            index += 1
        if index >= length or text[index] != "=" or not keyword:
            raise Unreadable(f"{keyword[:40]!r} has no '=' and value after it")
        index += 1
        while index < length and text[index].isspace():
            index += 1
        value_start, value = index, []
        if index < length and text[index] == "'":
            index += 1
            while True:
                if index >= length:
                    raise Unreadable("a quoted value that is never closed")
                if text[index] == "\\" and index + 1 < length:
                    value.append(text[index + 1])
                    index += 2
                elif text[index] == "'":
                    index += 1
                    break
                else:
                    value.append(text[index])
                    index += 1
        else:
            while index < length and not text[index].isspace():
                if text[index] == "\\" and index + 1 < length:
                    index += 1
                value.append(text[index])
                index += 1
        fields.append(Field(keyword, "".join(value), value_start, index))


def fields_of(text: str) -> list[Field]:
    """Every setting of a URL or keyword string, as libpq reads it."""
    return url_fields(text) if is_url(text) else keyword_fields(text)


def secrets_in(text: str) -> list[str]:
    """The keywords holding a secret (decoded and folded: ``pass%77ord`` is
    ``password``), as this reader and, where installed, libpq itself read the text."""
    found = [f.keyword for f in fields_of(text) if f.keyword.lower() in SECRET_KEYWORDS]
    return sorted(set(found) | set(_libpq_secrets(text)))


def _libpq_secrets(text: str) -> list[str]:
    try:
        from psycopg import Error
        from psycopg.conninfo import conninfo_to_dict
    except ImportError:  # a SQLite user never needs psycopg: this module's reader judges
        return []
    try:
        given = conninfo_to_dict(text)
    except Error as exc:
        # libpq's message names keywords; any value this reader found is masked anyway.
        reason = " ".join(str(exc).split())[:200]
        for value in sorted((f.value for f in fields_of(text)), key=len, reverse=True):
            if value:
                reason = reason.replace(value, "***")
        raise Unreadable(f"libpq says: {reason}") from None
    return [key for key, value in given.items() if key in SECRET_KEYWORDS and value is not None]


def unknown_keywords(text: str) -> list[str]:
    """Keywords libpq does not know (it would refuse them when connecting; a URL may
    also say ``ssl=true``)."""
    return sorted({f.keyword for f in fields_of(text)} - KEYWORDS - {"ssl"})


def masked(text: str) -> str:
    """The text with every secret's value written as ``***``; a text that cannot be read
    at all is shown as its scheme alone (a secret could be anywhere in it)."""
    try:
        secret = [f for f in fields_of(text) if f.keyword.lower() in SECRET_KEYWORDS]
    except Unreadable:
        return "postgresql://(unreadable)" if is_url(text) else "(an unreadable libpq string)"
    for item in sorted(secret, key=lambda f: f.start, reverse=True):
        text = text[: item.start] + "***" + text[item.end :]
    return text
