"""The Store contract, on both backends: what the pipeline relies on, whichever state it
has (PostgreSQL on tests/pg_server.py's server; skipped, with the reason, without one)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable, Iterator
from itertools import islice
from pathlib import Path

import pytest

from digest.classify import Placement
from digest.errors import LockBusy
from digest.model import DeliveryStatus, Medium, Organization, Paper, RunResult
from digest.store import SqliteStore, Store
from digest.store.records import (
    Counts,
    CutAbstract,
    DeliveryUpdate,
    Heartbeat,
    KnownFile,
    KnownPaper,
    PingRecord,
)

NOW = dt.datetime(2026, 11, 24, 8, 0, tzinfo=dt.UTC)
DAY = NOW.date()
Opener = Callable[..., Store]


@pytest.fixture(params=["sqlite", "postgres"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens the test's one state (again and again: each call is a new connection)."""
    opened: list[Store] = []
    if request.param == "sqlite":
        state, backend = tmp_path / "state.sqlite", SqliteStore
    else:
        state = request.getfixturevalue("pg_dsn")
        from digest.store.postgres import PostgresStore as backend

    def make(**options) -> Store:
        opened.append(backend(state, **options))
        return opened[-1]

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(opener: Opener) -> Store:
    return opener()


def paper(title: str, **fields) -> Paper:
    return Paper(title, f"Abstract of {title}.", **fields)


def place(section: str | None, rank: int = 0) -> Placement:
    return Placement(section, rank, f"reason for {section}")


def publish(store: Store, papers: list[tuple[Paper, Placement | None]], day: dt.date = DAY,
            *, by_upvotes: bool = True, at: dt.datetime = NOW) -> int:  # fmt: skip
    """Record an issue of these papers, as the pipeline does; returns its seq."""
    with store.transaction():
        issue_id, seq = store.next_issue_id(day)
        store.add_papers(papers, seq, at)
        store.rank_issue(seq, by_upvotes)
        store.add_issue(issue_id, seq, day, at, len(papers))
    return seq


def titles(papers) -> list[str]:
    return [p.title for p in papers]


def test_a_new_state_is_migrated_and_reopens_as_itself(opener: Opener):
    first = opener()
    version, state_id = first.schema_version, first.state_id
    assert version >= 1 and state_id
    assert first.setting("site") == "default" and first.setting("state_id") == state_id
    first.close()
    again = opener(create=False)
    assert (again.schema_version, again.state_id) == (version, state_id)
    assert again.counts() == Counts(0, 0, 0, 0)


def test_a_transaction_commits_or_rolls_everything_back(store: Store):
    with store.transaction():
        store.set_setting("colour", "blue")
        assert store.add_papers([(paper("Kept"), None)], None, NOW) == [1]
    with pytest.raises(RuntimeError), store.transaction():
        store.set_setting("colour", "red")
        store.record_file("h-gone", "gone.txt", DAY, NOW, 1, 0)
        assert store.add_papers([(paper("Gone"), None)], None, NOW) == [2]
        raise RuntimeError("boom")
    assert store.setting("colour") == "blue"
    assert set(store.known_papers(["kept", "gone"])) == {"kept"}
    assert store.taken_hashes(["h-gone"]) == set()
    # What the rolled-back transaction handed out is free again, as if it never ran.
    with store.transaction():
        assert store.add_papers([(paper("Next"), None)], None, NOW) == [2]
        assert store.record_file("h-next", "next.txt", DAY, NOW, 1, 0) == 1


def test_a_rehearsal_always_rolls_back(store: Store):
    with store.rehearsal():
        store.set_setting("colour", "green")
        store.add_papers([(paper("Dry"), None)], None, NOW)
        assert store.setting("colour") == "green"  # seen inside it
    with pytest.raises(KeyError), store.rehearsal():
        store.set_setting("colour", "green")
        raise KeyError("x")
    assert store.setting("colour") is None
    assert store.known_papers(["dry"]) == {}
    assert store.add_papers([(paper("Wet"), None)], None, NOW) == [1]


