"""The SQLite schema, as ordered migrations: number N takes a state from version N to
N + 1, in a transaction of its own. A migration is SQL, or a function for what SQL
alone should not decide (a rule that lives in Python, such as what counts as code)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable

from digest.links import has_code


def _trust(db: sqlite3.Connection) -> None:
    for statement in (
        "ALTER TABLE issues ADD COLUMN outputs_pending INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE papers ADD COLUMN has_code INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE papers ADD COLUMN abstract_cut INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE papers ADD COLUMN updated_at TEXT",
        "ALTER TABLE runs ADD COLUMN host TEXT",
        "ALTER TABLE runs ADD COLUMN pid INTEGER",
        """CREATE TABLE deliveries_v7 (
            issue_id TEXT NOT NULL,
            recipient TEXT NOT NULL,
            status TEXT NOT NULL,
            at TEXT NOT NULL,
            message_id TEXT NOT NULL,
            reason TEXT,
            PRIMARY KEY (issue_id, recipient)
        ) WITHOUT ROWID""",
        "INSERT INTO deliveries_v7 SELECT issue_id, recipient, 'sent', sent_at, message_id, NULL "
        "FROM deliveries",
        "DROP TABLE deliveries",
        "ALTER TABLE deliveries_v7 RENAME TO deliveries",
    ):
        db.execute(statement)
    coded = [
        (paper_id,)
        for paper_id, links in db.execute("SELECT id, links FROM papers WHERE links != '[]'")
        if has_code(tuple(json.loads(links)))
    ]
    db.executemany("UPDATE papers SET has_code = 1 WHERE id = ?", coded)


APPLICATION_ID = 0x44474553  # "DGES": marks a SQLite file as a digest state

MIGRATIONS: tuple[str | Callable[[sqlite3.Connection], None], ...] = (
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
    # 7: trust. Issues are recorded before their files are written ("outputs pending"
    # until they are); a delivery is claimed before it is sent and keeps its outcome; a
    # paper knows whether its abstract was cut off, when a later listing completed it,
    # and whether it has code (by the rule in digest.links); a run knows its host and pid.
    _trust,
    # 8: the editor's note of an issue, as published (the file may change; the issue renders
    # from the state)
    """
    CREATE TABLE notes (
        issue_seq INTEGER PRIMARY KEY,
        source TEXT NOT NULL
    );
    """,
    # 9: chat posts are deliveries of their own medium, no longer email deliveries to a
    # recipient named "channel:<name>"
    """
    CREATE TABLE deliveries_v9 (
        issue_id TEXT NOT NULL,
        medium TEXT NOT NULL DEFAULT 'email',
        recipient TEXT NOT NULL,
        status TEXT NOT NULL,
        at TEXT NOT NULL,
        message_id TEXT NOT NULL,
        reason TEXT,
        PRIMARY KEY (issue_id, medium, recipient)
    ) WITHOUT ROWID;
    INSERT INTO deliveries_v9
        SELECT issue_id,
               CASE WHEN substr(recipient, 1, 8) = 'channel:' THEN 'chat' ELSE 'email' END,
               CASE WHEN substr(recipient, 1, 8) = 'channel:' THEN substr(recipient, 9)
                    ELSE recipient END,
               status, at, message_id, reason
        FROM deliveries;
    DROP TABLE deliveries;
    ALTER TABLE deliveries_v9 RENAME TO deliveries;
    """,
    # 10: what the API's JSON says of a paper beyond the text page (JSON text; NULL for a
    # paper only text listings gave)
    """
    ALTER TABLE papers ADD COLUMN details TEXT;
    """,
    # 11: each issue keeps the page size it was published with (0: one page, as every
    # issue before was), so a changed config never moves a published paper's page
    """
    ALTER TABLE issues ADD COLUMN papers_per_page INTEGER NOT NULL DEFAULT 0;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
