"""Configuration: one TOML file, embedded defaults, command-line overrides.

Paths in the file are relative to the file; paths on the command line are relative
to the working directory. An unknown key is an error naming the key: a typo must not
silently fall back to a default.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from digest.classify import FIELDS, Classifier, Filters, Rule, Section
from digest.errors import ConfigError

DEFAULT_CONFIG_NAME = "digest.toml"
_SIZE = re.compile(r"(?i)\s*(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib)?\s*")
_SIZE_UNITS = {None: 1, "b": 1, "kb": 1000, "kib": 1024, "mb": 10**6, "mib": 2**20,
               "gb": 10**9, "gib": 2**30}  # fmt: skip
_DURATION = re.compile(r"(?i)\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d|w)?\s*")
_DURATION_UNITS = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400,
                   "w": 604800}  # fmt: skip


@dataclass(frozen=True)
class EmailConfig:
    sender: str = ""
    to: tuple[str, ...] = ()
    subject: str = "{site} — {date}: {count} new papers"
    smtp_host: str = ""
    smtp_port: int = 587
    security: str = "starttls"  # "starttls", "tls" or "none"
    username: str = ""
    password_env: str = ""
    list_unsubscribe: str = ""
    send_after_run: bool = False
    max_html_bytes: int = 100_000
    retries: int = 3
    retry_wait: float = 2.0


@dataclass(frozen=True)
class ScheduleConfig:
    cron: str = ""
    every: float = 0.0
    timezone: str = ""
    misfire_grace_seconds: int = 0  # 0: no limit; a late run still happens, once


@dataclass(frozen=True)
class RisingConfig:
    """Papers of earlier issues whose upvotes grew: shown once, never as new."""

    enabled: bool = False
    name: str = "Rising"
    min_gain: int | None = None
    min_factor: float | None = None
    max_papers: int = 10


@dataclass(frozen=True)
class Config:
    title: str = "Paper digest"
    description: str = "New research papers, once each."
    url: str = "http://localhost:8000/"
    author: str = "digest"
    language: str = "en"
    inbox: Path = Path("inbox")
    output: Path = Path("output")
    state: Path = Path(".digest/state.sqlite")
    templates: Path | None = None
    feed_size: int = 100
    max_file_size: int = 32 * 1024 * 1024
    workers: int | None = None  # helper processes for large imports; None: one per spare core
    log_level: str = "INFO"
    email: EmailConfig = field(default_factory=EmailConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    sections: tuple[Section, ...] = ()
    filters: Filters = field(default_factory=Filters)
    ranking: str = "upvotes"  # or "page": the order of the digest files
    other_section: str = "Other"
    group_by: str = "sections"  # or "organization"
    rising: RisingConfig = field(default_factory=RisingConfig)
    source: Path | None = None

    def classifier(self) -> Classifier:
        return Classifier(self.sections, self.filters, self.other_section, self.group_by)

    @property
    def site_url(self) -> str:
        """The site URL with exactly one trailing slash, for joining."""
        return self.url.rstrip("/") + "/"

    @property
    def lock_path(self) -> Path:
        return self.state.with_name(self.state.name + ".lock")

    def with_overrides(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


def parse_size(value: object, key: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    match = _SIZE.fullmatch(str(value))
    if not match or isinstance(value, bool):
        raise ConfigError(f"{key}: {value!r} is not a size", 'write a number of bytes or "20MB"')
    return int(float(match[1]) * _SIZE_UNITS[match[2] and match[2].lower()])


def parse_duration(value: object, key: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    match = _DURATION.fullmatch(str(value))
    if not match or float(match[1]) <= 0:
        raise ConfigError(f"{key}: {value!r} is not a duration", 'write "30s", "15m", "6h" or "1d"')
    return float(match[1]) * _DURATION_UNITS[match[2] and match[2].lower()]


def _expect(value: object, kind: type | tuple[type, ...], key: str) -> Any:
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ConfigError(f"{key}: expected {names}, got {value!r}")
    return value


TOP_LEVEL_KEYS = ("title", "description", "url", "author", "language", "inbox", "output", "state",
                  "templates", "feed_size", "max_file_size", "workers", "log_level", "email",
                  "schedule", "sections", "filters", "ranking", "rising")  # fmt: skip
_TOP_STRINGS = ("title", "description", "url", "author", "language", "log_level")
_TOP_PATHS = ("inbox", "output", "state", "templates")
_EMAIL_STRINGS = ("sender", "subject", "smtp_host", "security", "username", "password_env",
                  "list_unsubscribe")  # fmt: skip


def _email(table: dict[str, Any]) -> EmailConfig:
    values: dict[str, Any] = {}
    for key, value in table.items():
        name = f"email.{key}"
        if key in _EMAIL_STRINGS:
            values[key] = _expect(value, str, name)
        elif key == "to":
            recipients = [value] if isinstance(value, str) else _expect(value, list, name)
            values["to"] = tuple(_expect(item, str, name) for item in recipients)
        elif key in ("smtp_port", "retries"):
            values[key] = _expect(value, int, name)
        elif key == "retry_wait":
            values[key] = parse_duration(value, name)
        elif key == "send_after_run":
            values[key] = _expect(value, bool, name)
        elif key == "max_html_bytes":
            values[key] = parse_size(value, name)
        elif key == "password":
            raise ConfigError(
                "email.password: passwords do not belong in the config file",
                "set password_env to the name of an environment variable that holds it",
            )
        else:
            raise ConfigError(
                f"unknown key email.{key}", f"known keys: {', '.join(_known(EmailConfig))}"
            )
    if values.get("security", "starttls") not in ("starttls", "tls", "none"):
        raise ConfigError(
            f"email.security: {values['security']!r}", 'use "starttls", "tls" or "none"'
        )
    return EmailConfig(**values)


def _schedule(table: dict[str, Any]) -> ScheduleConfig:
    values: dict[str, Any] = {}
    for key, value in table.items():
        name = f"schedule.{key}"
        if key in ("cron", "timezone"):
            values[key] = _expect(value, str, name)
        elif key == "every":
            values[key] = parse_duration(value, name)
        elif key == "misfire_grace":
            values["misfire_grace_seconds"] = int(parse_duration(value, name))
        else:
            raise ConfigError(
                f"unknown key schedule.{key}", "known keys: cron, every, timezone, misfire_grace"
            )
    if values.get("cron") and values.get("every"):
        raise ConfigError("schedule: set either cron or every, not both")
    return ScheduleConfig(**values)


def _phrases(value: object, key: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else _expect(value, list, key)
    phrases = tuple(_expect(item, str, key) for item in items)
    if any(not phrase.strip() for phrase in phrases):
        raise ConfigError(f"{key}: empty phrase")
    return phrases


def _fields(value: object, key: str) -> tuple[str, ...]:
    fields = _phrases(value, key)
    unknown = [f for f in fields if f not in FIELDS]
    if unknown:
        raise ConfigError(f"{key}: unknown field {unknown[0]!r}", f"fields are {', '.join(FIELDS)}")
    return fields


def _sections(value: object) -> tuple[Section, ...]:
    sections = []
    for number, table in enumerate(_expect(value, list, "sections"), start=1):
        table = _expect(table, dict, f"sections[{number}]")
        unknown = set(table) - {"name", "match", "fields", "exclude"}
        if unknown:
            raise ConfigError(
                f"unknown key sections[{number}].{sorted(unknown)[0]}",
                "a section has name, match, fields and exclude",
            )
        if "name" not in table or "match" not in table:
            raise ConfigError(f"sections[{number}] needs a name and match phrases")
        sections.append(
            Section(
                _expect(table["name"], str, f"sections[{number}].name"),
                Rule(
                    _phrases(table["match"], f"sections[{number}].match"),
                    _fields(
                        table.get("fields", ["title", "abstract"]), f"sections[{number}].fields"
                    ),
                    _phrases(table.get("exclude", []), f"sections[{number}].exclude"),
                ),
            )
        )
    return tuple(sections)


def _filters(table: dict[str, Any]) -> Filters:
    unknown = set(table) - {"include", "exclude", "fields", "min_upvotes", "max_age_days"}
    if unknown:
        raise ConfigError(
            f"unknown key filters.{sorted(unknown)[0]}",
            "known keys: include, exclude, fields, min_upvotes, max_age_days",
        )
    fields = _fields(table.get("fields", ["title", "abstract"]), "filters.fields")
    include = _phrases(table.get("include", []), "filters.include")
    exclude = _phrases(table.get("exclude", []), "filters.exclude")
    return Filters(
        include=Rule(include, fields) if include else None,
        exclude=Rule(exclude, fields) if exclude else None,
        min_upvotes=_expect(table["min_upvotes"], int, "filters.min_upvotes")
        if "min_upvotes" in table
        else None,
        max_age_days=_expect(table["max_age_days"], int, "filters.max_age_days")
        if "max_age_days" in table
        else None,
    )


def _ranking(table: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key == "order":
            if value not in ("upvotes", "page"):
                raise ConfigError(f"ranking.order: {value!r}", 'use "upvotes" or "page"')
            values["ranking"] = value
        elif key == "other_section":
            values["other_section"] = _expect(value, str, "ranking.other_section")
        elif key == "group_by":
            if value not in ("sections", "organization"):
                raise ConfigError(
                    f"ranking.group_by: {value!r}", 'use "sections" or "organization"'
                )
            values["group_by"] = value
        else:
            raise ConfigError(
                f"unknown key ranking.{key}", "known keys: order, other_section, group_by"
            )
    return values


def _rising(table: dict[str, Any]) -> RisingConfig:
    values: dict[str, Any] = {"enabled": True}
    for key, value in table.items():
        if key == "name":
            values[key] = _expect(value, str, "rising.name")
        elif key in ("min_gain", "max_papers"):
            values[key] = _expect(value, int, f"rising.{key}")
        elif key == "min_factor":
            values[key] = float(_expect(value, (int, float), "rising.min_factor"))
        else:
            raise ConfigError(
                f"unknown key rising.{key}", "known keys: name, min_gain, min_factor, max_papers"
            )
    if values.get("min_gain") is None and values.get("min_factor") is None:
        raise ConfigError("rising: set min_gain, min_factor or both", "e.g. min_gain = 10")
    return RisingConfig(**values)


def _known(kind: type) -> list[str]:
    return [f.name for f in dataclasses.fields(kind) if f.name != "source"]


def from_mapping(data: dict[str, Any], base: Path, source: Path | None = None) -> Config:
    values: dict[str, Any] = {"source": source}
    for key, value in data.items():
        if key in _TOP_STRINGS:
            values[key] = _expect(value, str, key)
        elif key in _TOP_PATHS:
            values[key] = (base / os.path.expanduser(_expect(value, str, key))).resolve()
        elif key == "feed_size":
            size = _expect(value, int, key)
            if size < 1:
                raise ConfigError("feed_size: must be at least 1")
            values[key] = size
        elif key == "max_file_size":
            values[key] = parse_size(value, key)
        elif key == "workers":
            if value != "auto":
                count = _expect(value, int, key)
                if count < 0:
                    raise ConfigError("workers: must be 0 or more", 'or "auto"')
                values[key] = count
        elif key == "email":
            values[key] = _email(_expect(value, dict, key))
        elif key == "schedule":
            values[key] = _schedule(_expect(value, dict, key))
        elif key == "sections":
            values[key] = _sections(value)
        elif key == "filters":
            values[key] = _filters(_expect(value, dict, key))
        elif key == "ranking":
            values.update(_ranking(_expect(value, dict, key)))
        elif key == "rising":
            values[key] = _rising(_expect(value, dict, key))
        else:
            raise ConfigError(
                f"unknown key {key!r} in {source or 'config'}",
                f"known keys: {', '.join(TOP_LEVEL_KEYS)}",
            )
    for key in ("inbox", "output", "state"):
        values.setdefault(key, (base / getattr(Config, key)).resolve())
    url = values.get("url", Config.url)
    if not re.match(r"https?://[^/\s]+", url):
        raise ConfigError(f"url: {url!r} is not an http(s) URL", "e.g. https://example.org/digest/")
    return Config(**values)


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


STARTER = """\
# digest configuration. Paths are relative to this file.
# Reference: https://github.com/ (see README.md, "Configuration").

