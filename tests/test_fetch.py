"""digest fetch against a real HTTP server on 127.0.0.1 that misbehaves on cue
(tests/hf_server.py): each test fails if the handling it names is taken out."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import digest_process
from hf_server import DATA, PATH, HfServer, Reply, fixture

from digest import __version__
from digest.config.fetch import FetchConfig, Rate
from digest.errors import ConfigError, LockBusy
from digest.faults import PAUSE_ENV
from digest.fetch.days import Selection
from digest.fetch.fetcher import fetch_listings
from digest.fetch.files import FetchLock
from digest.fetch.ledger import LEDGER_NAME, read_ledger
from digest.fetch.listing import listing_bytes
from digest.fetch.report import Outcome

DAY = dt.date(2025, 11, 5)
PAGED = dt.date(2025, 11, 7)  # list-page-{1,2,3}.json: 3, 3 and 1 items
EARLY = dt.datetime(2025, 11, 6, 10, tzinfo=dt.UTC)  # DAY not final yet
LATE = dt.datetime(2025, 11, 7, 12, tzinfo=dt.UTC)  # DAY's end + 36 h: final from now on
TOKEN = "hf_TestTokenThatMustNeverShow_7fK2q"


def no_wait(seconds: float) -> None:
    """For tests where the pace is not the point: the client's waits are skipped."""


def listings() -> dict[str, list]:
    return {
        "2025-11-05": fixture("list-2025-11-05.json"),
        "2025-11-06": fixture("list-2025-11-06.json"),
        "2025-11-07": fixture("list-page-1.json")
        + fixture("list-page-2.json")
        + fixture("list-page-3.json"),
    }


@pytest.fixture
def server():
    with HfServer(listings()) as running:
        yield running


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


def settings(server: HfServer, **changes) -> FetchConfig:
    base = FetchConfig(
        source=server.url, timeout=1.0, deadline=5.0, retries=2, rate=Rate(1000, 1.0)
    )
    return dataclasses.replace(base, **changes)


def fetch(server, inbox, selection=None, now=EARLY, *, sleep=no_wait, env=None, **changes):
    return fetch_listings(
        settings(server, **changes),
        inbox,
        selection or Selection.one_day(DAY),
        now,
        env=env or {},
        sleep=sleep,
    )


def day_file(inbox: Path, day: dt.date = DAY) -> Path:
    return inbox / f"hf-{day.isoformat()}.json"


def gap(first, second) -> float:
    return second.at - first.at


# -- what is written ------------------------------------------------------------------------


def test_a_day_is_written_whole_as_the_api_sent_it(server, inbox):
    report = fetch(server, inbox)
    assert [r.outcome for r in report.days] == [Outcome.WRITTEN]
    assert day_file(inbox).read_bytes() == listing_bytes(fixture("list-2025-11-05.json"))
    (seen,) = server.requests()
    assert seen.query == {"date": "2025-11-05", "limit": "100", "p": "0"}
    assert seen.headers["user-agent"].startswith(f"digest/{__version__} (")
    record = read_ledger(inbox).days[DAY]
    assert (record.papers, record.file, record.final) == (8, "hf-2025-11-05.json", False)
    assert report.exit_code == 0 and "wrote hf-2025-11-05.json" in report.one_line()


def test_pagination_runs_until_a_page_is_short(server, inbox):
    report = fetch(server, inbox, Selection.one_day(PAGED), LATE, page_size=3)
    assert [s.query["p"] for s in server.requests()] == ["0", "1", "2"]
    ids = [item["paper"]["id"] for item in json.loads(day_file(inbox, PAGED).read_text())]
    assert ids == [i["paper"]["id"] for i in listings()["2025-11-07"]] and len(ids) == 7
    assert report.days[0].requests == 3


def test_a_server_that_ignores_p_is_not_asked_for_ever(server, inbox):
    server.ignore_p = True
    fetch(server, inbox, Selection.one_day(PAGED), LATE, page_size=3)
    assert len(server.requests()) == 2  # the second page repeated the first: done
    assert len(json.loads(day_file(inbox, PAGED).read_text())) == 3


def test_a_quiet_day_writes_no_file_and_is_remembered(server, inbox):
    quiet = dt.date(2025, 11, 8)
    report = fetch(
        server, inbox, Selection.one_day(quiet), now=dt.datetime(2025, 11, 9, tzinfo=dt.UTC)
    )
    assert [r.outcome for r in report.days] == [Outcome.EMPTY]
    assert not day_file(inbox, quiet).exists()
    record = read_ledger(inbox).days[quiet]
    assert (record.papers, record.file) == (0, None)
    assert read_ledger(inbox).last_attempt.nothing_new