def test_the_inbox_is_remembered_and_forgotten(store: Store):
    store.remember_inbox_file("a.txt", 10, 111, "ha")
    store.remember_inbox_file("b.txt", 20, 222, "hb")
    store.remember_inbox_file("a.txt", 11, 112, "ha2")  # changed since
    store.record_file("hb", "b.txt", DAY, NOW, 3, 0)
    store.record_rejection("ha2", "a.txt", "no papers", NOW)
    assert store.inbox_fingerprints() == {("a.txt", 11, 112), ("b.txt", 20, 222)}
    assert store.inbox_fingerprints(taken=True) == {("b.txt", 20, 222)}
    assert store.remembered_inbox_count() == 2
    assert store.remembered_inbox_paths() == {"a.txt", "b.txt"}
    assert store.remembered_inbox_files(["a.txt", "b.txt", "c.txt"]) == {
        "a.txt": KnownFile(11, 112, "ha2", "no papers"),
        "b.txt": KnownFile(20, 222, "hb", None),
    }
    assert store.remembered_inbox_files([]) == {}
    store.forget_inbox_files(["a.txt", "never.txt"])
    assert store.remembered_inbox_paths() == {"b.txt"}


def test_an_import_remembers_its_files_at_once_the_last_of_a_path_winning(store: Store):
    store.remember_inbox_file("a.txt", 1, 1, "old")
    store.remember_inbox_files(
        [("a.txt", 2, 2, "h1"), ("c.txt", 3, 3, "h3"), ("a.txt", 4, 4, "h4")]
    )
    store.remember_inbox_files([])
    assert store.inbox_fingerprints() == {("a.txt", 4, 4), ("c.txt", 3, 3)}
    assert store.remembered_inbox_files(["a.txt"])["a.txt"].hash == "h4"


def test_files_hashes_and_rejections(store: Store):
    assert store.record_file("h1", "one.txt", DAY, NOW, 5, 1) == 1
    assert store.record_file("h2", "two.txt", None, NOW, 0, 0) == 2
    assert store.taken_hashes(["h1", "h2", "h3"]) == {"h1", "h2"}
    assert store.taken_hashes([]) == set()
    store.record_rejection("r2", "b/zz.txt", "empty", NOW)
    store.record_rejection("r1", "B/aa.txt", "binary", NOW)
    store.record_rejection("r2", "b/zz.txt", "still empty", NOW)  # again: updated
    assert store.rejected_reasons(["r1", "r2", "h1"]) == {"r1": "binary", "r2": "still empty"}
    assert store.rejections() == [("B/aa.txt", "binary"), ("b/zz.txt", "still empty")]
    store.record_file("r1", "B/aa.txt", DAY, NOW, 1, 0)  # fixed: taken in, no longer rejected
    assert store.rejections() == [("b/zz.txt", "still empty")]
    store.remember_inbox_file("b/zz.txt", 1, 1, "r2")
    store.forget_rejections_of_absent_files()
    assert store.rejections() == [("b/zz.txt", "still empty")]
    store.forget_inbox_files(["b/zz.txt"])
    store.forget_rejections_of_absent_files()
    assert store.rejections() == []
    store.record_rejection("r3", "c.txt", "empty", NOW)
    assert store.counts() == Counts(files=3, papers=0, issues=0, rejected_files=1)


def test_papers_get_ids_in_order_and_are_known_by_key(store: Store):
    first = store.add_papers([(paper("One"), place("S")), (paper("Two", abstract_cut=True), None)],
                             None, NOW)  # fmt: skip
    assert first == [1, 2]
    assert store.add_papers([(paper("Three"), None)], None, NOW) == [3]
    assert store.add_papers([], None, NOW) == []
    assert store.known_papers(["one", "two", "four"]) == {
        "one": KnownPaper(1, False),
        "two": KnownPaper(2, True),
    }
    many = [f"paper {n}" for n in range(2500)]  # more keys than SQLite takes at once
    assert store.known_papers(["three", *many]) == {"three": KnownPaper(3, False)}


def test_a_file_lookup_says_whether_it_was_taken_in_else_which_papers_are_known(
    store: Store,
):
    store.add_papers(
        [(paper("One", abstract_cut=True), place("S")), (paper("Two"), None)], None, NOW
    )
    assert store.file_lookup("h", ["one", "three", "two"]) == (
        False,
        {"one": KnownPaper(1, True), "two": KnownPaper(2, False)},
    )
    assert store.file_lookup("h", []) == (False, {})
    store.record_file("h", "f.txt", DAY, NOW, 2, 0)
    assert store.file_lookup("h", ["one"]) == (True, {})
    assert store.file_lookup("other", ["two"]) == (False, {"two": KnownPaper(2, False)})


