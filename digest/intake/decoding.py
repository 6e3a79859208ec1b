"""Bytes to text a listing can be read from: decoded unambiguously (UTF-8, or a byte-order
mark's encoding), with the characters no feed, page or email may carry removed, and any
bidirectional control left open closed within its own text.

Kept apart from the parser: these rules hold for every format a listing comes in (the
saved page and the API's JSON alike), and they decide what a reader may be shown.
"""

from __future__ import annotations

import codecs
import re

# Characters XML 1.0 forbids, plus C1 controls and DEL, which no reader wants either.
CONTROL_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
# Bidirectional embeddings, overrides and isolates: invisible, and one left open reorders
# the text after it, on a page or in an email ("Trojan Source"). They are kept, and any
# left open is closed at the end of its title or abstract, so the effect stays inside.
BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
_BIDI_CHARS = tuple(chr(code) for code in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))


def has_bidi_controls(text: str) -> bool:
    """Whether ``text`` holds any bidirectional control: asked of every file whole, so
    by the fastest test (an ASCII text holds none; else one C-speed search per control,
    a third of the regular expression's time)."""
    return not text.isascii() and any(char in text for char in _BIDI_CHARS)


_BIDI_OPENERS = {
    "\u202a": "\u202c",
    "\u202b": "\u202c",
    "\u202d": "\u202c",
    "\u202e": "\u202c",
    "\u2066": "\u2069",
    "\u2067": "\u2069",
    "\u2068": "\u2069",
}


def close_bidi(text: str) -> tuple[str, int]:
    """``text`` with every bidirectional control it leaves open closed at its end, and
    how many were: what was written stays, and cannot reorder what follows it."""
    if not BIDI_CONTROLS.search(text):
        return text, 0
    open_ones: list[str] = []
    for match in BIDI_CONTROLS.finditer(text):
        char = match.group()
        if char in _BIDI_OPENERS:
            open_ones.append(_BIDI_OPENERS[char])
        elif char == "\u202c" and open_ones and open_ones[-1] == "\u202c":
            open_ones.pop()
        elif char == "\u2069" and "\u2069" in open_ones:  # closes embeddings inside it too
            while open_ones.pop() != "\u2069":
                pass
    return text + "".join(reversed(open_ones)), len(open_ones)


def clean_text(text: str) -> str:
    """Remove characters no feed, web page or email may carry."""
    return CONTROL_CHARS.sub("", text)


# Every byte but the C0 controls (tab, newline and carriage return aside) and DEL.
_NOT_C0_BYTES = bytes(b for b in range(256) if b in (9, 10, 13) or 32 <= b < 127 or b > 127)
# CONTROL_CHARS beyond ASCII, as UTF-8: C1 controls, then U+FFFE and U+FFFF (a lone
# surrogate never decodes strictly, so strictly decoded text has none).
_C1_UTF8 = re.compile(b"\xc2[\x80-\x9f]")
_NONCHARACTERS_UTF8 = re.compile(b"\xef\xbf[\xbe\xbf]")


def utf8_is_clean(data: bytes) -> bool:
    """Whether strictly decoded UTF-8 holds nothing clean_text would remove, found with
    C-speed byte scans (the character-class regex costs ten times as much)."""
    return (
        not data.translate(None, _NOT_C0_BYTES)
        and not _C1_UTF8.search(data)
        and not (b"\xef" in data and _NONCHARACTERS_UTF8.search(data))
    )


def _decode_allowing_surrogates(data: bytes, codec: str) -> str:
    """Strict decoding, except that encoded lone surrogates come through (to be removed
    by clean_text): they are unambiguous, and one must not cost the whole file."""
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        return data.decode(codec, errors="surrogatepass")


BYTE_ORDER_MARKS = (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_BE)


def utf16_without_bom(data: bytes) -> str | None:
    """ "big-endian" or "little-endian" when the bytes are UTF-16 without a byte-order
    mark, as their NULs show: Latin text in UTF-16 has a NUL in every other byte, on the
    same side of each pair (before the letter in big-endian, after it in little-endian)."""
    head = data[:4096]
    head = head[: len(head) - len(head) % 2]
    pairs = len(head) // 2
    if pairs < 8:
        return None
    high, low = head[0::2].count(0), head[1::2].count(0)
    if high >= 0.3 * pairs and low <= 0.02 * pairs:
        return "big-endian"
    if low >= 0.3 * pairs and high <= 0.02 * pairs:
        return "little-endian"
    return None


def decode(data: bytes) -> tuple[str | None, str | None, int | None]:
    """Text, or None with the reason (and line) it cannot be decoded unambiguously."""
    for bom, codec in (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            try:
                return _decode_allowing_surrogates(data, codec), None, None
            except UnicodeDecodeError as exc:
                reason = (
                    f"starts with a {codec} byte-order mark but is not valid {codec}: {exc.reason}"
                )
                return None, reason, None
    order = utf16_without_bom(data) if b"\x00" in data[:4096] else None
    if order is not None:
        codec = "UTF-16BE" if order == "big-endian" else "UTF-16LE"
        reason = (
            f"UTF-16 ({order}) without a byte-order mark, which cannot be told from binary "
            f"data for sure: save it as UTF-8 (`iconv -f {codec} -t UTF-8 FILE`)"
        )
        return None, reason, None
    try:
        return _decode_allowing_surrogates(data, "utf-8"), None, None
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        reason = (
            f"not UTF-8: byte 0x{data[exc.start]:02x} on line {line} cannot be decoded "
            "(save it as UTF-8, e.g. `iconv -f cp1252 -t utf-8 FILE`)"
        )
        return None, reason, line
