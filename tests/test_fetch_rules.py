"""digest fetch's rules without a server: the pace (on a fake clock), the server's rate
headers, which days are asked for and when one is final, the [fetch] config, the ledger."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from email.message import Message
from pathlib import Path

import pytest

from digest import __version__
from digest.config.fetch import ANONYMOUS_LIMIT, FetchConfig, Rate, fetch
from digest.config.loading import from_mapping
from digest.errors import ConfigError, FetchUnavailable, StateError
from digest.fetch.days import Selection, final_from, is_final, plan
from digest.fetch.http import shown_url, token_from
from digest.fetch.ledger import (
    LEDGER_NAME,
    Attempt,
    DayRecord,
    Failure,
    Ledger,
    read_ledger,
    write_ledger,
)
from digest.fetch.pace import MAX_SERVER_WAIT, Pacer, rate_budget, retry_after, server_wait


class FakeTime:
    """A clock that only moves when slept on."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def paced(pacer: Pacer, time: FakeTime, requests: int, answer_takes: float = 0.01) -> list[float]:
    sent = []
    for _ in range(requests):
        pacer.wait()
        sent.append(time.now)
        time.now += answer_takes
        pacer.done()
    return sent


def headers(**values: str) -> Message:
    message = Message()
    for name, value in values.items():
        message[name.replace("_", "-")] = value
    return message


# -- the pace -------------------------------------------------------------------------------


def test_the_pace_spreads_requests_evenly_within_the_rate():
    time = FakeTime()
    sent = paced(Pacer(Rate(5, 1.0), clock=time.clock, sleep=time.sleep), time, 20)
    assert all(later - earlier >= 0.2 for earlier, later in itertools.pairwise(sent))
    assert max(sum(s <= t < s + 1.0 for t in sent) for s in sent) <= 5


def test_the_default_pace_is_the_anonymous_limit():
    time = FakeTime()
    sent = paced(Pacer(ANONYMOUS_LIMIT, clock=time.clock, sleep=time.sleep), time, 600)
    assert max(sum(s <= t < s + 300 for t in sent) for s in sent) <= 500
    assert FetchConfig().rate == Rate(500, 300.0)


def test_a_low_remaining_budget_slows_the_pace_until_it_resets():
    time = FakeTime()
    pacer = Pacer(Rate(1000, 1.0), clock=time.clock, sleep=time.sleep)
    pacer.budget(remaining=4, reset=20.0)  # 4 left for 20 s: one every 5 s
    sent = paced(pacer, time, 4)
    assert [round(b - a, 2) for a, b in itertools.pairwise(sent)] == [5.01, 5.01, 5.01]
    time.now += 20  # reset passed: the own pace again
    quick = paced(pacer, time, 3)
    assert quick[-1] - quick[0] < 0.1


def test_no_budget_left_waits_for_the_reset_and_a_long_wait_is_not_waited():
    time = FakeTime()
    pacer = Pacer(Rate(1000, 1.0), clock=time.clock, sleep=time.sleep)
    pacer.budget(remaining=0, reset=30.0)
    pacer.wait()
    assert time.slept == [30.0]
    pacer.hold(MAX_SERVER_WAIT + 60, asked_by_server=True)
    with pytest.raises(FetchUnavailable) as asked:
        pacer.wait()
    assert asked.value.exit_code == 75 and asked.value.retry_after == pytest.approx(360)
    assert time.slept == [30.0]  # not slept: the fetch stops and remembers


def test_rate_headers_in_both_forms():
    assert rate_budget(headers(RateLimit='"api";r=0;t=19'), 0) == (0, 19.0)
    several = headers(RateLimit='"api";r=40;t=100, "burst";r=2;t=7')
    assert rate_budget(several, 0) == (2, 7.0)
    older = headers(RateLimit_Remaining="3", RateLimit_Reset="12")
    assert rate_budget(older, 0) == (3, 12.0)
    as_unix_time = headers(X_RateLimit_Remaining="0", X_RateLimit_Reset="1700000060")
    assert rate_budget(as_unix_time, 1700000000.0) == (0, 60.0)
    assert rate_budget(headers(RateLimit="garbage"), 0) is None


