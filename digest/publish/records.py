"""What the renderers are handed: one issue's content as a record, the editor's note and
picks, the rising papers, an entry of the issues feed.

Kept apart from the modules that make them (the publisher, the notes folder, the store)
so that every renderer can name them without importing the state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from digest.model import Issue, IssueSummary, Paper, Site

if TYPE_CHECKING:
    from digest.publish.templates import Templates


@dataclass(frozen=True, slots=True)
class Pick:
    title: str
    comment: str
    key: str


@dataclass(frozen=True, slots=True)
class Note:
    """The editor's note of an issue, as written and as each output shows it."""

    source: str  # the file as written: the issue's Markdown carries it verbatim
    body: str  # without the front matter
    html: str
    text: str  # for the email's text part: readable, wrapped, links written out
    picks: tuple[Pick, ...]
    removed: int = 0  # control characters taken out of the source (a warning)


@dataclass(frozen=True, slots=True)
class Editorial:
    """What the editor added to an issue: the note, and the picks matched to its papers
    (with each pick's comment), in the editor's order."""

    note: Note | None = None
    picks: tuple[tuple[Paper, str], ...] = ()
    # The picks' identities, made once: a page asks whether each of its papers is one.
    picked: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "picked", frozenset(paper.key for paper, _ in self.picks))


NO_EDITORIAL = Editorial()


@dataclass(frozen=True)
class Rising:
    """Papers of earlier issues shown again because their upvotes grew (not new)."""

    name: str = "Rising"
    papers: list[tuple[Paper, int | None]] = field(default_factory=list)


@dataclass(frozen=True)
class IssueContext:
    """One issue as every renderer of it sees it (its page, its Markdown, its email):
    everything but its papers, which are a stream read once per rendering."""

    templates: Templates
    site: Site
    issue: Issue
    summary: IssueSummary
    rising: Rising = field(default_factory=Rising)
    editorial: Editorial = NO_EDITORIAL
    older: Issue | None = None  # the issue before it: its page links there
    newer: Issue | None = None  # the issue after it, if any: its page links there too


class TitleLink(NamedTuple):
    """A paper in a list of titles: what it is called, where it is."""

    title: str
    url: str


@dataclass(frozen=True, slots=True)
class IssueFeedEntry:
    """An issue in the issues feed: its first papers, how many it has, the editor's note."""

    issue: Issue
    papers: list[Paper]  # those shown whole (ours: the first ISSUE_FEED_PAPERS)
    total: int
    editorial: Editorial = NO_EDITORIAL
    titles: list[TitleLink] = field(default_factory=list)  # those listed by title
    shown: int = 0  # how many of its papers the entry names