def test_seen_again_updates_upvotes_and_records_sightings(store: Store):
    seq = publish(store, [(paper("A", upvotes=2), place("S")), (paper("B"), place("S"))])
    later = NOW + dt.timedelta(days=1)
    store.update_seen([(1, 7), (2, None)], later)
    file_id = store.record_file("h", "f.txt", DAY, later, 2, 0)
    store.add_sightings([(1, DAY, 7), (2, None, None), (1, DAY, 8)], file_id)  # one per paper
    assert [(p.title, p.upvotes) for p in store.issue_papers(seq)] == [("A", 7), ("B", None)]
    assert store.counts().papers == 2


def test_seen_again_keeps_the_largest_count_and_a_missing_count_keeps_the_stored(
    store: Store,
):
    """PostgreSQL updates a file's papers in one statement: the same counts as one
    update per paper in order (several counts for a paper: the largest; none: kept)."""
    seq = publish(store, [(paper("A", upvotes=2), place("S")), (paper("B", upvotes=4), place("S"))])
    later = NOW + dt.timedelta(days=1)
    store.update_seen([(2, None), (1, 9), (1, 3)], later)
    store.update_seen([], later)
    assert {p.title: p.upvotes for p in store.issue_papers(seq)} == {"A": 9, "B": 4}
    store.update_seen([(2, 0)], later)
    assert {p.title: p.upvotes for p in store.issue_papers(seq)} == {"A": 9, "B": 0}
    file_id = store.record_file("h", "f.txt", DAY, later, 2, 0)
    store.add_sightings([], file_id)
    store.add_sightings([(2, None, None), (1, DAY, 3)], file_id)
    assert store.counts().papers == 2


def test_cut_abstracts_are_completed(store: Store):
    store.add_papers([(paper("Cut", abstract_cut=True), place("S")), (paper("Whole"), place("S"))],
                     1, NOW)  # fmt: skip
    assert store.cut_abstracts([2, 1, 1]) == [CutAbstract(1, "Abstract of Cut.", 1)]
    later = NOW + dt.timedelta(hours=1)
    store.complete_abstract(1, "The whole abstract.", ("https://github.com/a/b",), False, later)
    assert store.cut_abstracts([1]) == []
    store.rank_issue(1, True)
    store.add_issue("2026-11-24", 1, DAY, NOW, 2)
    (done,) = islice(store.issue_papers(1), 1)
    assert (done.abstract, done.links, done.abstract_cut, done.updated) == (
        "The whole abstract.", ("https://github.com/a/b",), False, later)  # fmt: skip
    assert store.issue_summary(1).with_code == 1


# Byte order: "Zeta" < "_x" < "alpha" < "Ärger"; a locale collation says otherwise.
SECTIONED = [
    (paper("Zeta paper", upvotes=1), place("Zeta")),
    (paper("alpha one", upvotes=5), place("alpha")),
    (paper("Arger paper"), place("Ärger")),
    (paper("underscore", upvotes=2), place("_x")),
    (paper("alpha two", upvotes=9), place("alpha")),
    (paper("no section", upvotes=3), None),
    (paper("ranked last", upvotes=99), place("Aaa", rank=1)),
]


def test_rank_issue_orders_by_section_bytes_then_upvotes_then_digest_order(store: Store):
    seq = publish(store, SECTIONED)
    assert titles(store.issue_papers(seq)) == [
        "no section", "Zeta paper", "underscore", "alpha two", "alpha one", "Arger paper",
        "ranked last"]  # fmt: skip
    store.rank_issue(seq, by_upvotes=False)
    assert titles(store.issue_papers(seq))[3:5] == ["alpha one", "alpha two"]
    assert store.issue_summary(seq).sections == (
        ("Zeta", 1), ("_x", 1), ("alpha", 2), ("Ärger", 1), ("Aaa", 1))  # fmt: skip


def test_the_first_papers_of_an_issue_are_its_first_in_page_order(store: Store):
    """A feed lists the first feed_max papers of each issue: read at once, the same
    papers in the same order as the whole issue's first, and never more."""
    seq = publish(store, SECTIONED)
    whole = titles(store.issue_papers(seq))
    assert titles(store.issue_papers(seq, first=3)) == whole[:3]
    assert titles(store.issue_papers(seq, first=100)) == whole
    assert titles(store.issue_papers(seq, first=0)) == []
    heads = titles(store.issue_papers(seq, per_section=1))
    assert titles(store.issue_papers(seq, per_section=1, first=2)) == heads[:2]


