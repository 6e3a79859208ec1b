"""The embedded store: one SQLite file (``store.py``; its schema, errors and lock file
beside it), the default for one reader on one machine."""

from digest.store.sqlite.store import SqliteStore

__all__ = ["SqliteStore"]
