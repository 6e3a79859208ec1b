"""The configuration as typed records: what every stage reads of the config, with its
defaults. (``loading.py`` reads the TOML file into them.)"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from digest.backfill import Period
from digest.classify import Classifier, Filters, GroupBy, Section
from digest.config import conninfo
from digest.config.fetch import FetchConfig
from digest.config.monitor import (
    ChannelConfig,
    MonitorConfig,
)
from digest.config.sections import (
    Ranking,
    RisingConfig,
)
from digest.errors import ConfigError
from digest.links import PAPER_SEARCH
from digest.model import PAPERS_PER_PAGE, Security
from digest.paths import resolved
from digest.text import one_line

DEFAULT_CONFIG_NAME = "digest.toml"
SITE_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


@dataclass(frozen=True, repr=False)
class PostgresState:
    """A PostgreSQL database as the state: a URL or a libpq keyword string. A config's
    never carries a secret (libpq finds the password in PGPASSWORD, ~/.pgpass or the
    service file); ``str()`` and ``repr()`` mask any a caller passed, however written."""

    dsn: str

    def __str__(self) -> str:
        return conninfo.masked(self.dsn)

    def __repr__(self) -> str:
        return f"PostgresState({str(self)!r})"


StateLocation = Path | PostgresState


@dataclass(frozen=True)
class EmailConfig:
    sender: str = ""
    to: tuple[str, ...] = ()
    subject: str = "{site} — {date}: {count} new papers"
    smtp_host: str = ""
    smtp_port: int = 587
    security: Security = Security.STARTTLS
    username: str = ""
    password_env: str = ""
    list_unsubscribe: str = ""
    send_after_run: bool = False
    review: bool = False  # publish, but send only when told: the owner reads it first
    # Gmail clips an HTML part over about 102 KB, and public tests saw clipping from about
    # 99.5 KB: Gmail counts the part after its own rewriting (links, styles), which adds
    # bytes. 90,000 keeps a margin of about a tenth under that.
    max_html_bytes: int = 90_000
    retries: int = 3
    retry_wait: float = 2.0
    # One delivery attempt never holds the run for longer than this, whatever the server
    # does (RFC 5321's own timeouts add up to more; 10 minutes is its wait after the body).
    deadline: float = 600.0


@dataclass(frozen=True)
class ScheduleConfig:
    cron: str = ""
    every: float = 0.0
    timezone: str = ""
    misfire_grace_seconds: int = 0  # 0: no limit; a late run still happens, once


@dataclass(frozen=True)
class Config:
    title: str = "Paper digest"
    description: str = "New research papers, once each."
    url: str = "http://localhost:8000/"
    author: str = "digest"
    language: str = "en"
    paper_link: str = PAPER_SEARCH  # {title} URL-encoded; for papers that name no arXiv id
    site: str = "default"
    inbox: Path = Path("inbox")
    output: Path = Path("output")
    state: StateLocation = Path(".digest/state.sqlite")
    templates: Path | None = None
    notes: Path = Path("notes")  # the editor's notes: next.md, <issue-id>.md
    feed_size: int = 100  # the feeds carry at least this many papers, newest first
    feed_max: int = 1000  # and the newest issue whole, up to this many
    papers_per_page: int = PAPERS_PER_PAGE  # a larger issue is shown on pages; 0: never
    max_file_size: int = 32 * 1024 * 1024
    settle: float = 5.0  # inbox files changed more recently are left for the next run
    backfill: Period | None = None  # a first run makes an issue per period of its backlog
    workers: int | None = None  # helper processes for large imports; None: one per spare core
    log_level: str = "INFO"
    precompress: bool = True  # a .gz and a .br beside each page and feed
    search: bool = False  # search.html and a Pagefind index (pip install 'digest[search]')
    email: EmailConfig = field(default_factory=EmailConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    sections: tuple[Section, ...] = ()
    filters: Filters = field(default_factory=Filters)
    ranking: Ranking = Ranking.UPVOTES
    other_section: str = "Other"
    group_by: GroupBy = GroupBy.SECTIONS
    rising: RisingConfig = field(default_factory=RisingConfig)
    monitor: MonitorConfig = field(default_factory=MonitorConfig)
    channels: tuple[ChannelConfig, ...] = ()
    fetch: FetchConfig | None = None  # [fetch]: None when the config has no such section
    source: Path | None = None

    def classifier(self) -> Classifier:
        return Classifier(self.sections, self.filters, self.other_section, self.group_by)

    @property
    def site_url(self) -> str:
        """The site URL with exactly one trailing slash, for joining."""
        return self.url.rstrip("/") + "/"

    @property
    def cache_dir(self) -> Path:
        """Compiled templates: beside a SQLite state, else in the user's cache."""
        if isinstance(self.state, Path):
            return self.state.parent / "template-cache"
        base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
        return Path(base) / "digest" / "template-cache"

    def with_overrides(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


MAX_AUTO_HELPERS = 4  # beyond this, helpers contend for the disk more than they help


def helper_processes(workers: int | None) -> int:
    """Helper processes a run may start: ``workers`` as configured, else one per spare
    core (this process keeps one), at most MAX_AUTO_HELPERS. Each stage bounds it further
    by the work it has."""
    if workers is not None:
        return workers
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return max(0, min(MAX_AUTO_HELPERS, (cores or os.cpu_count() or 1) - 1))


def state_location(text: str, base: Path) -> StateLocation:
    """A PostgreSQL URL or libpq keyword string (``host=db dbname=digest``), else a path
    (relative to ``base``). A PostgreSQL state is judged as libpq will read it: one that
    holds a secret in any spelling, or cannot be read, is refused, never shown."""
    if not (conninfo.is_url(text) or conninfo.looks_like_keywords(text)):
        return resolved(base / os.path.expanduser(text), "the state")
    what = "URL" if conninfo.is_url(text) else "connection string"
    try:
        secrets = conninfo.secrets_in(text)
        unknown = conninfo.unknown_keywords(text)
    except conninfo.Unreadable as exc:
        raise ConfigError(
            f"state: the PostgreSQL {what} cannot be read as libpq reads it ({exc})",
            "write postgresql://user@host/dbname, or a libpq keyword string such as "
            "'host=db dbname=digest'; a SQLite file's name must not look like either "
            "(write ./name)",
        ) from None
    if secrets:
        raise ConfigError(
            f"state: a password does not belong in the state {what} ({', '.join(secrets)} given)",
            "leave it out; libpq reads it from PGPASSWORD, ~/.pgpass or a service file "
            "(a key's passphrase: sslpassword in the service file)",
        )
    if unknown:
        raise ConfigError(
            f"state: the PostgreSQL {what} names a keyword libpq does not know: "
            f"{', '.join(repr(one_line(k[:40])) for k in unknown)}",
            "fix the keyword (host, port, dbname, user, service, ...); for a SQLite file of "
            "that name, write ./ before it",
        )
    return PostgresState(text)