def test_an_issues_titles_are_its_papers_from_a_place_on_with_their_pages(store: Store):
    """The issues feed lists most of an issue's papers by title alone: the same papers,
    in the same order, on the same pages as read whole."""
    with store.transaction():
        issue_id, seq = store.next_issue_id(DAY)
        store.add_papers([(paper(f"Paper {n:02d}", upvotes=n % 3), None) for n in range(12)],
                         seq, NOW)  # fmt: skip
        store.rank_issue(seq, True)
        store.add_issue(issue_id, seq, DAY, NOW, 12, papers_per_page=5)
    whole = list(store.issue_papers(seq))
    listed = store.issue_titles(seq, skip=4, first=6)
    assert [(t.key, t.title, t.page) for t in listed] == [
        (p.key, p.title, p.page) for p in whole[4:10]]  # fmt: skip
    assert [t.page for t in listed] == [1, 2, 2, 2, 2, 2]
    assert [t.title for t in store.issue_titles(seq, skip=10, first=100)] == titles(whole[10:])
    assert store.issue_titles(seq, skip=12, first=5) == []


def test_issue_papers_stream_a_large_issue_in_page_order(store: Store):
    count = 5000
    seq = publish(
        store, [(paper(f"Paper {n:05d}", upvotes=n % 7), place("S")) for n in range(count)]
    )
    streamed = store.issue_papers(seq)
    firsts = list(islice(streamed, 3))
    assert firsts[0].upvotes == 6 and firsts[0].issue_id == "2026-11-24"
    rest = list(streamed)
    ordered = firsts + rest
    assert len(ordered) == count
    keys = [(-(p.upvotes or 0), int(p.title.split()[1])) for p in ordered]
    assert keys == sorted(keys)
    stamps = [p.first_seen for p in ordered]
    assert stamps == sorted(stamps, reverse=True)  # a millisecond apart, newest first


def test_a_stream_left_unfinished_does_not_block_the_store(store: Store):
    seq = publish(store, [(paper(f"P{n}"), place("S")) for n in range(50)])
    assert len(list(islice(store.issue_papers(seq), 2))) == 2
    with store.transaction():
        inside = store.issue_papers(seq)
        assert next(inside).title == "P0" and store.setting("x") is None
        assert len(list(inside)) == 49
    for value in ("2", "3"):  # a stream of one transaction leaves the next one alone
        with store.transaction():
            assert len(list(store.issue_papers(seq))) == 50
            store.set_setting("x", value)
    assert store.setting("x") == "3"


def test_newest_papers_across_issues_and_per_section(store: Store):
    publish(store, [(paper("Old A"), place("S")), (paper("Old B"), place("T"))], DAY)
    later = NOW + dt.timedelta(days=1)
    publish(store, [(paper("New A"), place("S")), (paper("New B"), place("T"))],
            DAY + dt.timedelta(days=1), at=later)  # fmt: skip
    assert titles(store.newest_papers(3)) == ["New A", "New B", "Old A"]
    assert titles(store.newest_papers(10, section="T")) == ["New B", "Old B"]
    assert store.newest_papers(5, section="nope") == []


def test_issue_summary_counts_code_organisations_and_sections(store: Store):
    org, other = Organization("o1", "Org One"), Organization("o2", "Org Two")
    seq = publish(store, [
        (paper("A", organization=org, links=("https://github.com/x/y",)), place("S")),
        (paper("B", organization=org), place("S")),
        (paper("C", organization=other), place("T", 1)),
    ])  # fmt: skip
    summary = store.issue_summary(seq)
    assert (summary.papers, summary.with_code) == (3, 1)
    assert summary.top_organizations == (("Org One", 2),)
    assert summary.sections == (("S", 2), ("T", 1))


