"""What an output folder holds, listed once per run: the issue files and later-page
folders under ``issues/``, and any temp file a killed run left anywhere.

A run asks the folder several questions before it writes (which issue ids are taken,
whether every published issue has all its pages, which temp files to remove). Each used
to list the folders itself, so a run over an archive of 1,000 paged issues listed each
issue's folder twice and then walked the whole tree: one walk answers all three."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class FolderListing:
    issue_names: frozenset[str]  # the names directly in issues/ (files and folders)
    # issues/<name>/ -> the names in it; None for a folder that could not be read
    issue_folders: Mapping[str, frozenset[str] | None]
    temp_files: tuple[str, ...]  # paths of temp files with the writer's prefix, anywhere
    # Of those names, the regular files: what a page must be to count as there (a folder,
    # a FIFO or a link, even to a page, is no page the writer made)
    issue_files: frozenset[str]
    issue_folder_files: Mapping[str, frozenset[str]]


def list_folder(root: Path, temp_prefix: str) -> FolderListing:
    """One walk of ``root`` (links not followed, as the writer never writes through one).
    Each folder is read once by ``scandir``, whose entries say what they are (no stat
    per entry, as ``os.walk`` and ``islink`` make); an issue's folder of later pages,
    which holds no folder, is not walked into. A temp file is a regular file with the
    writer's prefix: the writer makes no other kind, so no other is ever removed."""
    issues = str(root / "issues")
    issue_names: set[str] = set()
    issue_files: frozenset[str] = frozenset()
    folders: dict[str, frozenset[str] | None] = {}
    folder_files: dict[str, frozenset[str]] = {}
    temps: list[str] = []
    pending = [str(root)]
    while pending:
        folder = pending.pop()
        read = _read_folder(folder)
        if read is None:  # unreadable: an issue's folder says so, any other is skipped
            if os.path.dirname(folder) == issues:
                folders[os.path.basename(folder)] = None
            continue
        walked, linked, files, regular = read
        temps.extend(os.path.join(folder, name) for name in regular if name.startswith(temp_prefix))
        walk_into = [entry.name for entry in walked]
        if folder == issues:
            issue_names.update(walk_into, linked, files)
            issue_files = frozenset(regular)
            for name in linked:  # not walked into: listed apart, as before
                folders[name], folder_files[name] = _leaf(os.path.join(folder, name), None)
            leaves = [entry for entry in walked if _holds_no_folder(entry)]
            for entry in leaves:
                folders[entry.name], folder_files[entry.name] = _leaf(
                    entry.path, temps, temp_prefix
                )
            left = {entry.name for entry in leaves}
            walk_into = [name for name in walk_into if name not in left]
        elif os.path.dirname(folder) == issues:
            name = os.path.basename(folder)
            folders[name] = frozenset([*walk_into, *linked, *files])
            folder_files[name] = frozenset(regular)
        pending.extend(os.path.join(folder, name) for name in reversed(walk_into))
    return FolderListing(frozenset(issue_names), folders, tuple(temps), issue_files, folder_files)


def _holds_no_folder(entry: os.DirEntry[str]) -> bool:
    """A folder's link count is two when no folder is in it, on the file systems that
    count so (ext4, XFS, tmpfs); others (Btrfs: one) have it walked."""
    try:
        return entry.stat(follow_symlinks=False).st_nlink == 2
    except OSError:
        return False


def _leaf(
    folder: str, temps: list[str] | None, temp_prefix: str = ""
) -> tuple[frozenset[str] | None, frozenset[str]]:
    """The names in a folder not walked into, and which of them are regular files; with
    ``temps``, the temp files among them added to it."""
    try:
        with os.scandir(folder) as listed:
            entries = list(listed)
        regular = [entry.name for entry in entries if entry.is_file(follow_symlinks=False)]
    except OSError:
        return None, frozenset()
    if temps is not None:
        temps.extend(os.path.join(folder, name) for name in regular if name.startswith(temp_prefix))
    files = frozenset(regular)
    if len(regular) == len(entries):  # as a folder of pages is: one set for both
        return files, files
    return frozenset(entry.name for entry in entries), files


def _read_folder(
    folder: str,
) -> tuple[list[os.DirEntry[str]], list[str], list[str], list[str]] | None:
    """A folder's entries: folders to walk into, links to folders, everything else, and
    the regular files of that. Each entry's kind is the one ``scandir`` read with its
    name (a comprehension each, not a Python step per entry)."""
    try:
        with os.scandir(folder) as listed:
            entries = list(listed)
        walked = [entry for entry in entries if entry.is_dir(follow_symlinks=False)]
        links = [entry for entry in entries if entry.is_symlink()]
        regular = [entry.name for entry in entries if entry.is_file(follow_symlinks=False)]
    except OSError:
        return None
    linked = [entry.name for entry in links if _leads_to_folder(entry)]
    if not walked and not linked:
        return walked, linked, [entry.name for entry in entries], regular
    folders = {*(entry.name for entry in walked), *linked}
    return walked, linked, [entry.name for entry in entries if entry.name not in folders], regular


def _leads_to_folder(entry: os.DirEntry[str]) -> bool:
    """A link to a folder (listed as a folder, as os.walk does, but not walked into)."""
    try:
        return entry.is_dir()
    except OSError:
        return False
