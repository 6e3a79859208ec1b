"""Rows to records and back: the columns a published paper is read with, and the
encodings both backends share (links as JSON text, instants as RFC 3339 text in UTC)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from typing import Any

from digest.dates import parse_day, parse_moment
from digest.model import Issue, Organization, Paper, PaperDetails, page_of
from digest.store.sql.hooks import Row

# Published papers in page order (columns: PAPER_COLUMNS).
PAPERS_IN_ORDER = (
    "issue_order o JOIN papers p ON p.id = o.paper_id JOIN issues i ON i.seq = o.issue_seq"
)
PAPER_COLUMNS = (
    "p.key, p.title, p.abstract, p.authors, p.org_id, p.org_name, p.published, p.upvotes, "
    "p.links, p.digest_date, p.first_file, p.first_line, i.published_at, o.position, i.id, "
    "p.section, p.reason, p.abstract_cut, p.updated_at, p.first_seen, p.details, o.position, "
    "i.papers_per_page"
)
ISSUE_COLUMNS = "seq, id, date, published_at, paper_count, outputs_pending, papers_per_page"


def links_from_text(text: str) -> tuple[str, ...]:
    return () if text == "[]" else tuple(json.loads(text))


def links_text(links: tuple[str, ...]) -> str:
    return json.dumps(links) if links else "[]"


_DETAIL_TUPLES = ("author_names", "ai_keywords")


def details_text(details: PaperDetails | None) -> str | None:
    """What the API's JSON said of a paper, as JSON text (keys sorted: the same details
    are the same bytes on either backend); None for a paper only text listings gave."""
    if details is None:
        return None
    return json.dumps(dataclasses.asdict(details), ensure_ascii=False, sort_keys=True)


def details_from_text(text: str | None) -> PaperDetails | None:
    if text is None:
        return None
    fields = json.loads(text)
    known = {field.name for field in dataclasses.fields(PaperDetails)}
    values: dict[str, Any] = {
        name: tuple(value) if name in _DETAIL_TUPLES else value
        for name, value in fields.items()
        if name in known  # a field a later digest added stays with it
    }
    return PaperDetails(**values)


# A reason recorded before upvotes left it ends with them (`` · ▲ 5``): the paper's meta
# line shows its upvotes already, and the newest count at that.
_OLD_VOTES = re.compile(r"(?: · )?▲ [\d,]+$")


def _without_votes(reason: str) -> str:
    return _OLD_VOTES.sub("", reason)


def paper_from_row(row: Row, kind: type[Paper] = Paper) -> Paper:
    (
        key,
        title,
        abstract,
        authors,
        org_id,
        org_name,
        published,
        upvotes,
        links,
        digest_date,
        first_file,
        first_line,
        published_at,
        position,
        issue_id,
        section,
        reason,
        cut,
        updated,
        seen,
        details,
        place,
        per_page,
    ) = row
    # A published paper was first seen when its issue was published (or, backfilled, on
    # its own digest's day, before it); a millisecond apart in page order, so that
    # newest-first feeds and the timestamps agree.
    first_seen = min(parse_moment(published_at), parse_moment(seen)) - dt.timedelta(
        milliseconds=position
    )
    return kind(
        title=title,
        abstract=abstract,
        authors=authors,
        organization=Organization(org_id, org_name) if org_id is not None else None,
        published=parse_day(published),
        upvotes=upvotes,
        links=links_from_text(links),
        digest_date=parse_day(digest_date),
        source=first_file,
        line=first_line,
        first_seen=first_seen,
        issue_id=issue_id,
        section=section,
        reason=_without_votes(reason or ""),
        key=key,
        abstract_cut=bool(cut),
        updated=parse_moment(updated) if updated else None,
        details=details_from_text(details),
        page=page_of(place, per_page),
    )


def issue_from_row(row: Row) -> Issue:
    seq, issue_id, day, at, count, pending, per_page = row
    return Issue(
        issue_id, seq, dt.date.fromisoformat(day), parse_moment(at), count, bool(pending), per_page
    )
