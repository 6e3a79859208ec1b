"""How much of each paper the email shows, section by section, within its byte budget.

An email that spent its budget on the top of the first section would show one section
and a wall of titles; readers of every section subscribed too. So the budget is shared:
every section gets its first papers with their first sentences before any section gets
a second tier, then titles, and what does not fit is "N more in <section>", linking to
that section of the issue's page. In the order of shortening:

  1. every paper with its whole abstract, if all of them fit;
  2. every paper with its first sentences;
  3. in each section, the first k papers with their first sentences and the rest by
     title (k as large as fits, the same k for every section);
  4. titles do not all fit: in each section, a few papers with their first sentences,
     then as many titles as fit, the same number for every section;
  5. the rest of each section summed up, linking to it.

A plan is searched on sizes: each paper is drawn once per style (``Fragments``), so a
plan tried costs the join of its parts, not a render of every paper again.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from digest.classify import slug
from digest.model import Paper
from digest.publish.details import AI_SUMMARY_LABEL, ai_summary
from digest.publish.filters import first_sentences

# In a huge issue, at least this many papers keep their shortened abstract, shared out
# among the sections (each keeps at least one).
MIN_DETAILED = 20
EVERY = 10**9  # as many as a section has


class ItemStyle(enum.StrEnum):
    FULL = "full"  # the whole abstract
    TLDR = "tldr"  # its first sentences (the value stays: templates test for it)
    TITLE = "title"  # the title only


@dataclass(frozen=True, slots=True)
class Plan:
    """What each section shows: all of it whole (``full``), or its first ``tldr`` papers
    shortened, then its next ``titles`` papers by title; the rest summed up."""

    full: bool = False
    tldr: int = 0
    titles: int = 0


@dataclass(frozen=True, slots=True)
class EmailItem:
    paper: Paper
    style: ItemStyle

    @property
    def text(self) -> str:
        if self.style is ItemStyle.FULL:
            return self.paper.abstract
        if self.style is ItemStyle.TLDR:
            return ai_summary(self.paper) or first_sentences(self.paper.abstract)
        return ""

    @property
    def label(self) -> str:
        """What a shortened abstract is, said before it: the listing's AI summary is never
        passed off as the authors' words."""
        return AI_SUMMARY_LABEL if ai_summary(self.paper) else "First sentences"


@dataclass(frozen=True, slots=True)
class SectionPart:
    """One section as the email shows it under a plan."""

    name: str | None  # None: an issue without sections
    total: int  # its papers in the issue
    items: tuple[EmailItem, ...]

    @property
    def slug(self) -> str:
        return slug(self.name) if self.name else ""

    @property
    def more(self) -> int:
        """Its papers the email leaves to the page."""
        return self.total - len(self.items)


@dataclass(frozen=True, slots=True)
class Shown:
    """A plan's outcome over the whole issue, as templates read it (``plan.more``)."""

    shown: int
    total: int
    titles: int  # papers by title only
    shortened: bool  # not every paper with its whole abstract

    @property
    def more(self) -> int:
        return self.total - self.shown


@dataclass(frozen=True)
class Layout:
    """The issue's sections with their first papers, in page order: what plans share."""

    sections: tuple[tuple[str | None, int, tuple[Paper, ...]], ...]  # name, total, heads

    @classmethod
    def of(cls, papers: Sequence[Paper], totals: Sequence[tuple[str, int]], total: int) -> Layout:
        """From the first papers of each section (page order) and the issue's counts per
        section (an issue without sections: one part, all its papers)."""
        heads: dict[str | None, list[Paper]] = {}
        for paper in papers:
            heads.setdefault(paper.section if totals else None, []).append(paper)
        if not totals:
            return cls(((None, total, tuple(heads.get(None, ()))),))
        return cls(tuple((name, count, tuple(heads.get(name, ()))) for name, count in totals))

    @property
    def complete(self) -> bool:
        """Whether every paper of the issue is at hand (so that all may be shown)."""
        return all(len(heads) == total for _name, total, heads in self.sections)

    @property
    def largest(self) -> int:
        return max((len(heads) for _name, _total, heads in self.sections), default=0)

    def parts(self, plan: Plan) -> list[SectionPart]:
        found = []
        for name, total, heads in self.sections:
            if plan.full:
                items = [EmailItem(paper, ItemStyle.FULL) for paper in heads]
            else:
                items = [EmailItem(paper, ItemStyle.TLDR) for paper in heads[: plan.tldr]]
                items += [
                    EmailItem(paper, ItemStyle.TITLE)
                    for paper in heads[plan.tldr : plan.tldr + plan.titles]
                ]
            found.append(SectionPart(name, total, tuple(items)))
        return found

    def shown(self, plan: Plan) -> Shown:
        parts = self.parts(plan)
        shown = sum(len(part.items) for part in parts)
        titles = sum(1 for part in parts for item in part.items if item.style is ItemStyle.TITLE)
        total = sum(part.total for part in parts)
        return Shown(shown, total, titles, not plan.full)

    def detailed_per_section(self) -> int:
        """How many papers each section keeps shortened when titles do not all fit."""
        return max(1, MIN_DETAILED // max(1, len(self.sections)))