def test_an_empty_answer_makes_a_day_final_only_once_a_later_one_agrees(server, inbox):
    # The API answering [] by mistake for a day with papers, when the day could be final:
    # one answer cannot tell that from a weekend, and a final day is never asked again.
    listed = server.listings.pop("2025-11-05")
    glitch = fetch(server, inbox, now=LATE)
    assert [(r.outcome, r.final) for r in glitch.days] == [(Outcome.EMPTY, False)]
    assert glitch.days[0].confirm_from == LATE + dt.timedelta(hours=12)
    assert read_ledger(inbox).days[DAY].doubt_since == LATE
    server.listings["2025-11-05"] = listed
    later = fetch(server, inbox, Selection.catch_up(), now=LATE + dt.timedelta(hours=13))
    assert [r.outcome for r in later.days if r.day == DAY] == [Outcome.WRITTEN]
    assert len(json.loads(day_file(inbox).read_text())) == 8
    assert read_ledger(inbox).days[DAY].final


def test_a_partial_or_empty_answer_never_makes_a_day_with_a_file_final(server, inbox):
    listed = server.listings["2025-11-05"]
    server.listings["2025-11-05"] = listed[:3]
    fetch(server, inbox, now=EARLY)  # the day's first papers
    for answer in ([], listed[:2]):  # each a glitch, at a time the day could be final
        server.listings["2025-11-05"] = answer
        report = fetch(server, inbox, now=LATE)
        assert [(r.outcome, r.final) for r in report.days] == [(Outcome.KEPT, False)]
    server.listings["2025-11-05"] = listed
    report = fetch(server, inbox, now=LATE + dt.timedelta(hours=12))
    assert [(r.outcome, r.final) for r in report.days] == [(Outcome.WRITTEN, True)]
    assert len(json.loads(day_file(inbox).read_text())) == 8


def test_a_day_that_stays_empty_is_final_after_two_answers_12_hours_apart(server, inbox):
    quiet, late = dt.date(2025, 11, 8), dt.datetime(2025, 11, 10, 12, tzinfo=dt.UTC)
    for hours, final in ((0, False), (6, False), (12, True)):
        report = fetch(server, inbox, Selection.one_day(quiet), late + dt.timedelta(hours=hours))
        assert [(r.outcome, r.final) for r in report.days] == [(Outcome.EMPTY, final)]
        assert read_ledger(inbox).days[quiet].doubt_since == late  # the first, kept
    assert len(server.requests("2025-11-08")) == 3
    skipped = fetch(server, inbox, Selection.one_day(quiet), late + dt.timedelta(days=3))
    assert [r.outcome for r in skipped.days] == [Outcome.FINAL]
    assert len(server.requests("2025-11-08")) == 3


def test_a_catch_up_leaves_a_day_in_doubt_until_an_answer_can_settle_it(server, inbox):
    quiet, late = dt.date(2025, 11, 8), dt.datetime(2025, 11, 10, 12, tzinfo=dt.UTC)
    fetch(server, inbox, Selection.one_day(quiet), late)
    for hours in (1, 6, 11):  # a daemon fetching all day: no request for the day in doubt
        report = fetch(server, inbox, Selection.catch_up(), late + dt.timedelta(hours=hours))
        (waiting,) = [r for r in report.days if r.day == quiet]
        assert waiting.outcome is Outcome.WAITING
        assert waiting.confirm_from == late + dt.timedelta(hours=12)
        assert "1 in doubt (asked again from 2025-11-11 00:00 UTC)" in report.one_line()
    assert len(server.requests("2025-11-08")) == 1
    settled = fetch(server, inbox, Selection.catch_up(), late + dt.timedelta(hours=12))
    assert [(r.outcome, r.final) for r in settled.days if r.day == quiet] == [(Outcome.EMPTY, True)]
    assert len(server.requests("2025-11-08")) == 2


def test_a_day_made_final_by_a_clock_that_ran_ahead_is_asked_for_again(server, inbox):
    ahead = fetch(server, inbox, now=LATE + dt.timedelta(days=30))
    assert ahead.days[0].final
    report = fetch(server, inbox, now=EARLY)  # the clock put right
    assert report.days[0].outcome is not Outcome.FINAL
    assert len(server.requests("2025-11-05")) == 2


def test_a_clock_ahead_of_the_servers_makes_no_day_final(server, inbox):
    server.clock = EARLY  # the server's Date says the day is not over; ours, a week later
    report = fetch(server, inbox, now=LATE + dt.timedelta(days=7))
    assert [(r.outcome, r.final) for r in report.days] == [(Outcome.WRITTEN, False)]
    assert not read_ledger(inbox).days[DAY].final
    server.clock = LATE
    again = fetch(server, inbox, now=LATE + dt.timedelta(days=8))
    assert again.days[0].final


