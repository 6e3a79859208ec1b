"""What a run did: the CLI prints it, ``--json`` dumps it, the state keeps a summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from digest.model import Paper, Problem, RunResult, Severity
from digest.text import plural


@dataclass(frozen=True, slots=True)
class RefusedRecipient:
    recipient: str
    reason: str


@dataclass
class RunReport:
    issue_id: str | None = None
    new_papers: int = 0
    papers_parsed: int = 0
    files_read: list[str] = field(default_factory=list)
    files_unchanged: int = 0  # old files, as they were when taken in
    files_copied: list[str] = field(default_factory=list)  # new paths, content taken in before
    files_rejected: list[tuple[str, str]] = field(default_factory=list)
    files_waiting: list[str] = field(default_factory=list)  # still being written: next run
    problems: list[Problem] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    new: list[Paper] = field(default_factory=list)  # a dry run's new papers
    dry_run: bool = False
    marked_seen: int = 0  # new papers remembered without publishing them (--mark-seen)
    filtered: dict[str, int] = field(default_factory=dict)
    rising: int = 0
    completed: int = 0  # papers whose cut-off abstract a later listing completed
    finished: list[str] = field(default_factory=list)  # issues of earlier runs made live now
    backfilled: list[str] = field(default_factory=list)  # a backfill's issues, oldest first
    advice: str | None = None  # a backlog made one huge issue: what else there is
    sent_to: list[str] = field(default_factory=list)
    sent_issue: str | None = None
    refused_recipients: list[RefusedRecipient] = field(default_factory=list)
    in_doubt: list[str] = field(default_factory=list)
    delivery_error: str | None = None
    held_for_review: str | None = None  # review = true: the new issue waits for 'digest send'
    posted_to: list[str] = field(default_factory=list)  # chat channels
    post_error: str | None = None
    preview: list[str] = field(default_factory=list)  # a dry run's would-be issue files
    first_run: bool = False  # the state's first: the run tells what to do next

    @property
    def files_skipped(self) -> int:
        """Files already taken in: the old ones, and copies of them."""
        return self.files_unchanged + len(self.files_copied)

    @property
    def rejected_input(self) -> bool:
        """Input was turned away (a whole file, or an entry): exit code 1."""
        return bool(self.files_rejected) or any(p.severity is Severity.ERROR for p in self.problems)

    @property
    def delivery_failed(self) -> bool:
        return bool(
            self.delivery_error or self.refused_recipients or self.in_doubt or self.post_error
        )

    def one_line(self) -> str:
        """The run in one line: a ping's body, a log line."""
        what = (
            f"published issue {self.issue_id}"
            if self.issue_id
            else f"{plural(self.marked_seen, 'paper')} marked as seen"
            if self.marked_seen
            else "nothing new"
        )
        parts = [
            what,
            f"{plural(len(self.files_read), 'file')} read, "
            f"{plural(self.papers_parsed, 'paper')}, {self.new_papers:,} new",
        ]
        if self.files_rejected:
            parts.append(f"{len(self.files_rejected)} rejected")
        if self.files_waiting:
            parts.append(f"{len(self.files_waiting)} waiting")
        if self.finished:
            parts.append(f"finished {', '.join(self.finished)}")
        return "; ".join(parts)

    @property
    def result(self) -> RunResult:
        if self.issue_id or self.finished:
            return RunResult.PUBLISHED
        return RunResult.MARKED_SEEN if self.marked_seen else RunResult.NOTHING_NEW

    def as_json(self) -> dict[str, Any]:
        return {
            "issue": self.issue_id,
            "new_papers": self.new_papers,
            "papers_parsed": self.papers_parsed,
            "dry_run": self.dry_run,
            "marked_seen": self.marked_seen,
            "files": {
                "read": self.files_read,
                "skipped": self.files_skipped,
                "copies": self.files_copied,
                "rejected": [{"file": f, "reason": r} for f, r in self.files_rejected],
                "waiting": self.files_waiting,
            },
            "problems": [
                {"file": p.file, "line": p.line, "severity": p.severity.value, "message": p.message}
                for p in self.problems
            ],
            "filtered": dict(sorted(self.filtered.items())),
            "rising": self.rising,
            "completed": self.completed,
            "finished": self.finished,
            "backfilled": self.backfilled,
            "advice": self.advice,
            "written": self.written,
            "new": [{"id": p.id, "title": p.title} for p in self.new] if self.dry_run else None,
            "preview": self.preview,
            "sent_to": self.sent_to,
            "sent_issue": self.sent_issue,
            "refused": [
                {"recipient": r.recipient, "reason": r.reason} for r in self.refused_recipients
            ],
            "in_doubt": self.in_doubt,
            "delivery_error": self.delivery_error,
            "held_for_review": self.held_for_review,
            "posted_to": self.posted_to,
            "post_error": self.post_error,
        }

    def summary(self) -> dict[str, Any]:
        """What the state keeps of a run: enough for ``status`` and ``check``."""
        return {
            "files_read": len(self.files_read),
            "files_skipped": self.files_skipped,
            "files_rejected": [{"file": f, "reason": r} for f, r in self.files_rejected],
            "files_waiting": len(self.files_waiting),
            "finished": self.finished,
        }
