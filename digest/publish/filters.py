"""The words and numbers of a paper as every output writes them: who wrote it, its meta
line, its first sentences, an issue's summary line, plain-text wrapping for email.

Templates call these as filters (``paper | meta_line``); the email and the command line
call them directly, so each output says the same thing the same way.
"""

from __future__ import annotations

import re
import textwrap

from markupsafe import Markup, escape

from digest.dates import long_date
from digest.links import PaperLink
from digest.model import IssueSummary, Paper, Site
from digest.publish.details import authors_text, comments_text

SHORT_SENTENCES = 2
SHORT_MAX_CHARS = 320
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")  # (what a break is)
_AFTER_SENTENCE = re.compile(r"\s+(?=[\"'(\[]?[A-Z0-9])")  # after its ".", "!" or "?"
_VOTES = re.compile(r"▲ [\d,]+(?: → [\d,]+)?")
_VOTES_SPAN = r'<span class="votes">\g<0></span>'


def number(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


def plural(count: int, singular: str, plural: str | None = None) -> str:
    word = singular if count == 1 else (plural or singular + "s")
    return f"{count:,} {word}"


def who(paper: Paper) -> str:
    """Who wrote it, as the listing says: the first authors by name (and the organisation)
    where the API's JSON names them; else an organisation, or a count of authors."""
    names = authors_text(paper)
    if names:
        org = paper.organization
        return f"{names} · {org.name}" if org is not None else names
    if paper.organization is not None:
        return paper.organization.name
    if paper.authors is not None:
        return plural(paper.authors, "author")
    return ""


def wrap(text: str, width: int = 72, indent: str = "", lead: str | None = None) -> str:
    """Plain-text paragraphs for email: wrapped at ``width``; URLs are never broken (one
    longer than the line stands alone on its own). Without ``lead``, the first line is
    counted as indented too, and the template writes that indent; with it, the text
    starts after ``lead`` (``"10. "``, ``"   Why it's here: "``), which is counted and
    returned with it. "▲ 14" and "▲ 2 → 40" are never split across lines."""
    first = indent if lead is None else lead
    protected = _VOTES.sub(lambda m: m.group().replace(" ", "\xa0"), text)

    def lines_from(initial: str) -> list[str]:
        return textwrap.wrap(
            protected,
            width=width,
            initial_indent=initial,
            subsequent_indent=indent,
            break_long_words=False,
            break_on_hyphens=False,
        )

    lines = lines_from(first)
    if lines and len(lines[0]) > width and first.strip():
        # A word longer than the line after the lead (a URL): it goes on a line of its own.
        lines = [first.rstrip(), *lines_from(indent)]
    if not lines:
        return "" if lead is None else lead.rstrip()
    joined = "\n".join(lines).replace("\xa0", " ")
    return joined if lead is not None else joined[len(indent) :]


def source(paper: Paper, site: Site) -> PaperLink:
    """``paper | source(site)``: where the paper itself is (a filter is a plain call in
    compiled templates, cheaper than calling ``site.source`` for each of 80,000 papers)."""
    return site.source(paper)


def first_sentences(abstract: str) -> str:
    """The first sentence or two, cut at a word boundary if still long: what the email
    shows of an abstract it must shorten, and what an issue page shows until opened."""
    sentences = _split_sentences(abstract.strip(), SHORT_SENTENCES)
    short = " ".join(sentences[:SHORT_SENTENCES])
    if len(short) > SHORT_MAX_CHARS:
        short = short[:SHORT_MAX_CHARS].rsplit(" ", 1)[0].rstrip(",;:") + " …"
    elif len(sentences) > SHORT_SENTENCES:
        short += " …"
    return short


def _split_sentences(text: str, count: int) -> list[str]:
    """``_SENTENCE_BREAK.split(text, maxsplit=count)``, in half the time: every issue page
    asks it of each abstract, and the regex tries its look-behind at every character; here
    C-speed ``find`` jumps from one ".", "!" or "?" to the next."""
    parts: list[str] = []
    start = 0
    dot, bang, ask = text.find("."), text.find("!"), text.find("?")
    while len(parts) < count:
        end = dot
        if bang >= 0 and (end < 0 or bang < end):
            end = bang
        if ask >= 0 and (end < 0 or ask < end):
            end = ask
        if end < 0:
            break
        after = _AFTER_SENTENCE.match(text, end + 1)
        if after:
            parts.append(text[start : end + 1])
            start = after.end()
        mark = text[end]
        if mark == ".":
            dot = text.find(".", end + 1)
        elif mark == "!":
            bang = text.find("!", end + 1)
        else:
            ask = text.find("?", end + 1)
    parts.append(text[start:])
    return parts


def nowrap_votes(text: str) -> Markup:
    """HTML of ``text`` (escaped) with "▲ 14" and "▲ 2 → 40" kept on one line: a count
    split from its arrow reads as a stray number. (Escaping leaves those characters as
    they are, so they are found in the escaped text.)"""
    escaped = str(escape(text))
    if "▲" not in escaped:
        return Markup(escaped)
    return Markup(_VOTES.sub(_VOTES_SPAN, escaped))


def meta_html(paper: Paper) -> Markup:
    """:func:`meta_line` as HTML, its upvotes kept on one line (see nowrap_votes)."""
    line = escape(meta_line(paper, votes=False))
    if paper.upvotes is None:
        return line
    votes = f'<span class="votes">▲ {paper.upvotes:,}</span>'
    return Markup(f"{line} · {votes}" if line else votes)


def meta_line(paper: Paper, votes: bool = True) -> str:
    """``NAVER AI Lab · published June 15, 2020 · ▲ 2``: what the listing said of it."""
    by = who(paper)
    parts = [by] if by else []
    if paper.published is not None:
        parts.append(f"published {long_date(paper.published)}")
    comments = comments_text(paper)
    if comments:
        parts.append(comments)
    if votes and paper.upvotes is not None:
        parts.append(f"▲ {paper.upvotes:,}")
    return " · ".join(parts)


def summary_line(summary: IssueSummary) -> str:
    """``274 new papers · 41 with code (15%) · most from: OpenBMB (3), NAVER AI Lab (2)``"""
    parts = [plural(summary.papers, "new paper")]
    if summary.sections:
        parts.append(plural(len(summary.sections), "section"))
    if summary.papers:
        share = round(100 * summary.with_code / summary.papers)
        parts.append(f"{summary.with_code:,} with code ({share}%)")
    if summary.top_organizations:
        parts.append(
            "most from: " + ", ".join(f"{name} ({n})" for name, n in summary.top_organizations)
        )
    return " · ".join(parts)
