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
    """One walk of ``root`` (links not followed, as the writer never writes through one)."""
    issues = root / "issues"
    issue_names: set[str] = set()
    folders: dict[str, frozenset[str] | None] = {}
    temps: list[str] = []

    def unreadable(error: OSError) -> None:
        name = os.path.basename(str(error.filename or ""))
        if os.path.dirname(str(error.filename or "")) == str(issues):
            folders[name] = None

    for folder, dirs, files in os.walk(root, onerror=unreadable):
        temps.extend(os.path.join(folder, name) for name in files if name.startswith(temp_prefix))
        if folder == str(issues):
            issue_names.update(dirs)
            issue_names.update(files)
            linked = [name for name in dirs if os.path.islink(os.path.join(folder, name))]
            for name in linked:  # not walked into: listed apart, as before
                try:
                    folders[name] = frozenset(os.listdir(os.path.join(folder, name)))
                except OSError:
                    folders[name] = None
        elif os.path.dirname(folder) == str(issues):
            folders[os.path.basename(folder)] = frozenset([*dirs, *files])
    return FolderListing(frozenset(issue_names), folders, tuple(temps))
