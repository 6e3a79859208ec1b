"""A listing's date has no year (``Oct 31``): it is read against when its file was saved,
a few days' grace for time zones, never wrapping into another year silently."""

from __future__ import annotations

import datetime as dt
import json
import os

from conftest import digest_process, digest_text

from digest.dates import short_date

ABSTRACT = (
    "We study a question that matters for the field and answer it with a method that is "
    "simple to state, cheap to run and easy to check, on benchmarks that others use, with "
    "results that hold across sizes, seeds and settings; code and data are released for "
    "anyone who wants to repeat the work or build on it."
)


def listing(day: dt.date) -> str:
    return digest_text(f"{short_date(day).rsplit(',', 1)[0]}", [(f"A paper of {day}", ABSTRACT)])


def saved(path, moment: dt.datetime) -> None:
    os.utime(path, (moment.timestamp(), moment.timestamp()))


def run(site, *extra, env=None):
    done = digest_process("run", "--config", site.config, "--json", *extra, env=env)
    assert done.returncode in (0, 1), done.stderr
    return json.loads(done.stdout)


def test_thirteen_months_of_listings_land_in_their_own_years(site):
    """Listings saved day by day from November 2025 to December 2026 (their modification
    times say when), taken in at once: the first month's are 2025's, not 2026's."""
    first = dt.date(2025, 11, 3)
    days = [first + dt.timedelta(days=3 * n) for n in range(132)]  # to Dec 1, 2026
    for day in days:
        path = site.write(f"{day}.txt", listing(day))
        saved(path, dt.datetime.combine(day, dt.time(18), dt.UTC))
    report = run(site, "--backfill", "week", "--now", "2026-12-02T12:00:00Z")
    assert report["problems"] == []
    dates = sorted(row[0] for row in site.rows("SELECT date FROM issues"))
    assert dates[0].startswith("2025-11"), dates[:3]
    # Each week of listings is an issue of its own: none merged with the same week a year on.
    weeks = {day.isocalendar()[:2] for day in days}
    assert len(dates) == len(weeks)
    taken = dict(site.rows("SELECT name, digest_date FROM files"))
    assert taken == {f"{day}.txt": day.isoformat() for day in days}


def test_a_listing_dated_tomorrow_in_a_us_evening_is_this_years(site):
    """20:30 in New York is already the next day in UTC, where the listing is dated."""
    path = site.write("today.txt", listing(dt.date(2026, 12, 2)))
    saved(path, dt.datetime(2026, 12, 2, 1, 30, tzinfo=dt.UTC))
    env = {"TZ": "America/New_York"}
    report = run(site, "--backfill", "--now", "2026-12-02T01:30:00Z", env=env)
    assert report["issue"] == "2026-12-02", report  # not the 2025-12-02 issue
    parsed = digest_process("parse", "--json", "--today", "2026-12-01", path, env=env)
    assert json.loads(parsed.stdout)[0]["digest_date"] == "2026-12-02"


def test_a_date_well_after_the_day_a_file_was_saved_is_the_year_befores(tmp_path):
    """Saved on June 1: June 3 is this year's (time zones), June 20 last year's, however
    long the files waited; a modification time older than any listing says nothing."""
    near, far, old = tmp_path / "near.txt", tmp_path / "far.txt", tmp_path / "old.txt"
    near.write_text(digest_text("Jun 3", [("Near", ABSTRACT)]))
    far.write_text(digest_text("Jun 20", [("Far", ABSTRACT)]))
    old.write_text(digest_text("Oct 31", [("Old", ABSTRACT)]))
    for path in (near, far):
        saved(path, dt.datetime(2026, 6, 1, 9, tzinfo=dt.UTC))
    saved(old, dt.datetime(1980, 1, 1, tzinfo=dt.UTC))  # an archive that lost its times
    parsed = digest_process("parse", "--json", "--today", "2026-11-24", near, far, old)
    assert [f["digest_date"] for f in json.loads(parsed.stdout)] == [
        "2026-06-03",
        "2025-06-20",
        "2026-10-31",
    ]


def test_the_year_hint_says_which_year_the_dates_are_in(site, tmp_path):
    path = site.write("old.txt", listing(dt.date(2024, 10, 31)))
    parsed = digest_process("parse", "--json", "--year", "2024", path)
    assert json.loads(parsed.stdout)[0]["digest_date"] == "2024-10-31"
    report = run(site, "--backfill", "--year", "2024", "--now", "2026-11-24T08:00:00Z")
    assert report["issue"] == "2024-10-31"
    bad = digest_process("run", "--config", site.config, "--year", "24")
    assert bad.returncode == 2 and "'24' is not a year like 2025" in bad.stderr


def test_a_wrap_no_time_can_resolve_is_a_warning_naming_the_files(site):
    """Thirteen months of daily listings copied at once (every file saved 'now'): each
    day of the first month and the same day of the last cannot be told apart, and the
    run names every such file."""
    first = dt.date(2025, 11, 3)
    days = [first + dt.timedelta(days=n) for n in range(394)]  # to Dec 1, 2026
    for day in days:
        saved(site.write(f"{day}.txt", listing(day)), dt.datetime(2026, 12, 2, 9, tzinfo=dt.UTC))
    report = run(site, "--dry-run", "--now", "2026-12-02T12:00:00Z")
    warned = {problem["file"].rsplit("/", 1)[-1] for problem in report["problems"]}
    twins = {day for day in days if dt.date(2026, 11, 3) <= day <= dt.date(2026, 12, 1)}
    assert warned == {f"{day}.txt" for day in twins} | {
        f"{day.replace(year=2025)}.txt" for day in twins
    }
    assert all("may be a year older than read" in p["message"] for p in report["problems"])
    assert all(p["severity"] == "warning" for p in report["problems"])
    assert "digest run --year" in report["problems"][0]["message"]
    parsed = digest_process("parse", *(site.inbox / f"{day}.txt" for day in days[-30:]))
    assert "may be a year older than read" not in parsed.stdout, "a month covers no year"
    whole = digest_process("parse", *(site.inbox / f"{day}.txt" for day in days))
    assert whole.stdout.count("may be a year older than read") == len(warned)
