"""The records that flow between stages.

A paper's identity is its title under a normalisation that ignores case, spacing,
Unicode form and punctuation: listings of one paper from different sources differ in
exactly those (``GeMQuAD : Generating`` / ``GeMQuAD: Generating``).
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from functools import lru_cache

from digest.links import PAPER_SEARCH, PaperLink, has_code, is_code_link, paper_link

_NON_WORD = re.compile(r"[\W_]+")
# The namespace of paper ids, uuid.UUID("5b0c8d4e-1d7a-4b8e-9a55-64a1c0f6d2e3").bytes, as a
# literal: importing uuid would cost a scheduled run more than all it does with it.
_NAMESPACE_BYTES = bytes.fromhex("5b0c8d4e1d7a4b8e9a5564a1c0f6d2e3")


def title_key(title: str) -> str:
    """The identity of a paper: NFKC, case-folded, words only, single-spaced."""
    folded = unicodedata.normalize("NFKC", title).casefold()
    return " ".join(_NON_WORD.sub(" ", folded).split())


@lru_cache(maxsize=1024)  # a page asks for each paper's anchor twice in a row
def paper_uuid(key: str) -> str:
    """Stable for ever: feeds and anchors use it, so readers never see a paper twice.

    The same value as ``str(uuid.uuid5(namespace, key))``, without building UUID
    objects: rendering a large issue asks for it hundreds of thousands of times."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + key.encode("utf-8")).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    text = digest.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def paper_anchor(key: str) -> str:
    """Where a paper is on its issue's page: ``p-`` and the first twelve hex digits of its
    id (bytes the UUID's version and variant bits leave as hashed)."""
    return "p-" + hashlib.sha1(_NAMESPACE_BYTES + key.encode("utf-8")).hexdigest()[:12]


class Severity(enum.StrEnum):
    """``error``: input was not taken in (a file, or an entry); ``warning``: it was taken
    in, but something about it looks wrong."""

    ERROR = "error"
    WARNING = "warning"


class Security(enum.StrEnum):
    """How to talk to the SMTP server."""

    STARTTLS = "starttls"  # plain, then upgraded (usually port 587)
    TLS = "tls"  # implicit TLS from the first byte (usually port 465)
    NONE = "none"


class RunResult(enum.StrEnum):
    RUNNING = "running"
    PUBLISHED = "published"
    NOTHING_NEW = "nothing-new"
    MARKED_SEEN = "marked-seen"
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # the process died (a kill, a power cut) before it finished


class Medium(enum.StrEnum):
    """How an issue reaches someone: an email to an address, or a post to a chat channel.
    Each is delivered once per issue and recipient (an address, or a channel's name)."""

    EMAIL = "email"
    CHAT = "chat"


class DeliveryStatus(enum.StrEnum):
    """Where one recipient's copy of an issue stands.

    A claim is written before anything is sent; the body going out makes it *in doubt*
    until the server answers. Only ``sent`` and ``in-doubt`` stop a later ``digest send``:
    a copy that may have arrived is never sent again without ``--force``."""

    CLAIMED = "claimed"  # about to be sent; if the sender died, it may have gone out
    IN_DOUBT = "in-doubt"  # the body was sent and no answer came
    SENT = "sent"
    REFUSED = "refused"  # the server refused this recipient or message for good (5xx)
    FAILED = "failed"  # temporary failures until the retries ran out

    @property
    def may_have_arrived(self) -> bool:
        return self in (DeliveryStatus.CLAIMED, DeliveryStatus.IN_DOUBT, DeliveryStatus.SENT)


@dataclass(frozen=True, slots=True)
class Organization:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class Problem:
    """Something wrong with an input, located so the user can fix it.

    ``severity`` is ``error`` when input was not taken in (a file or an entry) and
    ``warning`` when it was taken in but something about it looks wrong.
    """

    file: str
    line: int | None
    message: str
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.severity}: {self.message}"


@dataclass(frozen=True, slots=True)
class PaperDetails:
    """What a listing in the API's JSON says of a paper beyond what the text page shows.

    Missing is not zero: a field the listing did not give stays None (or empty), and is
    shown as unknown, never as "0 stars". ``ai_summary`` is the listing's own AI summary,
    never the authors' words: outputs label it so."""

    arxiv_id: str | None = None
    author_names: tuple[str, ...] = ()  # in the paper's order; hidden authors left out
    comments: int | None = None
    github_repo: str | None = None  # an http(s) URL
    github_stars: int | None = None
    project_page: str | None = None  # an http(s) URL
    ai_summary: str | None = None
    ai_keywords: tuple[str, ...] = ()
    submitted_by: str | None = None  # who put it on the Daily Papers page