def test_retry_after_in_seconds_or_as_a_date_read_against_the_servers_clock():
    assert retry_after(headers(Retry_After="7"), 0) == 7.0
    dated = headers(
        Retry_After="Wed, 05 Nov 2025 21:20:00 GMT", Date="Wed, 05 Nov 2025 21:19:40 GMT"
    )
    assert retry_after(dated, wall=0) == 20.0  # our clock is far off; the server's is used
    both = headers(Retry_After="5", RateLimit='"api";r=0;t=19')
    assert server_wait(both, 0) == 19.0  # the longest of what the server said
    assert server_wait(headers(), 0) is None


# -- which days -----------------------------------------------------------------------------


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def test_a_day_is_final_36_hours_after_it_ended_in_utc():
    assert final_from(day("2025-11-05")) == at("2025-11-07T12:00")
    assert not is_final(day("2025-11-05"), at("2025-11-07T11:59:59"))
    assert is_final(day("2025-11-05"), at("2025-11-07T12:00"))


def test_the_first_fetch_goes_back_days_back():
    chosen = plan(Selection.catch_up(), at("2025-11-10T08:00"), fetched=[], final=[], days_back=3)
    assert [str(d) for d in chosen.days] == ["2025-11-07", "2025-11-08", "2025-11-09", "2025-11-10"]


def test_a_catch_up_goes_on_from_the_newest_day_and_retries_what_is_not_final():
    fetched = [day("2025-10-01"), day("2025-11-01"), day("2025-11-07"), day("2025-11-08")]
    final = [day("2025-10-01"), day("2025-11-07")]
    chosen = plan(
        Selection.catch_up(), at("2025-11-10T08:00"), fetched=fetched, final=final, days_back=3
    )
    assert [str(d) for d in chosen.days] == ["2025-11-01", "2025-11-08", "2025-11-09", "2025-11-10"]


def test_today_is_the_utc_day_and_the_future_is_never_asked_for():
    tokyo = dt.timezone(dt.timedelta(hours=9))
    morning_in_tokyo = dt.datetime(2025, 11, 11, 7, tzinfo=tokyo)  # still the 10th in UTC
    chosen = plan(
        Selection.between(day("2025-11-09"), day("2025-11-30")),
        morning_in_tokyo,
        fetched=[],
        final=[],
        days_back=3,
    )
    assert chosen.days[-1] == day("2025-11-10") and chosen.clamped
    with pytest.raises(ConfigError):
        plan(
            Selection.one_day(day("2025-11-11")),
            morning_in_tokyo,
            fetched=[],
            final=[],
            days_back=3,
        )
    with pytest.raises(ConfigError, match="before --since"):
        Selection.between(day("2025-11-09"), day("2025-11-01"))


def test_final_days_are_skipped_unless_forced():
    final = [day("2025-11-01")]
    asked = Selection.between(day("2025-11-01"), day("2025-11-02"))
    chosen = plan(asked, at("2025-11-10T08:00"), fetched=final, final=final, days_back=3)
    assert chosen.days == (day("2025-11-02"),) and chosen.final == (day("2025-11-01"),)
    forced = Selection.between(day("2025-11-01"), day("2025-11-02"), force=True)
    assert (
        len(plan(forced, at("2025-11-10T08:00"), fetched=final, final=final, days_back=3).days) == 2
    )


# -- the config -----------------------------------------------------------------------------


