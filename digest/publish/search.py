"""Search across the archive: a Pagefind index of every issue and every paper, and
``search.html``, the one page that runs a script (Pagefind's own, from ``pagefind/``).

With ``search = true`` (and ``pip install 'digest[search]'``), publishing builds the index
from the state: a record per paper (its title, who wrote it, its abstract; the issue it is
in), linking to its anchor in its issue's page, and a record per issue (its date, its
summary, the editor's note). Pagefind builds a whole index each time (it has no way to
add to one), so the index is built again on every publish; what is written is only what
changed: Pagefind names its index, fragment and meta files by their content, so a file
already in ``pagefind/`` is already right, and the others are written only when their
bytes differ. Every file goes through the OutputWriter (staged, renamed at the commit).

The files of an older index that the new one no longer uses are removed after the
commit, and only those: ``pagefind/digest-files.json`` lists the files this state's
index wrote, with the ones still to remove (so a run killed before removing them leaves
them listed for the next). Nothing else in the folder is ever removed.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from digest.dates import long_date
from digest.errors import ConfigError
from digest.intake.reading import DEFAULT_MAX_FILE_SIZE, Unreadable, read_regular
from digest.model import Issue, Paper, Site
from digest.publish import pagefind_service
from digest.publish.output import OutputWriter
from digest.publish.safety import SEARCH_PAGE, SEARCH_SCRIPT
from digest.publish.templates import Templates
from digest.store import Store

PAGE = SEARCH_PAGE
BUNDLE = "pagefind"
MANIFEST = f"{BUNDLE}/digest-files.json"
# The only script any page may load, and only the search page (see safety.py).
SCRIPT = SEARCH_SCRIPT
STYLE = f"{BUNDLE}/pagefind-component-ui.css"
# Pagefind's content-named files: a file of that name holds those bytes.
_CONTENT_NAMED = re.compile(
    r"(?:fragment|index|filter)/[a-z-]+_[0-9a-f]+\.pf_\w+|pagefind\.[\w-]+_[0-9a-f]+\.pf_meta"
)
# What of Pagefind's bundle the search page needs (not its other user interfaces).
_NOT_NEEDED = ("pagefind-ui.", "pagefind-modular-ui.", "pagefind-highlight.")
INSTALL_HINT = "pip install 'digest[search]' (Pagefind's binary, from PyPI), or set search = false"


def binary() -> Path:
    """The Pagefind binary; a ConfigError naming the install when it is missing."""
    found = pagefind_service.executable()
    if found is None:
        raise ConfigError("search = true, but Pagefind is not installed", INSTALL_HINT)
    return found


def _paper_record(site: Site, issue: Issue, paper: Paper) -> dict[str, Any]:
    who = ", ".join(paper.details.author_names[:3]) if paper.details else ""
    if not who and paper.organization is not None:
        who = paper.organization.name
    return {
        "type": "AddRecord",
        "url": site.paper_path(paper),  # the page of a paged issue that shows it
        "content": "\n".join(part for part in (paper.title, who, paper.abstract) if part),
        "language": site.language,
        "meta": {"title": paper.title},
        "filters": {"issue": [issue.id]},
        "sort": {"date": issue.date.isoformat()},
    }


def _issue_record(site: Site, issue: Issue, note: str | None) -> dict[str, Any]:
    when = long_date(issue.date)
    words = [f"{site.title}: the issue of {when}", f"{issue.paper_count:,} new papers"]
    if note:
        words.append(note)
    return {
        "type": "AddRecord",
        "url": site.issue_page_path(issue.id),
        "content": "\n".join(words),
        "language": site.language,
        "meta": {"title": f"The issue of {when}"},
        "filters": {"issue": [issue.id]},
        "sort": {"date": issue.date.isoformat()},
    }


def _records(store: Store, site: Site, index_id: int) -> Iterator[dict[str, Any]]:
    for issue in store.issues():
        yield {**_issue_record(site, issue, store.note(issue.seq)), "index_id": index_id}
        for paper in store.issue_papers(issue.seq):
            yield {**_paper_record(site, issue, paper), "index_id": index_id}


def build(store: Store, site: Site, folder: Path) -> int:
    """Index every issue and paper of the state into a Pagefind bundle in ``folder``;
    returns how many records."""
    with pagefind_service.Service(binary()) as service:
        config = {"force_language": site.language, "write_playground": False}
        index_id = service.call({"type": "NewIndex", "config": config})["index_id"]
        count = service.send_all(_records(store, site, index_id))
        service.call({"type": "WriteFiles", "index_id": index_id, "output_path": str(folder)})
    return count


def _bundle_files(folder: Path) -> list[str]:
    found = []
    for root, _dirs, files in os.walk(folder):
        for name in files:
            relative = os.path.relpath(os.path.join(root, name), folder).replace(os.sep, "/")
            if not name.startswith(_NOT_NEEDED):
                found.append(relative)
    # Content-named files first, the entry point last: a reader who fetches the new entry
    # finds every file it names already in place.
    return sorted(found, key=lambda name: (name == "pagefind-entry.json", name))


def read_manifest(writer: OutputWriter) -> tuple[set[str], set[str]]:
    """The files this state's last index wrote, and those it still had to remove."""
    try:
        manifest = str(writer.path_for(MANIFEST))
        data = json.loads(read_regular(manifest, DEFAULT_MAX_FILE_SIZE, follow=False).decode())
    except (Unreadable, ValueError):
        return set(), set()
    if not isinstance(data, dict) or writer.owner is None:
        return set(), set()
    if data.get("state_id") != writer.owner.state_id:
        return set(), set()  # not ours: never remove anything on its say

    def names(key: str) -> set[str]:
        value = data.get(key)
        return {n for n in value if isinstance(n, str)} if isinstance(value, list) else set()

    return names("files"), names("superseded")


def stage(store: Store, site: Site, templates: Templates, writer: OutputWriter) -> list[str]:
    """Build the index, stage what changed of it and the search page; returns the files
    of the older index to remove once the new one is in place."""
    with tempfile.TemporaryDirectory(prefix="digest-search-") as temp:
        folder = Path(temp) / BUNDLE
        build(store, site, folder)
        files = _bundle_files(folder)
        for name in files:
            relative = f"{BUNDLE}/{name}"
            data = (folder / name).read_bytes()
            target = writer.path_for(relative)
            if _CONTENT_NAMED.fullmatch(name) and target.is_file():
                continue  # the same name holds the same bytes
            if not _CONTENT_NAMED.fullmatch(name) and _same(target, data):
                continue
            writer.write(relative, data)
    old, superseded = read_manifest(writer)
    current = {f"{BUNDLE}/{name}" for name in files}
    leaving = sorted((old | superseded) - current - {MANIFEST})
    manifest = {
        "note": "the files of this folder's search index that digest wrote; digest "
        "removes those of an older index once a newer one is in place",
        "state_id": writer.owner.state_id if writer.owner else None,
        "files": sorted(current),
        "superseded": leaving,
    }
    writer.write(MANIFEST, json.dumps(manifest, indent=1) + "\n")
    writer.write(
        PAGE, templates.render(PAGE, site=site, script=SCRIPT, style=STYLE, root="", path=PAGE)
    )
    return leaving


def _same(target: Path, data: bytes) -> bool:
    try:
        return read_regular(str(target), len(data) + 1, follow=False) == data
    except Unreadable:
        return False
