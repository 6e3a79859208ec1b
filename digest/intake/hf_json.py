"""A ``/api/daily_papers`` response of the Hugging Face API (its own JSON) as a digest file.

A file in the inbox that holds the API's answer is read like a text listing, under the
same rules: it never raises, a file it cannot use comes back with no papers and a
problem saying why (an HTML page, invalid JSON with its line and column, the API's own
``{"error": ...}``, an empty list), and one bad item costs that item only. The shapes taken:
a JSON array of items (the list endpoint) and one paper object (``/api/papers/{id}``, or one
item). No ``{"papers": [...]}`` wrapper is taken: the API returns none (the research notes:
the list endpoint answers with a bare array, ``huggingface_hub`` iterates ``r.json()``).

Each item's line is where its ``{`` is (the array is read item by item with
``raw_decode``), so its problems are located as a text entry's are. A paper's digest date
is the day it was featured (``submittedOnDailyAt``, as a UTC date); the file's is the day
most of its papers were featured (the later one on a tie), else the date in a name such as
``hf-2025-11-05.json``; a paper with no featured date of its own takes the file's, as a
text listing's papers do.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import PurePath

from digest.intake.decoding import decode
from digest.intake.hf_item import ItemReader, Unusable, describe, quoted, utc_day
from digest.model import DigestFile, Paper, Problem, Severity

__all__ = ["looks_like_json", "parse_json", "peek_json_date"]

_WHITESPACE = re.compile(r"[ \t\n\r]*")  # JSON's own
# How an array of items or one object starts; a text listing whose first title begins
# with a bracket ("[Re] Reproducing ...") does not look like this, and stays text.
_JSON_START = re.compile(r"[ \t\n\r]*(?:\[[ \t\n\r]*[\[{\]\"]|\{[ \t\n\r]*[\"}])")
_NAMED_DATE = re.compile(r"hf-(\d{4}-\d{2}-\d{2})(?:[-_.].*)?")
_FEATURED = re.compile(r'"submittedOnDailyAt"\s*:\s*"([^"\\]{1,64})"')
_HTML_TITLE = re.compile(r"<title[^>]*>([^<]*)<", re.IGNORECASE)
_LONGEST_INT = 19  # digits: longer integers are no count (and never cost int() a thing)
_HTML = "an HTML page, not the API's JSON: was it an error page?"
_EMPTY_LIST = (
    "an empty list: the API had no papers (a weekend, a quiet day, or a page past the "
    "last); nothing to take in, so remove the file"
)


def _head_text(data: bytes) -> str:
    codec = json.detect_encoding(data[:4])
    return data.decode(codec, errors="ignore").lstrip("\ufeff")


def looks_like_json(data: bytes, path: str) -> bool:
    """Whether a file is the API's JSON rather than a text listing: named ``*.json``, or
    opening (after a byte-order mark and whitespace) as an array of items or an object
    does. UTF-16 and UTF-32 are told by the zero bytes ASCII leaves (RFC 4627 §3)."""
    if path.lower().endswith(".json"):
        return True
    return _JSON_START.match(_head_text(data[:1024])) is not None


def peek_json_date(head: bytes) -> dt.date | None:
    """The digest date of a JSON file from its first bytes, to order the inbox cheaply:
    the featured day most papers there share (the later on a tie), or None."""
    days = Counter(day for text in _FEATURED.findall(_head_text(head)) if (day := utc_day(text)))
    return max(days, key=lambda day: (days[day], day)) if days else None


def parse_json(data: bytes, path: str) -> DigestFile:
    """Read the API's JSON; never raises for bad input."""
    return _JsonReader(path).read(data)


def _int(literal: str) -> int | Unusable:
    return int(literal) if len(literal.lstrip("-")) <= _LONGEST_INT else Unusable(literal)


@dataclass(frozen=True, slots=True)
class Item:
    """One value of the array (or the document itself), where it starts and ends."""

    line: int
    value: object
    end: int
    duplicates: tuple[str, ...]  # keys given twice in one of its objects


