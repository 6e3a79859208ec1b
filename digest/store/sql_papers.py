"""The SQL of papers and issues, shared by both backends (see ``digest.store.sql``)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from digest.classify import Placement
from digest.dates import day_text, moment_text, parse_day, parse_moment
from digest.links import has_code
from digest.model import Issue, IssueSummary, IssueYear, Organization, Paper
from digest.store.base import CutAbstract, KnownPaper
from digest.store.sql_base import Row, SqlBase

# Published papers in page order (columns: _PAPER_COLUMNS).
_PAPERS_IN_ORDER = (
    "issue_order o JOIN papers p ON p.id = o.paper_id JOIN issues i ON i.seq = o.issue_seq"
)
_PAPER_COLUMNS = (
    "p.key, p.title, p.abstract, p.authors, p.org_id, p.org_name, p.published, p.upvotes, "
    "p.links, p.digest_date, p.first_file, p.first_line, i.published_at, o.position, i.id, "
    "p.section, p.reason, p.abstract_cut, p.updated_at, p.first_seen"
)
_ISSUE_COLUMNS = "seq, id, date, published_at, paper_count, outputs_pending"


def _links(text: str) -> tuple[str, ...]:
    return () if text == "[]" else tuple(json.loads(text))


def _links_text(links: tuple[str, ...]) -> str:
    return json.dumps(links) if links else "[]"


def paper_from_row(row: Row) -> Paper:
    (key, title, abstract, authors, org_id, org_name, published, upvotes, links, digest_date,
     first_file, first_line, published_at, position, issue_id, section, reason, cut,
     updated, seen) = row  # fmt: skip
    # A published paper was first seen when its issue was published (or, backfilled, on
    # its own digest's day, before it); a millisecond apart in page order, so that
    # newest-first feeds and the timestamps agree.
    first_seen = min(parse_moment(published_at), parse_moment(seen)) - dt.timedelta(
        milliseconds=position
    )
    return Paper(
        title=title,
        abstract=abstract,
        authors=authors,
        organization=Organization(org_id, org_name) if org_id is not None else None,
        published=parse_day(published),
        upvotes=upvotes,
        links=_links(links),
        digest_date=parse_day(digest_date),
        source=first_file,
        line=first_line,
        first_seen=first_seen,
        issue_id=issue_id,
        section=section,
        reason=reason or "",
        key=key,
        abstract_cut=bool(cut),
        updated=parse_moment(updated) if updated else None,
    )


def _issue_from_row(row: Row) -> Issue:
    seq, issue_id, day, at, count, pending = row
    return Issue(issue_id, seq, dt.date.fromisoformat(day), parse_moment(at), count, bool(pending))


class PaperQueries(SqlBase):
    # -- papers ---------------------------------------------------------------------------

    def known_papers(self, keys: Iterable[str]) -> dict[str, KnownPaper]:
        rows = self._with_keys(
            "SELECT key, id, abstract_cut FROM papers WHERE key {keys}", list(keys)
        )
        return {key: KnownPaper(paper_id, bool(cut)) for key, paper_id, cut in rows}

    def cut_abstracts(self, ids: Iterable[int]) -> list[CutAbstract]:
        rows = self._with_keys(
            "SELECT id, abstract, issue_seq FROM papers WHERE abstract_cut = 1 AND id {keys}",
            sorted(set(ids)),
        )
        return [CutAbstract(*row) for row in rows]

    def complete_abstract(
        self,
        paper_id: int,
        abstract: str,
        links: tuple[str, ...],
        still_cut: bool,
        now: dt.datetime,
    ) -> None:
        self._execute(
            "UPDATE papers SET abstract = ?, links = ?, has_code = ?, abstract_cut = ?, "
            "updated_at = ? WHERE id = ?",
            (abstract, _links_text(links), int(has_code(links)), int(still_cut), moment_text(now),
             paper_id),
        )  # fmt: skip

    def add_papers(
        self,
        placed: Sequence[tuple[Paper, Placement | None]],
        issue_seq: int | None,
        now: dt.datetime,
    ) -> list[int]:
        """(A published paper's first-seen instant is derived from its issue and page
        position when read back: a millisecond apart, so that newest-first order and the
        timestamps agree.)"""
        if not placed:
            return []
        if self._next_paper_id is None:
            self._next_paper_id = int(self._scalar("SELECT coalesce(max(id), 0) FROM papers")) + 1
        first_id = self._next_paper_id
        seen = moment_text(now)
        rows = [
            (
                first_id + offset, paper.key, paper.title, paper.abstract, paper.authors,
                paper.organization.id if paper.organization else None,
                paper.organization.name if paper.organization else None,
                day_text(paper.published), paper.upvotes, _links_text(paper.links),
                day_text(paper.digest_date), paper.source, paper.line, seen, seen, issue_seq,
                place.section if place else None, place.section_rank if place else 0,
                place.reason if place else None, place.filtered if place else None,
                paper.upvotes, int(has_code(paper.links)), int(paper.abstract_cut),
            )
            for offset, (paper, place) in enumerate(placed)
        ]  # fmt: skip
        self._insert_rows("papers", _PAPER_INSERT_COLUMNS, rows)
        self._next_paper_id = first_id + len(rows)
        return list(range(first_id, first_id + len(rows)))

    def rank_issue(self, issue_seq: int, by_upvotes: bool) -> None:
        """Page order (0, 1, ...): by section, then (optionally) by upvotes, then in the
        order the digests listed them. One statement: no Python per paper. (Papers without
        a section come first, where SQLite puts NULLs; PostgreSQL would put them last.)"""
        upvotes = "coalesce(upvotes, -1) DESC, " if by_upvotes else ""
        order = f"section_rank, section NULLS FIRST, {upvotes}id"
        self._execute("DELETE FROM issue_order WHERE issue_seq = ?", (issue_seq,))
        self._execute(
            "INSERT INTO issue_order (issue_seq, position, paper_id) "
            f"SELECT ?, row_number() OVER (ORDER BY {order}) - 1, id "
            "FROM papers WHERE issue_seq = ? ORDER BY 2",
            (issue_seq, issue_seq),
        )

    def mark_rising(
        self,
        candidates: Iterable[int],
        issue_seq: int,
        min_gain: int | None,
        min_factor: float | None,
        limit: int,
    ) -> int:
        """Only ``candidates`` (papers listed again in this run) are looked at, so the
        cost follows the new input; each paper rises once."""
        tests = []
        if min_gain is not None:
            tests.append(f"upvotes - coalesce(published_upvotes, 0) >= {int(min_gain)}")
        if min_factor is not None:
            tests.append(
                f"(published_upvotes > 0 AND upvotes >= {float(min_factor)} * published_upvotes)"
            )
        ids = sorted(set(candidates))
        if not tests or not ids:
            return 0
        chosen = self._with_keys(
            "SELECT id, upvotes - coalesce(published_upvotes, 0) FROM papers "
            "WHERE issue_seq < ? AND rising_issue_seq IS NULL AND upvotes IS NOT NULL "
            f"AND ({' OR '.join(tests)}) AND id {{keys}}",
            ids,
            before=(issue_seq,),
        )
        best = sorted(chosen, key=lambda row: (-row[1], row[0]))[:limit]
        self._executemany(
            "UPDATE papers SET rising_issue_seq = ? WHERE id = ?",
            [(issue_seq, paper_id) for paper_id, _ in best],
        )
        return len(best)

    def rising_papers(self, issue_seq: int) -> list[tuple[Paper, int | None]]:
        rows = self._execute(
            f"SELECT {_PAPER_COLUMNS}, p.published_upvotes FROM {_PAPERS_IN_ORDER} "
            "WHERE p.rising_issue_seq = ? "
            "ORDER BY p.upvotes - coalesce(p.published_upvotes, 0) DESC, p.id",
            (issue_seq,),
        ).fetchall()
        return [(paper_from_row(row[:-1]), row[-1]) for row in rows]

    def update_seen(self, seen_again: Sequence[tuple[int, int | None]], now: dt.datetime) -> None:
        stamp = moment_text(now)
        self._executemany(
            "UPDATE papers SET last_seen = ?, upvotes = coalesce(?, upvotes) WHERE id = ?",
            [(stamp, upvotes, paper_id) for paper_id, upvotes in sorted(seen_again)],
        )

    def add_sightings(
        self, sightings: Sequence[tuple[int, dt.date | None, int | None]], file_id: int
    ) -> None:
        rows = sorted({paper_id: (paper_id, file_id, day_text(day), upvotes)
                       for paper_id, day, upvotes in sightings}.values())  # fmt: skip
        self._insert_rows("sightings", ("paper_id", "file_id", "digest_date", "upvotes"), rows)

    def issue_papers(self, issue_seq: int) -> Iterator[Paper]:
        for row in self._stream(
            f"SELECT {_PAPER_COLUMNS} FROM {_PAPERS_IN_ORDER} "
            "WHERE o.issue_seq = ? ORDER BY o.position",
            (issue_seq,),
        ):
            yield paper_from_row(row)

    def issue_papers_with_keys(self, issue_seq: int, keys: Iterable[str]) -> list[Paper]:
        rows = self._with_keys(
            f"SELECT {_PAPER_COLUMNS} FROM {_PAPERS_IN_ORDER} WHERE o.issue_seq = ? "
            "AND p.key {keys}",
            sorted(set(keys)),
            before=(issue_seq,),
        )
        return [paper_from_row(row) for row in rows]

    def newest_papers(self, limit: int, section: str | None = None) -> list[Paper]:
        papers: list[Paper] = []
        in_section = "AND p.section = ? " if section is not None else ""
        for (seq,) in self._execute("SELECT seq FROM issues ORDER BY seq DESC").fetchall():
            params = (seq, section) if section is not None else (seq,)
            rows = self._execute(
                f"SELECT {_PAPER_COLUMNS} FROM {_PAPERS_IN_ORDER} "
                f"WHERE o.issue_seq = ? {in_section}ORDER BY o.position LIMIT ?",
                (*params, limit - len(papers)),
            ).fetchall()
            papers += [paper_from_row(row) for row in rows]
            if len(papers) >= limit:
                break
        return papers

    def issue_summary(self, issue_seq: int) -> IssueSummary:
        """From one pass over the issue's papers, grouped by organisation and section."""
        groups = self._execute(
            "SELECT org_name, section, count(*), coalesce(sum(has_code), 0), min(section_rank) "
            "FROM papers WHERE issue_seq = ? GROUP BY org_name, section",
            (issue_seq,),
        ).fetchall()
        papers = with_code = 0
        by_organization: dict[str, int] = {}
        by_section: dict[str, list[int]] = {}  # section: [papers, rank]
        for org_name, section, count, coded, rank in groups:
            papers += count
            with_code += int(coded)
            if org_name is not None:
                by_organization[org_name] = by_organization.get(org_name, 0) + count
            if section is not None:
                seen = by_section.setdefault(section, [0, rank])
                seen[0] += count
                seen[1] = min(seen[1], rank)
        top = sorted(
            ((name, count) for name, count in by_organization.items() if count >= 2),
            key=lambda item: (-item[1], item[0]),
        )[:3]
        # Pages are ordered by section rank, then name: so are the sections listed.
        sections = sorted(by_section.items(), key=lambda item: (item[1][1], item[0]))
        return IssueSummary(
            papers, with_code, tuple(top), tuple((name, n) for name, (n, _rank) in sections)
        )

    # -- issues ---------------------------------------------------------------------------

    def next_issue_id(self, day: dt.date, avoid: Iterable[str] = ()) -> tuple[str, int]:
        base = day.isoformat()
        taken = set(avoid) | {
            row[0]
            for row in self._execute(
                "SELECT id FROM issues WHERE id = ? OR id LIKE ?", (base, base + "-%")
            )
        }
        seq = int(self._scalar("SELECT coalesce(max(seq), 0) FROM issues")) + 1
        if base not in taken:
            return base, seq
        number = 2
        while f"{base}-{number}" in taken:
            number += 1
        return f"{base}-{number}", seq

    def add_issue(
        self, issue_id: str, seq: int, day: dt.date, published_at: dt.datetime, count: int
    ) -> Issue:
        self._execute(
            f"INSERT INTO issues ({_ISSUE_COLUMNS}) VALUES (?, ?, ?, ?, ?, 1)",
            (seq, issue_id, day.isoformat(), moment_text(published_at), count),
        )
        return Issue(issue_id, seq, day, published_at, count, True)

    def mark_outputs_pending(self, seqs: Iterable[int]) -> None:
        self._executemany(
            "UPDATE issues SET outputs_pending = 1 WHERE seq = ?", [(s,) for s in sorted(seqs)]
        )

    def outputs_written(self, seqs: Iterable[int]) -> None:
        self._executemany(
            "UPDATE issues SET outputs_pending = 0 WHERE seq = ?", [(s,) for s in sorted(seqs)]
        )

    def pending_issues(self) -> list[Issue]:
        rows = self._execute(
            f"SELECT {_ISSUE_COLUMNS} FROM issues WHERE outputs_pending = 1 ORDER BY seq"
        )
        return [_issue_from_row(row) for row in rows]

    def issues(
        self, *, limit: int | None = None, year: int | None = None, before: Issue | None = None
    ) -> list[Issue]:
        """Newest first: all, or one year's, or those published before ``before``."""
        conditions: list[str] = []
        params: list[Any] = []
        if year is not None:
            conditions.append("date >= ? AND date < ?")
            params += [f"{year:04d}", f"{year + 1:04d}"]
        if before is not None:
            conditions.append("seq < ?")
            params.append(before.seq)
        where = f"WHERE {' AND '.join(conditions)} " if conditions else ""
        sql = f"SELECT {_ISSUE_COLUMNS} FROM issues {where}ORDER BY seq DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [_issue_from_row(row) for row in self._execute(sql, params)]

    def issue_years(self) -> list[IssueYear]:
        return [
            IssueYear(int(year), int(issues), int(papers))
            for year, issues, papers in self._execute(
                "SELECT substr(date, 1, 4), count(*), sum(paper_count) FROM issues "
                "GROUP BY 1 ORDER BY 1 DESC"
            )
        ]

    def issue(self, issue_id: str | None) -> Issue | None:
        if issue_id is None:
            row = self._one(f"SELECT {_ISSUE_COLUMNS} FROM issues ORDER BY seq DESC LIMIT 1")
        else:
            row = self._one(f"SELECT {_ISSUE_COLUMNS} FROM issues WHERE id = ?", (issue_id,))
        return _issue_from_row(row) if row is not None else None


_PAPER_INSERT_COLUMNS = (
    "id", "key", "title", "abstract", "authors", "org_id", "org_name", "published", "upvotes",
    "links", "digest_date", "first_file", "first_line", "first_seen", "last_seen", "issue_seq",
    "section", "section_rank", "reason", "filtered", "published_upvotes", "has_code",
    "abstract_cut",
)  # fmt: skip
