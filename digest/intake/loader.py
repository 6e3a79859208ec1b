"""Read digest files (the saved page's text, see ``docs/FORMAT.md``) into papers and problems.

The loader never raises for bad input: a file it cannot use comes back with no papers
and a problem saying why, so one bad file never stops the others. Text is kept exactly
as written except for whitespace normalisation and the removal of characters that no
XML document or email header may carry (NUL, other C0/C1 controls, U+FFFE/U+FFFF,
lone surrogates); a removal is reported as a warning.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

from digest.dates import MONTHS_WRITTEN as MONTHS
from digest.dates import resolve_year
from digest.intake.decoding import (
    BYTE_ORDER_MARKS,
    CONTROL_CHARS,
    clean_text,
    close_bidi,
    decode,
    has_bidi_controls,
    utf8_is_clean,
)
from digest.intake.hf_json import looks_like_json, parse_json, peek_json_date
from digest.intake.reading import (
    DEFAULT_MAX_FILE_SIZE,
    Unreadable,
    content_hash,
    read_regular,
    size_limit_message,
)
from digest.links import LINK, extract_links
from digest.model import (
    DigestFile,
    Organization,
    Paper,
    Problem,
    Severity,
    not_a_listing,
    title_key,
)
from digest.text import plural

# Mar (any three letters, checked against MONTHS), and the longer forms pages write.
_LONG_MONTHS = sorted((name for name in MONTHS if len(name) > 3), key=len, reverse=True)
_MONTH = rf"(?P<month>{'|'.join(_LONG_MONTHS)}|[A-Z][a-z]{{2}})"
DIGEST_DATE = re.compile(_MONTH + r"\.?\s+(?P<day>\d{1,2})")
PAPER_DATE = re.compile(
    _MONTH + r"\.?\s+(?P<day>\d{1,2})(?:,\s*(?P<year>\d{4}))?(?:\s+(?P<upvotes>\d+))?"
)
AUTHORS = re.compile(r"(?:[•∙·*-]\s*)?(?P<count>\d+)\s+authors?", re.IGNORECASE)


def _header_key(line: str) -> str:
    """A header line as compared: case and spacing aside (``by AK`` is ``byAK``)."""
    return "".join(line.split()).casefold()


# The lines only the Daily Papers page has: a file with one of them has the page's header.
PAGE_LINES = frozenset(
    _header_key(line)
    for line in (
        "Get trending papers in your email inbox!",
        "Daily Papers",
        "byAK and the research community",
    )
)
HEADER_LINES = PAGE_LINES | {_header_key("new"), _header_key("Subscribe")}
META_SEPARATOR = "·"

# Form feed, vertical tab, NEL and the Unicode separators split lines for str.splitlines;
# a digest file's lines are split on newlines only.
SENTENCE_END = tuple(".!?…)]}\"'”’»。！？")


class _Paragraph:
    """Consecutive non-blank lines; whether it is a metadata block is decided once."""

    __slots__ = ("is_meta", "line", "lines")

    def __init__(self, line: int, lines: list[str]) -> None:
        self.line = line
        self.lines = lines
        self.is_meta = _looks_like_meta(lines)


def _looks_like_meta(lines: list[str]) -> bool:
    if len(lines) > 3:
        return False
    for text in lines:
        if len(text) > 200:
            return False
    if META_SEPARATOR in lines or AUTHORS.fullmatch(lines[0]):
        return True
    return len(lines) > 1 and bool(PAPER_DATE.fullmatch(lines[-1]))


def _paragraphs(text: str) -> list[_Paragraph]:
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\t" in text:
        text = text.replace("\t", " ")
    paragraphs: list[_Paragraph] = []
    current: list[str] = []
    start = 0
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip(" \u00a0\u3000")
        if line and not line.isspace():
            if not current:
                start = number
            current.append(line)
        elif current:
            paragraphs.append(_Paragraph(start, current))
            current = []
    if current:
        paragraphs.append(_Paragraph(start, current))
    return paragraphs


class _FileReader:
    """Parses one decoded file; collects problems instead of raising. ``today`` is the
    latest day a date without a year may be (``dates.latest_listing_day``)."""

    def __init__(self, path: str, today: dt.date) -> None:
        self.path = path
        self.today = today
        self.problems: list[Problem] = []
        self.digest_date: dt.date | None = None
        self.saw_page = False  # a line only the Daily Papers page's header has
        self.has_bidi = False

    def problem(self, line: int | None, message: str, severity: Severity = Severity.ERROR) -> None:
        self.problems.append(Problem(self.path, line, message, severity))

    def _line_of(self, text: str, pattern: re.Pattern[str]) -> int:
        first = pattern.search(text)
        assert first is not None
        return text.count("\n", 0, first.start()) + 1

    def read(self, text: str, known_clean: bool = False) -> DigestFile:
        # One C-speed search of the whole file tells whether any title or abstract may
        # hold a bidirectional control to close; most files hold none.
        self.has_bidi = has_bidi_controls(text)
        cleaned = text if known_clean else clean_text(text)
        if len(cleaned) != len(text):
            removed = len(text) - len(cleaned)
            line = self._line_of(text, CONTROL_CHARS)
            if removed > max(16, len(text) // 20):
                hint = ""
                if text.count("\x00") > len(text) // 5:
                    hint = " (UTF-16 without a byte-order mark? save it as UTF-8)"
                self.problem(line, f"binary data: {removed} control characters{hint}")
                return self.result(())
            self.problem(line, f"removed {plural(removed, 'control character')}", Severity.WARNING)
        paragraphs = _paragraphs(cleaned)
        body = self.skip_header(paragraphs)
        before = len(self.problems)
        papers = self.read_entries(body)
        # Notes, a README, a changelog: whatever their first lines, their entries are not
        # shaped as papers are (the page's own header only lets short abstracts by).
        why = not_a_listing(papers, page_header=self.saw_page) if papers else None
        if why is not None:  # what was said of its entries is moot: they are no papers
            del self.problems[before:]
            self.problem(papers[0].line, why)
            return self.result(())
        if not papers and not any(p.severity is Severity.ERROR for p in self.problems):
            if not cleaned.strip():
                self.problem(None, "empty file: no papers found")
            else:
                self.problem(None, "no papers found: this does not look like a digest file")
        return self.result(tuple(papers))

    def result(self, papers: tuple[Paper, ...]) -> DigestFile:
        return DigestFile(self.path, self.digest_date, papers, tuple(self.problems))

    def skip_header(self, paragraphs: list[_Paragraph]) -> list[_Paragraph]:
        """Drop the page header; remember the digest's own date if it has one."""
        for index, paragraph in enumerate(paragraphs):
            rest = []
            for line in paragraph.lines:
                key = _header_key(line)
                if key in HEADER_LINES:
                    self.saw_page = self.saw_page or key in PAGE_LINES
                    continue
                match = DIGEST_DATE.fullmatch(line)
                if match and match["month"] in MONTHS and self.digest_date is None:
                    try:
                        self.digest_date = resolve_year(
                            MONTHS[match["month"]], int(match["day"]), self.today
                        )
                    except ValueError:
                        self.problem(
                            paragraph.line, f"unreadable digest date {line!r}", Severity.WARNING
                        )
                    continue
                rest.append(line)
            if rest:
                if len(rest) != len(paragraph.lines):
                    offset = len(paragraph.lines) - len(rest)
                    return [_Paragraph(paragraph.line + offset, rest), *paragraphs[index + 1 :]]
                return paragraphs[index:]
            if self.digest_date is not None:
                return paragraphs[index + 1 :]
        return []

    def read_entries(self, body: list[_Paragraph]) -> list[Paper]:
        papers: list[Paper] = []
        index, count = 0, len(body)
        while index < count:
            head = body[index]
            if head.is_meta:
                self.problem(head.line, "metadata without a paper before it; skipped")
                index += 1
                continue
            following = body[index + 1] if index + 1 < count else None
            if following is None or following.is_meta:
                if len(head.lines) < 2:
                    self.problem(
                        head.line,
                        f"paper {head.lines[0][:80]!r} has a title but no abstract (cut off?); "
                        "not taken in",
                    )
                    index += 2 if following is not None else 1
                    continue
                title, abstract_lines = head.lines[0], head.lines[1:]
                self.problem(
                    head.line, "no blank line between title and abstract", Severity.WARNING
                )
                index += 1
            else:
                title = " ".join(head.lines)
                abstract_lines = following.lines
                index += 2
            meta = body[index] if index < count and body[index].is_meta else None
            if meta is not None:
                index += 1
            paper = self.make_paper(head.line, title, " ".join(abstract_lines), meta)
            if paper is not None:
                papers.append(paper)
        if papers and not papers[-1].abstract.endswith(SENTENCE_END):
            last = papers[-1]
            if not LINK.search(last.abstract.rsplit(" ", 1)[-1]):
                self.problem(
                    last.line,
                    "the last abstract ends mid-sentence (cut off?); taken in, and completed "
                    "if a later listing has the rest",
                    Severity.WARNING,
                )
                papers[-1] = dataclasses.replace(last, abstract_cut=True)
        return papers

    def make_paper(
        self, line: int, title: str, abstract: str, meta: _Paragraph | None
    ) -> Paper | None:
        key = title_key(title)
        closed_title = closed_abstract = 0
        if self.has_bidi:
            title, closed_title = close_bidi(title)
            abstract, closed_abstract = close_bidi(abstract)
        if closed_title or closed_abstract:
            self.problem(
                line,
                f"closed {plural(closed_title + closed_abstract, 'bidirectional control')} "
                "left open (they would reorder the text after them)",
                Severity.WARNING,
            )
        if not key:
            self.problem(line, f"title {title[:80]!r} has no letters or digits; not taken in")
            return None
        authors = organization = published = upvotes = None
        if meta is not None:
            authors, organization, published, upvotes = self.read_meta(meta)
        return Paper(
            title=title,
            abstract=abstract,
            authors=authors,
            organization=organization,
            published=published,
            upvotes=upvotes,
            links=extract_links(abstract),
            digest_date=self.digest_date,
            source=self.path,
            line=line,
            key=key,
        )

    def read_meta(
        self, meta: _Paragraph
    ) -> tuple[int | None, Organization | None, dt.date | None, int | None]:
        lines = [text for text in meta.lines if text != META_SEPARATOR]
        if len(meta.lines) != 3 or meta.lines[1] != META_SEPARATOR:
            self.problem(
                meta.line, "metadata block is incomplete; read what it has", Severity.WARNING
            )
        authors = organization = published = upvotes = None
        date_line = lines[-1] if lines and PAPER_DATE.fullmatch(lines[-1]) else None
        if date_line is None and len(lines) >= 2:
            date_line = lines[-1]
        who_lines = lines[:-1] if date_line is not None else lines
        for who in who_lines:
            match = AUTHORS.fullmatch(who)
            if match:
                authors = int(match["count"])
            else:
                org_id, _, name = who.lstrip("•∙ ").partition(" ")
                organization = Organization(org_id, name.strip() or org_id)
        if date_line is not None:
            published, upvotes = self.read_date(meta.line + meta.lines.index(date_line), date_line)
        return authors, organization, published, upvotes

    def read_date(self, line: int, text: str) -> tuple[dt.date | None, int | None]:
        match = PAPER_DATE.fullmatch(text)
        if not match or match["month"] not in MONTHS:
            self.problem(
                line, f"unreadable date {text!r}; published date left empty", Severity.WARNING
            )
            return None, None
        upvotes = int(match["upvotes"]) if match["upvotes"] else None
        month, day = MONTHS[match["month"]], int(match["day"])
        try:
            if match["year"]:
                return dt.date(int(match["year"]), month, day), upvotes
            return resolve_year(month, day, self.digest_date or self.today), upvotes
        except ValueError:
            self.problem(
                line, f"no such date {text!r}; published date left empty", Severity.WARNING
            )
            return None, upvotes


