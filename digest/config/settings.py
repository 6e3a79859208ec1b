"""Configuration: one TOML file, embedded defaults, command-line overrides.

Paths in the file are relative to the file; paths on the command line are relative
to the working directory. An unknown key is an error naming the key: a typo must not
silently fall back to a default. Numbers are checked against what makes sense, so a
mistyped one is a message, not a crash deep in a run.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from digest.backfill import Period
from digest.classify import Classifier, Filters, GroupBy, Section, slug
from digest.config.monitor import ChannelConfig, MonitorConfig, channels, monitor
from digest.config.sections import Ranking, RisingConfig, filters, ranking, rising, sections
from digest.config.values import (
    bounded_int,
    check_url,
    choice,
    expect,
    parse_duration,
    parse_size,
    unknown_key,
)
from digest.errors import ConfigError
from digest.links import PAPER_SEARCH
from digest.model import Security
from digest.text import HEADER_UNSAFE

__all__ = [
    "ChannelConfig",
    "Config",
    "EmailConfig",
    "MonitorConfig",
    "PostgresState",
    "Ranking",
    "ScheduleConfig",
    "load",
    "parse_duration",
    "parse_size",
    "state_location",
]

DEFAULT_CONFIG_NAME = "digest.toml"
SITE_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
POSTGRES_PREFIXES = ("postgresql://", "postgres://", "service=")


@dataclass(frozen=True)
class PostgresState:
    """A PostgreSQL database as the state. The DSN never carries a password (libpq finds
    it in PGPASSWORD, ~/.pgpass or the service file); ``str()`` is safe to show."""

    dsn: str

    def __str__(self) -> str:
        return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", self.dsn)


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
    feed_size: int = 100
    max_file_size: int = 32 * 1024 * 1024
    settle: float = 5.0  # inbox files changed more recently are left for the next run
    backfill: Period | None = None  # a first run makes an issue per period of its backlog
    workers: int | None = None  # helper processes for large imports; None: one per spare core
    log_level: str = "INFO"
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


def state_location(text: str, base: Path) -> StateLocation:
    """A PostgreSQL URL or service name, else a path (relative to ``base``)."""
    if text.startswith(POSTGRES_PREFIXES):
        if re.search(r"://[^/@]*:[^@/]*@", text) or re.search(r"(?i)\bpassword\s*=", text):
            raise ConfigError(
                "state: a password does not belong in the state URL",
                "leave it out; libpq reads it from PGPASSWORD, ~/.pgpass or a service file",
            )
        return PostgresState(text)
    return (base / os.path.expanduser(text)).resolve()


TOP_LEVEL_KEYS = (
    "title",
    "description",
    "url",
    "author",
    "language",
    "site",
    "inbox",
    "output",
    "state",
    "templates",
    "notes",
    "feed_size",
    "max_file_size",
    "settle",
    "backfill",
    "workers",
    "log_level",
    "paper_link",
    "email",
    "schedule",
    "sections",
    "filters",
    "ranking",
    "rising",
    "monitor",
    "channels",
)
_TOP_STRINGS = ("title", "description", "url", "author", "language", "log_level")
_TOP_PATHS = ("inbox", "output", "templates", "notes")
_EMAIL_STRINGS = ("sender", "subject", "smtp_host", "username", "password_env", "list_unsubscribe")


def _one_line(value: str, name: str) -> str:
    """Header values: a line break in one would start another header (or be flattened
    into an address that is no address), so it is refused here, where it was written."""
    if HEADER_UNSAFE.search(value):
        raise ConfigError(f"{name}: {value!r} holds a line break or a control character",
                          "write it on one line")  # fmt: skip
    return value


def _email(table: dict[str, Any]) -> EmailConfig:
    values: dict[str, Any] = {}
    for key, value in table.items():
        name = f"email.{key}"
        if key == "sender":
            values[key] = _one_line(expect(value, str, name), name)
        elif key in _EMAIL_STRINGS:
            values[key] = expect(value, str, name)
        elif key == "to":
            recipients = [value] if isinstance(value, str) else expect(value, list, name)
            values["to"] = tuple(_one_line(expect(item, str, name), name) for item in recipients)
        elif key == "smtp_port":
            values[key] = bounded_int(value, name, 1, 65535)
        elif key == "retries":
            values[key] = bounded_int(value, name, 1, 20)
        elif key in ("retry_wait", "deadline"):
            values[key] = parse_duration(value, name)
        elif key == "security":
            values[key] = choice(value, Security, name)
        elif key in ("send_after_run", "review"):
            values[key] = expect(value, bool, name)
        elif key == "max_html_bytes":
            values[key] = parse_size(value, name)
        elif key == "password":
            raise ConfigError(
                "email.password: passwords do not belong in the config file",
                "set password_env to the name of an environment variable that holds it",
            )
        else:
            raise unknown_key(name, _known(EmailConfig))
    return EmailConfig(**values)


def _schedule(table: dict[str, Any]) -> ScheduleConfig:
    values: dict[str, Any] = {}
    for key, value in table.items():
        name = f"schedule.{key}"
        if key in ("cron", "timezone"):
            values[key] = expect(value, str, name)
        elif key == "every":
            values[key] = parse_duration(value, name)
        elif key == "misfire_grace":
            values["misfire_grace_seconds"] = int(parse_duration(value, name))
        else:
            raise unknown_key(name, ("cron", "every", "timezone", "misfire_grace"))
    if values.get("cron") and values.get("every"):
        raise ConfigError("schedule: set either cron or every, not both")
    return ScheduleConfig(**values)


def _known(kind: type) -> list[str]:
    return [f.name for f in dataclasses.fields(kind) if f.name != "source"]


def check_section_slugs(sections: tuple[Section, ...], other: str) -> None:
    """Each section's feeds live in ``sections/<slug>/``: two sections must not share one."""
    seen: dict[str, str] = {}
    for name in [section.name for section in sections] + [other]:
        folder = slug(name)
        if folder in seen and seen[folder] != name:
            raise ConfigError(
                f"sections {seen[folder]!r} and {name!r} would share the folder sections/{folder}/",
                "rename one of them",
            )
        seen[folder] = name