def test_next_issue_id_numbers_issues_of_one_day(store: Store):
    assert store.next_issue_id(DAY) == ("2026-11-24", 1)
    assert store.next_issue_id(DAY, avoid=["2026-11-24"]) == ("2026-11-24-2", 1)
    store.add_issue("2026-11-24", 1, DAY, NOW, 0)
    store.add_issue("2026-11-24-2", 2, DAY, NOW, 0)
    assert store.next_issue_id(DAY) == ("2026-11-24-3", 3)
    assert store.next_issue_id(DAY, avoid={"2026-11-24-3"}) == ("2026-11-24-4", 3)
    assert store.next_issue_id(DAY + dt.timedelta(days=1)) == ("2026-11-25", 3)


def test_pending_issues_until_their_outputs_are_written(store: Store):
    one = store.add_issue("2026-11-24", 1, DAY, NOW, 4)
    assert one.outputs_pending and one.paper_count == 4
    store.add_issue("2026-11-25", 2, DAY + dt.timedelta(days=1), NOW, 0)
    assert [i.id for i in store.pending_issues()] == ["2026-11-24", "2026-11-25"]
    store.outputs_written([1, 2])
    assert store.pending_issues() == []
    store.mark_outputs_pending([1])
    assert store.pending_issues() == [dataclasses.replace(one, outputs_pending=True)]
    assert store.issue("2026-11-25").outputs_pending is False


def test_issues_by_year_limit_and_before(store: Store):
    days = [dt.date(2025, 12, 30), dt.date(2026, 1, 2), dt.date(2026, 3, 1), dt.date(2027, 1, 1)]
    for seq, day in enumerate(days, start=1):
        store.add_issue(day.isoformat(), seq, day, NOW, seq * 10)
    assert [i.id for i in store.issues()] == ["2027-01-01", "2026-03-01", "2026-01-02",
                                              "2025-12-30"]  # fmt: skip
    assert [i.id for i in store.issues(limit=2)] == ["2027-01-01", "2026-03-01"]
    assert [i.id for i in store.issues(year=2026)] == ["2026-03-01", "2026-01-02"]
    third = store.issue("2026-03-01")
    assert third is not None and third.date == dt.date(2026, 3, 1)
    assert [i.id for i in store.issues(before=third, limit=1)] == ["2026-01-02"]
    assert [(y.year, y.issues, y.papers) for y in store.issue_years()] == [
        (2027, 1, 40), (2026, 2, 50), (2025, 1, 10)]  # fmt: skip
    assert store.issue(None).id == "2027-01-01"
    assert store.issue("1999-01-01") is None


def test_rising_papers_are_marked_once(store: Store):
    old = publish(store, [(paper("Riser", upvotes=2), place("S")),
                          (paper("Flat", upvotes=5), place("S"))])  # fmt: skip
    store.update_seen([(1, 40), (2, 6)], NOW)
    new = publish(store, [(paper("Fresh"), place("S"))], DAY + dt.timedelta(days=1))
    assert store.mark_rising([1, 2], new, 10, 3.0, 10) == 1
    ((riser, before),) = store.rising_papers(new)
    assert (riser.title, riser.upvotes, before, riser.issue_id) == ("Riser", 40, 2, "2026-11-24")
    assert store.mark_rising([1, 2], new, 10, None, 10) == 0  # each paper rises once
    assert old == 1


def test_runs_start_finish_and_the_last_successful_one(store: Store):
    assert store.last_run() is None
    first = store.start_run(NOW, "host-a", 11)
    second = store.start_run(NOW + dt.timedelta(minutes=1), "host-b", 12)  # first died
    assert store.last_run().id == second
    store.finish_run(second, NOW + dt.timedelta(minutes=2), RunResult.PUBLISHED,
                     issue_id="2026-11-24", new_papers=3, papers_parsed=4,
                     summary={"b": 1})  # fmt: skip
    third = store.start_run(NOW + dt.timedelta(minutes=3), "host-a", 13)
    store.finish_run(third, NOW + dt.timedelta(minutes=4), RunResult.FAILED, error="disk full")
    last = store.last_run()
    assert (last.id, last.result, last.error, last.host, last.pid) == (
        third, RunResult.FAILED, "disk full", "host-a", 13)  # fmt: skip
    good = store.last_run(successful=True)
    assert (good.id, good.issue_id, good.new_papers, good.papers_parsed, good.summary) == (
        second, "2026-11-24", 3, 4, {"b": 1})  # fmt: skip
    assert good.finished_at == NOW + dt.timedelta(minutes=2)
    assert first == 1 and second == 2 and third == 3