def test_fetch_config_defaults_and_user_agent():
    cfg = from_mapping({"fetch": {"contact": "ops@example.org"}}, Path("."))
    assert cfg.fetch is not None and cfg.fetch.enabled and cfg.fetch.page_size == 100
    assert (
        cfg.fetch.agent
        == f"digest/{__version__} (Daily Papers newsletter; contact: ops@example.org)"
    )
    assert from_mapping({}, Path(".")).fetch is None  # no section: the daemon does not fetch
    assert fetch({"user_agent": "lab-bot/2"}).agent == f"lab-bot/2 digest/{__version__}"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"sourse": "x"}, "unknown key fetch.sourse"),
        ({"source": "http://huggingface.co/api/daily_papers"}, "is not https"),
        ({"source": "https://user:pw@huggingface.co/api/daily_papers"}, "credentials"),
        ({"source": "https://huggingface.co/api/daily_papers?date=x"}, "query"),
        ({"token": "hf_x"}, "does not belong in the config"),
        ({"page_size": 101}, "at most 100"),
        ({"rate": "fast"}, "not a rate"),
        ({"contact": "ops@example.org\nX-Evil: 1"}, "not one line of plain ASCII"),
        ({"contact": "nobody"}, "not an email address or http(s) URL"),
        ({"timeout": "forever"}, "not a duration"),
    ],
)
def test_fetch_config_errors_name_the_key(table, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        fetch(table)


def test_a_loopback_source_may_be_plain_http():
    for host in ("127.0.0.1", "127.0.0.2", "[::1]", "localhost"):
        assert fetch({"source": f"http://{host}:8080/api"}).source.startswith("http://")
    assert fetch({"rate": "5/1s"}).rate == Rate(5, 1.0)


def test_the_token_comes_from_the_environment_only_and_is_checked():
    assert token_from({}) is None and token_from({"HF_TOKEN": " hf_abc \n"}) == "hf_abc"
    with pytest.raises(ConfigError) as bad:
        token_from({"HF_TOKEN": "hf_abc\r\nX-Evil: 1"})
    assert "hf_abc" not in str(bad.value)
    assert (
        shown_url("https://user:secret@example.org:8443/x?y=1") == "https://example.org:8443/x?y=1"
    )


# -- the ledger -----------------------------------------------------------------------------


def test_the_ledger_reads_back_what_was_written(tmp_path):
    record = DayRecord(
        day("2025-11-05"),
        at("2025-11-06T10:00"),
        8,
        "hf-2025-11-05.json",
        "abc",
        'W/"1"',
        None,
        False,
    )
    failure = Failure(day("2025-11-06"), "the API answered 503", 75, "try later")
    attempt = Attempt(
        at("2025-11-06T10:00"),
        (day("2025-11-05"), day("2025-11-06")),
        failure,
        False,
        at("2025-11-06T10:05"),
    )
    write_ledger(tmp_path, Ledger().with_day(record).with_attempt(attempt))
    again = read_ledger(tmp_path)
    assert dict(again.days) == {record.day: record} and again.last_attempt == attempt
    assert [p.name for p in tmp_path.iterdir()] == [LEDGER_NAME]  # no temp file left


@pytest.mark.parametrize(
    "content", [b"", b"{", b"[]", b'{"version": 1}', b'{"version": 0, "days": {}}', b"\xff\xfe"]
)
def test_a_ledger_that_cannot_be_used_is_empty_with_a_warning(tmp_path, content):
    (tmp_path / LEDGER_NAME).write_bytes(content)
    ledger = read_ledger(tmp_path)
    assert ledger.days == {} and "cannot be used" in (ledger.warning or "")


def test_a_ledger_of_a_newer_digest_is_refused_not_overwritten(tmp_path):
    (tmp_path / LEDGER_NAME).write_text(json.dumps({"version": 2, "days": {}}), encoding="utf-8")
    with pytest.raises(StateError, match="newer digest"):
        read_ledger(tmp_path)


def test_a_ledger_that_is_a_link_is_not_followed(tmp_path):
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps({"version": 1, "days": {}}), encoding="utf-8")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / LEDGER_NAME).symlink_to(outside)
    assert read_ledger(inbox).warning is not None
