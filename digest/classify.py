"""Where a new paper goes: filtered out (and why), or into which section (and why).

Rules match phrases on word boundaries, case-insensitively, after Unicode NFKC: "SLAM"
matches "SLAM" and "slam-based", never "Structural Linguistic Activation Marking" or
"islam". A paper goes into the first section whose rule matches it; the rest go into a
final section ("Other" by default). The reason a paper is in an issue is a short,
deterministic sentence built from the rule that matched, the digest it first came from
and its upvotes.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import re
import unicodedata
from dataclasses import dataclass

from digest.dates import short_date
from digest.model import Paper

FIELDS = ("title", "abstract", "organization", "authors", "keywords")


def _normal(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def _exact(text: str) -> str:
    return " ".join(_normal(text).casefold().split())


class Rule:
    """Phrases to look for in some fields, and phrases that veto a match; and, from the
    API's JSON, keywords, authors and organisations a paper may have, each matched whole
    (ignoring case and spacing)."""

    def __init__(
        self,
        phrases: tuple[str, ...],
        fields: tuple[str, ...] = ("title", "abstract"),
        exclude: tuple[str, ...] = (),
        *,
        keywords: tuple[str, ...] = (),
        authors: tuple[str, ...] = (),
        organizations: tuple[str, ...] = (),
    ) -> None:
        self.phrases, self.fields, self.exclude = tuple(phrases), tuple(fields), tuple(exclude)
        self._phrases = _compile(self.phrases)
        self._veto = _compile(self.exclude)
        self._keywords = {_exact(k) for k in keywords}
        self._authors = {_exact(a) for a in authors}
        self._organizations = {_exact(o) for o in organizations}

    def find(self, paper: Paper) -> str | None:
        """``matched "diffusion" in title`` for the first phrase found (or ``keyword
        "rlhf"``, ``by "Ada Lovelace"``, ``from "NAVER AI Lab"``), or None."""
        if self._phrases is not None:
            for field in self.fields:
                found = self._phrases.search(_field(paper, field))
                if found:
                    return f'matched "{found.group()}" in {field}'
        details = paper.details
        if self._keywords and details is not None:
            for keyword in details.ai_keywords:
                if _exact(keyword) in self._keywords:
                    return f'keyword "{keyword}"'
        if self._authors and details is not None:
            for name in details.author_names:
                if _exact(name) in self._authors:
                    return f'by "{name}"'
        if self._organizations and paper.organization is not None:
            org = paper.organization
            if _exact(org.id) in self._organizations or _exact(org.name) in self._organizations:
                return f'from "{org.name}"'
        return None

    def match(self, paper: Paper) -> str | None:
        """Like find, unless an excluded phrase is present in the same fields."""
        if self._veto is not None and any(
            self._veto.search(_field(paper, field)) for field in self.fields
        ):
            return None
        return self.find(paper)


def _compile(phrases: tuple[str, ...]) -> re.Pattern[str] | None:
    parts = [
        r"\s+".join(re.escape(word) for word in _normal(phrase).split())
        for phrase in phrases
        if phrase.strip()
    ]
    if not parts:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(parts) + r")(?!\w)", re.IGNORECASE)


def _field(paper: Paper, field: str) -> str:
    if field == "title":
        return _normal(paper.title)
    if field == "abstract":
        return _normal(paper.abstract)
    if field in ("authors", "keywords"):
        details = paper.details
        if details is None:
            return ""
        names = details.author_names if field == "authors" else details.ai_keywords
        return _normal(" · ".join(names))
    if paper.organization is None:
        return ""
    return _normal(f"{paper.organization.id} {paper.organization.name}")


@dataclass(frozen=True)
class Section:
    name: str
    rule: Rule


@dataclass(frozen=True)
class Filters:
    include: Rule | None = None
    exclude: Rule | None = None
    min_upvotes: int | None = None
    max_age_days: int | None = None


class GroupBy(enum.StrEnum):
    SECTIONS = "sections"
    ORGANIZATION = "organization"  # one section per organisation


class FilterKind(enum.StrEnum):
    """Why a paper was filtered out, as the run summary counts it."""

    EXCLUDED = "excluded"
    NOT_INCLUDED = "not included"
    MIN_UPVOTES = "min_upvotes"
    MAX_AGE = "max_age"


@dataclass(frozen=True)
class Placement:
    """A new paper's fate: shown in ``section`` (rank orders sections), or filtered."""

    section: str | None
    section_rank: int
    reason: str
    filtered: str | None = None  # why, in words
    filter_kind: FilterKind | None = None


def slug(name: str) -> str:
    """A stable, safe folder name for a section: ``Diffusion & Flows`` -> ``diffusion-flows``.

    Letters with no ASCII form (``Модели``, ``言語モデル``) would vanish, and two such
    names would share a folder: those names get a short hash of themselves instead."""
    normal = unicodedata.normalize("NFKD", name)
    ascii_name = normal.encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_name.lower())
    lost = any(ch.isalnum() and not ch.isascii() for ch in normal)
    if lost:
        tag = hashlib.blake2b(unicodedata.normalize("NFC", name).encode(), digest_size=4)
        words.append(tag.hexdigest())
    return "-".join(words)[:60] or "section"


class Classifier:
    def __init__(
        self,
        sections: tuple[Section, ...] = (),
        filters: Filters | None = None,
        other: str = "Other",
        group_by: GroupBy = GroupBy.SECTIONS,
    ) -> None:
        self.sections = sections
        self.filters = filters or Filters()
        self.other = other
        self.group_by = group_by

    def place(self, paper: Paper, today: dt.date) -> Placement:
        filtered = self._filtered(paper, today)
        provenance = _provenance(paper)
        if filtered is not None:
            kind, why = filtered
            return Placement(None, 0, provenance, why, kind)
        if self.group_by is GroupBy.ORGANIZATION:
            name = paper.organization.name if paper.organization else self.other
            return Placement(name, 0 if paper.organization else 1, provenance)
        for rank, section in enumerate(self.sections):
            matched = section.rule.match(paper)
            if matched is not None:
                return Placement(section.name, rank, f"{matched} · {provenance}")
        if self.sections:
            return Placement(self.other, len(self.sections), provenance)
        return Placement(None, 0, provenance)

    def _filtered(self, paper: Paper, today: dt.date) -> tuple[FilterKind, str] | None:
        filters = self.filters
        if filters.exclude is not None:
            why = filters.exclude.find(paper)
            if why is not None:
                return FilterKind.EXCLUDED, f"excluded: {why}"
        if filters.include is not None and filters.include.match(paper) is None:
            return FilterKind.NOT_INCLUDED, "not included: matches no include rule"
        if filters.min_upvotes is not None and (paper.upvotes or 0) < filters.min_upvotes:
            return FilterKind.MIN_UPVOTES, f"fewer than {filters.min_upvotes} upvotes"
        if (
            filters.max_age_days is not None
            and paper.published is not None
            and (today - paper.published).days > filters.max_age_days
        ):
            return FilterKind.MAX_AGE, f"published more than {filters.max_age_days} days ago"
        return None


def _provenance(paper: Paper) -> str:
    """``first listed in the digest of Oct 31, 2026`` (the upvotes are the paper's meta
    line's, shown beside it: not a reason, and not twice)."""
    parts = []
    if paper.digest_date is not None:
        parts.append(f"first listed in the digest of {short_date(paper.digest_date)}")
    elif paper.source:
        parts.append(f"first listed in {paper.source.rsplit('/', 1)[-1]}")
    return " · ".join(parts)
