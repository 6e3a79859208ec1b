"""The PostgreSQL session a store works on: connecting, raw statements, and driver errors
turned into digest's own (exit 75 for a server that cannot answer now), never showing a
password. Only a PostgreSQL state imports psycopg."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Sequence
from typing import Any

from digest.config import conninfo
from digest.config.settings import PostgresState
from digest.errors import ConfigError, DigestError, StateError, Unavailable
from digest.host import host_name
from digest.store.sql import SqlStore

try:
    import psycopg
    from psycopg import sql as pgsql
    from psycopg.conninfo import conninfo_to_dict
    from psycopg.pq import TransactionStatus
except ImportError:
    raise ConfigError(
        "the state is a PostgreSQL database, but psycopg (its driver) is not installed",
        "pip install 'digest[postgres]'",
    ) from None

CONNECT_TIMEOUT = 10  # seconds; a cron run must not hang on a host that never answers
# Abstracts of over 2 kB are compressed when stored: lz4 (PostgreSQL 14+, if built with
# it) writes them in 60% of the time the default pglz takes, and reads them faster.
_FAST_TOAST = (
    "DO $$ BEGIN SET default_toast_compression = 'lz4'; EXCEPTION WHEN OTHERS THEN NULL; END $$"
)


def shown_location(state: PostgresState) -> str:
    """The DSN fit to show: ``str(PostgresState)`` masks every secret, however spelled
    (never allowed in a config, but a caller may pass one); a libpq ``password=`` goes
    here too, belt and braces."""
    return re.sub(r"(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", r"\1***", str(state))


class PgSession(SqlStore):
    """A connection in autocommit mode, on the site's schema; its errors leave as ours."""

    state: PostgresState
    site: str
    schema: str
    conn: psycopg.Connection
    _abandoned: list[Any]  # streams left in the garbage collector, to close

    def _connect(self) -> psycopg.Connection:
        """Autocommit outside transactions; the site's schema first on the search path."""
        me = f"digest pid {os.getpid()} on {host_name()}"[:63]  # the lock messages show it
        options: dict[str, Any] = {"autocommit": True, "application_name": me}
        try:
            given = conninfo_to_dict(self.state.dsn)
            if "connect_timeout" not in given and not os.environ.get("PGCONNECT_TIMEOUT"):
                options["connect_timeout"] = CONNECT_TIMEOUT
            conn = psycopg.connect(self.state.dsn, **options)
            conn.execute(
                pgsql.SQL("SET search_path TO {}; {}").format(
                    pgsql.Identifier(self.schema), pgsql.SQL(_FAST_TOAST)
                )
            )
        except psycopg.Error as exc:
            raise self._error(exc, connecting=True) from None
        return conn

    def _scrub(self, text: str) -> str:
        """A message without any password this process could know (belt and braces:
        libpq does not put them in messages)."""
        secrets = [os.environ.get("PGPASSWORD"), *_secrets_in(self.state.dsn)]
        for secret in filter(None, secrets):
            text = text.replace(secret, "***")
        return text

    def _error(self, exc: psycopg.Error, *, connecting: bool = False) -> DigestError:
        """Every driver error leaves the store as one of ours. A server that cannot be
        reached or cannot answer now (down, restarting, the network, a lost connection,
        too many clients) is Unavailable: exit 75, and cron or systemd try again later."""
        reason = self._scrub(_first_line(exc))
        if not isinstance(exc, psycopg.OperationalError):
            hint = "check the server's log; the failed statement changed nothing"
            if isinstance(exc, psycopg.errors.InsufficientPrivilege):
                hint = f"grant this role CREATE on the database, or on the schema {self.schema}"
            return StateError(f"the state {self.location} could not be used: {reason}", hint)
        retry = "; digest exits with 75, so cron tries again later"
        if connecting:
            lowered = reason.lower()
            if "database" in lowered and "does not exist" in lowered:
                hint = "create the database (createdb NAME), or fix the state URL"
            elif "password" in lowered or "authentication" in lowered:
                hint = "put the password in PGPASSWORD, ~/.pgpass or the service file"
            else:
                hint = "check that the server is running and reachable at that host and port"
            return Unavailable(
                f"cannot reach the PostgreSQL state {self.location}: {reason}", hint + retry
            )
        if self.conn.broken or self.conn.closed:
            return Unavailable(
                f"lost the PostgreSQL state {self.location}: {reason}",
                "the server went away (a restart, or the network); nothing "
                "half-done was kept: run again once it is back",
            )
        return Unavailable(
            f"the PostgreSQL state {self.location} cannot do it now: {reason}",
            "nothing half-done was kept" + retry,
        )

    # -- raw statements (psycopg's own %s placeholders) ---------------------------------

    def _raw(self, query: Any, params: Sequence[Any] | None = ()) -> Any:
        self._close_abandoned()
        try:
            return self.conn.execute(query, params)
        except psycopg.Error as exc:
            raise self._error(exc) from exc

    def _raw_scalar(self, query: Any, params: Sequence[Any] = ()) -> Any:
        row = self._raw(query, params).fetchone()
        return row[0] if row is not None else None

    def _idle(self) -> bool:
        return self.conn.info.transaction_status == TransactionStatus.IDLE

    def _close_abandoned(self) -> None:
        """Close the streams that had to wait, outside any transaction, where closing one
        that died with its transaction asks the server nothing (which would abort it)."""
        while self._abandoned and self._idle():
            with contextlib.suppress(psycopg.Error):
                self._abandoned.pop().close()


def _secrets_in(dsn: str) -> list[str]:
    """Every secret's value in the DSN (a password, a key's passphrase), however spelled."""
    found = []
    with contextlib.suppress(psycopg.Error):
        given = conninfo_to_dict(dsn)
        found = [str(given[key]) for key in conninfo.SECRET_KEYWORDS if given.get(key)]
    with contextlib.suppress(conninfo.Unreadable):
        fields = conninfo.fields_of(dsn)
        found += [f.value for f in fields if f.keyword.lower() in conninfo.SECRET_KEYWORDS]
    return sorted({value for value in found if value}, key=len, reverse=True)


def _first_line(exc: BaseException) -> str:
    """The driver's message in one line (libpq's run over several)."""
    diag = getattr(exc, "diag", None)
    text = (diag.message_primary if diag is not None else None) or str(exc)
    return " ".join(text.split())[:500] or type(exc).__name__
