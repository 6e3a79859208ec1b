"""Papers: new ones recorded in bulk, known ones seen again, cut abstracts completed,
rising papers chosen from those listed again."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from digest.classify import Placement
from digest.dates import day_text, moment_text
from digest.links import has_code
from digest.model import Paper
from digest.store.records import CutAbstract, KnownPaper
from digest.store.sql.hooks import SqlBase
from digest.store.sql.rows import (
    PAPER_COLUMNS,
    PAPERS_IN_ORDER,
    details_text,
    links_text,
    paper_from_row,
)


class PaperQueries(SqlBase):
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
            (
                abstract,
                links_text(links),
                int(has_code(links)),
                int(still_cut),
                moment_text(now),
                paper_id,
            ),
        )

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
                first_id + offset,
                paper.key,
                paper.title,
                paper.abstract,
                paper.authors,
                paper.organization.id if paper.organization else None,
                paper.organization.name if paper.organization else None,
                day_text(paper.published),
                paper.upvotes,
                links_text(paper.links),
                day_text(paper.digest_date),
                paper.source,
                paper.line,
                seen,
                seen,
                issue_seq,
                place.section if place else None,
                place.section_rank if place else 0,
                place.reason if place else None,
                place.filtered if place else None,
                paper.upvotes,
                int(paper.has_code),
                int(paper.abstract_cut),
                details_text(paper.details),
            )
            for offset, (paper, place) in enumerate(placed)
        ]
        self._insert_rows("papers", _PAPER_INSERT_COLUMNS, rows)
        self._next_paper_id = first_id + len(rows)
        return list(range(first_id, first_id + len(rows)))

    def mark_rising(
        self,
        candidates: Iterable[int],
        issue_seq: int,
        min_gain: int | None,
        min_factor: float | None,
        limit: int,
        day: dt.date = dt.date.max,
    ) -> int:
        """Only ``candidates`` (papers listed again in this run) are looked at, so the
        cost follows the new input; each paper rises once, from an issue dated on or
        before ``day`` (this issue's: a backfill of older listings shows no paper rising
        from an issue that came after it)."""
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
            "AND issue_seq IN (SELECT seq FROM issues WHERE date <= ?) "
            f"AND ({' OR '.join(tests)}) AND id {{keys}}",
            ids,
            before=(issue_seq, day.isoformat()),
        )
        best = sorted(chosen, key=lambda row: (-row[1], row[0]))[:limit]
        self._executemany(
            "UPDATE papers SET rising_issue_seq = ? WHERE id = ?",
            [(issue_seq, paper_id) for paper_id, _ in best],
        )
        return len(best)

    def rising_papers(self, issue_seq: int) -> list[tuple[Paper, int | None]]:
        rows = self._execute(
            f"SELECT {PAPER_COLUMNS}, p.published_upvotes FROM {PAPERS_IN_ORDER} "
            "WHERE p.rising_issue_seq = ? "
            "ORDER BY p.upvotes - coalesce(p.published_upvotes, 0) DESC, p.id",
            (issue_seq,),
        ).fetchall()
        return [(paper_from_row(row[:-1]), row[-1]) for row in rows]

    def update_details(self, listed: Sequence[tuple[int, Paper]]) -> None:
        """What a later listing in the API's JSON says of papers seen before: the newest
        details win (stars grow), and a repository it names is code."""
        self._executemany(
            "UPDATE papers SET details = ?, has_code = CASE WHEN ? = 1 THEN 1 ELSE has_code END "
            "WHERE id = ?",
            [
                (details_text(paper.details), int(paper.has_code), paper_id)
                for paper_id, paper in sorted(listed, key=lambda item: item[0])
                if paper.details is not None
            ],
        )

    def update_seen(self, seen_again: Sequence[tuple[int, int | None]], now: dt.datetime) -> None:
        stamp = moment_text(now)
        self._executemany(
            "UPDATE papers SET last_seen = ?, upvotes = coalesce(?, upvotes) WHERE id = ?",
            [(stamp, upvotes, paper_id) for paper_id, upvotes in sorted(seen_again)],
        )

    def add_sightings(
        self, sightings: Sequence[tuple[int, dt.date | None, int | None]], file_id: int
    ) -> None:
        rows = sighting_rows(sightings, file_id)
        self._insert_rows("sightings", ("paper_id", "file_id", "digest_date", "upvotes"), rows)


def sighting_rows(
    sightings: Sequence[tuple[int, dt.date | None, int | None]], file_id: int
) -> list[tuple[int, int, str | None, int | None]]:
    """One row per paper (the last listing of it in the file wins), in id order."""
    return sorted(
        {
            paper_id: (paper_id, file_id, day_text(day), upvotes)
            for paper_id, day, upvotes in sightings
        }.values()
    )


def latest_upvotes(seen_again: Sequence[tuple[int, int | None]]) -> dict[int, int | None]:
    """Per paper seen again, the upvotes ``update_seen`` leaves it (of several counts for
    one paper, applied in order, the largest; none: the stored count stays)."""
    latest: dict[int, int | None] = {}
    for paper_id, upvotes in sorted(seen_again, key=lambda item: item[0]):
        before = latest.get(paper_id)
        latest[paper_id] = upvotes if before is None or (upvotes or 0) > before else before
    return latest


_PAPER_INSERT_COLUMNS = (
    "id",
    "key",
    "title",
    "abstract",
    "authors",
    "org_id",
    "org_name",
    "published",
    "upvotes",
    "links",
    "digest_date",
    "first_file",
    "first_line",
    "first_seen",
    "last_seen",
    "issue_seq",
    "section",
    "section_rank",
    "reason",
    "filtered",
    "published_upvotes",
    "has_code",
    "abstract_cut",
    "details",
)