title = "{title}"
description = "New research papers, once each."
# The address the output folder is served from; feeds and emails link to it.
url = "http://localhost:8000/"
author = "{author}"

# Drop digest files (saved paper listings) here.
inbox = "inbox"
# Markdown, web pages, feeds and emails are written here.
output = "output"
# Everything digest remembers (papers seen, issues, runs). Back it up.
state = ".digest/state.sqlite"
# Your own templates; any file here overrides the built-in one of the same name.
# templates = "templates"

# How many papers the RSS/Atom feeds carry, newest first.
feed_size = 100
# Files larger than this are rejected unread.
max_file_size = "32MB"
# Helper processes that read and parse files during a large import (32 MB of new files
# or more): "auto" is one per spare core; 0 reads everything in the main process.
workers = "auto"

# [email]
# sender = "Digest <digest@example.org>"
# to = ["team@example.org"]
# smtp_host = "smtp.example.org"
# smtp_port = 587
# security = "starttls"        # "starttls", "tls" or "none"
# username = "digest@example.org"
# password_env = "DIGEST_SMTP_PASSWORD"   # the password itself never goes here
# list_unsubscribe = "mailto:team-unsubscribe@example.org"
# send_after_run = false

# Sections, in order: a paper goes in the first whose phrases it contains (word
# boundaries, any case); the rest go in "Other".
# [[sections]]
# name = "Diffusion"
# match = ["diffusion", "score-based"]
# fields = ["title", "abstract"]     # also "organization"
# exclude = ["language model"]
#
# [filters]                          # filtered papers are still remembered as seen
# exclude = ["survey"]
# include = ["learning"]             # if set, papers must match one of these
# min_upvotes = 2
# max_age_days = 365
#
# [ranking]
# order = "upvotes"                  # or "page" (the order of the digest files)
# other_section = "Other"
# group_by = "sections"              # or "organization"

# Papers of earlier issues whose upvotes grew, listed once under "Rising" (never as new):
# [rising]
# min_gain = 10                      # at least this many more upvotes, or
# min_factor = 3.0                   # at least this many times as many
# max_papers = 10

# [schedule]
# cron = "0 8 * * mon"           # every Monday at 08:00
# timezone = "Europe/Berlin"     # default: this machine's
# every = "6h"                   # instead of cron
# misfire_grace = "6h"           # a run missed by less than this still happens
"""
