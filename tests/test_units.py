"""Units where a unit is clearer than a whole run: the inbox scan, the config, the report."""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path

import pytest
from conftest import PLAIN, PLAIN_2, TODAY

from digest.backfill import Backfill, Period, PeriodIssue, moment
from digest.config.loading import from_mapping
from digest.config.settings import PostgresState, state_location
from digest.errors import ConfigError
from digest.intake.inbox import list_inbox, scan_inbox
from digest.store import SqliteStore
from digest.text import one_line, shown_name


@pytest.fixture
def store(tmp_path):
    with SqliteStore(tmp_path / "state.sqlite") as opened:
        yield opened


def snapshot(store) -> list:
    return [
        store.remembered_inbox_count(),
        sorted(store.inbox_fingerprints()),
        store.rejections(),
        store.counts(),
    ]


def test_the_scan_only_looks(tmp_path, store):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.txt").write_bytes(PLAIN.read_bytes())
    (inbox / "b.txt").write_bytes(PLAIN_2.read_bytes())
    (inbox / "gone.txt").write_bytes(b"x")
    store.remember_inbox_file(str(inbox / "gone.txt"), 1, 1, "h")
    (inbox / "gone.txt").unlink()
    before = snapshot(store)
    scan = scan_inbox(inbox, store, TODAY, 10**6)
    assert snapshot(store) == before, "a scan writes nothing"
    assert [c.path.name for c in scan.candidates] == ["a.txt", "b.txt"]  # by digest date
    assert scan.forgotten == [str(inbox / "gone.txt")]


def test_the_scan_leaves_files_still_being_written(tmp_path, store):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "new.txt").write_bytes(PLAIN.read_bytes())
    (inbox / "old.txt").write_bytes(PLAIN_2.read_bytes())
    os.utime(inbox / "old.txt", (1_700_000_000, 1_700_000_000))
    scan = scan_inbox(inbox, store, TODAY, 10**6, settle=3600)
    assert [c.path.name for c in scan.candidates] == ["old.txt"]
    assert scan.settling == [str(inbox / "new.txt")] and scan.settles_at is not None


def test_hidden_partial_and_backup_files_are_not_inbox_files(tmp_path):
    for name in (".hidden.txt", "~backup.txt", "page.crdownload", "page.part", "real.txt"):
        (tmp_path / name).write_text("x")
    entries, refused = list_inbox(tmp_path)
    assert [Path(e.path).name for e in entries] == ["real.txt"] and refused == []


def test_names_are_shown_on_one_line_and_as_what_they_are():
    assert one_line("a\nb\x1b[31m\u202e") == "a\\x0ab\\x1b[31m\\u202e"
    assert shown_name(os.fsdecode(b"/in/bad\xff.txt")) == "/in/bad\\xff.txt"


def test_a_state_is_a_path_or_a_postgresql_url_never_with_a_password(tmp_path):
    assert state_location("s.db", tmp_path) == (tmp_path / "s.db").resolve()
    url = state_location("postgresql://digest@db/d", tmp_path)
    assert isinstance(url, PostgresState) and str(url) == "postgresql://digest@db/d"
    assert isinstance(state_location("service=digest", tmp_path), PostgresState)
    for bad in ("postgresql://digest:hunter2@db/d", "service=x password=hunter2"):
        with pytest.raises(ConfigError, match="a password does not belong") as error:
            state_location(bad, tmp_path)
        assert "hunter2" not in str(error.value)


def test_config_defaults_and_what_each_key_becomes(tmp_path):
    config = from_mapping({}, tmp_path)
    assert (config.settle, config.site, config.feed_size, config.backfill) == (
        5.0, "default", 100, None
    )  # fmt: skip
    config = from_mapping(
        {"settle": "0", "backfill": "day", "monitor": {"expect_new_every": "2d"}}, tmp_path
    )
    assert config.settle == 0 and config.backfill is Period.DAY
    assert config.monitor.expect_new_every == 2 * 86400
    with pytest.raises(ConfigError, match="backfill: 'month'"):
        from_mapping({"backfill": "month"}, tmp_path)


def test_periods_close_in_order_and_skip_ones_without_papers():
    closed: list[PeriodIssue] = []
    clock = dt.datetime(2026, 11, 30, 8, tzinfo=dt.UTC)
    plan = Backfill(Period.WEEK, 7, clock, closed.append)
    days = [dt.date(2026, 11, 2), dt.date(2026, 11, 4), dt.date(2026, 11, 10), None]
    for day in days:
        issue = plan.enter(day, "f.txt")
        if day != dt.date(2026, 11, 10):
            issue.papers += 1
    plan.enter(dt.date(2026, 11, 17), "f.txt").papers += 1
    plan.finish()
    assert [(i.seq, i.last_date) for i in closed] == [
        (7, dt.date(2026, 11, 4)),  # Monday 2 and Wednesday 4: one week
        (8, dt.date(2026, 11, 10)),  # the undated file joined it
        (9, dt.date(2026, 11, 17)),
    ]
    assert moment(dt.date(2026, 11, 4), clock) == dt.datetime(2026, 11, 4, 8, tzinfo=dt.UTC)
    assert moment(dt.date(2026, 12, 4), clock) == clock, "never later than the run"


