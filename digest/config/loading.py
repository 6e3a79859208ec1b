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
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from digest.addresses import FORM, AddressError, mail_address
from digest.backfill import Period
from digest.classify import Section, slug
from digest.config.fetch import FETCH_KEYS, fetch
from digest.config.monitor import CHANNEL_KEYS, MONITOR_KEYS, channels, monitor
from digest.config.sections import (
    FILTER_KEYS,
    RANKING_KEYS,
    RISING_KEYS,
    SECTION_KEYS,
    filters,
    ranking,
    rising,
    sections,
)
from digest.config.settings import (
    DEFAULT_CONFIG_NAME,
    SITE_NAME,
    Config,
    EmailConfig,
    ScheduleConfig,
    state_location,
)
from digest.config.values import (
    bounded_int,
    check_language,
    check_unsubscribe,
    check_url,
    choice,
    expect,
    parse_duration,
    parse_size,
    shown_url,
    unknown_key,
)
from digest.errors import ConfigError
from digest.links import PAPER_SEARCH
from digest.model import Security
from digest.paths import resolved
from digest.text import HEADER_UNSAFE

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
    "feed_max",
    "papers_per_page",
    "max_file_size",
    "settle",
    "backfill",
    "workers",
    "log_level",
    "paper_link",
    "precompress",
    "search",
    "email",
    "schedule",
    "sections",
    "filters",
    "ranking",
    "rising",
    "monitor",
    "channels",
    "fetch",
)
_TOP_STRINGS = ("title", "description", "url", "author", "log_level")
_TOP_PATHS = ("inbox", "output", "templates", "notes")
_EMAIL_STRINGS = ("sender", "subject", "smtp_host", "username", "password_env")


def _one_line(value: str, name: str) -> str:
    """Header values: a line break in one would start another header (or be flattened
    into an address that is no address), so it is refused here, where it was written."""
    if HEADER_UNSAFE.search(value):
        raise ConfigError(
            f"{name}: {value!r} holds a line break or a control character", "write it on one line"
        )
    return value


def _address(value: str, name: str) -> str:
    """An address as written (each use takes it apart again), once it is known to be one."""
    if value:
        try:
            mail_address(value)
        except AddressError as exc:
            raise ConfigError(
                f"{name}: {value!r} is not an address to send to: {exc}", FORM
            ) from None
    return value


def _email(table: dict[str, Any]) -> EmailConfig:
    values: dict[str, Any] = {}
    for key, value in table.items():
        name = f"email.{key}"
        if key == "sender":
            values[key] = _address(_one_line(expect(value, str, name), name), name)
        elif key in _EMAIL_STRINGS:
            values[key] = expect(value, str, name)
        elif key == "list_unsubscribe":
            text = expect(value, str, name)
            values[key] = check_unsubscribe(text, name) if text else text
        elif key == "to":
            recipients = [value] if isinstance(value, str) else expect(value, list, name)
            values["to"] = tuple(
                _address(_one_line(expect(item, str, name), name), name) for item in recipients
            )
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
            raise unknown_key(name, EMAIL_KEYS)
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
            raise unknown_key(name, SCHEDULE_KEYS)
    if values.get("cron") and values.get("every"):
        raise ConfigError("schedule: set either cron or every, not both")
    return ScheduleConfig(**values)


EMAIL_KEYS = tuple(f.name for f in dataclasses.fields(EmailConfig))
SCHEDULE_KEYS = ("cron", "every", "timezone", "misfire_grace")
# Every key a config file may hold, by table ("" for the top level): the README documents
# each (tests/test_docs.py), and an unknown one is an error naming the known ones.
CONFIG_KEYS: dict[str, tuple[str, ...]] = {
    "": TOP_LEVEL_KEYS,
    "email": EMAIL_KEYS,
    "schedule": SCHEDULE_KEYS,
    "sections": SECTION_KEYS,
    "filters": FILTER_KEYS,
    "ranking": RANKING_KEYS,
    "rising": RISING_KEYS,
    "monitor": MONITOR_KEYS,
    "channels": CHANNEL_KEYS,
    "fetch": FETCH_KEYS,
}


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
            values[key] = resolved(base / os.path.expanduser(expect(value, str, key)), key)
        elif key == "state":
            values[key] = state_location(expect(value, str, key), base)
        elif key == "language":
            values[key] = check_language(expect(value, str, key))
        elif key == "site":
            values[key] = check_site(expect(value, str, key))
        elif key == "paper_link":
            values[key] = check_paper_link(expect(value, str, key))
        elif key == "feed_max":
            values[key] = bounded_int(value, key, 1, 100_000)
        elif key == "feed_size":
            values[key] = bounded_int(value, key, 1, 10_000)
        elif key == "papers_per_page":
            values[key] = bounded_int(value, key, 0, 100_000)
        elif key == "max_file_size":
            values[key] = parse_size(value, key)
        elif key == "backfill":
            values[key] = choice(value, Period, key)
        elif key == "settle":
            values[key] = parse_duration(value, key, allow_zero=True)
        elif key == "workers":
            if value != "auto":
                values[key] = bounded_int(value, key, 0, 64)
        elif key in ("precompress", "search"):
            values[key] = expect(value, bool, key)
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
        elif key == "fetch":
            values[key] = fetch(expect(value, dict, key))
        else:
            raise ConfigError(
                f"unknown key {key!r} in {source or 'config'}",
                f"known keys: {', '.join(TOP_LEVEL_KEYS)}",
            )
    for key in ("inbox", "output", "state", "notes"):
        if key not in values:
            values[key] = resolved(base / getattr(Config, key), key)
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
            f"paper_link: {shown_url(template)} is not an http(s) URL template with {{title}}",
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
