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


def list_folder(root: Path, temp_prefix: str) -> FolderListing:
    """One walk of ``root`` (links not followed, as the writer never writes through one).
    Each folder is read once by ``scandir``, whose entries say what they are (no stat
    per entry, as ``os.walk`` and ``islink`` make); an issue's folder of later pages,
    which holds no folder, by the cheaper ``listdir``."""
    issues = str(root / "issues")
    issue_names: set[str] = set()
    folders: dict[str, frozenset[str] | None] = {}
    temps: list[str] = []
    pending = [str(root)]
    while pending:
        folder = pending.pop()
        read = _read_folder(folder)
        if read is None:  # unreadable: an issue's folder says so, any other is skipped
            if os.path.dirname(folder) == issues:
                folders[os.path.basename(folder)] = None
            continue
        walked, linked, files = read
        temps.extend(os.path.join(folder, name) for name in files if name.startswith(temp_prefix))
        walk_into = [entry.name for entry in walked]
        if folder == issues:
            issue_names.update(walk_into, linked, files)
            for name in linked:  # not walked into: listed apart, as before
                folders[name] = _names(os.path.join(folder, name))
            leaves = [entry for entry in walked if _holds_no_folder(entry)]
            for entry in leaves:
                names = folders[entry.name] = _names(entry.path)
                left_behind = [name for name in names or () if name.startswith(temp_prefix)]
                temps.extend(os.path.join(entry.path, name) for name in left_behind)
            left = {entry.name for entry in leaves}
            walk_into = [name for name in walk_into if name not in left]
        elif os.path.dirname(folder) == issues:
            folders[os.path.basename(folder)] = frozenset([*walk_into, *linked, *files])
        pending.extend(os.path.join(folder, name) for name in reversed(walk_into))
    return FolderListing(frozenset(issue_names), folders, tuple(temps))


def _holds_no_folder(entry: os.DirEntry[str]) -> bool:
    """A folder's link count is two when no folder is in it, on the file systems that
    count so (ext4, XFS, tmpfs); others (Btrfs: one) have it walked."""
    try:
        return entry.stat(follow_symlinks=False).st_nlink == 2
    except OSError:
        return False


def _names(folder: str) -> frozenset[str] | None:
    try:
        return frozenset(os.listdir(folder))
    except OSError:
        return None


def _read_folder(folder: str) -> tuple[list[os.DirEntry[str]], list[str], list[str]] | None:
    """A folder's entries: folders to walk into, links to folders, everything else. Each
    entry's kind is the one ``scandir`` read with its name (a comprehension each, not a
    Python step per entry)."""
    try:
        with os.scandir(folder) as listed:
            entries = list(listed)
        walked = [entry for entry in entries if entry.is_dir(follow_symlinks=False)]
        links = [entry for entry in entries if entry.is_symlink()]
    except OSError:
        return None
    linked = [entry.name for entry in links if _leads_to_folder(entry)]
    if not walked and not linked:
        return walked, linked, [entry.name for entry in entries]
    folders = {*(entry.name for entry in walked), *linked}
    return walked, linked, [entry.name for entry in entries if entry.name not in folders]


def _leads_to_folder(entry: os.DirEntry[str]) -> bool:
    """A link to a folder (listed as a folder, as os.walk does, but not walked into)."""
    try:
        return entry.is_dir()
    except OSError:
        return False
