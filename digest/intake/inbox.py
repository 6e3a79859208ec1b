"""What is in the inbox: files to read, files already taken in, entries to refuse.

The scan only looks; it writes nothing (recording what was taken in is the take-in's
job). It opens nothing but regular files inside the inbox: a symbolic link that leads
out of it, a named pipe, a socket, a device, a dangling link or a loop is reported and
never opened, so a file dropped into the inbox can never publish ``/etc/passwd``, and a
FIFO can never hang a run.

A file is known by its content hash, so a renamed copy is not taken in twice and an
edited file is read again. To tell old files from new without re-reading a large inbox,
the store remembers each path's size and modification time with its hash; only files
whose size or time changed are hashed again. A path never seen is hashed once, by the
loader, as it is parsed; the run then skips it if it turns out to be a copy.
"""

from __future__ import annotations

import datetime as dt
import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from digest.dates import latest_listing_day, saved_day
from digest.errors import ConfigError
from digest.intake.loader import peek_digest_date
from digest.intake.reading import (
    Unreadable,
    content_hash,
    kind_of,
    read_regular,
    size_limit_message,
)
from digest.intake.years import Dated, wrap_warnings
from digest.model import Problem
from digest.store import Store
from digest.text import shown_name

PEEK_BYTES = 4096
# A file read less than this after it was last modified cannot be trusted by its size and
# time: an edit within the filesystem's timestamp granularity (2 s on FAT, 1 s on some
# others, more with a file server's clock) keeps both. Such paths are hashed again.
UNSURE_NS = 5 * 10**9
# Names a file has while a browser or a copy is still writing it.
PARTIAL_SUFFIXES = (".part", ".crdownload", ".download", ".partial", ".tmp", ".swp")


class Entry(NamedTuple):
    """A regular file in the inbox: ``path`` is its name there (its identity), ``source``
    where it is read from (the same, or where its link leads inside the inbox). A named
    tuple: a run lists every file the inbox keeps (10,000 of them, in a large one)."""

    path: str
    source: str
    size: int
    mtime_ns: int


@dataclass(frozen=True, slots=True)
class Refused:
    """An inbox entry that is not read, and why. ``name`` is safe to print."""

    name: str
    reason: str


@dataclass(frozen=True, slots=True)
class Candidate:
    """A file in the inbox that has not been taken in. ``latest`` is the latest day its
    dates without a year may be (``dates.latest_listing_day``: by when it was saved)."""

    entry: Entry
    hash: str | None  # None for a path never seen: hashed when it is read
    digest_date: dt.date | None
    latest: dt.date = dt.date.max
    yearless: bool = False  # its date was written without a year (a text listing's)

    @property
    def path(self) -> Path:
        return Path(self.entry.path)

    @property
    def order(self) -> tuple[dt.date, str]:
        return (self.digest_date or dt.date.max, self.path.name)


@dataclass(frozen=True, slots=True)
class Copy:
    """A new path whose content was taken in before (a renamed or second copy)."""

    entry: Entry
    hash: str


@dataclass(slots=True)
class InboxScan:
    candidates: list[Candidate] = field(default_factory=list)
    unchanged: int = 0  # old files, as they were when taken in
    copies: list[Copy] = field(default_factory=list)
    still_rejected: list[Refused] = field(default_factory=list)  # content rejected before
    refused: list[Refused] = field(default_factory=list)  # not opened, or not readable
    settling: list[str] = field(default_factory=list)  # changed too recently: left for later
    forgotten: list[str] = field(default_factory=list)  # remembered paths now gone
    settles_at: float | None = None  # when the youngest settling file will have settled
    problems: list[Problem] = field(default_factory=list)  # dates whose year is unsure
    verified: list[Copy] = field(default_factory=list)  # unsure old files, read: unchanged
    unsure: set[str] = field(default_factory=set)  # paths the store does not trust yet
    started_ns: int = 0  # the wall clock when the scan began: every read is after it

    def trusted(self, mtime_ns: int) -> bool:
        """Whether a file of this modification time, read in this run, may be known by
        its size and time from now on."""
        return mtime_ns <= self.started_ns - UNSURE_NS

    @property
    def copy_paths(self) -> list[str]:
        return sorted(copy.entry.path for copy in self.copies)