@dataclass(frozen=True, slots=True)
class Paper:
    """One paper as listed in a digest file, plus, once published, where and when."""

    title: str
    abstract: str
    authors: int | None = None
    organization: Organization | None = None
    published: dt.date | None = None
    upvotes: int | None = None
    links: tuple[str, ...] = ()
    digest_date: dt.date | None = None
    source: str = ""
    line: int = 0
    first_seen: dt.datetime | None = None
    issue_id: str | None = None
    section: str | None = None
    reason: str = ""
    key: str = field(default="", compare=False)
    abstract_cut: bool = False  # the listing ended mid-abstract; a later one may complete it
    updated: dt.datetime | None = None  # when a later listing completed its text
    details: PaperDetails | None = None  # from the API's JSON; None for a text listing
    # The page of its issue that shows it (1 first), once published: from its place in
    # page order and the page size its issue was published with. Not part of the paper.
    page: int = field(default=1, compare=False)

    def __post_init__(self) -> None:
        if not self.key:
            object.__setattr__(self, "key", title_key(self.title))

    def __reduce__(self) -> tuple:
        # Helper processes send papers pickled: one constructor call rebuilds a paper
        # faster than the per-field restore frozen dataclasses get by default.
        return (Paper, tuple(getattr(self, name) for name in _PAPER_FIELDS))

    @property
    def id(self) -> str:
        return paper_uuid(self.key)

    @property
    def anchor(self) -> str:
        return paper_anchor(self.key)

    @property
    def has_code(self) -> bool:
        """A code link in its text, or the code repository the API names."""
        repo = self.details.github_repo if self.details is not None else None
        return has_code(self.links) or (repo is not None and is_code_link(repo))


_PAPER_FIELDS = tuple(item.name for item in fields(Paper))


@dataclass(frozen=True, slots=True)
class DigestFile:
    """What the loader read from one file."""

    path: str
    digest_date: dt.date | None
    papers: tuple[Paper, ...]
    problems: tuple[Problem, ...]

    @property
    def rejected(self) -> bool:
        return not self.papers

    @property
    def errors(self) -> str:
        """The problems that count as errors, in one line (why a file was rejected)."""
        return "; ".join(p.message for p in self.problems if p.severity is Severity.ERROR)


@dataclass(frozen=True, slots=True)
class IssueSummary:
    """An issue at a glance: how many papers, how many with code, who wrote most."""

    papers: int
    with_code: int
    top_organizations: tuple[tuple[str, int], ...]
    sections: tuple[tuple[str, int], ...] = ()  # in page order, with paper counts

    def section_starts(self) -> dict[str, int]:
        """Each section's first place in page order (papers of no section come first):
        where a link to the section goes on a paged issue."""
        place = self.papers - sum(count for _, count in self.sections)
        starts: dict[str, int] = {}
        for name, count in self.sections:
            starts[name] = place
            place += count
        return starts


@dataclass(frozen=True, slots=True)
class IssueYear:
    """A year of the archive, which has a page of its own."""

    year: int
    issues: int
    papers: int