def test_deliveries_are_claimed_once_unless_forced(store: Store):
    claimed = store.claim_deliveries("2026-11-24", ["b@x.org", "a@x.org", "c@x.org"], "<m1>", NOW)
    assert claimed == ["b@x.org", "a@x.org", "c@x.org"]
    later = NOW + dt.timedelta(minutes=1)
    store.settle_deliveries("2026-11-24", [
        DeliveryUpdate("a@x.org", DeliveryStatus.SENT),
        DeliveryUpdate("b@x.org", DeliveryStatus.IN_DOUBT),
        DeliveryUpdate("c@x.org", DeliveryStatus.REFUSED, "550 no such user"),
    ], later)  # fmt: skip
    again = store.claim_deliveries("2026-11-24", ["a@x.org", "b@x.org", "c@x.org", "d@x.org"],
                                   "<m2>", later)  # fmt: skip
    assert again == ["c@x.org", "d@x.org"]  # refused may be retried; new is new
    assert (
        store.claim_deliveries("2026-11-24", ["a@x.org", "b@x.org", "d@x.org"], "<m3>", later) == []
    )  # sent, in doubt, claimed: each may have arrived
    assert store.claim_deliveries("2026-11-24", ["a@x.org"], "<m3>", later, force=True) == [
        "a@x.org"]  # fmt: skip
    shown = store.deliveries("2026-11-24")
    assert list(shown) == ["a@x.org", "b@x.org", "c@x.org", "d@x.org"]
    assert (shown["a@x.org"].status, shown["a@x.org"].message_id) == (DeliveryStatus.CLAIMED,
                                                                     "<m3>")  # fmt: skip
    assert (shown["b@x.org"].status, shown["b@x.org"].at) == (DeliveryStatus.IN_DOUBT, later)
    assert (shown["c@x.org"].status, shown["c@x.org"].reason) == (DeliveryStatus.CLAIMED, None)
    assert store.deliveries("1999-01-01") == {}


def test_chat_posts_are_deliveries_of_their_own_medium(store: Store):
    """A channel named like an address is not that address: each medium keeps its own."""
    assert store.claim_deliveries("2026-11-24", ["team"], "chat", NOW, medium=Medium.CHAT) == [
        "team"
    ]
    assert store.claim_deliveries("2026-11-24", ["team"], "<m1>", NOW) == ["team"]
    store.settle_deliveries(
        "2026-11-24", [DeliveryUpdate("team", DeliveryStatus.SENT)], NOW, Medium.CHAT
    )
    posts, emails = store.deliveries("2026-11-24", Medium.CHAT), store.deliveries("2026-11-24")
    assert (posts["team"].status, emails["team"].status) == (
        DeliveryStatus.SENT,
        DeliveryStatus.CLAIMED,
    )
    assert store.claim_deliveries("2026-11-24", ["team"], "chat", NOW, medium=Medium.CHAT) == []


def test_issues_with_a_failed_copy_are_listed_oldest_first(store: Store):
    for issue_id in ("2026-11-25", "2026-11-24", "2026-11-26"):
        store.claim_deliveries(issue_id, ["a@x.org", "b@x.org"], "<m>", NOW)
    failed = DeliveryUpdate("b@x.org", DeliveryStatus.FAILED, "421 down")
    store.settle_deliveries("2026-11-25", [failed], NOW)
    store.settle_deliveries("2026-11-24", [failed], NOW)
    refused = DeliveryUpdate("b@x.org", DeliveryStatus.REFUSED, "550 no such user")
    store.settle_deliveries("2026-11-26", [refused], NOW)  # for good: not tried again
    store.claim_deliveries("2026-11-23", ["team"], "chat", NOW, medium=Medium.CHAT)
    store.settle_deliveries("2026-11-23", [DeliveryUpdate("team", DeliveryStatus.FAILED)], NOW,
                            Medium.CHAT)  # fmt: skip
    assert store.issues_with_failed_deliveries() == ["2026-11-24", "2026-11-25"]
    assert store.issues_with_failed_deliveries(Medium.CHAT) == ["2026-11-23"]


