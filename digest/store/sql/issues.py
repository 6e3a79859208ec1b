"""Issues: their page order, their papers streamed, their summaries, ids and notes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Any

from digest.dates import moment_text
from digest.model import Issue, IssueSummary, IssueYear, Paper, page_of
from digest.store.records import PaperTitle
from digest.store.sql.hooks import SqlBase
from digest.store.sql.rows import (
    ISSUE_COLUMNS,
    PAPER_COLUMNS,
    PAPERS_IN_ORDER,
    issue_from_row,
    paper_from_row,
)

# The newest issue is the one of the latest date (then the one recorded last): a backfill
# into a state that has issues records older ones after them. Feeds, the index, status,
# send and post all take "newest" from here.
NEWEST_FIRST = "date DESC, seq DESC"


class IssueQueries(SqlBase):
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

    def issue_papers(
        self,
        issue_seq: int,
        kind: type[Paper] = Paper,
        *,
        per_section: int | None = None,
        first: int | None = None,
    ) -> Iterator[Paper]:
        if per_section is None:
            sql, params = "", [issue_seq]
        else:  # the first of each section: the positions ranked within their section
            sql = (
                " AND o.position IN (SELECT position FROM (SELECT r.position, row_number() "
                "OVER (PARTITION BY q.section ORDER BY r.position) AS nth FROM issue_order r "
                "JOIN papers q ON q.id = r.paper_id WHERE r.issue_seq = ?) AS ranked "
                "WHERE nth <= ?)"
            )
            params = [issue_seq, issue_seq, per_section]
        query = f"SELECT {PAPER_COLUMNS} FROM {PAPERS_IN_ORDER} WHERE o.issue_seq = ?{sql} "
        if first is None:
            rows = self._stream(query + "ORDER BY o.position", params)
        else:
            rows = self._execute(query + "ORDER BY o.position LIMIT ?", [*params, first])
        for row in rows:
            yield paper_from_row(row, kind)

    def issue_titles(self, issue_seq: int, *, skip: int, first: int) -> list[PaperTitle]:
        rows = self._execute(
            "SELECT p.key, p.title, o.position, i.papers_per_page "
            f"FROM {PAPERS_IN_ORDER} WHERE o.issue_seq = ? AND o.position >= ? "
            "ORDER BY o.position LIMIT ?",
            (issue_seq, skip, first),
        )
        return [
            PaperTitle(key, title, page_of(place, per_page)) for key, title, place, per_page in rows
        ]

    def issue_papers_with_keys(self, issue_seq: int, keys: Iterable[str]) -> list[Paper]:
        rows = self._with_keys(
            f"SELECT {PAPER_COLUMNS} FROM {PAPERS_IN_ORDER} WHERE o.issue_seq = ? "
            "AND p.key {keys}",
            sorted(set(keys)),
            before=(issue_seq,),
        )
        return [paper_from_row(row) for row in rows]

    def newest_papers(
        self,
        limit: int,
        section: str | None = None,
        *,
        whole_newest: int = 0,
        by_upvotes: bool = True,
    ) -> list[Paper]:
        """Each issue's papers ranked across its sections (by their upvotes when published,
        or only, as ranking "page" asks, in the order the digests listed them), newest
        issue first: the newest issue whole, up to ``whole_newest`` of its papers, then
        older ones until there are ``limit``. Each paper's instant follows its rank, so
        feed readers that sort by date agree."""
        papers: list[Paper] = []
        in_section = "AND p.section = ? " if section is not None else ""
        upvotes = "coalesce(p.published_upvotes, -1) DESC, " if by_upvotes else ""
        ranked = PAPER_COLUMNS.replace(  # the feed's rank; the page's place stays last
            "o.position", f"row_number() OVER (ORDER BY {upvotes}p.id) - 1", 1
        )
        issues = self._execute(
            f"SELECT seq, paper_count FROM issues ORDER BY {NEWEST_FIRST}"
        ).fetchall()
        for number, (seq, count) in enumerate(issues):
            wanted = limit - len(papers)
            if number == 0:
                wanted = max(wanted, min(count, whole_newest))
            if wanted <= 0:
                break
            params = (seq, section) if section is not None else (seq,)
            rows = self._execute(
                f"SELECT {ranked} FROM {PAPERS_IN_ORDER} WHERE o.issue_seq = ? {in_section}"
                "ORDER BY 14 LIMIT ?",
                (*params, wanted),
            ).fetchall()
            papers += [paper_from_row(row) for row in rows]
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
        self,
        issue_id: str,
        seq: int,
        day: dt.date,
        published_at: dt.datetime,
        count: int,
        papers_per_page: int = 0,
    ) -> Issue:
        self._execute(
            f"INSERT INTO issues ({ISSUE_COLUMNS}) VALUES (?, ?, ?, ?, ?, 1, ?)",
            (seq, issue_id, day.isoformat(), moment_text(published_at), count, papers_per_page),
        )
        return Issue(issue_id, seq, day, published_at, count, True, papers_per_page)

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
            f"SELECT {ISSUE_COLUMNS} FROM issues WHERE outputs_pending = 1 ORDER BY seq"
        )
        return [issue_from_row(row) for row in rows]

    def issues(
        self, *, limit: int | None = None, year: int | None = None, before: Issue | None = None
    ) -> list[Issue]:
        """Newest first (by date, then seq: a backfill of older listings takes its place
        in the archive): all, or one year's, or those before ``before``."""
        conditions: list[str] = []
        params: list[Any] = []
        if year is not None:
            conditions.append("date >= ? AND date < ?")
            params += [f"{year:04d}", f"{year + 1:04d}"]
        if before is not None:
            conditions.append("(date < ? OR (date = ? AND seq < ?))")
            params += [before.date.isoformat(), before.date.isoformat(), before.seq]
        where = f"WHERE {' AND '.join(conditions)} " if conditions else ""
        sql = f"SELECT {ISSUE_COLUMNS} FROM issues {where}ORDER BY {NEWEST_FIRST}"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [issue_from_row(row) for row in self._execute(sql, params)]

    def next_issue(self, issue: Issue) -> Issue | None:
        """The issue after this one in the archive's order (by date, then seq)."""
        row = self._one(
            f"SELECT {ISSUE_COLUMNS} FROM issues WHERE date > ? OR (date = ? AND seq > ?) "
            "ORDER BY date, seq LIMIT 1",
            (issue.date.isoformat(), issue.date.isoformat(), issue.seq),
        )
        return issue_from_row(row) if row is not None else None

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
            row = self._one(f"SELECT {ISSUE_COLUMNS} FROM issues ORDER BY {NEWEST_FIRST} LIMIT 1")
        else:
            row = self._one(f"SELECT {ISSUE_COLUMNS} FROM issues WHERE id = ?", (issue_id,))
        return issue_from_row(row) if row is not None else None

    def note(self, issue_seq: int) -> str | None:
        source: str | None = self._scalar(
            "SELECT source FROM notes WHERE issue_seq = ?", (issue_seq,)
        )
        return source

    def remove_note(self, issue_seq: int) -> None:
        self._execute("DELETE FROM notes WHERE issue_seq = ?", (issue_seq,))

    def set_note(self, issue_seq: int, source: str) -> None:
        self._execute(
            "INSERT INTO notes (issue_seq, source) VALUES (?, ?) "
            "ON CONFLICT (issue_seq) DO UPDATE SET source = excluded.source",
            (issue_seq, source),
        )