class _JsonReader:
    def __init__(self, path: str) -> None:
        self.path = path
        self.problems: list[Problem] = []
        self.duplicates: list[str] = []
        self.line, self.counted = 1, 0  # the line at offset ``counted``
        self.decoder = json.JSONDecoder(
            object_pairs_hook=self._object,
            parse_constant=Unusable,
            parse_int=_int,
            strict=False,  # a raw tab or newline in a string is text, not a broken file
        )

    def _object(self, pairs: list[tuple[str, object]]) -> dict:
        """An object as JavaScript reads it (the API's language): the last of duplicate
        keys wins; they are remembered for a warning on their item."""
        found = dict(pairs)
        if len(found) != len(pairs):
            seen: set[str] = set()
            for key, _ in pairs:
                if key in seen:
                    self.duplicates.append(key)
                seen.add(key)
        return found

    def problem(self, line: int | None, message: str, severity: Severity = Severity.ERROR) -> None:
        self.problems.append(Problem(self.path, line, message, severity))

    def rejected(self, line: int | None, message: str) -> DigestFile:
        self.problem(line, message)
        return DigestFile(self.path, None, (), tuple(self.problems))

    def read(self, data: bytes) -> DigestFile:
        text, reason, line = _decoded(data)
        if text is None:
            return self.rejected(line, reason)
        start = _skip(text, 0)
        if start == len(text):
            return self.rejected(None, "empty file: no papers found")
        if text[start] == "<":
            title = _HTML_TITLE.search(text, start, start + 65536)
            shown = f" (its title: {quoted(title.group(1))})" if title else ""
            return self.rejected(1 + text.count("\n", 0, start), _HTML + shown)
        try:
            items = self.items(text, start)
        except json.JSONDecodeError as exc:
            cut = exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string")
            hint = " (cut off?)" if cut else ""
            return self.rejected(
                exc.lineno,
                f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}{hint}; "
                "the file is left as it is, and a fixed copy is read on the next run",
            )
        except RecursionError:
            return self.rejected(None, "not the API's JSON: nested too deeply to read")
        except ValueError as exc:  # nothing known raises it: a last guard, never a crash
            return self.rejected(None, f"not the API's JSON: {quoted(str(exc))}")
        if items is None:
            return DigestFile(self.path, None, (), tuple(self.problems))
        if not items:
            return self.rejected(1 + text.count("\n", 0, start), _EMPTY_LIST)
        return self.papers(items)

    def items(self, text: str, start: int) -> list[Item] | None:
        """Each item with its line and its duplicate keys, read one by one so that each
        one's line is known; None for a document that is no list of papers (its problem
        recorded). Invalid JSON raises JSONDecodeError, as ``json.loads`` would."""
        if text[start] != "[":
            item = self.item(text, start)
            self.expect_end(text, item.end)
            return [item] if self.one_paper(item.line, item.value) else None
        found: list[Item] = []
        at = _skip(text, start + 1)
        closed = text.startswith("]", at)
        while not closed:
            found.append(self.item(text, at))
            at = _skip(text, found[-1].end)
            if text.startswith(",", at):
                at = _skip(text, at + 1)
            elif text.startswith("]", at):
                closed = True
            else:
                raise json.JSONDecodeError("Expecting ',' delimiter", text, at)
        self.expect_end(text, at + 1)
        return found

    def item(self, text: str, at: int) -> Item:
        value, end = self.decoder.raw_decode(text, at)
        self.line += text.count("\n", self.counted, at)  # counted once, item by item
        self.counted = at
        duplicates, self.duplicates = self.duplicates, []
        return Item(self.line, value, end, tuple(duplicates))

    def expect_end(self, text: str, at: int) -> None:
        end = _skip(text, at)
        if end < len(text):
            raise json.JSONDecodeError("Extra data", text, end)

    def one_paper(self, line: int, value: object) -> bool:
        """Whether a document that is no array is one paper; if not, why (recorded)."""
        if not isinstance(value, dict):
            self.problem(line, f"JSON that is {describe(value)}, not the API's list of papers")
            return False
        error = _api_error(value)
        if error is not None:
            self.problem(
                line,
                f"the API answered with an error, not papers: {error}; "
                "remove the file and fetch that day again",
            )
            return False
        if isinstance(value.get("paper"), dict) or "title" in value or "summary" in value:
            return True
        keys = ", ".join(quoted(key, 30) for key in list(value)[:6]) or "none"
        self.problem(line, f"a JSON object, not the API's list of papers (its keys: {keys})")
        return False

    def papers(self, items: list[Item]) -> DigestFile:
        papers: list[Paper] = []
        for number, item in enumerate(items, start=1):
            line, value = item.line, item.value
            if item.duplicates:
                found = sorted({quoted(key, 30) for key in item.duplicates})
                what = "duplicate key" if len(found) == 1 else "duplicate keys"
                self.problem(
                    line,
                    f"{what} {', '.join(found)}: the last of each is read, as JavaScript reads it",
                    Severity.WARNING,
                )
            if not isinstance(value, dict):
                self.problem(line, f"item {number} is {describe(value)}, not an object; skipped")
                continue
            reader = ItemReader(self.path, line, value)
            paper = reader.read()
            self.problems += reader.problems
            if paper is not None:
                papers.append(paper)
        date = self.file_date(papers)
        papers = [p if p.digest_date else dataclasses.replace(p, digest_date=date) for p in papers]
        return DigestFile(self.path, date, tuple(papers), tuple(self.problems))

    def file_date(self, papers: list[Paper]) -> dt.date | None:
        days = Counter(paper.digest_date for paper in papers if paper.digest_date)
        name_day = _named_day(self.path)
        if not days:
            return name_day
        day = max(days, key=lambda day: (days[day], day))
        if name_day is not None and name_day != day:
            self.problem(
                None,
                f"named for {name_day}, but most of its papers were featured on {day}: "
                f"its digest date is {day}",
                Severity.WARNING,
            )
        return day