def test_the_last_ping_and_the_daemons_heartbeat_read_back_as_written(store: Store):
    assert store.last_ping() is None and store.last_heartbeat() is None
    store.record_ping(PingRecord(NOW, "fail", False, "https://hc.example/…", "HTTP 500"))
    store.record_heartbeat(Heartbeat(NOW, 4242, "host-a"))
    assert store.last_ping() == PingRecord(NOW, "fail", False, "https://hc.example/…", "HTTP 500")
    assert store.last_heartbeat() == Heartbeat(NOW, 4242, "host-a")
    later = NOW + dt.timedelta(minutes=1)
    store.record_ping(PingRecord(later, "success", True, "https://hc.example/…"))
    assert store.last_ping() == PingRecord(later, "success", True, "https://hc.example/…", None)


def test_a_second_holder_is_refused_after_waiting(opener: Opener):
    before = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(seconds=1)
    first, second = opener(), opener()
    assert first.lock_is_free("run") and second.lock_is_free("run")
    assert second.lock_held_since("run") is None
    with first.lock("run", 0):
        assert not second.lock_is_free("run") and not first.lock_is_free("run")
        assert second.lock_is_free("daemon")
        since = second.lock_held_since("run")  # by the clock, for a stuck run's check
        assert since is not None and before <= since <= dt.datetime.now(dt.UTC)
        started = time.monotonic()
        with pytest.raises(LockBusy) as refused, second.lock("run", 0.3):
            pass
        assert time.monotonic() - started >= 0.3
        assert refused.value.exit_code == 75 and "--wait" in (refused.value.hint or "")
        assert refused.value.message.startswith("another digest process (")
        with second.lock("daemon", 0):  # another kind: its own lock
            assert not first.lock_is_free("daemon")
    assert second.lock_is_free("run")
    with second.lock("run", 0):
        assert not first.lock_is_free("run")


def scripted(store: Store) -> list:
    """One sequence of calls, and everything read back along the way."""
    seen: list = []
    later = NOW + dt.timedelta(days=1)
    with store.transaction():
        store.remember_inbox_file("in/a.txt", 10, 1, "ha")
        store.remember_inbox_file("in/b.txt", 20, 2, "hb")
        seen.append(store.record_file("ha", "a.txt", DAY, NOW, 7, 1))
        seen.append(store.add_papers([(paper("Dropped"), None)], None, NOW))
        store.record_rejection("hb", "in/b.txt", "no papers", NOW)
    with pytest.raises(RuntimeError), store.transaction():
        store.record_file("hx", "x.txt", DAY, NOW, 1, 0)
        store.start_run(NOW, "h", 1)
        store.add_papers([(paper("Never"), None)], None, NOW)
        raise RuntimeError
    run = store.start_run(NOW, "host-a", 42)
    first = publish(store, SECTIONED)
    org = Organization("o", "Org")
    with store.transaction():
        issue_id, seq = store.next_issue_id(DAY + dt.timedelta(days=1), avoid=["2026-11-25"])
        seen.append((issue_id, seq))
        ids = store.add_papers([
            (paper("Coded", organization=org, links=("https://gitlab.com/a/b",)), place("alpha")),
            (paper("Also org", organization=org, abstract_cut=True), place("alpha")),
            (paper("Filtered"), Placement(None, 0, "r", "too old")),
        ], seq, later)  # fmt: skip
        seen.append(ids)
        store.update_seen([(1, 50), (2, None)], later)
        store.add_sightings([(1, DAY, 50), (ids[0], None, None)], 1)
        store.rank_issue(seq, by_upvotes=True)
        seen.append(store.mark_rising([1, 2, 3, 4], seq, 5, 2.0, 10))
        seen.append(store.add_issue(issue_id, seq, DAY + dt.timedelta(days=1), later, 3))
        store.complete_abstract(ids[1], "Now whole.", (), True, later)
        store.set_note(seq, "A *note*.")
        store.set_note(seq, "The note, edited.")
    store.outputs_written([first])
    store.finish_run(run, later, RunResult.PUBLISHED, issue_id=issue_id, summary={"k": [1]})
    store.claim_deliveries(issue_id, ["z@x", "A@x", "a@x"], "<m>", later)
    store.settle_deliveries(issue_id, [DeliveryUpdate("a@x", DeliveryStatus.FAILED, "4xx")],
                            later)  # fmt: skip
    for s in (first, seq):
        papers = list(store.issue_papers(s))
        seen += [papers, [p.key for p in papers], store.issue_summary(s), store.rising_papers(s)]
    seen += [
        store.newest_papers(4), store.newest_papers(9, section="alpha"), store.issues(),
        store.issue_years(), store.pending_issues(), store.issue(None), store.counts(),
        store.last_run(), store.last_run(successful=True), store.deliveries(issue_id),
        store.rejections(), store.inbox_fingerprints(taken=True),
        store.remembered_inbox_files(["in/a.txt", "in/b.txt"]),
        store.known_papers(["dropped", "coded", "never", "also org"]),
        store.cut_abstracts(range(1, 20)), store.next_issue_id(DAY),
        store.note(seq), store.note(first),
        store.claim_deliveries(issue_id, ["z@x", "a@x", "new@x"], "<n>", later),
        store.start_run(later, "host-b", 43), store.record_file("hz", "z.txt", None, later, 0, 0),
    ]  # fmt: skip
    return seen


