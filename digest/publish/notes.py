"""The editor's voice: a note and picks at the top of an issue, written in Markdown.

``notes/next.md`` is taken by the next issue published; ``notes/<issue-id>.md`` belongs to
that issue (written ahead, or edited after a run for a rebuild). A note may open with a
TOML header between ``+++`` lines (as Hugo's front matter) listing the editor's picks:

    +++
    [[picks]]
    title = "Densing Law of LLMs"
    comment = "Why capacity density matters."
    +++
    Two lines on what mattered this week.

The note is the owner's text, but it passes the same checks as everything else: it is read
as the inbox's files are (a regular file inside the notes folder, within a size), raw HTML
in it is escaped (shown as written, never run), and a link that is not http(s) or mailto
refuses the note, failing the run with exit code 3 before anything is published. It is
kept in the state with its issue, so the issue renders the same from the state alone; the
file ``next.md`` is renamed to ``<issue-id>.md`` once the issue is committed, so it is
never used twice, and a run killed before that leaves it to be renamed by the next.
"""

from __future__ import annotations

import html
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from digest.errors import TemplateProblem
from digest.intake.decoding import clean_text
from digest.intake.inbox import resolve_link
from digest.intake.reading import Unreadable, read_regular
from digest.model import Issue, Paper, Problem, Severity, title_key
from digest.publish.records import Note, Pick
from digest.publish.safety import SAFE_SCHEMES, url_scheme
from digest.store import Store

NEXT = "next.md"
MAX_NOTE_BYTES = 64 * 1024  # a note is a few paragraphs; a longer text belongs on a page
# Python-Markdown looks for the end of each "[" (a link's text) to the end of its block, so
# many brackets in a long block cost time that grows with their square (4,000 "[": seconds,
# then minutes): past this many characters looked at, a note is refused, not rendered.
MAX_BRACKET_SCAN = 1_000_000
_TOO_LONG = f"over the limit of {MAX_NOTE_BYTES:,} bytes for a note"
_SHORTEN = "shorten it: a note is a few paragraphs (link to a longer text on a page of yours)"
_FIX = "make it a regular file (UTF-8 text) in the notes folder"
_FRONT = re.compile(r"\A\+\+\+[ \t]*\r?\n(.*?)\r?\n\+\+\+[ \t]*(?:\r?\n|\Z)", re.S)
EXTENSIONS = ("sane_lists",)  # python-markdown's own; no raw HTML (see ``to_html``)


class NoteProblem(TemplateProblem):
    """A note that cannot be published as written (exit code 3, like a template)."""


def parse(source: str, where: str) -> Note:
    """A note's source as every output shows it. Control characters (ESC, form feed, NUL,
    which no page, feed or email may carry) are removed, and counted (``removed``)."""
    if len(source.encode("utf-8", "surrogatepass")) > MAX_NOTE_BYTES:
        raise NoteProblem(f"the note {where} is {_TOO_LONG}", _SHORTEN)
    text = clean_text(source)
    removed = len(source) - len(text)
    body: str = text
    picks: tuple[Pick, ...] = ()
    front = _FRONT.match(text)
    if front:
        import tomllib  # a note with a header: not every run has one

        try:
            header = tomllib.loads(front.group(1))
        except tomllib.TOMLDecodeError as exc:
            raise NoteProblem(
                f"the note {where}: its +++ header is not valid TOML: {exc}",
                "fix the header, or remove it",
            ) from None
        picks, cleaned = _picks(header, where)
        removed += cleaned
        body = text[front.end() :]
    _check_brackets(body, where)
    rendered = to_html(body, where)
    return Note(source, body, rendered, to_text(rendered), picks, removed)


