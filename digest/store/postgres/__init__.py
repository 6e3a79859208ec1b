"""The server store: a PostgreSQL database, for several digests, machines or sites
(``store.py``; its session, schema and locks beside it). Importing it imports psycopg."""

from digest.store.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
