"""``digest fetch``: each day's listing from the API into the inbox, one file per day.

For each day asked for (``digest.fetch.days``), the fetcher requests
``source?date=YYYY-MM-DD&limit=N&p=K`` page after page until a page is short (or repeats
what came before: a server that ignores ``p`` is not asked for ever), merges the pages,
and compares the result with the inbox's file for that day: a listing with fewer distinct
papers, or anything that is not a listing, never replaces it; the same bytes write
nothing; a day that lists nothing writes no file and is remembered as such. A file is
written whole or not at all (``digest.fetch.files``).

A failure stops the fetch: the API is down or asks us to slow down, and asking for the
next day would not be better. Every day fetched before it stays written and recorded.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import urlencode

from digest.config.fetch import FetchConfig
from digest.dates import moment_text
from digest.errors import FetchUnavailable, NotAListing, OutputError
from digest.fetch.days import (
    CONFIRMED_AFTER,
    Plan,
    Selection,
    doubtful_final,
    is_final,
    plan,
)
from digest.fetch.files import FetchLock, remove_stale_temp_files, write_atomically
from digest.fetch.http import Client, Validators, shown_url, token_from
from digest.fetch.ledger import Attempt, DayRecord, Failure, Ledger, read_ledger, write_ledger
from digest.fetch.listing import (
    MAX_PAPERS_PER_DAY,
    InboxCopy,
    Item,
    listing_bytes,
    listing_name,
    read_inbox_copy,
    read_page,
)
from digest.fetch.report import DayResult, FetchReport, Outcome
from digest.intake.inbox import check_folder
from digest.intake.reading import content_hash

LOCK_WAIT = 5.0  # seconds a second fetch waits for the first before giving up (exit 75)
log = logging.getLogger("digest")


def page_url(source: str, day: dt.date, limit: int, page: int) -> str:
    return f"{source}?{urlencode({'date': day.isoformat(), 'limit': limit, 'p': page})}"


def fetch_listings(
    config: FetchConfig,
    inbox: Path,
    selection: Selection,
    now: dt.datetime,
    *,
    env: Mapping[str, str] = os.environ,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    lock_wait: float = LOCK_WAIT,
) -> FetchReport:
    """Fetch the days ``selection`` names into ``inbox`` and say what happened.

    A failure while fetching is in the report (``failure``, ``exit_code``), not raised:
    what came before it is written and the report says so. Raised: ConfigError (no
    inbox, a future day, a bad HF_TOKEN) and LockBusy (another fetch holds the inbox)."""
    check_folder(inbox)
    token = token_from(env)
    with FetchLock(inbox, lock_wait):
        removed = remove_stale_temp_files(inbox)
        ledger = read_ledger(inbox)
        waits = ledger.waiting_at(now)
        chosen = plan(
            selection,
            now,
            fetched=ledger.days,
            final=ledger.final_at(now),
            days_back=config.days_back,
            waiting=waits,
        )
        warnings = [ledger.warning] if ledger.warning else []
        if chosen.clamped:
            warnings.append(
                f"the days asked for reach past today ({chosen.today}, UTC): fetched up to today"
            )
        results = [_skipped(ledger.days[day]) for day in chosen.final]
        results += [_waiting(ledger.days[day], waits[day]) for day in chosen.waiting]
        client = Client(config, token=token, clock=clock, sleep=sleep)
        failure, not_before, ledger = _fetch_days(
            client, config, inbox, chosen, ledger, now, results, force=selection.force
        )
        results.sort(key=lambda result: result.day)
        attempt = Attempt(
            now,
            chosen.days,
            failure,
            not any(r.outcome is Outcome.WRITTEN for r in results),
            not_before,
        )
        write_ledger(inbox, ledger.with_attempt(attempt))
    return FetchReport(
        now,
        selection.ask,
        chosen.today,
        tuple(results),
        failure,
        client.requests,
        tuple(warnings),
        tuple(removed),
        not_before,
    )


def _fetch_days(
    client: Client,
    config: FetchConfig,
    inbox: Path,
    chosen: Plan,
    ledger: Ledger,
    now: dt.datetime,
    results: list[DayResult],
    *,
    force: bool,
) -> tuple[Failure | None, dt.datetime | None, Ledger]:
    """Each day in turn, recording each as it is done, until the API cannot be reached
    (or the inbox written). A day whose answer is no listing (the API refuses that date,
    or sends an error page for it) is reported, and the days after it are still asked
    for: one bad day must not hold every later day back for ever."""
    previous = ledger.last_attempt
    not_before = previous.not_before if previous else None
    if chosen.days and not_before and now < not_before:
        return (
            Failure(
                None,
                f"the API asked for no request before {moment_text(not_before)}",
                75,
                "try again after that; digest fetch will not ask sooner",
            ),
            not_before,
            ledger,
        )
    refused: Failure | None = None
    for day in chosen.days:
        before = client.requests
        try:
            result, record = _fetch_day(
                client, config, inbox, day, ledger.days.get(day), now, force=force
            )
        except NotAListing as exc:
            log.warning("%s: not a listing: %s", day, exc.message)
            refused = refused or Failure(day, exc.message, exc.exit_code, exc.hint)
            continue
        except (FetchUnavailable, OutputError) as exc:
            log.warning("fetch of %s stopped: %s", day, exc.message)
            retry = getattr(exc, "retry_after", None)
            until = now + dt.timedelta(seconds=retry) if retry else None
            return Failure(day, exc.message, exc.exit_code, exc.hint), until, ledger
        results.append(dataclasses.replace(result, requests=client.requests - before))
        ledger = ledger.with_day(record)
        write_ledger(inbox, ledger)  # a fetch killed later keeps this day recorded
        log.info("%s: %s, %d papers", day, result.outcome.value, result.papers)
    return refused, None, ledger


def _skipped(record: DayRecord) -> DayResult:
    return DayResult(record.day, Outcome.FINAL, record.papers, record.papers, record.file, True)


def _waiting(record: DayRecord, until: dt.datetime) -> DayResult:
    day, papers = record.day, record.papers
    return DayResult(day, Outcome.WAITING, papers, papers, record.file, False, confirm_from=until)


def _fetch_day(
    client: Client,
    config: FetchConfig,
    inbox: Path,
    day: dt.date,
    record: DayRecord | None,
    now: dt.datetime,
    *,
    force: bool,
) -> tuple[DayResult, DayRecord]:
    name = listing_name(day)
    existing = read_inbox_copy(inbox / name, config.max_bytes)
    if existing.refused:
        raise OutputError(
            f"{name} in the inbox is {existing.refused}; not replaced",
            "move it out of the inbox, or leave this day out",
        )
    validators = None
    # Asked "only if changed" when the inbox's file is the one that answer gave, and the
    # day fit in one page (a 304 on page 0 says nothing of the pages after it).
    if (
        not force
        and record is not None
        and record.file == name
        and record.papers < config.page_size
        and (record.etag or record.last_modified)
        and existing.hash == record.content_hash
    ):
        validators = Validators(record.etag, record.last_modified)
    items: dict[str, Item] = {}
    answered = Validators()
    pages = 0
    max_pages = MAX_PAPERS_PER_DAY // config.page_size + 1
    while True:
        url = page_url(config.source, day, config.page_size, pages)
        answer = client.get(url, validators if pages == 0 else None)
        if pages == 0:  # the day is judged by the earlier clock: ours, or the server's
            at = min(now, answer.server_date) if answer.server_date else now
        if answer.status == 304:  # the inbox's file, whole: no doubt
            assert record is not None
            final = is_final(day, at)
            same = dataclasses.replace(record, fetched_at=now, final=final, doubt_since=None)
            return DayResult(
                day, Outcome.UNCHANGED, record.papers, record.papers, name, final
            ), same
        page = read_page(answer.body, answer.content_type, shown_url(url))
        if pages == 0:
            answered = answer.validators
        pages += 1
        fresh = [(ident, item) for ident, item in page if ident not in items]
        if page and not fresh:
            break  # the server sent a page it had sent already: it does not page
        for ident, item in fresh:
            items.setdefault(ident, item)
        if len(page) < config.page_size:
            break
        if pages >= max_pages:
            raise NotAListing(
                f"{shown_url(url)}: the API kept sending full pages ({pages} of "
                f"{config.page_size})",
                "a day lists some 50 papers; check fetch.source",
            )
    return _keep_or_write(
        inbox,
        day,
        name,
        items,
        existing,
        answered,
        single_page=pages == 1,
        now=now,
        at=at,
        record=record,
    )


def _keep_or_write(
    inbox: Path,
    day: dt.date,
    name: str,
    answer: dict[str, Item],
    existing: InboxCopy,
    answered: Validators,
    *,
    single_page: bool,
    now: dt.datetime,
    at: dt.datetime,
    record: DayRecord | None,
) -> tuple[DayResult, DayRecord]:
    """The merged answer against the inbox's file: keep the file, or replace it. A paper
    once in the file stays in it, so a fetch never loses one that no run took in yet:
    an answer with no paper new to the file (a partial one) leaves the file as it is;
    one with new papers that lacks some of the file's is written with those after its
    own, in the file's order. An answer that lists nothing or lacks some of the file's
    papers is doubtful: it makes the day final only once an earlier one agrees
    (``days.doubtful_final``; ``at``: the moment the day is judged at)."""
    count = len(answer)
    had = existing.papers
    inbox_items = existing.items or {}
    gone = {ident: item for ident, item in inbox_items.items() if ident not in answer}
    if not answer or gone:
        earlier = record.doubt_since if record is not None else None
        final, since = doubtful_final(day, at, earlier)
    else:
        final, since = is_final(day, at), None
    confirm = since + CONFIRMED_AFTER if since is not None and not final else None
    if gone and answer.keys() <= inbox_items.keys():
        result = DayResult(day, Outcome.KEPT, count, had, name, final, confirm_from=confirm)
        same = DayRecord(day, now, had or 0, name, existing.hash, None, None, final, since)
        return result, same
    items = [*answer.values(), *gone.values()]
    count = len(items)
    if count == 0:
        kept = name if existing.data is not None else None
        return (
            DayResult(day, Outcome.EMPTY, 0, had, kept, final, confirm_from=confirm),
            DayRecord(day, now, 0, None, None, None, None, final, since),
        )
    data = listing_bytes(items)
    validators = answered if single_page else Validators()
    record = DayRecord(
        day,
        now,
        count,
        name,
        content_hash(data),
        validators.etag,
        validators.last_modified,
        final,
        since,
    )
    outcome = Outcome.UNCHANGED if existing.data == data else Outcome.WRITTEN
    if outcome is Outcome.WRITTEN:
        write_atomically(inbox, name, data, step="fetch-staged")
    return DayResult(day, outcome, count, had, name, final, confirm_from=confirm), record