@dataclass(frozen=True, slots=True)
class Issue:
    id: str
    seq: int
    date: dt.date
    published_at: dt.datetime
    paper_count: int
    outputs_pending: bool = False  # recorded, but its files are not all written yet
    # Shown on pages of this many papers if it has more (0: one page); kept as published.
    papers_per_page: int = 0

    @property
    def page_count(self) -> int:
        if not self.papers_per_page or self.paper_count <= self.papers_per_page:
            return 1
        return -(-self.paper_count // self.papers_per_page)

    def page_of(self, place: int) -> int:
        return page_of(place, self.papers_per_page)


def page_of(place: int, papers_per_page: int) -> int:
    """The page (1 first) of an issue of this page size (0: one page) that shows the
    paper at this place (0 first) in its page order."""
    return place // papers_per_page + 1 if papers_per_page else 1


INDEX_ISSUES = 52  # issues on the front page (a year of weekly ones); older: the year pages
# An issue of more papers than this is shown on pages of this many: a phone opens a page
# of 50 papers (under 800 DOM elements, Lighthouse's warning) as fast as a short issue.
PAPERS_PER_PAGE = 50


@dataclass(frozen=True)
class Site:
    """What templates know of the site; URLs always end with one slash."""

    title: str
    description: str
    url: str
    author: str
    language: str = "en"
    sections: tuple[str, ...] = ()  # sections with feeds of their own
    index_issues: int = INDEX_ISSUES
    paper_link: str = PAPER_SEARCH  # where a paper is when its text names no arXiv id
    search: bool = False  # search.html, Pagefind's index of every issue and paper
    papers_per_page: int = PAPERS_PER_PAGE  # for new issues (each keeps its own); 0: one page

    def issue_url(self, issue_id: str) -> str:
        return f"{self.url}issues/{issue_id}.html"

    def issue_page_path(self, issue_id: str, page: int = 1) -> str:
        """A page of an issue, from the site's root: the first is ``issues/<id>.html``
        (the issue's address, paged or not), the others ``issues/<id>/<n>.html``."""
        if page <= 1:
            return f"issues/{issue_id}.html"
        return f"issues/{issue_id}/{page}.html"

    def paper_path(self, paper: Paper) -> str:
        """The paper on its issue's page, from the site's root (pages link relatively)."""
        page = self.issue_page_path(paper.issue_id or "", paper.page)
        return f"{page}#{paper.anchor}"

    def paper_url(self, paper: Paper) -> str:
        """The paper in its issue (our page): feeds and emails link here."""
        return f"{self.url}{self.paper_path(paper)}"

    def placed_url(self, issue_id: str, page: int, key: str) -> str:
        """``paper_url`` from what a list of titles reads of a paper (its key and page)."""
        return f"{self.url}{self.issue_page_path(issue_id, page)}#{paper_anchor(key)}"

    def section_path(self, issue: Issue, start: int, section_slug: str) -> str:
        """Where a section of an issue begins (``start``: its first paper's place)."""
        return f"{self.issue_page_path(issue.id, issue.page_of(start))}#s-{section_slug}"

    def source(self, paper: Paper) -> PaperLink:
        """The paper itself (its arXiv page, or a search for its title): a reader who
        clicks a title on the page wants the paper, not our own anchor."""
        known = paper.details.arxiv_id if paper.details is not None else None
        return paper_link(paper.title, paper.abstract, self.paper_link, known)


# Markdown headings, list items, quotes, tables, code, a line that opens with a link,
# labels ("Attendees:"): no paper's title. A paper's title may open with a bracket
# ("[Re] Reproducing ..."), never with a link.
_NOT_A_TITLE = re.compile(r"^(?:#|[-*+>|]\s|```|\[[^\]]*\]\(|\d+[.)]\s)|:$")
_NOT_PROSE = re.compile(r"^(?:#|[-*+>|]\s|```|\d+[.)]\s)")  # a list or heading
ABSTRACT_WORDS = 40  # without the page's header, an abstract is a paragraph at least this long


def _misfit(paper: Paper, page_header: bool) -> str | None:
    """Why an entry is not shaped as a paper, or None: a title of one line (no heading,
    list item or label, at most 300 characters) over an abstract (prose, not a list;
    of 40 words or more unless the file has the Daily Papers page's header)."""
    title = paper.title[:60] + ("…" if len(paper.title) > 60 else "")
    if len(paper.title) > 300:
        return f"a title of {len(paper.title):,} characters"
    if _NOT_A_TITLE.search(paper.title):
        return f"{title!r} is a heading, list item or label, not a title"
    if _NOT_PROSE.match(paper.abstract):
        return f"under {title!r}, a list or heading, not an abstract"
    if not page_header:  # words counted only where they decide (every paper of a file)
        words = len(paper.abstract.split())
        if words < ABSTRACT_WORDS:
            return f"under {title!r}, a paragraph of {words} word(s), not an abstract"
    return None


def not_a_listing(papers: Sequence[Paper], *, page_header: bool) -> str | None:
    """Why entries are no listing's (notes, a README, a changelog), or None when they
    are: one carries authors, a date or upvotes, or most are shaped as papers. A page
    header or a date says nothing by itself: a changelog opens with "New", meeting notes
    with "Dec 1"."""
    if any(
        p.authors is not None or p.organization or p.published or p.upvotes is not None
        for p in papers
    ):
        return None
    misfits = [(paper, why) for paper in papers if (why := _misfit(paper, page_header))]
    if 2 * len(misfits) <= len(papers):
        return None
    first, why = misfits[0]
    abstract = (
        "an abstract"
        if page_header
        else (f"an abstract of {ABSTRACT_WORDS} words or more (without the Daily Papers header)")
    )
    return (
        f"this does not look like a digest file: {len(misfits)} of {len(papers)} entries "
        f"are not shaped as papers (line {first.line}: {why}); a listing's entry is a "
        f"one-line title over {abstract}, or has authors, a date or upvotes"
    )
