"""Whether the output folder holds what the state says it published: every issue the
state says is written has its page here, and this is the folder the state records.
``digest check`` and ``status`` say what is wrong; a run refuses to publish into such a
folder, whose index and feeds would link pages that are not there. (Light: ``status``
imports it, and no template engine.)"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from digest.errors import OwnershipError
from digest.model import Issue
from digest.publish.output import OutputWriter
from digest.store import Store
from digest.text import shown_name

log = logging.getLogger("digest")


@dataclass(frozen=True, slots=True)
class FolderState:
    """What the output folder holds of what the state says it published."""

    folder: Path
    gone: bool  # the state has published issues, and the folder holds no output at all
    missing: tuple[str, ...]  # issues written, by the state, with a page not here
    recorded: str | None  # the folder the state records, when it is another one

    @property
    def problem(self) -> str | None:
        """What is wrong, in one line (``digest check`` says it; a run refuses with it)."""
        shown = shown_name(str(self.folder))
        where = f"; the state publishes into {shown_name(self.recorded)}" if self.recorded else ""
        if self.gone:
            return f"the output folder {shown} is gone{where}; 'digest rebuild' writes it again"
        if not self.missing:
            return None
        ids = ", ".join(self.missing[:3]) + (
            f" and {len(self.missing) - 3} more" if len(self.missing) > 3 else ""
        )
        return (
            f"the output folder {shown} lacks a page of {len(self.missing)} issue(s) the "
            f"state says are written ({ids}){where}; 'digest rebuild' writes them again"
        )


def folder_state(store: Store, writer: OutputWriter) -> FolderState:
    """Whether every issue the state says is written has its page in this folder, and
    whether the state records this folder as the one it publishes into."""
    recorded = store.setting("output")
    other = recorded if recorded is not None and recorded != str(writer.root) else None
    issues = [issue for issue in store.issues() if not issue.outputs_pending]
    written = [issue.id for issue in issues]
    present = writer.issue_pages_present() if written else set()
    gone = bool(written) and not present and not writer.holds_output()
    missing = tuple(
        issue.id
        for issue in issues
        if issue.id not in present
        or (issue.page_count > 1 and not _later_pages_here(writer, issue))
    )
    return FolderState(writer.root, gone, () if gone else missing, other)


def _later_pages_here(writer: OutputWriter, issue: Issue) -> bool:
    return writer.has_later_pages(issue.id, issue.page_count)


def check_complete(store: Store, writer: OutputWriter, *, adopt: bool = False) -> None:
    """A run publishes only into a folder that holds every issue the state published:
    else its index and feeds would link pages that are not there (a deleted folder, or
    two machines that share a PostgreSQL state with an output folder each). Refused
    before anything is written; ``adopt`` publishes anyway, saying what is missing."""
    found = folder_state(store, writer)
    problem = found.problem
    if problem is None:
        if found.recorded is not None and writer.recorded_owner() == writer.owner:
            store.set_setting("output", str(writer.root))  # the folder was moved
        return
    if adopt:
        log.warning("%s", problem)
        return
    raise OwnershipError(
        problem,
        "a state publishes into one output folder: machines that share a state need one "
        "shared folder; after 'digest rebuild', runs publish here (nothing was taken in)",
    )
