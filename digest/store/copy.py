"""Copying a state into another, empty one, across backends (``digest state copy FROM TO``:
SQLite to PostgreSQL and back).

Rows go through the hooks every SQL backend has, ``_stream`` to read and ``_insert_rows``
to write, so no backend is special here, and a large state streams through in batches.
Both backends keep the same values (ISO text, 0/1, integers), so rows copy as they are,
ids included: sightings, page order and deliveries still point where they did.

The target keeps its own state id (an output folder records which state owns it, and
a copy is not that state) and notes the source's as ``copied_from``. The caller holds
both states' run locks, so that nothing writes to either meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass

from digest.errors import StateError
from digest.store.base import Store
from digest.store.sql.hooks import SqlBase

# Every table, in an order that respects references (a file before its sightings, a
# paper before its page position), with the key that orders its rows.
TABLES: tuple[tuple[str, str], ...] = (
    ("settings", "name"),
    ("inbox_files", "path"),
    ("files", "id"),
    ("rejections", "hash"),
    ("issues", "seq"),
    ("papers", "id"),
    ("sightings", "paper_id, file_id"),
    ("issue_order", "issue_seq, position"),
    ("runs", "id"),
    ("deliveries", "issue_id, medium, recipient"),
    ("notes", "issue_seq"),
)
OWN_SETTINGS = ("state_id", "site")  # what makes a state itself: never copied
BATCH = 5000  # rows held at a time


@dataclass(frozen=True, slots=True)
class CopyReport:
    source: str  # locations, fit to show
    target: str
    copied_from: str  # the source's state id, now recorded in the target
    rows: tuple[tuple[str, int], ...]  # rows copied per table, in copy order

    @property
    def counts(self) -> dict[str, int]:
        return dict(self.rows)


def _sql(store: Store) -> SqlBase:
    if not isinstance(store, SqlBase):
        raise StateError(f"cannot copy {store.location}: not a SQL state", None)
    return store


def _count(store: SqlBase, table: str) -> int:
    return int(store._scalar(f"SELECT count(*) FROM {table}"))


def _columns(store: SqlBase, table: str) -> list[str]:
    return [column[0] for column in store._execute(f"SELECT * FROM {table} LIMIT 0").description]


def copy_state(source: Store, target: Store) -> CopyReport:
    """Copy every row of ``source`` into the empty ``target``, in one target transaction,
    then check that every table holds as many rows as the source's. All or nothing."""
    src, dst = _sql(source), _sql(target)
    if src.state_id == dst.state_id:
        raise StateError(f"{source.location} and {target.location} are the same state", None)
    columns = {table: _columns(src, table) for table, _ in TABLES}
    for table, names in columns.items():
        if sorted(names) != sorted(_columns(dst, table)):
            raise StateError(
                f"the states {source.location} and {target.location} differ in the table "
                f"{table}: they were made by different versions of digest",
                "open both with this version of digest first (that upgrades them), then copy",
            )
    copied: list[tuple[str, int]] = []
    with dst.transaction():
        occupied = [f"{n} {table}" for table, _ in TABLES[1:] if (n := _count(dst, table))]
        if occupied:
            raise StateError(
                f"the target state {target.location} is not empty ({', '.join(occupied)})",
                "copy into a new state (a new SQLite file, database or site); nothing was copied",
            )
        for table, order in TABLES:
            copied.append((table, _copy_table(src, dst, table, columns[table], order)))
        dst.set_setting("copied_from", src.state_id)
        _check(src, dst, dict(copied))
    dst._forget_cached_ids()  # the next paper id is past the copied ones
    return CopyReport(source.location, target.location, src.state_id, tuple(copied))


def _copy_table(src: SqlBase, dst: SqlBase, table: str, columns: list[str], order: str) -> int:
    rows = src._stream(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {order}", ())
    if table == "settings":  # the target's own rows stay; the others are set over them
        count = 0
        for row in rows:
            setting = dict(zip(columns, row, strict=True))
            if setting["name"] not in OWN_SETTINGS:
                dst.set_setting(setting["name"], setting["value"])
                count += 1
        return count
    count = 0
    batch: list[tuple] = []
    for row in rows:
        batch.append(tuple(row))
        if len(batch) >= BATCH:
            dst._insert_rows(table, columns, batch)
            count += len(batch)
            batch = []
    dst._insert_rows(table, columns, batch)
    return count + len(batch)


def _check(src: SqlBase, dst: SqlBase, copied: dict[str, int]) -> None:
    """Row counts per table, source against target (raising rolls the copy back)."""
    for table, _ in TABLES[1:]:
        have, want = _count(dst, table), _count(src, table)
        if have != want or copied[table] != want:
            raise StateError(
                f"copying {table} went wrong: {want} rows in {src.location}, {have} copied",
                "nothing was copied; check both states and try again",
            )
    own = {name for (name,) in src._execute("SELECT name FROM settings")} - set(OWN_SETTINGS)
    if copied["settings"] != len(own):
        raise StateError("copying the settings went wrong", "nothing was copied; try again")
