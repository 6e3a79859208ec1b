"""The config of running unattended: health thresholds, the push-monitor ping, and chat
channels. (Channel URLs carry secrets: the config names the environment variable that
holds each, never the URL itself.)"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from digest.config.values import bounded_int, check_url, expect, parse_duration
from digest.errors import ConfigError

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CHANNEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}")


@dataclass(frozen=True)
class MonitorConfig:
    expect_new_every: float = 8 * 86400  # seconds; 0: no freshness check
    short_listing: float = 0.3  # the newest file under this share of the recent median
    short_listing_window: int = 10  # files the median is taken over
    ping_url: str = ""  # a healthchecks.io / Uptime Kuma push URL
    ping_start: bool = False  # also ping <url>/start when a run starts
    max_run_time: float = 2 * 3600  # seconds a run may hold the lock; 0: no such check


@dataclass(frozen=True)
class ChannelConfig:
    name: str
    url_env: str  # the environment variable holding the channel's Apprise URL
    sections: tuple[str, ...] = ()  # only papers of these sections; all when empty
    max_papers: int = 10
    send_after_run: bool = True
    deadline: float = 60.0  # seconds for one post, all its attempts


MONITOR_KEYS = (
    "expect_new_every",
    "short_listing",
    "short_listing_window",
    "ping_url",
    "ping_start",
    "max_run_time",
)
CHANNEL_KEYS = ("name", "url_env", "sections", "max_papers", "send_after_run", "deadline")


def monitor(table: dict[str, Any]) -> MonitorConfig:
    values: dict[str, Any] = {}
    for key, value in table.items():
        name = f"monitor.{key}"
        if key in ("expect_new_every", "max_run_time"):
            values[key] = 0.0 if value in (0, "0", "off") else parse_duration(value, name)
        elif key == "short_listing":
            share = float(expect(value, (int, float), name))
            if not 0 <= share < 1:
                raise ConfigError(f"{name}: must be a share from 0 to 1", "e.g. 0.3 (30%)")
            values[key] = share
        elif key == "short_listing_window":
            values[key] = bounded_int(value, name, 2, 1000)
        elif key == "ping_url":
            url = expect(value, str, name)
            check_url(url, key=name, folder=False)
            values[key] = url
        elif key == "ping_start":
            values[key] = expect(value, bool, name)
        else:
            raise ConfigError(f"unknown key {name}", f"known keys: {', '.join(MONITOR_KEYS)}")
    return MonitorConfig(**values)


def _deadline(value: object, name: str) -> float:
    seconds = parse_duration(value, name)
    if not 0 < seconds <= 3600:
        raise ConfigError(f"{name}: must be more than 0 and at most an hour", 'e.g. "1m"')
    return seconds


def channels(value: object) -> tuple[ChannelConfig, ...]:
    found: list[ChannelConfig] = []
    for number, table in enumerate(expect(value, list, "channels"), start=1):
        where = f"channels[{number}]"
        table = expect(table, dict, where)
        unknown = set(table) - {*CHANNEL_KEYS, "url"}
        if unknown:
            raise ConfigError(
                f"unknown key {where}.{sorted(unknown)[0]}",
                f"known keys: {', '.join(CHANNEL_KEYS)}",
            )
        if "url" in table:
            raise ConfigError(
                f"{where}.url: a channel's URL carries its secret and does not belong here",
                "put it in an environment variable and name that variable in url_env",
            )
        if "name" not in table or "url_env" not in table:
            raise ConfigError(f"{where} needs a name and url_env")
        name = expect(table["name"], str, f"{where}.name")
        if not _CHANNEL_NAME.fullmatch(name):
            raise ConfigError(
                f"{where}.name: {name!r} is not a channel name", "letters, digits, '.', '_' and '-'"
            )
        url_env = expect(table["url_env"], str, f"{where}.url_env")
        if not _ENV_NAME.fullmatch(url_env):
            raise ConfigError(f"{where}.url_env: {url_env!r} is not an environment variable name")
        sections = table.get("sections", [])
        sections = [sections] if isinstance(sections, str) else expect(sections, list, where)
        found.append(
            ChannelConfig(
                name,
                url_env,
                tuple(expect(s, str, f"{where}.sections") for s in sections),
                bounded_int(table.get("max_papers", 10), f"{where}.max_papers", 1, 100),
                expect(table.get("send_after_run", True), bool, f"{where}.send_after_run"),
                _deadline(table.get("deadline", "1m"), f"{where}.deadline"),
            )
        )
    if len({channel.name for channel in found}) != len(found):
        raise ConfigError("channels: two channels have the same name")
    return tuple(found)
