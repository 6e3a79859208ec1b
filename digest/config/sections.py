"""The config of classifying: sections, filters, ranking and rising papers (see README,
"Sections, filters, ranking"), parsed into what digest.classify applies."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from digest.classify import FIELDS, Filters, GroupBy, Rule, Section
from digest.config.values import bounded_int, choice, expect, unknown_key
from digest.errors import ConfigError


class Ranking(enum.StrEnum):
    UPVOTES = "upvotes"  # most upvoted first within a section, then digest order
    PAGE = "page"  # the order of the digest files


@dataclass(frozen=True)
class RisingConfig:
    """Papers of earlier issues whose upvotes grew: shown once, never as new."""

    enabled: bool = False
    name: str = "Rising"
    min_gain: int | None = None
    min_factor: float | None = None
    max_papers: int = 10


def _phrases(value: object, key: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else expect(value, list, key)
    phrases = tuple(expect(item, str, key) for item in items)
    if any(not phrase.strip() for phrase in phrases):
        raise ConfigError(f"{key}: empty phrase")
    return phrases


def _fields(value: object, key: str) -> tuple[str, ...]:
    fields = _phrases(value, key)
    unknown = [f for f in fields if f not in FIELDS]
    if unknown:
        raise ConfigError(f"{key}: unknown field {unknown[0]!r}", f"fields are {', '.join(FIELDS)}")
    return fields


SECTION_KEYS = ("name", "match", "fields", "exclude", "keywords", "authors", "organizations")
FILTER_KEYS = ("include", "exclude", "fields", "min_upvotes", "max_age_days")
RANKING_KEYS = ("order", "other_section", "group_by")
RISING_KEYS = ("name", "min_gain", "min_factor", "max_papers")


def sections(value: object) -> tuple[Section, ...]:
    sections = []
    for number, table in enumerate(expect(value, list, "sections"), start=1):
        where = f"sections[{number}]"
        table = expect(table, dict, where)
        unknown = set(table) - set(SECTION_KEYS)
        if unknown:
            raise unknown_key(f"{where}.{sorted(unknown)[0]}", SECTION_KEYS)
        whole = {
            key: _phrases(table.get(key, []), f"{where}.{key}")
            for key in ("keywords", "authors", "organizations")
        }
        if "name" not in table or not ("match" in table or any(whole.values())):
            raise ConfigError(
                f"{where} needs a name and match phrases (or keywords, authors or organizations)"
            )
        rule = Rule(
            _phrases(table.get("match", []), f"{where}.match") if "match" in table else (),
            _fields(table.get("fields", ["title", "abstract"]), f"{where}.fields"),
            _phrases(table.get("exclude", []), f"{where}.exclude"),
            **whole,
        )
        sections.append(Section(expect(table["name"], str, f"{where}.name"), rule))
    return tuple(sections)


def filters(table: dict[str, Any]) -> Filters:
    unknown = set(table) - set(FILTER_KEYS)
    if unknown:
        raise unknown_key(f"filters.{sorted(unknown)[0]}", FILTER_KEYS)
    fields = _fields(table.get("fields", ["title", "abstract"]), "filters.fields")
    include = _phrases(table.get("include", []), "filters.include")
    exclude = _phrases(table.get("exclude", []), "filters.exclude")
    min_upvotes = table.get("min_upvotes")
    max_age = table.get("max_age_days")
    return Filters(
        include=Rule(include, fields) if include else None,
        exclude=Rule(exclude, fields) if exclude else None,
        min_upvotes=None
        if min_upvotes is None
        else bounded_int(min_upvotes, "filters.min_upvotes", 0, 10**9),
        max_age_days=None
        if max_age is None
        else bounded_int(max_age, "filters.max_age_days", 0, 100 * 366),
    )


def ranking(table: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key == "order":
            values["ranking"] = choice(value, Ranking, "ranking.order")
        elif key == "other_section":
            values["other_section"] = expect(value, str, "ranking.other_section")
        elif key == "group_by":
            values["group_by"] = choice(value, GroupBy, "ranking.group_by")
        else:
            raise unknown_key(f"ranking.{key}", RANKING_KEYS)
    return values


def rising(table: dict[str, Any]) -> RisingConfig:
    values: dict[str, Any] = {"enabled": True}
    for key, value in table.items():
        if key == "name":
            values[key] = expect(value, str, "rising.name")
        elif key in ("min_gain", "max_papers"):
            values[key] = bounded_int(value, f"rising.{key}", 1, 10**9)
        elif key == "min_factor":
            factor = float(expect(value, (int, float), "rising.min_factor"))
            if not 1 < factor < 10**9:
                raise ConfigError("rising.min_factor: must be more than 1", "e.g. 3.0")
            values[key] = factor
        else:
            raise unknown_key(f"rising.{key}", RISING_KEYS)
    if values.get("min_gain") is None and values.get("min_factor") is None:
        raise ConfigError("rising: set min_gain, min_factor or both", "e.g. min_gain = 10")
    return RisingConfig(**values)
