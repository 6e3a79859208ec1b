"""The state: every file taken in, every paper seen, every issue published, every run.

All SQL lives in this module, behind ``Store``'s methods, so that another backend
(PostgreSQL, for several generators sharing one store) can implement the same
interface. The schema is versioned with ``PRAGMA user_version`` and ordered
migrations; a state file from a newer digest, or one that is not a digest state at
all, is refused with a hint and never replaced.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from digest.classify import Placement
from digest.errors import StateError
from digest.model import Issue, IssueSummary, IssueYear, Organization, Paper

CODE_HOSTS = ("github.com", "gitlab.com", "gitee.com", "bitbucket.org", "codeberg.org")

APPLICATION_ID = 0x44474553  # "DGES": marks a SQLite file as a digest state

MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema
    """
    CREATE TABLE files (
        id INTEGER PRIMARY KEY,
        hash TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        digest_date TEXT,
        taken_at TEXT NOT NULL,
        paper_count INTEGER NOT NULL,
        problem_count INTEGER NOT NULL
    );
    CREATE TABLE inbox_files (
        path TEXT PRIMARY KEY,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        hash TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE rejections (
        hash TEXT PRIMARY KEY,
        path TEXT NOT NULL,
        reason TEXT NOT NULL,
        at TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE issues (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        date TEXT NOT NULL,
        published_at TEXT NOT NULL,
        paper_count INTEGER NOT NULL
    );
    -- Papers are stored in the order they were first seen (id): an issue is a run of
    -- consecutive ids in page order, and the newest papers are the highest ids, so an
    -- issue or the feeds read a contiguous range however large the archive grows.
    CREATE TABLE papers (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,
        title TEXT NOT NULL,
        abstract TEXT NOT NULL,
        authors INTEGER,
        org_id TEXT,
        org_name TEXT,
        published TEXT,
        upvotes INTEGER,
        links TEXT NOT NULL,
        digest_date TEXT,
        first_file TEXT NOT NULL,
        first_line INTEGER NOT NULL,
        first_seen TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        issue_seq INTEGER
    );
    CREATE INDEX papers_by_issue ON papers (issue_seq);
    CREATE TABLE sightings (
        paper_id INTEGER NOT NULL,
        file_id INTEGER NOT NULL,
        digest_date TEXT,
        upvotes INTEGER,
        PRIMARY KEY (paper_id, file_id)
    ) WITHOUT ROWID;
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        result TEXT NOT NULL,
        issue_id TEXT,
        new_papers INTEGER NOT NULL DEFAULT 0,
        papers_parsed INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        summary TEXT
    );
    CREATE TABLE settings (
        name TEXT PRIMARY KEY,
        value TEXT
    ) WITHOUT ROWID;
    """,
    # 2: deliveries of issues by email, one row per issue and recipient
    """
    CREATE TABLE deliveries (
        issue_id TEXT NOT NULL,
        recipient TEXT NOT NULL,
        sent_at TEXT NOT NULL,
        message_id TEXT NOT NULL,
        PRIMARY KEY (issue_id, recipient)
    ) WITHOUT ROWID;
    """,
    # 3: sections, filters and ranking: where a paper is shown, why, and in what order
    """
    ALTER TABLE papers ADD COLUMN section TEXT;
    ALTER TABLE papers ADD COLUMN section_rank INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE papers ADD COLUMN reason TEXT;
    ALTER TABLE papers ADD COLUMN filtered TEXT;
    ALTER TABLE papers ADD COLUMN position INTEGER;
    UPDATE papers SET position = id;
    CREATE INDEX papers_in_order ON papers (issue_seq, position);
    """,
    # 4: rising papers: upvotes when published, and the issue that showed one as rising
    """
    ALTER TABLE papers ADD COLUMN published_upvotes INTEGER;
    ALTER TABLE papers ADD COLUMN rising_issue_seq INTEGER;
    UPDATE papers SET published_upvotes = upvotes;
    CREATE INDEX papers_rising ON papers (rising_issue_seq) WHERE rising_issue_seq IS NOT NULL;
    """,
    # 5: papers_in_order answers every lookup by issue; the older index only cost inserts
    """
    DROP INDEX papers_by_issue;
    """,
    # 6: page order in a table of its own: ranking a 100,000-paper issue then writes two
    # megabytes, not every paper row again (papers.position is no longer used)
    """
    CREATE TABLE issue_order (
        issue_seq INTEGER NOT NULL,
        position INTEGER NOT NULL,
        paper_id INTEGER NOT NULL,
        PRIMARY KEY (issue_seq, position)
    ) WITHOUT ROWID;
    INSERT INTO issue_order
        SELECT issue_seq, coalesce(position, id), id FROM papers WHERE issue_seq IS NOT NULL
        ORDER BY 1, 2;
    CREATE INDEX issue_order_by_paper ON issue_order (paper_id);
    DROP INDEX papers_in_order;
    CREATE INDEX papers_by_issue ON papers (issue_seq);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@lru_cache(maxsize=1024)
def _parse_moment(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


# Reading an issue back asks for the same few dates and link lists over and over.
@lru_cache(maxsize=4096)
def _date(text: str | None) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


def _links(text: str) -> tuple[str, ...]:
    return () if text == "[]" else tuple(json.loads(text))


class KnownFile(NamedTuple):
    """What the store remembers of a path in the inbox, to skip it without reading."""

    size: int
    mtime_ns: int
    hash: str
    rejection: str | None = None  # why its content was rejected, if it was


@dataclass(frozen=True, slots=True)
class RunRecord:
    id: int
    started_at: dt.datetime
    finished_at: dt.datetime | None
    result: str
    issue_id: str | None
    new_papers: int
    papers_parsed: int
    error: str | None
    summary: dict


@dataclass(frozen=True, slots=True)
class Counts:
    files: int
    papers: int
    issues: int
    rejected_files: int


# Published papers in page order (columns: _PAPER_COLUMNS).
_PAPERS_IN_ORDER = (
    "issue_order o JOIN papers p ON p.id = o.paper_id JOIN issues i ON i.seq = o.issue_seq"
)
_PAPER_COLUMNS = (
    "p.key, p.title, p.abstract, p.authors, p.org_id, p.org_name, p.published, p.upvotes, "
    "p.links, p.digest_date, p.first_file, p.first_line, i.published_at, o.position, i.id, "
    "p.section, p.reason"
)


def _paper_from_row(row: Sequence) -> Paper:
    (key, title, abstract, authors, org_id, org_name, published, upvotes, links, digest_date,
     first_file, first_line, published_at, position, issue_id, section, reason) = row  # fmt: skip
    # A published paper was first seen when its issue was published; a millisecond apart
    # in page order, so that newest-first feeds and the timestamps agree.
    first_seen = _parse_moment(published_at) - dt.timedelta(milliseconds=position)
    return Paper(
        title=title,
        abstract=abstract,
        authors=authors,
        organization=Organization(org_id, org_name) if org_id is not None else None,
        published=_date(published),
        upvotes=upvotes,
        links=_links(links),
        digest_date=_date(digest_date),
        source=first_file,
        line=first_line,
        first_seen=first_seen,
        issue_id=issue_id,
        section=section,
        reason=reason or "",
        key=key,
    )


class Store:
    """A digest state in one SQLite file. Use as a context manager to close it."""

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.path = path
        if not path.exists():
            if not create:
                raise StateError(
                    f"no state at {path}", "run 'digest run' first, or check --state / the config"
                )
            path.parent.mkdir(parents=True, exist_ok=True)
        self._next_paper_id: int | None = None
        try:
            self.db = sqlite3.connect(path, isolation_level=None, timeout=30)
            self.db.execute("PRAGMA foreign_keys = ON")
            self.db.execute("PRAGMA cache_size = -16384")  # 16 MiB: the key index stays hot
            self._check_and_migrate()
        except sqlite3.DatabaseError as exc:
            with contextlib.suppress(Exception):
                self.db.close()
            raise StateError(
                f"{path} is not a readable digest state: {exc}",
                "restore it from a backup, or point --state at a new file; "
                "digest never replaces a state it cannot read",
            ) from exc

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    # -- schema -------------------------------------------------------------------------

    def _check_and_migrate(self) -> None:
        db = self.db
        version = db.execute("PRAGMA user_version").fetchone()[0]
        app_id = db.execute("PRAGMA application_id").fetchone()[0]
        tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if app_id != APPLICATION_ID and (tables or version):
            raise StateError(
                f"{self.path} is a SQLite file but not a digest state",
                "point --state at a digest state file or a new path",
            )
        if version > SCHEMA_VERSION:
            raise StateError(
                f"{self.path} has schema version {version}; this digest knows up to "
                f"{SCHEMA_VERSION}",
                "upgrade digest (pip install -U digest) to read it; it was left untouched",
            )
        if not tables:
            # Rows hold whole abstracts: 16 KiB pages fit several, where 4 KiB pages fit
            # one and waste the rest (a 100,000-paper import writes 25% less, and faster).
            db.execute("PRAGMA page_size = 16384")
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = FULL")
        for number in range(version, SCHEMA_VERSION):
            with self.transaction():
                for statement in MIGRATIONS[number].split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                db.execute(f"PRAGMA user_version = {number + 1}")

    @property
    def schema_version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """All or nothing: commits on success, rolls back on any exception."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            self._next_paper_id = None
            raise
        self.db.execute("COMMIT")

    def inbox_fingerprints(self, *, taken: bool = False) -> set[tuple[str, int, int]]:
        """(path, size, mtime_ns) of each remembered inbox file, or with ``taken`` only of
        those whose content was taken in. A set, so a run tells a large inbox's old files
        from new ones by lookups, with no query per file."""
        where = " WHERE hash IN (SELECT hash FROM files)" if taken else ""
        return set(self.db.execute(f"SELECT path, size, mtime_ns FROM inbox_files{where}"))

    def remembered_inbox_count(self) -> int:
        return self.db.execute("SELECT count(*) FROM inbox_files").fetchone()[0]

    def remembered_inbox_paths(self) -> set[str]:
        return {path for (path,) in self.db.execute("SELECT path FROM inbox_files")}

    def remembered_inbox_files(self, paths: Iterable[str]) -> dict[str, KnownFile]:
        """What the store remembers of these paths, with why their content was rejected."""
        rows = self._rows_with(
            "SELECT i.path, i.size, i.mtime_ns, i.hash, r.reason "
            "FROM inbox_files i LEFT JOIN rejections r ON r.hash = i.hash",
            "i.path",
            paths,
        )
        return {row[0]: KnownFile._make(row[1:]) for row in rows}

    def remember_inbox_file(self, path: str, size: int, mtime_ns: int, content_hash: str) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO inbox_files VALUES (?, ?, ?, ?)",
            (path, size, mtime_ns, content_hash),
        )

    def taken_hashes(self, hashes: Iterable[str]) -> set[str]:
        return set(self._lookup("files", "hash", "hash", hashes))

    def rejected_reasons(self, hashes: Iterable[str]) -> dict[str, str]:
        return self._lookup("rejections", "hash", "reason", hashes)

    def record_file(
        self,
        content_hash: str,
        name: str,
        digest_date: dt.date | None,
        taken_at: dt.datetime,
        paper_count: int,
        problem_count: int,
    ) -> int:
        """Remember a file taken in; its id numbers its sightings."""
        cursor = self.db.execute(
            "INSERT INTO files (hash, name, digest_date, taken_at, paper_count, problem_count) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                content_hash,
                name,
                digest_date.isoformat() if digest_date else None,
                _iso(taken_at),
                paper_count,
                problem_count,
            ),
        )
        self.db.execute("DELETE FROM rejections WHERE hash = ?", (content_hash,))
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def record_rejection(self, content_hash: str, path: str, reason: str, at: dt.datetime) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO rejections VALUES (?, ?, ?, ?)",
            (content_hash, path, reason, _iso(at)),
        )

    def rejections(self) -> list[tuple[str, str]]:
        return self.db.execute("SELECT path, reason FROM rejections ORDER BY path").fetchall()

    def forget_rejections_of_absent_files(self) -> None:
        """Rejections of files no longer in the inbox are no longer news. (Called once the
        inbox's remembered files are up to date.)"""
        self.db.execute("DELETE FROM rejections WHERE hash NOT IN (SELECT hash FROM inbox_files)")

    def forget_inbox_files(self, paths: Iterable[str]) -> None:
        """Forget the size/time of files no longer in the inbox."""
        self.db.executemany("DELETE FROM inbox_files WHERE path = ?", ((p,) for p in paths))

    # -- papers ---------------------------------------------------------------------------

    def _lookup(self, table: str, column: str, value: str, keys: Iterable[str]) -> dict:
        """``{key: value}`` for the keys present."""
        return dict(self._rows_with(f"SELECT {column}, {value} FROM {table}", column, keys))

    def _rows_with(self, select: str, column: str, keys: Iterable[str]) -> Iterator[tuple]:
        """The rows of ``select`` whose ``column`` is one of ``keys``, asked in chunks under
        SQLite's variable limit."""
        wanted = list(keys)
        for start in range(0, len(wanted), 900):
            chunk = wanted[start : start + 900]
            marks = ",".join("?" * len(chunk))
            yield from self.db.execute(f"{select} WHERE {column} IN ({marks})", chunk)

    def known_papers(self, keys: Iterable[str]) -> dict[str, int]:
        """The ids of the papers already seen among ``keys``."""
        return self._lookup("papers", "key", "id", keys)

    def add_papers(
        self,
        placed: Sequence[tuple[Paper, Placement | None]],
        issue_seq: int | None,
        now: dt.datetime,
    ) -> list[int]:
        """Record new papers, in the order listed; returns their ids. (A published paper's
        first-seen instant is derived from its issue and page position when read back:
        a millisecond apart, so that newest-first order and the timestamps agree.)"""
        if self._next_paper_id is None:
            self._next_paper_id = (
                self.db.execute("SELECT max(id) FROM papers").fetchone()[0] or 0
            ) + 1
        first_id = self._next_paper_id
        seen = _iso(now)
        rows = [
            (
                first_id + offset,
                paper.key,
                paper.title,
                paper.abstract,
                paper.authors,
                paper.organization.id if paper.organization else None,
                paper.organization.name if paper.organization else None,
                paper.published.isoformat() if paper.published else None,
                paper.upvotes,
                json.dumps(paper.links) if paper.links else "[]",
                paper.digest_date.isoformat() if paper.digest_date else None,
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
            )
            for offset, (paper, place) in enumerate(placed)
        ]
        self.db.executemany(
            "INSERT INTO papers (id, key, title, abstract, authors, org_id, org_name, published, "
            "upvotes, links, digest_date, first_file, first_line, first_seen, last_seen, "
            "issue_seq, section, section_rank, reason, filtered, published_upvotes) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        self._next_paper_id = first_id + len(rows)
        return list(range(first_id, first_id + len(rows)))

    def rank_issue(self, issue_seq: int, by_upvotes: bool) -> None:
        """Put an issue's papers in page order (0, 1, ...): by section, then (optionally)
        by upvotes, then in the order the digests listed them. One statement, so ranking
        a 100,000-paper import costs no Python per paper."""
        upvotes = "coalesce(upvotes, -1) DESC, " if by_upvotes else ""
        self.db.execute("DELETE FROM issue_order WHERE issue_seq = ?", (issue_seq,))
        self.db.execute(
            "INSERT INTO issue_order (issue_seq, position, paper_id) "
            f"SELECT ?, row_number() OVER (ORDER BY section_rank, section, {upvotes}id) - 1, id "
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
        """Mark, for this issue, papers of earlier issues whose upvotes grew enough since
        they were published; each paper rises once. Only ``candidates`` (papers listed
        again in this run) are looked at, so the cost follows the new input."""
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
        chosen: list[tuple[int, int]] = []
        for start in range(0, len(ids), 900):
            chunk = ids[start : start + 900]
            chosen += self.db.execute(
                f"SELECT id, upvotes - coalesce(published_upvotes, 0) FROM papers "
                f"WHERE id IN ({','.join('?' * len(chunk))}) AND issue_seq < ? "
                f"AND rising_issue_seq IS NULL AND upvotes IS NOT NULL AND ({' OR '.join(tests)})",
                [*chunk, issue_seq],
            ).fetchall()
        chosen.sort(key=lambda row: (-row[1], row[0]))
        self.db.executemany(
            "UPDATE papers SET rising_issue_seq = ? WHERE id = ?",
            [(issue_seq, paper_id) for paper_id, _ in chosen[:limit]],
        )
        return len(chosen[:limit])

    def rising_papers(self, issue_seq: int) -> list[tuple[Paper, int | None]]:
        """The papers an issue shows as rising, with their upvotes when first published."""
        rows = self.db.execute(
            f"SELECT {_PAPER_COLUMNS}, p.published_upvotes FROM {_PAPERS_IN_ORDER} "
            "WHERE p.rising_issue_seq = ? "
            "ORDER BY p.upvotes - coalesce(p.published_upvotes, 0) DESC, p.id",
            (issue_seq,),
        ).fetchall()
        return [(_paper_from_row(row[:-1]), row[-1]) for row in rows]

    def update_seen(self, seen_again: Sequence[tuple[int, int | None]], now: dt.datetime) -> None:
        """Papers seen again (id, upvotes): remember when, and the latest upvote count."""
        stamp = _iso(now)
        self.db.executemany(
            "UPDATE papers SET last_seen = ?, upvotes = coalesce(?, upvotes) WHERE id = ?",
            [(stamp, upvotes, paper_id) for paper_id, upvotes in sorted(seen_again)],
        )

    def add_sightings(
        self, sightings: Sequence[tuple[int, dt.date | None, int | None]], file_id: int
    ) -> None:
        """Each listing of a paper: which file, the digest's date, the upvotes then."""
        self.db.executemany(
            "INSERT OR REPLACE INTO sightings VALUES (?, ?, ?, ?)",
            [
                (paper_id, file_id, day.isoformat() if day else None, upvotes)
                for paper_id, day, upvotes in sorted(sightings, key=lambda row: row[0])
            ],
        )

    def issue_papers(self, issue_seq: int) -> Iterator[Paper]:
        """The papers of one issue in page order, streamed (an issue can be huge)."""
        cursor = self.db.execute(
            f"SELECT {_PAPER_COLUMNS} FROM {_PAPERS_IN_ORDER} "
            "WHERE o.issue_seq = ? ORDER BY o.position",
            (issue_seq,),
        )
        for row in cursor:
            yield _paper_from_row(row)

    def newest_papers(self, limit: int, section: str | None = None) -> list[Paper]:
        """The newest published papers across issues, newest first (feeds)."""
        papers: list[Paper] = []
        for (seq,) in self.db.execute("SELECT seq FROM issues ORDER BY seq DESC").fetchall():
            in_section = "AND p.section = ? " if section is not None else ""
            rows = self.db.execute(
                f"SELECT {_PAPER_COLUMNS} FROM {_PAPERS_IN_ORDER} "
                f"WHERE o.issue_seq = ? {in_section}ORDER BY o.position LIMIT ?",
                (seq, section, limit - len(papers))
                if section is not None
                else (seq, limit - len(papers)),
            ).fetchall()
            papers += [_paper_from_row(row) for row in rows]
            if len(papers) >= limit:
                break
        return papers

    def issue_summary(self, issue_seq: int) -> IssueSummary:
        """Counts for the issue's header, from one pass over its papers (grouped by
        organisation and section, then added up here)."""
        code = " OR ".join(f"links LIKE '%://{host}/%'" for host in CODE_HOSTS)
        groups = self.db.execute(
            f"SELECT org_name, section, count(*), coalesce(sum({code}), 0), min(section_rank) "
            "FROM papers WHERE issue_seq = ? GROUP BY org_name, section",
            (issue_seq,),
        ).fetchall()
        papers = with_code = 0
        by_organization: dict[str, int] = {}
        by_section: dict[str, list[int]] = {}  # section: [papers, rank]
        for org_name, section, count, coded, rank in groups:
            papers += count
            with_code += coded
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
            papers,
            with_code,
            tuple(top),
            tuple((name, count) for name, (count, _first) in sections),
        )

    # -- issues ---------------------------------------------------------------------------

    def next_issue_id(self, day: dt.date) -> tuple[str, int]:
        """``YYYY-MM-DD``, then ``-2``, ``-3`` for later issues the same day."""
        base = day.isoformat()
        taken = {
            row[0]
            for row in self.db.execute(
                "SELECT id FROM issues WHERE id = ? OR id LIKE ?", (base, base + "-%")
            )
        }
        seq = (self.db.execute("SELECT max(seq) FROM issues").fetchone()[0] or 0) + 1
        if base not in taken:
            return base, seq
        number = 2
        while f"{base}-{number}" in taken:
            number += 1
        return f"{base}-{number}", seq

    def add_issue(
        self, issue_id: str, seq: int, day: dt.date, published_at: dt.datetime, count: int
    ) -> Issue:
        self.db.execute(
            "INSERT INTO issues VALUES (?, ?, ?, ?, ?)",
            (seq, issue_id, day.isoformat(), _iso(published_at), count),
        )
        return Issue(issue_id, seq, day, published_at, count)

    def issues(
        self, *, limit: int | None = None, year: int | None = None, before: Issue | None = None
    ) -> list[Issue]:
        """Issues newest first: all, or one year's, or those published before ``before``;
        at most ``limit`` of them."""
        conditions, params = [], []
        if year is not None:
            conditions.append("date >= ? AND date < ?")
            params += [f"{year:04d}", f"{year + 1:04d}"]
        if before is not None:
            conditions.append("seq < ?")
            params.append(before.seq)
        where = f"WHERE {' AND '.join(conditions)} " if conditions else ""
        rows = self.db.execute(
            f"SELECT seq, id, date, published_at, paper_count FROM issues {where}"
            "ORDER BY seq DESC LIMIT ?",
            [*params, -1 if limit is None else limit],
        )
        return [
            Issue(issue_id, seq, dt.date.fromisoformat(day), _parse_moment(at), count)
            for seq, issue_id, day, at, count in rows
        ]

    def issue_years(self) -> list[IssueYear]:
        """Each year with issues, newest first, with its issue and paper counts."""
        return [
            IssueYear(int(year), issues, papers)
            for year, issues, papers in self.db.execute(
                "SELECT substr(date, 1, 4), count(*), sum(paper_count) FROM issues "
                "GROUP BY 1 ORDER BY 1 DESC"
            )
        ]

    def issue_ids(self) -> set[str]:
        return {issue_id for (issue_id,) in self.db.execute("SELECT id FROM issues")}

    def issue(self, issue_id: str | None) -> Issue | None:
        """One issue by id; the newest when ``issue_id`` is None."""
        if issue_id is None:
            row = self.db.execute(
                "SELECT seq, id, date, published_at, paper_count FROM issues "
                "ORDER BY seq DESC LIMIT 1"
            ).fetchone()
        else:
            row = self.db.execute(
                "SELECT seq, id, date, published_at, paper_count FROM issues WHERE id = ?",
                (issue_id,),
            ).fetchone()
        if row is None:
            return None
        seq, found_id, day, at, count = row
        return Issue(found_id, seq, dt.date.fromisoformat(day), _parse_moment(at), count)

    # -- runs -----------------------------------------------------------------------------

    def start_run(self, started_at: dt.datetime) -> int:
        cursor = self.db.execute(
            "INSERT INTO runs (started_at, result) VALUES (?, 'running')", (_iso(started_at),)
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def finish_run(
        self,
        run_id: int,
        finished_at: dt.datetime,
        result: str,
        *,
        issue_id: str | None = None,
        new_papers: int = 0,
        papers_parsed: int = 0,
        error: str | None = None,
        summary: dict | None = None,
    ) -> None:
        self.db.execute(
            "UPDATE runs SET finished_at = ?, result = ?, issue_id = ?, new_papers = ?, "
            "papers_parsed = ?, error = ?, summary = ? WHERE id = ?",
            (
                _iso(finished_at),
                result,
                issue_id,
                new_papers,
                papers_parsed,
                error,
                json.dumps(summary or {}, sort_keys=True),
                run_id,
            ),
        )

    def last_run(self, *, successful: bool = False) -> RunRecord | None:
        where = "WHERE result IN ('published', 'nothing-new')" if successful else ""
        row = self.db.execute(
            "SELECT id, started_at, finished_at, result, issue_id, new_papers, papers_parsed, "
            f"error, summary FROM runs {where} ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        run_id, started, finished, result, issue_id, new, parsed, error, summary = row
        return RunRecord(
            run_id,
            _parse_moment(started),
            _parse_moment(finished) if finished else None,
            result,
            issue_id,
            new,
            parsed,
            error,
            json.loads(summary) if summary else {},
        )

    def counts(self) -> Counts:
        one = self.db.execute
        return Counts(
            files=one("SELECT count(*) FROM files").fetchone()[0],
            papers=one("SELECT count(*) FROM papers").fetchone()[0],
            issues=one("SELECT count(*) FROM issues").fetchone()[0],
            rejected_files=one("SELECT count(*) FROM rejections").fetchone()[0],
        )

    # -- deliveries -------------------------------------------------------------------------

    def delivered_to(self, issue_id: str) -> set[str]:
        return {
            row[0]
            for row in self.db.execute(
                "SELECT recipient FROM deliveries WHERE issue_id = ?", (issue_id,)
            )
        }

    def record_delivery(
        self, issue_id: str, recipients: Iterable[str], sent_at: dt.datetime, message_id: str
    ) -> None:
        with self.transaction():
            self.db.executemany(
                "INSERT OR REPLACE INTO deliveries VALUES (?, ?, ?, ?)",
                ((issue_id, rcpt, _iso(sent_at), message_id) for rcpt in recipients),
            )