def _walked_listing(root: Path, temp_prefix: str) -> tuple:
    """What an output folder holds, by ``os.walk`` (as the run listed it before the
    walk read each folder once): the reference the listing must agree with."""
    issues = root / "issues"
    names: set[str] = set()
    folders: dict[str, frozenset[str] | None] = {}
    temps: list[str] = []
    files_in: dict[str, frozenset[str]] = {}

    def regular(folder: str, names: list[str]) -> frozenset[str]:
        return frozenset(
            n for n in names if stat.S_ISREG(os.lstat(os.path.join(folder, n)).st_mode)
        )

    for folder, dirs, files in os.walk(root):
        temps.extend(
            os.path.join(folder, name)
            for name in regular(folder, files)
            if name.startswith(temp_prefix)
        )
        if folder == str(issues):
            names.update(dirs, files)
            files_in[""] = regular(folder, files)
            for name in dirs:
                if os.path.islink(os.path.join(folder, name)):
                    linked = os.path.join(folder, name)
                    folders[name] = frozenset(os.listdir(linked))
                    files_in[name] = regular(linked, os.listdir(linked))
        elif os.path.dirname(folder) == str(issues):
            folders[os.path.basename(folder)] = frozenset([*dirs, *files])
            files_in[os.path.basename(folder)] = regular(folder, files)
    return frozenset(names), folders, sorted(temps), files_in


def test_the_output_folder_is_listed_as_os_walk_lists_it(tmp_path):
    """Every kind of entry a folder of issues can hold: pages, a paged issue's folder (a
    leaf, read by listdir), one holding a folder of its own (walked), a link to a
    folder elsewhere (listed, not walked), a broken link, temp files at every depth."""
    from digest.publish.listing import list_folder

    prefix = ".digest-tmp-"
    root = tmp_path / "out"
    issues = root / "issues"
    (issues / "2026-11-24").mkdir(parents=True)
    (issues / "2026-11-24.html").write_text("page")
    for name in ("2.html", "3.html", prefix + "a"):
        (issues / "2026-11-24" / name).write_text("x")
    (issues / "2026-11-17" / "odd" / "deeper").mkdir(parents=True)
    (issues / "2026-11-17" / "2.html").write_text("x")
    (issues / "2026-11-17" / "odd" / (prefix + "b")).write_text("x")
    (issues / "2026-11-17" / "odd" / "deeper" / (prefix + "c")).write_text("x")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "2.html").write_text("x")
    (elsewhere / (prefix + "not-walked")).write_text("x")
    (issues / "2026-11-10").symlink_to(elsewhere)
    (issues / "2026-11-03.html").symlink_to(tmp_path / "missing")
    (root / "archive").mkdir()
    (root / "archive" / (prefix + "d")).write_text("x")
    (root / (prefix + "e")).write_text("x")
    # Not pages, not temp files: a folder, a FIFO and links where files would be
    (issues / "2026-11-24" / "4.html").mkdir()
    os.mkfifo(issues / "2026-11-24" / "5.html")
    (issues / "2026-11-24" / (prefix + "link")).symlink_to(elsewhere)
    (issues / "2026-11-17" / (prefix + "link")).symlink_to(elsewhere / "2.html")
    os.mkfifo(root / (prefix + "fifo"))
    (issues / "2026-10-27.html").mkdir()
    listed = list_folder(root, prefix)
    names, folders, temps, files_in = _walked_listing(root, prefix)
    assert listed.issue_names == names
    assert dict(listed.issue_folders) == folders
    assert sorted(listed.temp_files) == temps
    assert listed.issue_files == files_in.pop("")
    assert dict(listed.issue_folder_files) == files_in
    assert len(temps) == 5 and folders["2026-11-17"] == {"2.html", "odd", prefix + "link"}
    assert listed.issue_folder_files["2026-11-24"] == {"2.html", "3.html", prefix + "a"}
    assert "2026-10-27.html" not in listed.issue_files
    assert "2026-11-03.html" not in listed.issue_files  # a broken link


def test_a_chat_post_is_judged_by_the_answer_to_its_last_request():
    """A plugin that logs in first (Matrix: login and join 200, then the post 500) posted
    nothing: a failure, retried. A last 2xx the plugin still calls a failure may have
    posted: in doubt."""
    from digest.deliver.chat_post import judge
    from digest.model import DeliveryStatus

    def judged(*codes: str) -> DeliveryStatus:
        events = [line for code in codes for line in ("wrote", f"answered {code}")]
        return judge([*events, "result fail"], late=False, deadline=60).status

    assert judged("200", "200", "500") is DeliveryStatus.FAILED
    assert judged("500", "201") is DeliveryStatus.IN_DOUBT
    assert judged("201") is DeliveryStatus.IN_DOUBT
    assert judged("503") is DeliveryStatus.FAILED
