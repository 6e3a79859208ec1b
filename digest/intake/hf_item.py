"""One item of the Hugging Face API's JSON as a paper: each field read where the API puts
it, cleaned as a text listing's text is, and anything unusable left unknown with a warning.

Where fields are (the research notes' table, from the OpenAPI-generated types and
``huggingface_hub``): in a ``/api/daily_papers`` item, the paper's own fields are under
``paper`` (``id``, ``title``, ``summary``, ``authors``, ``publishedAt`` (arXiv's date),
``submittedOnDailyAt``, ``upvotes``, ``ai_*``, ``github*``, ``projectPage``, ``organization``)
and the listing's at the item's top level (``numComments``, ``submittedBy``, a copy of
``title`` and ``summary``, sometimes ``organization``); ``/api/papers/{id}`` gives the paper
object itself, every field at the top. So each field is looked for in its usual place first
and then in the other, except the item's ``publishedAt``: that is when the item went on the
page, not the paper's date, and is never read as one.

Missing is not zero: an absent field, a ``null`` and a value of the wrong type all leave the
field unknown (None), the last with a warning. Counts are whole JSON numbers from 0 to 2⁵³−1
(what JavaScript, the API's language, holds exactly; ``true``, ``12.0``, ``"12"``, NaN and
Infinity are no counts). Strings are data: markup in them is kept as written, and escaped
by every output.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass

from digest.intake.decoding import BIDI_CONTROLS, clean_text, close_bidi
from digest.links import LINK, arxiv_id, extract_links
from digest.model import Organization, Paper, PaperDetails, Problem, Severity, title_key
from digest.text import plural

MAX_COUNT = 2**53 - 1
# What a text listing's lines lose when they are split and joined again (and what a
# browser collapses on the page): JSON's own whitespace, arXiv's hard line breaks.
_SPACE_RUN = re.compile(r"[ \t\r\n]+")
_EDGE_SPACE = " \t\r\n\u00a0\u3000"  # a text listing's lines are stripped of these


@dataclass(frozen=True, slots=True)
class Unusable:
    """A JSON number digest refuses to read as one: NaN and Infinity (not JSON at all,
    though Python's reader takes them) and integers longer than any count."""

    literal: str


def describe(value: object) -> str:
    """A JSON value as a warning names it: its kind, and a short safe quote of it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Unusable):
        digits = value.literal.lstrip("-")
        if digits.isdigit():
            return f"a number of {len(digits)} digits"
        return f"{value.literal} (not a JSON number)"
    if isinstance(value, int | float):
        return f"the number {str(value)[:24]}"
    if isinstance(value, str):
        return f"the string {quoted(value, 40)}"
    return "a list" if isinstance(value, list) else "an object"


def quoted(text: str, limit: int = 80) -> str:
    """Outside text as a message quotes it: one line, at most ``limit`` characters,
    every control or bidi character escaped (a ``repr``)."""
    folded = " ".join(clean_text(text).split())
    return repr(folded if len(folded) <= limit else folded[: limit - 1] + "…")


def utc_day(text: str) -> dt.date | None:
    """The UTC date of an ISO 8601 time (``2025-11-05T06:38:10.862Z``; without an offset,
    UTC is assumed), or None."""
    try:
        moment = dt.datetime.fromisoformat(text.strip())
        return moment.astimezone(dt.UTC).date() if moment.tzinfo else moment.date()
    except (ValueError, OverflowError):
        return None


def _is_object(value: object) -> bool:
    return isinstance(value, dict)


def _is_list(value: object) -> bool:
    return isinstance(value, list)


def _is_count(value: object) -> bool:
    return type(value) is int and 0 <= value <= MAX_COUNT


Places = tuple[tuple[str, dict], ...]


class ItemReader:
    """Reads one item (a JSON object) into a paper; collects problems instead of raising."""

    def __init__(self, path: str, line: int, item: dict) -> None:
        self.path, self.line = path, line
        self.problems: list[Problem] = []
        self.removed = self.closed = 0
        inner = item.get("paper")
        if inner is None:  # the /api/papers/{id} shape: the paper itself
            self.paper: Places = (("", item),)
            self.item: Places = ()
        elif isinstance(inner, dict):
            self.paper, self.item = (("paper.", inner),), (("", item),)
        else:
            self.warn(f"'paper' is {describe(inner)}, not an object: read the item's own fields")
            self.paper, self.item = (), (("", item),)

    def warn(self, message: str, severity: Severity = Severity.WARNING) -> None:
        self.problems.append(Problem(self.path, self.line, message, severity))

    def value(self, key: str, places: Places, ok: Callable[[object], bool], kind: str) -> object:
        """The first usable value of ``key`` in ``places``; a wrong one is named and passed."""
        for prefix, where in places:
            found = where.get(key)
            if found is None:
                continue
            if ok(found):
                return found
            self.warn(f"'{prefix}{key}' is {describe(found)}, not {kind}: ignored")
        return None

    def text(self, value: str, bidi: bool = True) -> str:
        """Cleaned as a text listing's text: controls removed, whitespace runs and line
        breaks folded to one space, bidi controls left open closed (counted for one
        warning per item)."""
        cleaned = clean_text(value)
        self.removed += len(value) - len(cleaned)
        cleaned = _SPACE_RUN.sub(" ", cleaned).strip(_EDGE_SPACE)
        if bidi:
            cleaned, closed = close_bidi(cleaned)
            self.closed += closed
        return cleaned

    def string(self, key: str, places: Places, bidi: bool = True) -> str | None:
        found = self.value(key, places, lambda v: isinstance(v, str), "a string")
        return (self.text(found, bidi) or None) if isinstance(found, str) else None

    def count(self, key: str, places: Places) -> int | None:
        found = self.value(key, places, _is_count, "a whole number from 0 to 2^53")
        return found if isinstance(found, int) else None

    def day(self, key: str, places: Places) -> dt.date | None:
        found = self.string(key, places, bidi=False)
        day = utc_day(found) if found else None
        if found and day is None:
            self.warn(f"'{key}' {quoted(found, 40)} is no ISO 8601 time: left unknown")
        return day

    def url(self, key: str, places: Places) -> str | None:
        found = self.string(key, places, bidi=False)
        if found is None or (LINK.fullmatch(found) and not BIDI_CONTROLS.search(found)):
            return found  # (a bidi control would show a URL reordered: no URL holds one)
        self.warn(f"'{key}' {quoted(found, 60)} is not an http(s) URL: dropped")
        return None

    def read(self) -> Paper | None:
        both, listing_first = self.paper + self.item, self.item + self.paper
        title = self.string("title", both) or ""
        abstract = self.string("summary", both) or ""
        paper = None
        if not title_key(title):
            what = f"title {quoted(title)} has no letters or digits" if title else "no title"
            self.warn(f"an item with {what}; not taken in", Severity.ERROR)
        elif not abstract:
            self.warn(f"paper {quoted(title)} has no summary; not taken in", Severity.ERROR)
        else:
            authors, names = self.authors(both)
            paper = Paper(
                title=title,
                abstract=abstract,
                authors=authors,
                organization=self.organization(both),
                published=self.day("publishedAt", self.paper),  # arXiv's, never the item's
                upvotes=self.count("upvotes", both),
                links=extract_links(abstract),
                digest_date=self.day("submittedOnDailyAt", both),
                source=self.path,
                line=self.line,
                details=self.details(both, listing_first, names),
            )
        if self.removed:
            self.warn(f"removed {plural(self.removed, 'control character')}")
        if self.closed:
            self.warn(
                f"closed {plural(self.closed, 'bidirectional control')} left open "
                "(they would reorder the text after them)"
            )
        return paper

    def authors(self, places: Places) -> tuple[int | None, tuple[str, ...]]:
        """How many authors the page shows, and their names in order. A hidden author
        (``"hidden": true``) is one the page leaves out, so neither counts nor names it;
        with no author shown the count is unknown (every paper has one: 0 is never true)."""
        listed = self.value("authors", places, _is_list, "a list")
        if not isinstance(listed, list):
            return None, ()
        shown, names, odd, nameless = 0, [], 0, 0
        for entry in listed:
            hidden = entry.get("hidden") if isinstance(entry, dict) else None
            if not isinstance(entry, dict) or not isinstance(hidden, bool | None):
                odd += 1
                continue
            if hidden:
                continue
            shown += 1
            name = entry.get("name")
            name = self.text(name) if isinstance(name, str) else ""
            if name:
                names.append(name)
            else:
                nameless += 1
        if odd:
            self.warn(
                f"{plural(odd, 'author')} not an object with a true/false 'hidden': not counted"
            )
        if nameless:
            self.warn(f"{plural(nameless, 'author')} shown without a name: counted, not named")
        return shown or None, tuple(names)

    def organization(self, places: Places) -> Organization | None:
        found = self.value("organization", places, _is_object, "an object")
        if not isinstance(found, dict):
            return None
        slug = found.get("name")
        slug = self.text(slug) if isinstance(slug, str) else ""
        if not slug:
            self.warn("'organization' has no 'name' (its id on the Hub): left unknown")
            return None
        fullname = found.get("fullname")
        fullname = self.text(fullname) if isinstance(fullname, str) else ""
        return Organization(slug, fullname or slug)

    def details(self, both: Places, listing_first: Places, names: tuple[str, ...]) -> PaperDetails:
        return PaperDetails(
            arxiv_id=self.arxiv_id(both),
            author_names=names,
            comments=self.count("numComments", listing_first),
            github_repo=self.url("githubRepo", both),
            github_stars=self.count("githubStars", both),
            project_page=self.url("projectPage", both),
            ai_summary=self.string("ai_summary", both),
            ai_keywords=self.keywords(both),
            submitted_by=self.submitter(),
        )

    def arxiv_id(self, places: Places) -> str | None:
        found = self.string("id", places, bidi=False)
        if found is None or arxiv_id(f"arXiv:{found}") == found:
            return found
        self.warn(f"'id' {quoted(found, 40)} is not an arXiv id: dropped")
        return None

    def keywords(self, places: Places) -> tuple[str, ...]:
        found = self.value("ai_keywords", places, _is_list, "a list")
        if not isinstance(found, list):
            return ()
        words = [self.text(word) for word in found if isinstance(word, str)]
        if len(words) != len(found):
            self.warn(f"{len(found) - len(words)} of 'ai_keywords' not strings: dropped")
        return tuple(word for word in words if word)

    def submitter(self) -> str | None:
        """Who put the paper on the page: the handle of ``submittedBy`` (the listing's)
        or of ``submittedOnDailyBy`` (the paper's), a user object's ``name``."""
        found = self.value("submittedBy", self.item + self.paper, _is_object, "an object")
        if found is None:
            found = self.value(
                "submittedOnDailyBy", self.paper + self.item, _is_object, "an object"
            )
        if not isinstance(found, dict):
            return None
        handle = found.get("name", found.get("user"))
        return (self.text(handle) or None) if isinstance(handle, str) else None
