"""A site's schema: created on first use under a fixed advisory lock (two first runs never
both create it), migrated one version per transaction, refused when newer or not ours,
and born with its identity (the state id the output folder records)."""

from __future__ import annotations

import datetime as dt
import uuid

import digest.store.postgres.ddl as ddl
from digest.dates import moment_text
from digest.errors import NoState, StateError
from digest.store.postgres.connection import PgSession, shown_location
from digest.store.postgres.locks import CREATE_KEY


class PgSchema(PgSession):
    def _site_version(self) -> int | None:
        """The site's schema version here; None if it does not exist yet. A schema of
        that name that digest did not make is refused, never taken over."""
        has_version, relations = self._raw(
            "SELECT to_regclass(%s) IS NOT NULL, "
            "(SELECT count(*) FROM pg_class WHERE relnamespace = to_regnamespace(%s))",
            (f"{self.schema}.schema_version", self.schema),
        ).fetchone()
        if has_version:
            return int(self._raw_scalar("SELECT coalesce(max(version), 0) FROM schema_version"))
        if relations:
            raise StateError(
                f"the schema {self.schema} in {shown_location(self.state)} holds "
                "tables, but not a digest site",
                f"use another site name, or another database; digest left {self.schema} alone",
            )
        return None

    def _refuse_newer(self, version: int | None) -> None:
        if version is not None and version > ddl.SCHEMA_VERSION:
            raise StateError(
                f"the state {self.location} has schema version {version}; this "
                f"digest knows up to {ddl.SCHEMA_VERSION}",
                "upgrade digest (pip install -U digest) to read it; it was left untouched",
            )

    def _check_and_migrate(self, create: bool) -> None:
        version = self._site_version()
        if version == ddl.SCHEMA_VERSION:
            return
        self._refuse_newer(version)
        if version is None and not create:
            raise NoState(
                f"no state at {self.location}: the database has no site {self.site!r}",
                "run 'digest run' first, or check --state and the config's site",
            )
        # Each migration in its own transaction, under the create lock, the version read
        # again inside it: two processes opening a new site at once do not both migrate.
        while True:
            with self.transaction():
                self._raw("SELECT pg_advisory_xact_lock(%s)", (CREATE_KEY,))
                version = self._site_version()
                self._refuse_newer(version)
                if version is None:
                    self._raw(ddl.NEW_SITE.format(schema=self.schema), None)
                    version = 0
                if version >= ddl.SCHEMA_VERSION:
                    return
                self._raw(ddl.MIGRATIONS[version], None)  # no parameters: several statements
                self._raw("UPDATE schema_version SET version = %s", (version + 1,))
                if version == 0:  # a new site: born with its identity, in one transaction
                    self._adopt_identity()

    def _adopt_identity(self) -> tuple[str, str]:
        """Give the site its state id (once) and list it in ``digest.sites``, made here
        if need be: a site restored alone into a new database lists itself. The caller
        holds the create lock."""
        state_id = self.setting("state_id") or str(uuid.uuid4())
        site = self.setting("site") or self.site
        self.set_setting("state_id", state_id)
        self.set_setting("site", site)
        self._raw(ddl.REGISTRY, None)
        now = moment_text(dt.datetime.now(dt.UTC))
        self._raw(
            "INSERT INTO digest.sites (name, schema, state_id, created_at) VALUES (%s, %s, "
            "%s, %s) ON CONFLICT (name) DO UPDATE SET schema = excluded.schema, state_id = "
            "excluded.state_id",
            (self.site, self.schema, state_id, now),
        )
        return state_id, site

    def _identity(self) -> str:
        state_id, site, registry = self._raw(
            "SELECT max(value) FILTER (WHERE name = 'state_id'), max(value) FILTER (WHERE name "
            "= 'site'), to_regclass('digest.sites') IS NOT NULL FROM settings"
        ).fetchone()
        listed = registry and self._raw_scalar(
            "SELECT state_id FROM digest.sites WHERE name = %s", (self.site,)
        )
        if state_id is None or site is None or listed != state_id:
            with self.transaction():
                self._raw("SELECT pg_advisory_xact_lock(%s)", (CREATE_KEY,))
                state_id, site = self._adopt_identity()
        if site != self.site:
            raise StateError(
                f"the schema {self.schema} in {shown_location(self.state)} holds the "
                f"site {site!r}, not {self.site!r}",
                "it was renamed by hand: rename it back, or set site to match",
            )
        return str(state_id)

    @property
    def schema_version(self) -> int:
        return int(self._raw_scalar("SELECT max(version) FROM schema_version"))
