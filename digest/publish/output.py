"""The only module that writes output files.

Every file is written to a temporary file beside its target, flushed to disk and then
renamed over the target, so a reader (a web server, a feed reader, a mail client)
sees either the old file or the new one, whole. Paths are built from names the tool
makes (issue ids, fixed names); anything that would land outside the output folder
is refused.

An output folder belongs to one state: ``.digest-owner`` in it names the state that
publishes there. A state that does not own a folder holding digest output refuses to
write to it, so a new or lost state can never overwrite an archive it knows nothing of.
No run removes a file it did not write: the only files ever removed are this owner's
own temporary files, left by a run that was killed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NoReturn

from digest.errors import OutputError, OwnershipError
from digest.faults import pause_point
from digest.intake.reading import Unreadable, read_regular
from digest.publish import compress
from digest.publish.listing import FolderListing, list_folder
from digest.publish.staged import (
    Staged,
    Unwritten,
    abandon,
    encoded,
    feed,
    finish,
    unwritten_error,
)

TEMP_PREFIX = ".digest-tmp-"
OWNER_FILE = ".digest-owner"
# What digest writes at the top of an output folder: a folder holding any of these holds
# digest output (other files, such as a README, are never touched).
DIGEST_NAMES = frozenset(
    {
        "index.html",
        "issues",
        "archive",
        "sections",
        "rss.xml",
        "atom.xml",
        "feed.json",
        "issues.xml",
    }
)
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_ISSUE_FILE = re.compile(r"(\d{4}-\d{2}-\d{2}(?:-\d+)?)\.(?:md|html|eml)")
_ISSUE_ID = re.compile(r"\d{4}-\d{2}-\d{2}(?:-\d+)?")  # issues/<id>/: a paged issue's pages


@dataclass(frozen=True, slots=True)
class Owner:
    """The state that publishes into an output folder."""

    state_id: str
    site: str


@functools.lru_cache(maxsize=64)
def _later_page_names(page_count: int) -> frozenset[str]:
    return frozenset(f"{page}.html" for page in range(2, page_count + 1))


class OutputWriter:
    """Writes files under one root folder, atomically, and remembers what it wrote.

    ``write`` only stages a file (a complete temp file beside its target); ``commit``
    renames every staged file into place. A failure while rendering any output thus
    leaves every published file as it was; ``discard`` removes what was staged.
    """

    def __init__(
        self, root: Path, owner: Owner | None = None, *, precompress: bool = False
    ) -> None:
        self.root = Path(os.path.realpath(root))  # a loop: its writes fail as output errors
        self.owner = owner
        self.precompress = precompress  # a .gz and a .br beside each page and feed
        self.written: list[Path] = []
        self.staged: list[tuple[str, Path]] = []
        # The compressing and the finishing (fsync, close) of staged files, on a helper
        # thread beside the rendering of the next file; waited for in ``settle``.
        self._helper = compress.Helper()
        self._finishing: list[Staged] = []
        # Temp files carry their owner's tag, so a run removes only its own state's.
        self.temp_prefix = TEMP_PREFIX + (owner.state_id[:8] + "-" if owner else "")
        self._listing: FolderListing | None = None  # what the folder holds, listed once

    def listing(self) -> FolderListing:
        """The folder as it is before this writer changes it: one walk answers every
        question a run asks of it (listed again after the writer has written)."""
        if self._listing is None:
            self._listing = list_folder(self.root, self.temp_prefix)
        return self._listing

    # -- whose folder ---------------------------------------------------------------------

    def recorded_owner(self) -> Owner | None:
        marker = self.root / OWNER_FILE
        if not os.path.lexists(marker):
            return None
        try:  # as a regular file only: never through a link, never from a FIFO
            data = json.loads(read_regular(str(marker), 1 << 16, follow=False).decode("utf-8"))
            return Owner(str(data["state_id"]), str(data["site"]))
        except (Unreadable, ValueError, KeyError, TypeError) as exc:
            raise OwnershipError(
                f"cannot read {self.root / OWNER_FILE}: {exc}",
                "it records which digest state publishes here; restore it, or adopt the "
                "folder on purpose with --adopt-output",
            ) from None

    def holds_output(self) -> bool:
        """Whether any file digest writes is here (empty folders do not count)."""
        for name in DIGEST_NAMES:
            path = self.root / name
            if path.is_file() or (path.is_dir() and any(p.is_file() for p in path.rglob("*"))):
                return True
        return False

    def issue_ids_present(self) -> set[str]:
        """Issue ids that have a file in ``issues/``: never given to another issue."""
        names = self.listing().issue_names
        ids = {match[1] for name in names if (match := _ISSUE_FILE.fullmatch(name))}
        return ids | {name for name in names if _ISSUE_ID.fullmatch(name) and self._holds(name)}

    def _holds(self, issue_id: str) -> bool:
        """Whether ``issues/<id>/`` (a paged issue's later pages) holds a file: a folder
        that a killed or refused run left empty, or with only temp files, names no issue."""
        names = self.listing().issue_folders.get(issue_id)
        if names is None:
            return True  # not a folder, or one (or a link) that cannot be read: never reused
        return any(not name.startswith(TEMP_PREFIX) for name in names)

    def has_later_pages(self, issue_id: str, page_count: int) -> bool:
        """Whether every later page of a paged issue is here (``issues/<id>/<n>.html``,
        2 to ``page_count``), each a file (not a folder or a link): asked of every
        published issue before each run."""
        files = self.listing().issue_folder_files.get(issue_id) or frozenset()
        return _later_page_names(page_count) <= files

    def issue_pages_present(self) -> set[str]:
        """Issue ids whose web page (``issues/<id>.html``) is here, as a file."""
        return {name[:-5] for name in self.listing().issue_files if name.endswith(".html")}

    def claim(self, *, replace: bool = False) -> None:
        """Record this writer's owner in the folder. The marker is created only if there
        is none (``replace``: over another's, to adopt the folder), so of two states that
        claim one new folder at the same moment, one wins and the other is refused."""
        self._listing = None
        assert self.owner is not None
        record = {
            "state_id": self.owner.state_id,
            "site": self.owner.site,
            "note": "the digest state that publishes into this folder",
        }
        target = self.root / OWNER_FILE
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, temp_name = tempfile.mkstemp(prefix=self.temp_prefix, dir=self.root)
            with os.fdopen(fd, "wb") as handle:
                handle.write((json.dumps(record, indent=2) + "\n").encode())
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temp_name, 0o644)
            try:
                if replace:
                    os.replace(temp_name, target)
                else:
                    os.link(temp_name, target)
            except FileExistsError:
                if self.recorded_owner() != self.owner:
                    raise OwnershipError(
                        f"another digest state claimed the output folder {self.root} just now",
                        "give each state its own output folder",
                    ) from None
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temp_name)
        except OSError as exc:
            raise OutputError(
                f"cannot write to {self.root}: {exc.strerror}",
                "check that the output folder is writable; nothing was published",
            ) from exc
        self.written.append(target)
        self.sync()
        self.written.pop()  # not an output: what a run reports as written stays its own

    def path_for(self, relative: str) -> Path:
        parts = relative.split("/")
        if relative != OWNER_FILE and not all(_SAFE_NAME.fullmatch(part) for part in parts):
            raise OutputError(f"refusing to write {relative!r}: not a name digest makes")
        target = self.root.joinpath(*parts)
        if self.root not in target.parents:
            raise OutputError(f"refusing to write outside {self.root}: {relative!r}")
        if len(parts) > 1:  # a folder of ours (issues/<id>/, ...) a symbolic link could replace
            folder = Path(os.path.realpath(target.parent))
            if folder != self.root and self.root not in folder.parents:
                raise OutputError(
                    f"refusing to write {relative!r}: {target.parent} leads outside {self.root}",
                    "remove the symbolic link; digest makes that folder itself",
                )
        return target

    def write(self, relative: str, content: str | bytes | Iterable[str]) -> Path:
        """Stage content (text, bytes, or text chunks streamed) for ``relative``."""
        return self.write_all({relative: content})[0]

    def write_changed(self, relative: str, content: str | bytes | Iterable[str]) -> bool:
        """Stage ``relative`` only if its bytes differ from the file there: a page written
        again for a link that may already be right keeps its file (and its time) when it
        is. Returns whether it was staged."""
        data = b"".join(encoded(relative, content))
        target = self.path_for(relative)
        try:  # as a regular file only: a FIFO there would wait for ever, a link lead out
            if read_regular(str(target), len(data) + 1, follow=False) == data:
                return False
        except Unreadable:
            pass  # not there, unreadable, or no file of ours (a FIFO, a link): written
        self.write(relative, data)
        return True

    def write_all(self, contents: dict[str, str | bytes | Iterable[str]]) -> list[Path]:
        """Stage several files (each whole, or not at all: one failing stages none), each
        with its precompressed siblings (see ``compress``), written from the same batches.
        Each file's compressing and finishing go on on the helper thread while the next
        one renders: ``settle`` (and ``commit``) wait for them."""
        self._listing = None
        opened: list[Staged] = []
        current: Path | None = None
        try:
            for relative, content in contents.items():
                target = self.path_for(relative)
                staged = Staged(*self._temp(target), encoded(relative, content))
                opened.append(staged)
                for suffix in compress.wanted(self.precompress, os.path.exists, str(target)):
                    temp_name, _sibling_target, handle = self._temp(target, suffix)
                    staged.siblings.append((temp_name, compress.Sibling(suffix, handle)))
            for staged in opened:
                current = staged.target  # named in the message, should the disk fail
                for batch in staged.batches:
                    staged.handle.write(batch)
                    if staged.siblings:
                        self._helper.submit(feed, staged, batch)
                self._finishing.append(staged)
                self._helper.submit(finish, staged)
        except BaseException as exc:
            self._failed(exc, opened, current)
        for staged in opened:  # the siblings first: most readers take those
            self.staged.extend(
                (temp_name, Path(f"{staged.target}{sibling.suffix}"))
                for temp_name, sibling in staged.siblings
            )
            self.staged.append((staged.temp_name, staged.target))
        return [staged.target for staged in opened]

    def settle(self) -> None:
        """Wait until every staged file is whole on disk (compressed, flushed, closed);
        a failure there fails like a write would, with every staged file removed. The
        publisher settles at the end of staging, before the state records the issues."""
        try:
            self._helper.wait()
        except BaseException as exc:
            self._failed(exc, [], None)
        self._finishing = []

    def _failed(self, exc: BaseException, opened: list[Staged], current: Path | None) -> NoReturn:
        """Staging failed: nothing half written stays, and a disk's error is an output
        error naming the file (one the helper thread was finishing names its own)."""
        self._fail(opened)
        if isinstance(exc, Unwritten):
            raise exc.error() from exc.cause
        if isinstance(exc, OSError):
            raise unwritten_error(current, exc) from exc
        raise exc

    def _fail(self, opened: list[Staged]) -> None:
        """After a failure: stop the helper thread, then remove the files it was still
        finishing and those being staged (nothing half written stays)."""
        self._helper.close()
        being_staged = {id(staged) for staged in opened}
        finishing = [staged for staged in self._finishing if id(staged) not in being_staged]
        abandon([*opened, *finishing])
        self._finishing = []

    def _temp(self, target: Path, suffix: str = "") -> tuple[str, Path, BinaryIO]:
        """A temp file beside ``target`` (or beside its sibling ``target`` + suffix)."""
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, temp_name = tempfile.mkstemp(
                prefix=self.temp_prefix, suffix=suffix, dir=target.parent
            )
        except OSError as exc:
            raise OutputError(
                f"cannot write to {target.parent}: {exc.strerror}",
                "check that the output folder exists and is writable; nothing was published",
            ) from exc
        return temp_name, target, os.fdopen(fd, "wb")

    def commit(self) -> None:
        """Rename every staged file over its target, then make the renames durable. The
        issues' files go first, whatever order they were staged in (the site is staged
        first, for speed): should a rename fail or the run be killed half way, no index
        or feed names a page that is not there yet."""
        self._listing = None
        self.settle()
        issues = os.path.join(self.root, "issues", "")
        in_order = sorted(self.staged, key=lambda staged: not str(staged[1]).startswith(issues))
        for temp_name, target in in_order:
            try:
                os.replace(temp_name, target)
            except OSError as exc:
                self.discard()
                raise OutputError(
                    f"cannot write {target}: {exc.strerror}",
                    "fix the output folder; the next run publishes the same papers",
                ) from exc
            self.written.append(target)
            pause_point("renaming")
        self.staged = []
        self.sync()

    @contextlib.contextmanager
    def staging_only(self) -> Iterator[None]:
        """Stage files inside the block; if it fails, remove what it staged, leaving every
        published file as it was. (``commit`` puts them in place.)"""
        try:
            yield
        except BaseException:
            self.discard()
            raise

    def discard(self) -> None:
        self._listing = None
        if self._finishing:
            self._fail([])
        for temp_name, _target in self.staged:
            with contextlib.suppress(OSError):
                os.unlink(temp_name)
        self.staged = []

    def sync(self) -> None:
        """Make the renames durable before the state says they happened."""
        for folder in {path.parent for path in self.written}:
            with contextlib.suppress(OSError):
                fd = os.open(folder, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)

    def remove_superseded(self, relatives: Iterable[str], under: str) -> int:
        """Remove files this state wrote under ``under/`` that a newer version of them
        replaced (the search index's), with their siblings; after the commit, never
        before. Returns how many were there."""
        self._listing = None
        removed = 0
        for relative in relatives:
            if not relative.startswith(under + "/"):
                continue
            path = self.path_for(relative)
            for each in (path, *(Path(f"{path}{s}") for s in compress.SUFFIXES)):
                with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                    each.unlink()
                    removed += each == path
        return removed

    def exists(self, relative: str) -> bool:
        return self.path_for(relative).exists()

    def remove_stale_temp_files(self) -> int:
        """Temp files a killed run of this owner left behind (and nothing else)."""
        if not self.root.is_dir() or self.owner is None:
            return 0
        listing = self.listing()
        removed = 0
        for path in listing.temp_files:
            with contextlib.suppress(OSError):
                os.unlink(path)
                removed += 1
        self._listing = dataclasses.replace(listing, temp_files=())
        return removed
