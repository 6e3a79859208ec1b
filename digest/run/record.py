"""Making issues of the papers a run placed: page order, rising papers, the record, the
editor's notes. One path for every issue, a run's own and each of a backfill's, so that
they are ranked, judged for rising papers and recorded (with their outputs pending) the
same way, all within the run's transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from digest.backfill import Backfill, PeriodIssue, moment
from digest.config.sections import Ranking
from digest.config.settings import Config
from digest.intake.take_in import Intake
from digest.model import Issue, Problem, Severity
from digest.publish import note_email, notes
from digest.publish.notes import TakenNote
from digest.publish.publisher import papers_per_page
from digest.run.context import Mode, RunContext
from digest.store import Store

BIG_BACKLOG_PAPERS, BIG_BACKLOG_DAYS = 2000, 14


@dataclass(frozen=True, slots=True)
class NewIssue:
    """An issue about to be recorded: its id and place, and what it holds."""

    id: str
    seq: int
    day: dt.date
    published_at: dt.datetime
    papers: int  # new papers placed in it
    seen_again: Sequence[int]  # papers of earlier issues listed again: they may rise


def record_issue(store: Store, config: Config, new: NewIssue) -> tuple[Issue, int]:
    """Rank the issue's papers, mark its rising papers (of earlier issues, listed again in
    it), and record it; returns it and how many papers rose."""
    store.rank_issue(new.seq, by_upvotes=config.ranking is Ranking.UPVOTES)
    risen = 0
    if config.rising.enabled:
        rising = config.rising
        risen = store.mark_rising(
            new.seen_again, new.seq, rising.min_gain, rising.min_factor, rising.max_papers, new.day
        )
    per_page = papers_per_page(config)
    return store.add_issue(new.id, new.seq, new.day, new.published_at, new.papers, per_page), risen


def backfill_for(context: RunContext, first_seq: int, avoid: set[str]) -> Backfill | None:
    """An issue per period of the digests, if asked (or the config's ``backfill``, for a
    state's first run), each recorded as soon as its period is over."""
    store, options = context.store, context.options
    period = options.backfill
    if period is None and context.config.backfill is not None and store.issue(None) is None:
        period = context.config.backfill
    if period is None or options.mode is not Mode.PUBLISH:
        return None

    def close(issue: PeriodIssue) -> None:
        issue_id, _ = store.next_issue_id(issue.last_date, avoid)
        new = NewIssue(
            issue_id,
            issue.seq,
            issue.last_date,
            moment(issue.last_date, options.now),
            issue.papers,
            issue.seen_again,
        )
        recorded, risen = record_issue(store, context.config, new)
        context.report.backfilled.append(recorded.id)
        context.report.rising += risen

    return Backfill(period, first_seq, options.now, close)


def record_new_issues(
    context: RunContext, intake: Intake, issue_id: str, issue_seq: int
) -> list[Issue]:
    """The new issue, if the run found new papers, and earlier issues whose text changed:
    recorded with their outputs pending, to be staged in this transaction."""
    config, store, report, options = context.config, context.store, context.report, context.options
    pending: list[Issue] = []
    if options.mode is Mode.MARK_SEEN:
        report.marked_seen, report.new_papers = report.new_papers, 0
    elif intake.backfill is not None:
        pending = [issue for issue in store.pending_issues() if issue.id in set(report.backfilled)]
        report.issue_id = report.backfilled[-1] if report.backfilled else None
    elif report.new_papers:
        new = NewIssue(
            issue_id, issue_seq, options.day, options.now, report.new_papers, intake.seen_again
        )
        issue, report.rising = record_issue(store, config, new)
        pending.append(issue)
        report.issue_id = issue_id
        report.advice = _advice(intake)
    if intake.rewritten:
        store.mark_outputs_pending(intake.rewritten)
        seqs = {issue.seq for issue in pending}
        pending += [
            issue
            for issue in store.pending_issues()
            if issue.seq in intake.rewritten and issue.seq not in seqs
        ]
    return pending


def take_notes(context: RunContext, pending: list[Issue]) -> list[TakenNote]:
    """The editor's notes of this run's new issues (kept in the state with them)."""
    new = [
        issue
        for issue in pending
        if issue.id == context.report.issue_id or issue.id in context.report.backfilled
    ]
    taken, warnings = notes.take(context.store, context.notes, new, context.report.issue_id)
    budget = context.config.email.max_html_bytes
    for note in taken:
        if note_email.too_long(note.note, budget):
            warnings.append(
                Problem(
                    str(note.path),
                    None,
                    f"the note is {len(note.note.html):,} bytes as HTML, more than half of "
                    f"the email's budget (max_html_bytes = {budget:,}): the email of issue "
                    f"{note.issue_id} shows its first paragraphs and links to the rest on "
                    "the issue's web page",
                    Severity.WARNING,
                )
            )
    context.report.problems += warnings
    return taken


def _advice(intake: Intake) -> str | None:
    """A backlog made one huge issue: say what else there is."""
    days = intake.listed_days
    span = (max(days) - min(days)).days + 1 if days else 0
    if intake.position <= BIG_BACKLOG_PAPERS or span <= BIG_BACKLOG_DAYS:
        return None
    weeks = len({day.isocalendar()[:2] for day in days})
    return (
        f"these {intake.position:,} new papers span {span:,} days "
        f"of digests: 'digest run --backfill' would have published them as {weeks:,} weekly "
        "issues, and 'digest run --mark-seen' would have taken them in as seen and published "
        "nothing"
    )