def _check_brackets(body: str, where: str) -> None:
    """Refuse a note Python-Markdown would take minutes over: for each "[", it reads on to
    its "]" (to the end of the block if there is none). Counted over the whole note."""
    costs: list[tuple[int, int, int]] = []  # (characters read, paragraph, its "[")
    for number, block in enumerate(re.split(r"\n[ \t]*\n", body), start=1):
        if "[" not in block:
            continue
        scanned, opened = 0, []
        for position, char in enumerate(block):
            if char == "[":
                opened.append(position)
            elif char == "]" and opened:
                scanned += position - opened.pop()
        scanned += sum(len(block) - position for position in opened)
        costs.append((scanned, number, block.count("[")))
    if sum(cost for cost, _, _ in costs) > MAX_BRACKET_SCAN:
        _, number, brackets = max(costs)
        raise NoteProblem(
            f"the note {where}: its '[' would take Markdown minutes to read (paragraph "
            f"{number} has {brackets:,})",
            "write a '[' that opens no link as '\\[', or split the paragraph",
        )


def _picks(header: dict[str, Any], where: str) -> tuple[tuple[Pick, ...], int]:
    """The picks, and how many control characters their text had (a TOML escape such as
    "\\u001b" makes one): taken out, as from the note itself."""
    unknown = set(header) - {"picks"}
    if unknown:
        raise NoteProblem(
            f"the note {where}: unknown key {sorted(unknown)[0]!r} in its header",
            "the header knows [[picks]] with title and comment",
        )
    found, removed = [], 0
    for number, item in enumerate(header.get("picks", []), start=1):
        if not isinstance(item, dict) or not isinstance(item.get("title"), str):
            raise NoteProblem(
                f"the note {where}: pick {number} needs a title",
                'e.g. [[picks]] title = "…" comment = "…"',
            )
        comment = item.get("comment", "")
        if not isinstance(comment, str):
            raise NoteProblem(f"the note {where}: pick {number}'s comment is not text")
        title, cleaned = clean_text(item["title"]), clean_text(comment)
        removed += len(item["title"]) + len(comment) - len(title) - len(cleaned)
        found.append(Pick(title, cleaned, title_key(title)))
    return tuple(found), removed


def to_html(markdown_text: str, where: str) -> str:
    import markdown

    converter = markdown.Markdown(extensions=list(EXTENSIONS))
    # Raw HTML is text here: a note shows "<script>" as written, as scraped text does.
    converter.preprocessors.deregister("html_block")
    converter.inlinePatterns.deregister("html")
    rendered = converter.convert(markdown_text)
    for attribute, value in re.findall(r'\s(href|src)="([^"]*)"', rendered):
        scheme = url_scheme(html.unescape(value))  # as the page's final check reads it
        if scheme not in SAFE_SCHEMES:
            raise NoteProblem(
                f"the note {where}: a {scheme}: link ({attribute}) is not allowed",
                "links in a note must be http(s) or mailto",
            )
    return rendered


def to_text(rendered: str) -> str:
    """A note's HTML as plain text: paragraphs, list items, links written out."""
    from digest.publish.note_text import to_text as plain  # a note's: not every run has one

    return plain(rendered)