def test_days_an_older_digest_made_final_on_one_empty_answer_are_asked_again(server, inbox):
    ledger = {
        "version": 1,
        "days": {
            "2025-11-05": {"fetched_at": "2025-11-08T00:00:00Z", "papers": 0, "final": True},
            "2025-11-08": {"fetched_at": "2025-11-11T00:00:00Z", "papers": 0, "final": True},
        },
    }
    (inbox / LEDGER_NAME).write_text(json.dumps(ledger))
    later = dt.datetime(2025, 11, 11, 6, tzinfo=dt.UTC)
    report = fetch(server, inbox, Selection.catch_up(), later)
    assert {r.day: r.outcome for r in report.days if r.day in (DAY, dt.date(2025, 11, 8))} == {
        DAY: Outcome.WRITTEN,  # the papers an API glitch hid from the older digest
        dt.date(2025, 11, 8): Outcome.EMPTY,  # a weekend: in doubt now, confirmed later
    }


@pytest.mark.parametrize("key", ["fetched_at", "doubt_since"])
def test_a_ledger_moment_without_a_utc_offset_is_a_ledger_not_used(server, inbox, key):
    record = {"fetched_at": "2025-11-08T00:00:00Z", "papers": 0, "final": False}
    record[key] = "2025-11-08T00:00:00"
    (inbox / LEDGER_NAME).write_text(json.dumps({"version": 1, "days": {"2025-11-05": record}}))
    report = fetch(server, inbox, now=LATE)
    assert report.exit_code == 0 and "cannot be used" in report.warnings[0]
    assert "no UTC offset" in report.warnings[0]


def test_a_day_that_grows_is_written_again(server, inbox):
    full = listings()["2025-11-05"]
    server.listings["2025-11-05"] = full[:3]
    fetch(server, inbox)
    assert len(json.loads(day_file(inbox).read_text())) == 3
    server.listings["2025-11-05"] = full
    report = fetch(server, inbox, now=EARLY + dt.timedelta(hours=1))
    assert [r.outcome for r in report.days] == [Outcome.WRITTEN]
    assert report.days[0].inbox_papers == 3
    assert day_file(inbox).read_bytes() == listing_bytes(full)


def test_a_shorter_answer_never_replaces_the_file(server, inbox):
    fetch(server, inbox)
    before = day_file(inbox).read_bytes()
    server.listings["2025-11-05"] = listings()["2025-11-05"][:3]
    report = fetch(server, inbox, now=EARLY + dt.timedelta(hours=1))
    assert [(r.outcome, r.papers, r.inbox_papers) for r in report.days] == [(Outcome.KEPT, 3, 8)]
    assert day_file(inbox).read_bytes() == before
    server.listings["2025-11-05"] = []  # an empty answer is shorter too
    fetch(server, inbox, now=EARLY + dt.timedelta(hours=2))
    assert day_file(inbox).read_bytes() == before


def test_a_paper_once_in_the_file_stays_when_the_answer_changes(server, inbox):
    """An answer that drops some of the file's papers and lists new ones (as many, or
    fewer) is written with the dropped ones after its own: a fetch never loses a paper
    that no run took in yet, nor the new ones."""
    day = listings()["2025-11-05"]
    server.listings["2025-11-05"] = day[:4]
    fetch(server, inbox)
    for answer, hours, papers in ((day[2:6], 1, 6), (day[6:8], 2, 8)):  # as many, then fewer
        server.listings["2025-11-05"] = answer
        report = fetch(server, inbox, now=EARLY + dt.timedelta(hours=hours))
        assert [(r.outcome, r.papers) for r in report.days] == [(Outcome.WRITTEN, papers)]
    expected = [*day[6:8], *day[2:6], *day[:2]]  # the last answer, then what it lacked
    assert day_file(inbox).read_bytes() == listing_bytes(expected)
    again = fetch(server, inbox, now=EARLY + dt.timedelta(hours=3))  # the same answer
    assert [(r.outcome, r.papers, r.inbox_papers) for r in again.days] == [(Outcome.KEPT, 2, 8)]
    assert day_file(inbox).read_bytes() == listing_bytes(expected)


def test_a_file_larger_than_the_answers_cap_is_read_whole_and_kept(server, inbox):
    """The inbox keeps a day indented, larger than the compact answer it came as: read
    only up to fetch.max_bytes, it looked like no listing, and any answer replaced it."""
    compact = len(json.dumps(listings()["2025-11-05"]).encode())
    cap = compact + 1000
    fetch(server, inbox, max_bytes=cap)
    before = day_file(inbox).read_bytes()
    assert len(before) > cap  # the case: the file itself is over the cap
    server.listings["2025-11-05"] = listings()["2025-11-05"][:1]
    report = fetch(server, inbox, now=EARLY + dt.timedelta(hours=1), max_bytes=cap)
    assert [(r.outcome, r.papers, r.inbox_papers) for r in report.days] == [(Outcome.KEPT, 1, 8)]
    assert day_file(inbox).read_bytes() == before


