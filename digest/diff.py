"""What is new: files never taken in, and papers never seen.

A file is known by its content hash, so a renamed copy is not taken in twice and an
edited file is read again. To tell old files from new without re-reading a large inbox,
the store remembers each path's size and modification time with its hash; only files
whose size or time changed are hashed again. A path never seen is hashed once, by the
loader, as it is parsed; the run then skips it if it turns out to be a copy.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from digest.loader import content_hash, peek_digest_date, size_limit_message
from digest.model import Paper
from digest.store import Store

PEEK_BYTES = 4096


@dataclass(frozen=True, slots=True)
class Candidate:
    """A file in the inbox that has not been taken in."""

    path: Path
    size: int
    mtime_ns: int
    hash: str | None  # None for a path never seen: hashed when it is read
    digest_date: dt.date | None

    @property
    def order(self) -> tuple[dt.date, str]:
        return (self.digest_date or dt.date.max, self.path.name)


@dataclass(slots=True)
class InboxScan:
    candidates: list[Candidate] = field(default_factory=list)
    unchanged: int = 0  # old files, as they were when taken in
    copies: list[str] = field(default_factory=list)  # new paths, content taken in before
    still_rejected: list[tuple[Path, str]] = field(default_factory=list)
    unreadable: list[tuple[Path, str]] = field(default_factory=list)
    forgotten: list[str] = field(default_factory=list)  # remembered paths now gone


def inbox_listing(inbox: Path) -> list[tuple[str, os.stat_result | OSError]]:
    """(path, stat or why not) of the regular, non-hidden files directly in the inbox, in
    no particular order.

    The folder is listed and stat'ed through a descriptor, so each stat in a large inbox
    resolves one name instead of the whole path again."""
    try:
        folder = os.open(inbox, os.O_RDONLY | os.O_DIRECTORY)
    except (FileNotFoundError, NotADirectoryError):
        return []
    prefix = os.path.join(inbox, "")
    listing: list[tuple[str, os.stat_result | OSError]] = []
    try:
        for entry in os.scandir(folder):
            if entry.name.startswith((".", "~")) or not entry.is_file(follow_symlinks=True):
                continue
            try:
                listing.append((prefix + entry.name, entry.stat()))
            except OSError as exc:
                listing.append((prefix + entry.name, exc))
    finally:
        os.close(folder)
    return listing


def scan_inbox(inbox: Path, store: Store, today: dt.date, max_size: int) -> InboxScan:
    """Sort the inbox into files to read (in digest-date order), known ones and rejected
    ones.

    A file whose path, size and modification time the store remembers is known without
    being opened: a run costs one stat and one set lookup per old file, however many the
    inbox keeps."""
    scan = InboxScan()
    taken_as_listed = store.inbox_fingerprints(taken=True)
    listed = inbox_listing(inbox)
    unchanged = 0
    others: list[tuple[str, int, int]] = []
    for path, stat in listed:
        if isinstance(stat, OSError):
            scan.unreadable.append((Path(path), f"cannot read: {stat.strerror}"))
            continue
        fingerprint = (path, stat.st_size, stat.st_mtime_ns)
        if stat.st_size > max_size:
            # Never read, never remembered: raising the limit lets it in on the next run.
            scan.unreadable.append((Path(path), size_limit_message(max_size)))
        elif fingerprint in taken_as_listed:
            unchanged += 1
        else:
            others.append(fingerprint)
    known = store.remembered_inbox_files(path for path, _, _ in others)
    scan.unchanged = unchanged
    if store.remembered_inbox_count() != unchanged + len(known):
        # Some remembered path is not among the old files listed: it is gone, or unreadable.
        scan.forgotten = sorted(store.remembered_inbox_paths() - {path for path, _ in listed})
    listing: list[tuple[str, int, int, str, dt.date | None]] = []
    for path, size, mtime_ns in others:
        remembered = known.get(path)
        if remembered is not None and remembered.size == size and remembered.mtime_ns == mtime_ns:
            # Known without opening it.
            if remembered.rejection is not None:
                scan.still_rejected.append((Path(path), remembered.rejection))
            else:
                listing.append((path, size, mtime_ns, remembered.hash, None))
            continue
        try:
            with open(path, "rb") as handle:
                # A path never seen is only peeked at: the loader hashes what it parses,
                # and the run skips it then if it is a copy. A changed one is hashed here,
                # so that a file merely touched is not parsed again.
                data = handle.read() if remembered else handle.read(PEEK_BYTES)
        except OSError as exc:
            scan.unreadable.append((Path(path), f"cannot read: {exc.strerror}"))
            continue
        digest_date = peek_digest_date(data[:PEEK_BYTES], today)
        if remembered is None:
            scan.candidates.append(Candidate(Path(path), size, mtime_ns, None, digest_date))
        else:
            listing.append((path, size, mtime_ns, content_hash(data), digest_date))
    hashes = [item[3] for item in listing]
    taken = store.taken_hashes(hashes)
    rejected = store.rejected_reasons(hashes)
    queued: set[str] = set()
    for path, size, mtime_ns, file_hash, digest_date in listing:
        if file_hash in taken or file_hash in queued:
            scan.copies.append(path)
            if path not in known or known[path][:2] != (size, mtime_ns):
                store.remember_inbox_file(path, size, mtime_ns, file_hash)
        elif file_hash in rejected and path in known and known[path].hash == file_hash:
            scan.still_rejected.append((Path(path), rejected[file_hash]))
        else:
            if digest_date is None and path in known:
                try:
                    with open(path, "rb") as handle:
                        digest_date = peek_digest_date(handle.read(PEEK_BYTES), today)
                except OSError:
                    digest_date = None
            queued.add(file_hash)
            scan.candidates.append(Candidate(Path(path), size, mtime_ns, file_hash, digest_date))
    scan.candidates.sort(key=lambda candidate: candidate.order)
    scan.copies.sort()
    scan.still_rejected.sort()
    scan.unreadable.sort()
    return scan


class PaperDiff:
    """Splits each file's papers into new and seen-again, across all files of one run."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def split(self, papers: Iterable[Paper]) -> tuple[list[Paper], dict[str, tuple[int, Paper]]]:
        """(new papers, {key: (id, paper)} of those seen before).

        A paper listed twice in one file counts once; the first listing wins. Papers
        new earlier in this run are in the store by now, so they count as seen."""
        unique: dict[str, Paper] = {}
        for paper in papers:
            unique.setdefault(paper.key, paper)
        known = self.store.known_papers(unique)
        new = [paper for key, paper in unique.items() if key not in known]
        again = {key: (known[key], unique[key]) for key in known}
        return new, again