def test_both_backends_give_equal_answers(tmp_path: Path, pg_dsn: str):
    from digest.store.postgres import PostgresStore

    with SqliteStore(tmp_path / "s.sqlite") as lite, PostgresStore(pg_dsn) as pg:
        expected, got = scripted(lite), scripted(pg)
    assert len(expected) == len(got)
    for number, (want, have) in enumerate(zip(expected, got, strict=True)):
        assert have == want, f"read-back {number} differs"


def test_a_new_state_being_created_by_another_process_is_waited_for(tmp_path: Path):
    """Two first runs at once: SQLite refuses a switch to write-ahead logging at once
    while another process writes the new file, without its usual busy wait. The second
    must wait, as for a lock, not fail with 'database is locked'."""
    import logging
    import subprocess
    import sys
    import threading

    from digest.store import SqliteStore

    path = tmp_path / "state.sqlite"
    waiting = threading.Event()

    class Seen(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "waiting for another digest process" in record.getMessage():
                waiting.set()

    seen, logger = Seen(), logging.getLogger("digest")
    level = logger.level
    logger.addHandler(seen)
    logger.setLevel(logging.INFO)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sqlite3, sys\n"
         f"db = sqlite3.connect({str(path)!r}, isolation_level=None)\n"
         "db.execute('BEGIN IMMEDIATE'); db.execute('PRAGMA user_version = 0')\n"
         "db.execute('CREATE TABLE IF NOT EXISTS held (x)')\n"
         "print('holding', flush=True); sys.stdin.readline(); db.execute('ROLLBACK')\n"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "holding\n"
        opened: list[int] = []

        def open_it() -> None:
            with SqliteStore(path) as store:
                opened.append(store.counts().papers)

        opener = threading.Thread(target=open_it)
        opener.start()
        assert waiting.wait(30), "the second opener neither waited nor opened"
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.flush()
        opener.join(60)
        assert opened == [0], "the waiting opener made a whole, empty state"
    finally:
        logger.removeHandler(seen)
        logger.setLevel(level)
        holder.kill()
        holder.wait()


def test_inbox_paths_not_trusted_yet_are_remembered(store: Store):
    assert store.unsure_inbox_paths() == set()
    with store.transaction():
        store.set_unsure_inbox_paths(["b.txt", "a.txt", "a.txt"])
    assert store.unsure_inbox_paths() == {"a.txt", "b.txt"}
    store.set_unsure_inbox_paths([])
    assert store.unsure_inbox_paths() == set()


def test_the_newest_issue_is_the_latest_dated_whatever_order_it_was_recorded_in(store: Store):
    newest = publish(store, [(paper("November paper"), place("S"))], dt.date(2026, 11, 24))
    backfilled = publish(store, [(paper("October paper"), place("S"))], dt.date(2026, 10, 5))
    assert backfilled > newest, "a backfill of older listings, recorded later"
    assert [i.id for i in store.issues()] == ["2026-11-24", "2026-10-05"]
    latest = store.issue(None)
    assert latest is not None and latest.id == "2026-11-24"
    assert [i.id for i in store.issues(before=latest)] == ["2026-10-05"]
    assert [p.title for p in store.newest_papers(1)] == ["November paper"]


def test_a_note_is_set_and_removed(store: Store):
    seq = publish(store, [(paper("Noted"), place("S"))])
    store.set_note(seq, "A quiet week.")
    assert store.note(seq) == "A quiet week."
    store.remove_note(seq)
    assert store.note(seq) is None
    store.remove_note(seq)  # none to remove: nothing happens