def test_a_lone_surrogate_in_the_answer_is_kept_as_the_api_escaped_it(server, inbox):
    """Half of a UTF-16 pair (a backend's string cut mid-emoji) is valid JSON and no
    UTF-8: the day is written, the escape as sent, and the intake reads the file."""
    from digest.intake.loader import load_file

    half = b"\\ud83d"  # the six characters of the JSON escape
    body = json.dumps(listings()["2025-11-05"]).encode()
    server.script = [Reply(200, body.replace(b'"title": "', b'"title": "' + half, 1))]
    report = fetch(server, inbox)
    assert report.exit_code == 0 and report.days[0].outcome is Outcome.WRITTEN
    written = day_file(inbox).read_bytes()
    assert b'"title": "' + half in written and written.decode("utf-8")
    loaded, _ = load_file(str(day_file(inbox)), dt.date.max, 1 << 20, name=day_file(inbox).name)
    assert len(loaded.papers) == 8 and not loaded.rejected
    assert all("\ud83d" not in paper.title for paper in loaded.papers)


def test_a_day_fetched_twice_writes_nothing_twice(server, inbox):
    fetch(server, inbox)
    first = day_file(inbox).stat()
    report = fetch(server, inbox, now=EARLY + dt.timedelta(hours=1))
    assert [r.outcome for r in report.days] == [Outcome.UNCHANGED]
    again = day_file(inbox).stat()
    assert (again.st_ino, again.st_mtime_ns) == (first.st_ino, first.st_mtime_ns)
    assert report.nothing_new


def test_a_final_day_is_never_requested_again(server, inbox):
    fetch(server, inbox, now=EARLY)
    fetch(server, inbox, now=LATE)  # at its end + 36 h: this fetch makes it final
    assert read_ledger(inbox).days[DAY].final
    assert len(server.requests("2025-11-05")) == 2
    report = fetch(server, inbox, now=LATE + dt.timedelta(days=30))
    caught_up = fetch(server, inbox, Selection.between(DAY, DAY), now=LATE + dt.timedelta(days=31))
    assert len(server.requests("2025-11-05")) == 2
    assert [r.outcome for r in report.days + caught_up.days] == [Outcome.FINAL, Outcome.FINAL]
    forced = fetch(
        server, inbox, Selection.one_day(DAY, force=True), now=LATE + dt.timedelta(days=32)
    )
    assert len(server.requests("2025-11-05")) == 3 and forced.days[0].outcome is Outcome.UNCHANGED


def test_the_default_catches_up_from_the_last_day_fetched(server, inbox):
    first = fetch(server, inbox, Selection.catch_up(), now=EARLY, days_back=1)
    assert [r.day for r in first.days] == [DAY, DAY + dt.timedelta(days=1)]
    later = dt.datetime(2025, 11, 8, 10, tzinfo=dt.UTC)
    server.seen.clear()
    fetch(server, inbox, Selection.catch_up(), now=later, days_back=1)
    # 11-05 and 11-06 again (not final), then 11-07 and 11-08 (new); 11-05 final now.
    assert [s.date for s in server.requests()] == [
        "2025-11-05",
        "2025-11-06",
        "2025-11-07",
        "2025-11-08",
    ]
    assert read_ledger(inbox).final_days == {DAY}


def test_a_future_day_is_never_fetched(server, inbox):
    with pytest.raises(ConfigError, match="in the future"):
        fetch(server, inbox, Selection.one_day(dt.date(2025, 11, 7)), now=EARLY)
    report = fetch(server, inbox, Selection.between(DAY, dt.date(2025, 12, 1)), now=EARLY)
    assert [s.date for s in server.requests()] == ["2025-11-05", "2025-11-06"]
    assert "past today" in report.warnings[0]


# -- conditional requests -------------------------------------------------------------------


@pytest.mark.parametrize("validator", ["etag", "last-modified"])
def test_a_conditional_request_answered_304_changes_nothing(server, inbox, validator):
    server.validators = {validator}
    fetch(server, inbox)
    first = day_file(inbox).stat()
    report = fetch(server, inbox, now=EARLY + dt.timedelta(hours=1))
    second = server.requests()[-1]
    header = {"etag": "if-none-match", "last-modified": "if-modified-since"}[validator]
    assert header in second.headers
    assert [r.outcome for r in report.days] == [Outcome.UNCHANGED]
    assert day_file(inbox).stat().st_mtime_ns == first.st_mtime_ns
    day_file(inbox).unlink()  # a 304 would mean nothing now: asked for whole again
    fetch(server, inbox, now=EARLY + dt.timedelta(hours=2))
    assert header not in server.requests()[-1].headers and day_file(inbox).exists()