def parse_text(text: str, path: str, today: dt.date) -> DigestFile:
    """Parse already-decoded text (tests and callers with text in hand)."""
    return _FileReader(path, today).read(text)


def parse_bytes(data: bytes, path: str, today: dt.date) -> DigestFile:
    if looks_like_json(data, path):  # the API's own JSON (hf_json.py)
        return parse_json(data, path)
    if not data.startswith(BYTE_ORDER_MARKS) and b"\x00" not in data:
        # The common case, plain UTF-8: decoded strictly and checked as bytes. (A NUL is
        # no text's: perhaps UTF-16 without a byte-order mark, which decode() names.)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            return _FileReader(path, today).read(text, known_clean=utf8_is_clean(data))
    decoded, reason, line = decode(data)
    if decoded is None:
        assert reason is not None
        return DigestFile(path, None, (), (Problem(path, line, reason),))
    return parse_text(decoded, path, today)


def load_file(
    path: str,
    today: dt.date,
    max_size: int = DEFAULT_MAX_FILE_SIZE,
    *,
    name: str | None = None,
    follow: bool = True,
) -> tuple[DigestFile, str | None]:
    """Read and parse one file; with it, the hash of the content parsed (None if unread),
    the file's identity from then on. ``name`` is what the file is called in reports
    (an inbox entry, when ``path`` is where its link leads)."""
    shown = name or path
    try:
        data = read_regular(path, max_size + 1, follow=follow)
    except Unreadable as exc:
        return DigestFile(shown, None, (), (Problem(shown, None, str(exc)),)), None
    if len(data) > max_size:
        return DigestFile(
            shown, None, (), (Problem(shown, None, size_limit_message(max_size)),)
        ), None
    return parse_bytes(data, shown, today), content_hash(data)


def peek_digest_date(head: bytes, today: dt.date) -> tuple[dt.date | None, bool]:
    """The digest's own date from the first bytes of a file, to order files cheaply, and
    whether it was written without a year (a text listing's is; the API's JSON is not)."""
    if looks_like_json(head, ""):
        return peek_json_date(head), False
    text, _, _ = decode(head)
    if text is None:
        text = head.decode("utf-8", errors="ignore")
    reader = _FileReader("", today)
    reader.skip_header(_paragraphs(clean_text(text)))
    return reader.digest_date, True