def resolve_link(folder_real: str, path: str, folder: str = "the inbox") -> tuple[str | None, str]:
    """Where a link in a folder (the inbox, the notes) leads, if that is a file inside
    the folder (``folder_real``, its real path); else None and why not."""
    try:
        target = os.path.realpath(path, strict=True)
    except FileNotFoundError:
        return None, "a symbolic link to nothing (dangling); not read"
    except (OSError, RuntimeError):
        return None, "a symbolic link loop; not read"
    if os.path.commonpath([folder_real, target]) != folder_real or target == folder_real:
        return None, f"a symbolic link to a file outside {folder}; not read"
    return target, ""


def list_inbox(inbox: Path) -> tuple[list[Entry], list[Refused]]:
    """The regular files directly in the inbox (hidden and partial ones aside), and the
    entries refused, in no particular order. Stat'ed through the folder's descriptor, so
    each stat in a large inbox resolves one name instead of the whole path again."""
    try:
        folder = os.open(inbox, os.O_RDONLY | os.O_DIRECTORY)
    except (FileNotFoundError, NotADirectoryError):
        return [], []
    prefix = os.path.join(inbox, "")
    inbox_real = os.path.realpath(inbox)
    entries: list[Entry] = []
    refused: list[Refused] = []
    try:
        for item in os.scandir(folder):
            name = item.name
            if name.startswith((".", "~")) or name.endswith(PARTIAL_SUFFIXES):
                continue
            path = prefix + name
            if not name.isascii():
                try:
                    name.encode("utf-8")
                except UnicodeEncodeError:
                    message = "its name is not valid UTF-8; rename it"
                    refused.append(Refused(shown_name(path), message))
                    continue
            try:
                info = item.stat(follow_symlinks=False)
                source = path
                if stat.S_ISLNK(info.st_mode):
                    target, why = resolve_link(inbox_real, path)
                    if target is None:
                        refused.append(Refused(shown_name(path), why))
                        continue
                    source, info = target, os.stat(target)
            except OSError as exc:
                refused.append(Refused(shown_name(path), f"cannot read: {exc.strerror}"))
                continue
            if stat.S_ISDIR(info.st_mode):
                continue  # a folder of its own (done/, old/): not the inbox's business
            if not stat.S_ISREG(info.st_mode):
                refused.append(Refused(shown_name(path), f"{kind_of(info.st_mode)}; not read"))
                continue
            entries.append(Entry(path, source, info.st_size, info.st_mtime_ns))
    finally:
        os.close(folder)
    return entries, refused