# -- misbehaving servers --------------------------------------------------------------------


def test_429_waits_as_retry_after_says_and_never_sooner(server, inbox):
    server.script = [Reply(429, b'{"error": "slow down"}', {"Retry-After": "1"})]
    report = fetch(server, inbox, sleep=time.sleep)
    refused, served = server.requests()
    assert 1.0 <= gap(refused, served) < 3  # as asked: never sooner, and not a guess
    assert report.days[0].outcome is Outcome.WRITTEN


def test_429_with_only_ratelimit_headers_waits_for_the_reset(server, inbox):
    server.script = [
        Reply(
            429,
            b"",
            {"RateLimit": '"api";r=0;t=1', "RateLimit-Policy": '"fixed window";"api";q=500;w=300'},
        )
    ]
    fetch(server, inbox, sleep=time.sleep)
    refused, served = server.requests()
    assert 1.0 <= gap(refused, served) < 3  # as asked: never sooner, and not a guess


def test_429_after_the_retries_is_temporary_and_the_next_fetch_does_not_ask_sooner(server, inbox):
    server.script = [Reply(429, b"", {"Retry-After": "600"})]
    report = fetch(server, inbox, Selection.between(DAY - dt.timedelta(days=1), DAY))
    assert report.exit_code == 75 and len(server.requests()) == 1  # 600 s: not waited here
    assert read_ledger(inbox).last_attempt.not_before >= EARLY + dt.timedelta(seconds=600)
    again = fetch(server, inbox, now=EARLY + dt.timedelta(seconds=60))
    assert again.exit_code == 75 and "no request before" in again.failure.reason
    assert len(server.requests()) == 1
    later = fetch(server, inbox, now=EARLY + dt.timedelta(seconds=700))
    assert later.exit_code == 0 and day_file(inbox).exists()


@pytest.mark.parametrize(
    "headers",
    [{"Retry-After": "99999999999999999999"}, {"RateLimit": '"api";r=0;t=99999999999999'}],
    ids=["retry-after", "ratelimit"],
)
def test_a_server_that_asks_to_wait_for_ever_is_waited_for_a_day(server, inbox, headers):
    server.script = [Reply(429, b"", headers)]
    report = fetch(server, inbox)
    assert report.exit_code == 75 and len(server.requests()) == 1
    not_before = read_ledger(inbox).last_attempt.not_before
    a_day = dt.timedelta(days=1)
    assert EARLY + a_day <= not_before <= EARLY + a_day * 1.1  # the jitter: later, not sooner
    later = fetch(server, inbox, now=EARLY + a_day * 1.1 + dt.timedelta(seconds=1))
    assert later.exit_code == 0 and day_file(inbox).exists()


def test_a_body_shorter_than_its_content_length_is_cut_off_and_retried(server, inbox):
    body = listing_bytes(fixture("list-2025-11-05.json"))
    cut = Reply(200, body[:1000], {"Content-Length": str(len(body))}, content_length=False)
    server.script = [cut]
    report = fetch(server, inbox)
    assert report.days[0].outcome is Outcome.WRITTEN and len(server.requests()) == 2
    server.script = [cut] * 3
    failed = fetch(server, inbox, Selection.one_day(DAY + dt.timedelta(days=1)))
    assert failed.exit_code == 75 and "cut off after 1,000 bytes" in failed.failure.reason


def test_5xx_is_retried_then_reported_as_temporary(server, inbox):
    server.script = [Reply(500, b"oops")]
    assert fetch(server, inbox).days[0].outcome is Outcome.WRITTEN
    assert len(server.requests()) == 2
    server.script = [Reply(503, b"down")] * 3
    report = fetch(server, inbox, Selection.one_day(DAY + dt.timedelta(days=1)))
    assert report.exit_code == 75 and "503" in report.failure.reason
    assert len(server.requests()) == 2 + 3  # the first try and two retries


def test_a_failure_stops_the_fetch_and_what_came_before_stays(server, inbox):
    server.script = [None, Reply(503, b""), Reply(503, b""), Reply(503, b"")]  # None: served
    report = fetch(server, inbox, Selection.between(DAY, DAY + dt.timedelta(days=1)))
    assert [(r.day, r.outcome) for r in report.days] == [(DAY, Outcome.WRITTEN)]
    assert report.failure.day == DAY + dt.timedelta(days=1) and report.exit_code == 75
    assert day_file(inbox).exists() and DAY in read_ledger(inbox).days
    assert read_ledger(inbox).last_attempt.failure.day == DAY + dt.timedelta(days=1)