@dataclass
class NotesFolder:
    """The notes folder (``notes`` beside the config). Writes only there: it renames
    ``next.md`` once its issue is committed, nothing else."""

    root: Path

    def for_issue(self, issue_id: str) -> tuple[str, Path] | None:
        """The note an issue being published takes: its own file, else next.md."""
        for name in (f"{issue_id}.md", NEXT):
            path = self.root / name
            text = self._read(path)
            if text is not None:
                return text, path
        return None

    def own(self, issue_id: str) -> str | None:
        """An issue's own note file, as the editor last left it (a rebuild takes it)."""
        return self._read(self.root / f"{issue_id}.md")

    def edited(self, issue_id: str, stored: str | None) -> str | None:
        """The issue's own note file, if the editor changed it since the state took it
        (a missing file is no change: on a machine without the notes folder, a rebuild
        of everything must not drop every issue's note)."""
        own = self.own(issue_id)
        return own if own is not None and own != stored else None

    def consume(self, path: Path, source: str, issue_id: str) -> str | None:
        """next.md has been published with ``issue_id``: rename it, so it is never taken
        twice (unless it changed since it was read: then it is a new note, and stays;
        returned is the warning that says so)."""
        if path.name != NEXT:
            return None
        try:
            now = self._read(path)
        except NoteProblem as exc:
            now = exc.message  # it changed into something that cannot be read: changed
        if now is None:
            return None
        if now != source:
            return (
                f"{path} changed while issue {issue_id} was being published: the issue has "
                f"the note as the run read it, and the changed {NEXT} stays, for the next "
                f"issue published; if it was meant for this one, rename it to {issue_id}.md "
                f"and run 'digest rebuild {issue_id}'"
            )
        target = self.root / f"{issue_id}.md"
        if target.exists():
            return None
        os.replace(path, target)
        return None

    def _read(self, path: Path) -> str | None:
        """The note at ``path``, or None if there is none. As the inbox's files are: only a
        regular file inside the notes folder is read (a link is followed only to one), so
        a link to /etc/passwd is refused rather than published, and a named pipe refused
        rather than waited on for ever."""
        try:
            info = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise NoteProblem(f"cannot read the note {path}: {exc.strerror}", _FIX) from None
        source = str(path)
        if stat.S_ISLNK(info.st_mode):
            target, why = resolve_link(os.path.realpath(self.root), source, "the notes folder")
            if target is None:
                raise NoteProblem(f"the note {path} is {why}", _FIX)
            source = target
        try:
            data = read_regular(source, MAX_NOTE_BYTES + 1, follow=False)
        except Unreadable as exc:
            raise NoteProblem(f"the note {path} is not read: {exc}", _FIX) from None
        if len(data) > MAX_NOTE_BYTES:
            raise NoteProblem(f"the note {path} is {_TOO_LONG}", _SHORTEN)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise NoteProblem(
                f"cannot read the note {path}: not UTF-8 ({exc.reason} at byte {exc.start})",
                "save it as UTF-8 text",
            ) from None


def unmatched(note: Note, papers: Iterable[Paper]) -> list[str]:
    """The picks that match no paper of the issue, by title (a warning, not an error)."""
    keys = {paper.key for paper in papers}
    return [pick.title for pick in note.picks if pick.key not in keys]


@dataclass(frozen=True, slots=True)
class TakenNote:
    """A note an issue took in this run: its file is renamed once the run has committed."""

    path: Path
    source: str
    issue_id: str
    note: Note  # as parsed: what the run may have to warn of


def take(
    store: Store, folder: NotesFolder, issues: list[Issue], newest: str | None
) -> tuple[list[TakenNote], list[Problem]]:
    """The note of each new issue: its own file, or next.md for the newest. Each is kept
    in the state with its issue (a note that cannot be published raises, failing the run
    before the commit). Returns what to rename once committed, and warnings (picks that
    match no paper of the issue)."""
    taken: list[TakenNote] = []
    warnings: list[Problem] = []
    for issue in issues:
        own = folder.own(issue.id)
        found = (own, folder.root / f"{issue.id}.md") if own is not None else None
        if found is None and issue.id == newest:
            found = folder.for_issue(issue.id)
        if found is None:
            continue
        source, path = found
        note = parse(source, str(path))
        store.set_note(issue.seq, source)
        if note.removed:
            warnings.append(
                Problem(
                    str(path),
                    None,
                    f"removed {note.removed} control character(s) from the note (ESC, form "
                    "feed, NUL and the like, which no page, feed or email may carry)",
                    Severity.WARNING,
                )
            )
        papers = store.issue_papers_with_keys(issue.seq, [pick.key for pick in note.picks])
        for title in unmatched(note, papers):
            warnings.append(
                Problem(
                    str(path),
                    None,
                    f"the pick {title!r} matches no paper of issue {issue.id}",
                    Severity.WARNING,
                )
            )
        taken.append(TakenNote(path, source, issue.id, note))
    return taken, warnings


def finish(store: Store, folder: NotesFolder) -> None:
    """A run killed after its commit, before it renamed next.md: rename it now."""
    newest = store.issue(None)
    try:
        found = folder.for_issue(newest.id) if newest is not None else None
    except NoteProblem:
        return  # not a note that issue was published with; a new issue that takes it says so
    if newest is None or found is None or found[1].name != NEXT:
        return
    if store.note(newest.seq) == found[0]:  # it is the note that issue was published with
        folder.consume(found[1], found[0], newest.id)