def scan_inbox(
    inbox: Path,
    store: Store,
    today: dt.date,
    max_size: int,
    settle: float = 0.0,
    year: int | None = None,
) -> InboxScan:
    """Sort the inbox into files to read (in digest-date order), known ones, refused ones
    and ones still being written.

    A file whose path, size and modification time the store remembers is known without
    being opened: a run costs one stat and one set lookup per old file, however many the
    inbox keeps. A new or changed file modified less than ``settle`` seconds ago (by the
    wall clock) may still be being written: it waits for the next run. Dates without a
    year are read against when each file was saved (or in ``year``, when given)."""
    scan = InboxScan(started_ns=time.time_ns())
    taken_as_listed = store.inbox_fingerprints(taken=True)
    scan.unsure = unsure = store.unsure_inbox_paths()
    entries, scan.refused = list_inbox(inbox)
    settled_before = time.time_ns() - int(settle * 1e9)
    others: list[Entry] = []
    for entry in entries:
        if entry.size > max_size:
            # Never read, never remembered: raising the limit lets it in on the next run.
            scan.refused.append(Refused(shown_name(entry.path), size_limit_message(max_size)))
        elif (entry.path, entry.size, entry.mtime_ns) in taken_as_listed and (
            entry.path not in unsure
        ):
            scan.unchanged += 1
        elif settle and entry.mtime_ns > settled_before:
            scan.settling.append(shown_name(entry.path))
            settles_at = (entry.mtime_ns / 1e9) + settle
            scan.settles_at = max(scan.settles_at or 0.0, settles_at)
        else:
            others.append(entry)
    known = store.remembered_inbox_files(entry.path for entry in others)
    listed = {entry.path for entry in entries}
    if store.remembered_inbox_count() != scan.unchanged + len(known):
        # Some remembered path is not among the old files listed: it is gone, or unreadable.
        scan.forgotten = sorted(store.remembered_inbox_paths() - listed)
    hashed: list[tuple[Entry, str, tuple[dt.date | None, bool] | None]] = []

    def latest(entry: Entry) -> dt.date:
        return latest_listing_day(today, saved_day(entry.mtime_ns), year)

    for entry in others:
        remembered = known.get(entry.path)
        if (
            remembered is not None
            and (remembered.size, remembered.mtime_ns) == (entry.size, entry.mtime_ns)
            and entry.path not in unsure
        ):
            if remembered.rejection is not None:  # known without opening it
                scan.still_rejected.append(Refused(shown_name(entry.path), remembered.rejection))
            else:
                hashed.append((entry, remembered.hash, None))
            continue
        try:
            # A path never seen is only peeked at: the loader hashes what it parses, and
            # the run skips it then if it is a copy. A changed one is hashed here, so that
            # a file merely touched is not parsed again.
            data = read_regular(
                entry.source, max_size + 1 if remembered else PEEK_BYTES, follow=False
            )
        except Unreadable as exc:
            scan.refused.append(Refused(shown_name(entry.path), str(exc)))
            continue
        peeked = peek_digest_date(data[:PEEK_BYTES], latest(entry))
        if remembered is None:
            scan.candidates.append(Candidate(entry, None, peeked[0], latest(entry), peeked[1]))
        else:
            hashed.append((entry, content_hash(data), peeked))
    _sort_hashed(scan, store, hashed, known, latest)
    scan.candidates.sort(key=lambda candidate: candidate.order)
    scan.problems = wrap_warnings(
        [
            Dated(shown_name(c.entry.path), c.digest_date, c.latest, c.yearless)
            for c in scan.candidates
        ]
    )
    scan.copies.sort(key=lambda copy: copy.entry.path)
    scan.still_rejected.sort(key=lambda refused: refused.name)
    scan.refused.sort(key=lambda refused: refused.name)
    scan.settling.sort()
    return scan


def _sort_hashed(
    scan: InboxScan,
    store: Store,
    hashed: list[tuple[Entry, str, tuple[dt.date | None, bool] | None]],
    known: dict,
    latest: Callable[[Entry], dt.date],
) -> None:
    """Files whose hash is known: copies of content taken in, content rejected before,
    or content to read."""
    hashes = [file_hash for _, file_hash, _ in hashed]
    taken = store.taken_hashes(hashes)
    rejected = store.rejected_reasons(hashes)
    queued: set[str] = set()
    for entry, file_hash, peeked in hashed:
        remembered = known.get(entry.path)
        if remembered is not None and remembered.hash == file_hash and file_hash in taken:
            scan.unchanged += 1  # read again (touched, or not trusted yet): as it was
            scan.verified.append(Copy(entry, file_hash))
        elif file_hash in taken or file_hash in queued:
            scan.copies.append(Copy(entry, file_hash))
        elif file_hash in rejected and remembered is not None and remembered.hash == file_hash:
            scan.still_rejected.append(Refused(shown_name(entry.path), rejected[file_hash]))
        else:
            if peeked is None:
                try:
                    head = read_regular(entry.source, PEEK_BYTES, follow=False)
                    peeked = peek_digest_date(head, latest(entry))
                except Unreadable:
                    peeked = (None, False)
            queued.add(file_hash)
            scan.candidates.append(Candidate(entry, file_hash, peeked[0], latest(entry), peeked[1]))


def check_folder(folder: Path) -> None:
    """The inbox is a folder that exists: a run says so before it takes the lock."""
    if folder.exists() and not folder.is_dir():
        raise ConfigError(
            f"the inbox {folder} is a file, not a folder",
            "point --inbox or the config's inbox at the folder your digest files go into",
        )
    if not folder.is_dir():
        raise ConfigError(
            f"the inbox folder {folder} does not exist",
            "create it and drop digest files into it, point --inbox or the config's inbox at "
            "your folder, or start with 'digest init'",
        )
