"""Making an issue of the papers a run placed in it: page order, rising papers, the record.

One path for every issue, a run's own and each of a backfill's, so that they are ranked,
judged for rising papers and recorded (with their outputs pending) the same way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from digest.config.settings import Config, Ranking
from digest.model import Issue
from digest.store import Store


def record_issue(
    store: Store,
    config: Config,
    issue_id: str,
    seq: int,
    day: dt.date,
    published_at: dt.datetime,
    papers: int,
    seen_again: Iterable[int],
) -> tuple[Issue, int]:
    """Rank the issue's papers, mark its rising papers (of earlier issues, listed again in
    it), and record it; returns it and how many papers rose."""
    store.rank_issue(seq, by_upvotes=config.ranking is Ranking.UPVOTES)
    risen = 0
    if config.rising.enabled:
        rising = config.rising
        risen = store.mark_rising(
            seen_again, seq, rising.min_gain, rising.min_factor, rising.max_papers
        )
    return store.add_issue(issue_id, seq, day, published_at, papers), risen