def test_a_day_that_is_no_listing_does_not_hold_back_the_days_after_it(server, inbox):
    """The API refusing one date (or an error page for it) is that day's problem: the
    days after it are fetched, and the fetch still says, with exit code 1, what failed."""
    server.script = [Reply(400, b'{"error": "Invalid date"}')]
    report = fetch(server, inbox, Selection.between(DAY, DAY + dt.timedelta(days=1)))
    assert [(r.day, r.outcome) for r in report.days] == [
        (DAY + dt.timedelta(days=1), Outcome.WRITTEN)
    ]
    assert report.failure.day == DAY and report.exit_code == 1
    assert not day_file(inbox).exists() and day_file(inbox, DAY + dt.timedelta(days=1)).exists()


def test_a_connection_reset_is_retried(server, inbox):
    server.script = [Reply(reset=True)]
    assert fetch(server, inbox).days[0].outcome is Outcome.WRITTEN
    assert len(server.requests()) == 2


def test_a_body_that_stalls_times_out_and_is_retried(server, inbox):
    body = listing_bytes(fixture("list-2025-11-05.json"))
    server.script = [Reply(200, body, stall_after=100)]
    started = time.monotonic()
    report = fetch(server, inbox)
    assert time.monotonic() - started < 5  # the timeout (1 s), not the server, ended it
    assert report.days[0].outcome is Outcome.WRITTEN and len(server.requests()) == 2


@pytest.mark.parametrize(
    "reply",
    [
        Reply(200, b"", trickle=0.2, content_length=False),  # a body that never ends
        Reply(trickle_headers=True),  # headers that never end
    ],
    ids=["body", "headers"],
)
def test_an_answer_that_trickles_is_cut_at_the_deadline(server, inbox, reply):
    server.script = [reply]
    started = time.monotonic()
    report = fetch(server, inbox, deadline=1.5)
    assert time.monotonic() - started < 5  # each read came within the timeout: the deadline cut it
    assert report.days[0].outcome is Outcome.WRITTEN and len(server.requests()) == 2


@pytest.mark.parametrize("declared", [True, False])
def test_a_body_over_the_cap_is_not_a_listing(server, inbox, declared):
    big = listing_bytes(fixture("list-2025-11-05.json") * 3)
    server.script = [Reply(200, big, content_length=declared)]
    report = fetch(server, inbox, max_bytes=4096)
    assert report.exit_code == 1 and "over the cap" in report.failure.reason
    assert not day_file(inbox).exists() and len(server.requests()) == 1


@pytest.mark.parametrize(
    ("body", "kind", "why"),
    [
        (b'[{"paper": {"id": "2511.01234", "tit', "application/json", "not valid JSON"),
        ((DATA / "error-html-200.html").read_bytes(), "text/html; charset=utf-8", "an HTML page"),
        (
            b"<!doctype html><html><body>Maintenance</body></html>",
            "application/json",
            "an HTML page",
        ),
        (b'{"error": "Invalid date"}', "application/json", "not a list"),
        (b"[]", "text/html", "an HTML page"),  # the server's word for what it sent
        (b'[{"paper": {"title": "No id"}}]', "application/json", "item 1 is not a paper"),
        (b"[NaN]", "application/json", "not valid JSON"),
        (b"[" * 3000 + b"]" * 3000, "application/json", "nested too deeply"),
    ],
)
def test_an_answer_that_is_not_a_listing_replaces_nothing(server, inbox, body, kind, why):
    fetch(server, inbox)
    before = day_file(inbox).read_bytes()
    server.script = [Reply(200, body, content_type=kind)]
    report = fetch(server, inbox, now=EARLY + dt.timedelta(hours=1))
    assert report.exit_code == 1 and why in report.failure.reason
    assert day_file(inbox).read_bytes() == before


def test_a_redirect_is_followed_only_within_the_source_origin(server, inbox):
    with HfServer(listings(), host="127.0.0.2") as elsewhere, HfServer(listings()) as other_port:
        for target in (elsewhere, other_port):
            server.script = [Reply(302, b"", {"Location": f"{target.url}?date=2025-11-05"})]
            report = fetch(server, inbox, env={"HF_TOKEN": TOKEN})
            assert report.exit_code == 1 and "not followed" in report.failure.reason
            assert target.requests() == []  # never asked, so never given the token
    server.script = [Reply(307, b"", {"Location": f"{PATH}?date=2025-11-05&limit=100&p=0"})]
    assert fetch(server, inbox, env={"HF_TOKEN": TOKEN}).days[0].outcome is Outcome.WRITTEN
    assert server.requests()[-1].headers["authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize(
    ("location", "why"),
    [
        ("http://[bad/x", "not followed"),
        ("/api/daily papers", "not followed"),
        (f"{PATH}?date=2025-11-05&limit=100&p=0", "more than 5 redirects"),  # round and round
    ],
)
def test_a_redirect_that_leads_nowhere_is_not_a_listing(server, inbox, location, why):
    server.script = [Reply(302, b"", {"Location": location})] * 7
    report = fetch(server, inbox)
    assert report.exit_code == 1 and why in report.failure.reason