def _skip(text: str, at: int) -> int:
    """Where the JSON whitespace from ``at`` ends."""
    match = _WHITESPACE.match(text, at)
    return match.end() if match else at


def _named_day(path: str) -> dt.date | None:
    """The day in a name such as ``hf-2025-11-05.json`` (the fetcher's), or None."""
    named = _NAMED_DATE.fullmatch(PurePath(path).name)
    try:
        return dt.date.fromisoformat(named.group(1)) if named else None
    except ValueError:
        return None


def _api_error(value: dict) -> str | None:
    """The API's error message, quoted safely, if the object is one of the error shapes
    ``huggingface_hub`` reads: ``error`` (a string or a list), ``error_description``,
    ``errors: [{"message"}]``."""
    if not {"error", "errors", "error_description"} & value.keys():
        return None
    parts: list[object] = []
    for key in ("error", "error_description"):
        found = value.get(key)
        parts += found if isinstance(found, list) else [found]
    errors = value.get("errors")
    if isinstance(errors, list):
        parts += [e.get("message") for e in errors if isinstance(e, dict)]
    messages = [part for part in parts if isinstance(part, str) and part.strip()]
    return quoted("; ".join(messages), 200) if messages else "(no message)"


def _decoded(data: bytes) -> tuple[str | None, str, int | None]:
    """The text (UTF-8, or UTF-16/32 with or without a byte-order mark), or why not and
    where."""
    codec = json.detect_encoding(data[:4])
    if codec.endswith(("-le", "-be")):  # no byte-order mark: told by the zero bytes
        try:
            return data.decode(codec), "", None
        except UnicodeDecodeError as exc:
            return None, f"not valid {codec} (JSON without a byte-order mark): {exc.reason}", None
    text, reason, line = decode(data)
    return text, reason or "", line