def from_mapping(data: dict[str, Any], base: Path, source: Path | None = None) -> Config:
    values: dict[str, Any] = {"source": source}
    for key, value in data.items():
        if key in _TOP_STRINGS:
            values[key] = expect(value, str, key)
        elif key in _TOP_PATHS:
            values[key] = (base / os.path.expanduser(expect(value, str, key))).resolve()
        elif key == "state":
            values[key] = state_location(expect(value, str, key), base)
        elif key == "site":
            values[key] = check_site(expect(value, str, key))
        elif key == "paper_link":
            values[key] = check_paper_link(expect(value, str, key))
        elif key == "feed_size":
            values[key] = bounded_int(value, key, 1, 10_000)
        elif key == "max_file_size":
            values[key] = parse_size(value, key)
        elif key == "backfill":
            values[key] = choice(value, Period, key)
        elif key == "settle":
            values[key] = parse_duration(value, key, allow_zero=True)
        elif key == "workers":
            if value != "auto":
                values[key] = bounded_int(value, key, 0, 64)
        elif key == "email":
            values[key] = _email(expect(value, dict, key))
        elif key == "schedule":
            values[key] = _schedule(expect(value, dict, key))
        elif key == "sections":
            values[key] = sections(value)
        elif key == "filters":
            values[key] = filters(expect(value, dict, key))
        elif key == "ranking":
            values.update(ranking(expect(value, dict, key)))
        elif key == "rising":
            values[key] = rising(expect(value, dict, key))
        elif key == "monitor":
            values[key] = monitor(expect(value, dict, key))
        elif key == "channels":
            values[key] = channels(value)
        else:
            raise ConfigError(
                f"unknown key {key!r} in {source or 'config'}",
                f"known keys: {', '.join(TOP_LEVEL_KEYS)}",
            )
    for key in ("inbox", "output", "state", "notes"):
        values.setdefault(key, (base / getattr(Config, key)).resolve())
    check_url(values.get("url", Config.url))
    check_section_slugs(values.get("sections", ()), values.get("other_section", "Other"))
    return Config(**values)


def check_paper_link(template: str) -> str:
    """Every paper's title links here when its text names no arXiv id, so the template
    must give an http(s) URL for any title: ``{title}`` (URL-encoded when filled in) and no
    other field, nothing a URL may not hold."""
    filled = template.replace("{title}", "t")
    parts = None
    if "{title}" in template and not re.search(r"[\s\"'<>`\\{}|^\x00-\x1f\x7f]", filled):
        parts = urlsplit(filled)
    try:
        port_ok = parts is not None and (parts.port or 0) >= 0
    except ValueError:
        port_ok = False
    if not port_ok or parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"paper_link: {template!r} is not an http(s) URL template with {{title}}",
            f'e.g. "{PAPER_SEARCH}" (the default)',
        )
    return template


def check_site(name: str) -> str:
    if not SITE_NAME.fullmatch(name):
        raise ConfigError(
            f"site: {name!r} is not a site name",
            "use lower-case letters, digits and _, starting with a letter (at most 40)",
        )
    return name


def load(path: Path | None, *, cwd: Path | None = None) -> Config:
    """The config at ``path``; without one, ./digest.toml if present, else the defaults."""
    cwd = cwd or Path.cwd()
    if path is None:
        candidate = cwd / DEFAULT_CONFIG_NAME
        if not candidate.exists():
            return from_mapping({}, cwd)
        path = candidate
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"no config file at {path}", "create one with 'digest init'") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    return from_mapping(data, path.resolve().parent, path)