def test_https_is_verified_and_never_redirected_to_http(inbox, monkeypatch, tmp_path):
    trustme = pytest.importorskip("trustme")
    authority = trustme.CA()
    authority.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    with HfServer(listings(), tls=authority.issue_cert("127.0.0.1")) as secure:
        assert fetch(secure, inbox).exit_code == 75  # not trusted yet: the certificate is checked
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
        assert fetch(secure, inbox).days[0].outcome is Outcome.WRITTEN
        plain = f"http://127.0.0.1:{secure.port}{PATH}?date=2025-11-05"
        secure.script = [Reply(301, b"", {"Location": plain})]
        report = fetch(secure, inbox, now=EARLY + dt.timedelta(hours=1))
        assert report.exit_code == 1 and "not followed" in report.failure.reason


# -- a good citizen -------------------------------------------------------------------------


def test_the_pace_stays_within_the_rate_in_any_window(server, inbox):
    days = [DAY + dt.timedelta(days=n) for n in range(12)]
    for day in days:
        server.listings.setdefault(day.isoformat(), fixture("list-page-3.json"))
    fetch(
        server,
        inbox,
        Selection.between(days[0], days[-1]),
        now=dt.datetime(2025, 12, 1, tzinfo=dt.UTC),
        sleep=time.sleep,
        rate=Rate(5, 1.0),
    )
    arrivals = [seen.at for seen in server.requests()]
    assert len(arrivals) == 12
    busiest = max(sum(start <= at < start + 1.0 for at in arrivals) for start in arrivals)
    assert busiest <= 5


def test_hf_token_is_sent_and_never_shown(server, inbox, tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger="digest")
    server.script = [Reply(500, b""), Reply(401, b'{"error": "Invalid credentials"}')]
    report = fetch(
        server, inbox, Selection.between(DAY - dt.timedelta(days=1), DAY), env={"HF_TOKEN": TOKEN}
    )
    assert report.exit_code == 1 and "401" in report.failure.reason
    assert {s.headers["authorization"] for s in server.requests()} == {f"Bearer {TOKEN}"}
    config = write_config(tmp_path, server)
    server.script = [Reply(503, b"")] * 9
    cli = digest_process(
        "fetch", "--config", config, "-v", "--date", "2025-11-06", env={"HF_TOKEN": TOKEN}
    )
    assert cli.returncode == 75
    shown = [caplog.text, json.dumps(report.as_json()), str(report), cli.stdout, cli.stderr]
    shown += [p.read_text(errors="replace") for p in inbox.iterdir() if p.is_file()]
    assert all(TOKEN not in text and TOKEN[3:] not in text for text in shown)


def test_a_second_fetch_waits_then_gives_up(server, inbox):
    with FetchLock(inbox, wait=0), pytest.raises(LockBusy) as busy:
        fetch_listings(
            settings(server), inbox, Selection.one_day(DAY), EARLY, env={}, lock_wait=0.2
        )
    assert busy.value.exit_code == 75 and server.requests() == []


def test_an_unreadable_ledger_is_treated_as_empty(server, inbox):
    fetch(server, inbox)
    before = day_file(inbox).read_bytes()
    (inbox / LEDGER_NAME).write_text("{not json", encoding="utf-8")
    server.listings["2025-11-05"] = listings()["2025-11-05"][:2]
    report = fetch(server, inbox, now=EARLY + dt.timedelta(hours=1))
    assert "cannot be used" in report.warnings[0]
    assert day_file(inbox).read_bytes() == before  # still never shortened
    assert read_ledger(inbox).warning is None and DAY in read_ledger(inbox).days


def test_stale_temp_files_are_removed_and_nothing_else(server, inbox):
    (inbox / ".hf-2025-11-05.json.k2j4_x9.tmp").write_text("[{", encoding="utf-8")
    (inbox / ".hf-notes").write_text("mine", encoding="utf-8")
    report = fetch(server, inbox)
    assert report.removed_temp_files == (".hf-2025-11-05.json.k2j4_x9.tmp",)
    assert sorted(p.name for p in inbox.iterdir()) == sorted(
        [".digest-fetch.json", ".digest-fetch.lock", ".hf-notes", "hf-2025-11-05.json"]
    )


