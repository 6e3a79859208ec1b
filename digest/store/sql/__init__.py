"""The store's SQL, written once for both backends.

Statements use ``?`` placeholders and the SQL both SQLite (3.35+) and PostgreSQL speak:
``ON CONFLICT ... DO UPDATE``, ``RETURNING``, window functions. What differs (placeholder
style, asking for many keys at once, streaming, bulk inserts, transactions, locks) is a
hook each backend implements. Instants are kept as RFC 3339 text in UTC, days as ISO
dates: the same values, read back the same way, on either backend, so both render
byte-identical output.
"""

from __future__ import annotations

from digest.store.sql.deliveries import DeliveryQueries
from digest.store.sql.inbox import InboxQueries
from digest.store.sql.issues import IssueQueries
from digest.store.sql.papers import PaperQueries
from digest.store.sql.runs import RunQueries


class SqlStore(InboxQueries, PaperQueries, IssueQueries, RunQueries, DeliveryQueries):
    """Everything but the connection, which each backend adds: the shared SQL, one
    aggregate per module, combined once."""