def test_a_link_in_place_of_a_days_file_is_not_written_through(server, inbox, tmp_path):
    outside = tmp_path / "outside.json"
    outside.write_text("keep", encoding="utf-8")
    day_file(inbox).symlink_to(outside)
    report = fetch(server, inbox)
    assert report.exit_code == 3 and "symbolic link" in report.failure.reason
    assert outside.read_text(encoding="utf-8") == "keep"


# -- the command, as a process --------------------------------------------------------------


def write_config(tmp_path: Path, server: HfServer, extra: str = "") -> Path:
    config = tmp_path / "digest.toml"
    config.write_text(
        'inbox = "inbox"\n[fetch]\n'
        f'source = "{server.url}"\ntimeout = "1s"\nretries = 0\nrate = "1000/1s"\n{extra}',
        encoding="utf-8",
    )
    (tmp_path / "inbox").mkdir(exist_ok=True)
    return config


def test_exit_codes_and_one_line_messages(server, tmp_path):
    config = write_config(tmp_path, server)
    done = digest_process(
        "fetch", "--config", config, "--since", "2025-11-05", "--until", "2025-11-06", "--json"
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["written"] == ["hf-2025-11-05.json", "hf-2025-11-06.json"]
    server.script = [Reply(503, b"")]
    down = digest_process("fetch", "--config", config, "--date", "2025-11-07", "--force")
    server.script = [Reply(200, b"<html>down for maintenance</html>", content_type="text/html")]
    html = digest_process("fetch", "--config", config, "--date", "2025-11-07", "--force")
    for process, code, why in ((down, 75, "503"), (html, 1, "HTML page")):
        assert process.returncode == code
        errors = [line for line in process.stderr.splitlines() if line.startswith("digest: error:")]
        assert len(errors) == 1 and why in errors[0], process.stderr
        assert "fetched 0 days" in process.stdout


def test_the_cli_says_when_an_empty_day_is_asked_for_again(server, tmp_path):
    config = write_config(tmp_path, server)
    quiet = digest_process("fetch", "--config", config, "--date", "2025-11-08")
    assert quiet.returncode == 0, quiet.stderr
    (line,) = [line for line in quiet.stdout.splitlines() if line.startswith("2025-11-08")]
    assert "empty" in line and "(in doubt: asked again from 20" in line


def test_kill_9_at_random_moments_never_leaves_a_partial_file(server, tmp_path):
    """Fetches killed at random moments (the server slowed per answer), and one stopped
    between its temp file and the rename: every hf-*.json in the inbox is whole, and the
    next fetch removes the hidden temp files and finishes the job."""
    config = write_config(tmp_path, server)
    inbox = tmp_path / "inbox"
    days = [dt.date(2025, 10, 1) + dt.timedelta(days=n) for n in range(8)]
    expected = {}
    for number, day in enumerate(days):
        items = listings()["2025-11-05"][: 1 + number % 8]
        server.listings[day.isoformat()] = items
        expected[f"hf-{day.isoformat()}.json"] = listing_bytes(items)
    arguments = [
        sys.executable,
        "-m",
        "digest",
        "fetch",
        "--config",
        str(config),
        "--since",
        days[0].isoformat(),
        "--until",
        days[-1].isoformat(),
        "--force",
    ]

    def assert_whole() -> None:
        for path in inbox.glob("hf-*.json"):
            assert path.read_bytes() == expected[path.name], path.name

    paused = subprocess.Popen(
        arguments, env={**os.environ, PAUSE_ENV: "fetch-staged"}, stderr=subprocess.PIPE, text=True
    )
    assert paused.stderr.readline().strip() == "paused at fetch-staged"
    paused.send_signal(signal.SIGKILL)
    paused.wait()
    paused.stderr.close()
    assert [p.name for p in inbox.glob(".hf-*.tmp")] and not list(inbox.glob("hf-*.json"))
    server.delay = 0.1  # each answer: a fetch of the 8 days takes about a second
    started = time.monotonic()
    assert subprocess.run(arguments, capture_output=True).returncode == 0
    whole_run = time.monotonic() - started
    assert_whole()
    rng = random.Random(20251105)
    killed = 0
    for _ in range(8):
        run = subprocess.Popen(arguments, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            run.wait(timeout=rng.uniform(0.1, 0.95) * whole_run)  # the kill, at random
        except subprocess.TimeoutExpired:
            run.kill()
            run.wait()
            killed += 1
        assert_whole()
    assert killed >= 5, "the delays must catch fetches in the middle"
    final = digest_process(
        "fetch",
        "--config",
        config,
        "--since",
        days[0].isoformat(),
        "--until",
        days[-1].isoformat(),
        "--force",
    )
    assert final.returncode == 0, final.stderr
    assert_whole()
    assert sorted(p.name for p in inbox.glob("hf-*.json")) == sorted(expected)
    assert not list(inbox.glob(".*.tmp"))
