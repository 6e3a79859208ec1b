"""Feeds read back as a reader would: feedparser and lxml."""

from __future__ import annotations

import datetime as dt
import json
import re

import feedparser
import html5lib
import pytest
from conftest import (
    NOW,
    PLAIN,
    PLAIN_2,
    WITH_META,
    digest_text,
    linked_page,
    papers_from,
    published_files,
)
from lxml import etree

ATOM = "{http://www.w3.org/2005/Atom}"


def parsed(site, name):
    data = (site.out / name).read_bytes()
    feed = feedparser.parse(data)
    assert not feed.bozo, feed.get("bozo_exception")
    return feed


@pytest.fixture
def two_issues(site, run_cli):
    site.drop(PLAIN)
    assert run_cli("run", "--config", site.config, "--now", "2026-11-23T08:00:00Z").code == 0
    site.drop(PLAIN_2)
    assert run_cli("run", "--config", site.config, "--now", NOW).code == 0
    return site


def test_rss_has_what_the_spec_requires(two_issues):
    root = etree.fromstring((two_issues.out / "rss.xml").read_bytes())
    channel = root.find("channel")
    assert root.get("version") == "2.0"
    assert channel.findtext("title") == "Test digest"
    assert channel.findtext("link") == "https://example.org/digest/"
    assert channel.findtext("description")
    self_link = channel.find(f"{ATOM}link")
    assert (
        self_link.get("rel") == "self"
        and self_link.get("href") == "https://example.org/digest/rss.xml"
    )
    assert channel.findtext("lastBuildDate") == "Tue, 24 Nov 2026 08:00:00 +0000"
    for item in channel.findall("item"):
        assert item.findtext("title") and item.findtext("description") and item.findtext("pubDate")
        assert item.find("guid").get("isPermaLink") == "false"


def test_atom_has_what_rfc_4287_requires(two_issues):
    root = etree.fromstring((two_issues.out / "atom.xml").read_bytes())
    assert (
        root.findtext(f"{ATOM}id")
        and root.findtext(f"{ATOM}title")
        and root.findtext(f"{ATOM}updated")
    )
    links = {link.get("rel"): link.get("href") for link in root.findall(f"{ATOM}link")}
    assert links == {
        "self": "https://example.org/digest/atom.xml",
        "alternate": "https://example.org/digest/",
    }
    assert root.find(f"{ATOM}author").findtext(f"{ATOM}name") == "Tester"
    entries = root.findall(f"{ATOM}entry")
    updated = [entry.findtext(f"{ATOM}updated") for entry in entries]
    assert len(set(updated)) == len(updated), "every entry has its own instant"


@pytest.mark.parametrize("name", ["rss.xml", "atom.xml"])
def test_newest_first_capped_at_feed_size_with_links_to_anchors(two_issues, name):
    feed = parsed(two_issues, name)
    assert len(feed.entries) == 100
    from digest.model import title_key

    older = {title_key(t) for t, _ in papers_from(PLAIN)}
    newest = [t for t, _ in papers_from(PLAIN_2) if title_key(t) not in older]
    # The second issue (the newer) comes first, in page order.
    assert [entry.title for entry in feed.entries[: len(newest)]] == newest
    assert all("2026-11-23.html" in entry.link for entry in feed.entries[len(newest) :])
    dates = [entry.published_parsed for entry in feed.entries]
    assert dates == sorted(dates, reverse=True)
    first = feed.entries[0]
    assert first.link.startswith("https://example.org/digest/issues/2026-11-24.html#p-")
    anchor = first.link.split("#")[1]
    page = (two_issues.out / "issues" / "2026-11-24.html").read_text(encoding="utf-8")
    assert f'id="{anchor}"' in page


def test_feed_size_smaller_than_an_issue_and_entries_across_issues(site, run_cli):
    site.config.write_text(site.config.read_text().replace("[email]", "feed_size = 5\n[email]"))
    site.write(
        "a.txt", digest_text("Mar 3", [("Old one", "x."), ("Old two", "y."), ("Old three", "z.")])
    )
    run_cli("run", "--config", site.config, "--now", "2026-03-03T08:00:00Z")
    site.write("b.txt", digest_text("Mar 4", [("New one", "x."), ("New two", "y.")]))
    run_cli("run", "--config", site.config, "--now", "2026-03-04T08:00:00Z")
    feed = parsed(site, "atom.xml")
    assert [e.title for e in feed.entries] == [
        "New one",
        "New two",
        "Old one",
        "Old two",
        "Old three",
    ]


def test_ids_are_stable_across_runs_and_equal_across_formats(site, run_cli):
    site.drop(PLAIN)
    run_cli("run", "--config", site.config, "--now", "2026-11-23T08:00:00Z")
    before = {e.title: e.id for e in parsed(site, "atom.xml").entries}
    rss_ids = {e.title: e.id for e in parsed(site, "rss.xml").entries}
    assert before == rss_ids
    site.drop(PLAIN_2)
    run_cli("run", "--config", site.config, "--now", NOW)
    after = {e.title: e.id for e in parsed(site, "atom.xml").entries}
    assert len(set(after.values())) == len(after)
    assert all(after[title] == before[title] for title in after.keys() & before.keys())


def test_first_seen_dates_never_the_build_time(site, run_cli):
    site.drop(PLAIN)
    run_cli("run", "--config", site.config, "--now", "2026-11-20T08:00:00Z")
    site.drop(PLAIN_2)
    run_cli("run", "--config", site.config, "--now", "2026-11-24T08:00:00Z")
    entries = parsed(site, "atom.xml").entries
    old = [e for e in entries if "2026-11-20.html" in e.link]
    assert old and all(e.published[:13] in ("2026-11-20T07", "2026-11-20T08") for e in old)


def test_same_state_gives_byte_identical_files(tmp_path, run_cli):
    outputs = []
    for name in ("one", "two"):
        root = tmp_path / name
        (root / "inbox").mkdir(parents=True)
        for path in (PLAIN, WITH_META):
            (root / "inbox" / path.name).write_bytes(path.read_bytes())
        config = root / "digest.toml"
        config.write_text(
            'url = "https://example.org/"\ninbox = "inbox"\noutput = "out"\nstate = "s.db"\n'
        )
        assert run_cli("run", "--config", config, "--now", NOW).code == 0
        outputs.append(published_files(root / "out"))
    assert outputs[0].keys() == outputs[1].keys()
    assert outputs[0] == outputs[1]


def test_rebuild_from_state_reproduces_the_published_files(two_issues, run_cli):
    files = published_files(two_issues.out)
    for path in files:
        (two_issues.out / path).unlink()
    result = run_cli("rebuild", "--config", two_issues.config)
    assert result.code == 0
    assert published_files(two_issues.out) == files


def test_json_feed_follows_the_spec_and_shares_ids_with_atom(two_issues):
    document = json.loads((two_issues.out / "feed.json").read_text(encoding="utf-8"))
    assert document["version"] == "https://jsonfeed.org/version/1.1"
    assert document["title"] == "Test digest"
    assert document["feed_url"] == "https://example.org/digest/feed.json"
    assert document["home_page_url"] == "https://example.org/digest/"
    assert document["authors"] == [{"name": "Tester"}]
    items = document["items"]
    assert len(items) == 100
    for item in items:
        assert isinstance(item["id"], str) and item["id"].startswith("urn:uuid:")
        assert item["url"].startswith("https://example.org/digest/issues/")
        assert item["content_html"] and isinstance(item["title"], str)
        assert dt.datetime.fromisoformat(item["date_published"].replace("Z", "+00:00")).tzinfo
    atom = parsed(two_issues, "atom.xml")
    assert [item["id"] for item in items] == [entry.id for entry in atom.entries]


def test_issues_feed_has_one_entry_per_issue_with_its_papers(two_issues):
    feed = parsed(two_issues, "issues.xml")
    assert [entry.link for entry in feed.entries] == [
        "https://example.org/digest/issues/2026-11-24.html",
        "https://example.org/digest/issues/2026-11-23.html",
    ]
    assert len({entry.id for entry in feed.entries}) == 2
    first = feed.entries[0].content[0].value
    assert "Scaling Laws" not in first  # that paper belongs to the older issue
    older = feed.entries[1].content[0].value
    assert "Scaling Laws for Data Filtering" in older and "80 new papers" in older


def test_pages_announce_every_feed_for_autodiscovery(two_issues):
    for page in (two_issues.out / "index.html", two_issues.out / "issues" / "2026-11-24.html"):
        tree = html5lib.parse(page.read_text(encoding="utf-8"), namespaceHTMLElements=False)
        alternates = {
            (link.get("type"), link.get("href"))
            for link in tree.iter("link")
            if link.get("rel") == "alternate"
        }
        assert alternates == {
            ("application/atom+xml", "https://example.org/digest/atom.xml"),
            ("application/rss+xml", "https://example.org/digest/rss.xml"),
            ("application/feed+json", "https://example.org/digest/feed.json"),
            ("application/atom+xml", "https://example.org/digest/issues.xml"),
        }


def test_issue_page_summary_line_and_link_kinds(site, run_cli):
    meta = [
        "naver-ai NAVER AI Lab\n·\nMar 1, 2026 3",
        "naver-ai NAVER AI Lab\n·\nMar 1, 2026",
        "  • 2 authors\n·\nMar 2, 2026",
    ]
    site.write(
        "a.txt",
        digest_text(
            "Mar 4",
            [
                ("With code", "See https://github.com/a/b and https://a.github.io/b."),
                ("With a page", "See https://example.org/project."),
                ("With nothing", "Nothing to see."),
            ],
            meta=meta,
        ),
    )
    assert run_cli("run", "--config", site.config, "--now", NOW).code == 0
    page = (site.out / "issues" / "2026-11-24.html").read_text(encoding="utf-8")
    tree = html5lib.parse(page, namespaceHTMLElements=False)
    lede = " ".join("".join(tree.find(".//p[@class='lede']").itertext()).split())
    assert (
        lede == "3 new papers · 1 with code (33%) · most from: NAVER AI Lab (2) · issue 2026-11-24"
    )
    kinds = [  # the papers' links (the contents list every title too)
        ("".join(li.find("span").itertext()), li.find("a").get("href"))
        for ul in tree.iter("ul")
        if ul.get("class") == "links"
        for li in ul
    ]
    assert kinds == [
        ("code", "https://github.com/a/b"),
        ("project page", "https://a.github.io/b"),
        ("project page", "https://example.org/project"),
    ]
    markdown_source = (site.out / "issues" / "2026-11-24.md").read_text(encoding="utf-8")
    assert "- code: <https://github.com/a/b>" in markdown_source


def test_index_draws_new_papers_per_issue_as_svg(site, run_cli):
    for day, count in ((2, 3), (3, 1), (4, 2)):
        pairs = [(f"Paper {day}-{n}", "Text.") for n in range(count)]
        site.write(f"d{day}.txt", digest_text(f"Mar {day}", pairs))
        run_cli("run", "--config", site.config, "--now", f"2026-03-0{day}T08:00:00Z")
    tree = html5lib.parse(
        (site.out / "index.html").read_text(encoding="utf-8"), namespaceHTMLElements=False
    )
    svg = "{http://www.w3.org/2000/svg}"
    (chart,) = list(tree.iter(f"{svg}svg"))
    bars = list(chart.iter(f"{svg}rect"))
    assert ["".join(bar.find(f"{svg}title").itertext()) for bar in bars] == [
        "2026-03-02: 3 papers",
        "2026-03-03: 1 paper",
        "2026-03-04: 2 papers",
    ]
    heights = [float(bar.get("height")) for bar in bars]
    assert heights == [100.0, round(100 / 3, 1), round(200 / 3, 1)]
    assert not list(tree.iter("script"))


def _feed_papers(site) -> set[str]:
    """The papers every feed of the site holds now, by their link (the paper feeds and
    the issues feed, read back by feedparser) as "<issue>#<anchor>", whichever page of a
    paged issue it goes to."""
    held: set[str] = set()
    for name in ("atom.xml", "rss.xml", "feed.json"):
        if name == "feed.json":
            items = json.loads((site.out / name).read_text(encoding="utf-8"))["items"]
            held |= {item["url"] for item in items}
        else:
            held |= {entry.link for entry in parsed(site, name).entries}
    for entry in parsed(site, "issues.xml").entries:
        tree = html5lib.parse(entry.content[0].value, namespaceHTMLElements=False)
        held |= {a.get("href") for a in tree.iter("a") if "#p-" in (a.get("href") or "")}
    return {re.sub(r"(/issues/[\d-]+?)(?:/\d+)?\.html#", r"\1#", link) for link in held}


def _published(site) -> set[str]:
    rows = site.rows(
        "SELECT i.id, p.key FROM papers p JOIN issues i ON i.seq = p.issue_seq"
    )  # every paper published in an issue
    from digest.model import paper_anchor

    return {f"https://example.org/digest/issues/{i}#{paper_anchor(k)}" for i, k in rows}


def test_every_published_paper_reaches_a_feed_whatever_its_section(site, run_cli):
    """A subscriber sees every paper published: the newest issue is in the paper feeds
    whole (ranked across sections), the issues feed lists every paper of its issues.
    Over a backfill and weekly runs of 60 papers in three sections, with feed_size 20,
    the union of what the feeds held after each run holds every published paper."""
    site.config.write_text(
        site.config.read_text().replace(
            "[email]",
            "feed_size = 20\n"
            '[[sections]]\nname = "Vision"\nmatch = ["image"]\n'
            '[[sections]]\nname = "Language"\nmatch = ["text"]\n[email]',
        ),
        encoding="utf-8",
    )
    topics = ("image", "text", "protein")

    def listing(day: str, start: int, count: int, votes: int) -> str:
        pairs = [(f"Paper {n} on {topics[n % 3]}", f"We study {topics[n % 3]} data.")
                 for n in range(start, start + count)]  # fmt: skip
        meta = [f"  • 3 authors\n·\nMar 1, 2026 {votes + n % 7}" for n in range(count)]
        return digest_text(day, pairs, meta=meta)

    for week, day in enumerate(("Oct 5", "Oct 12", "Oct 19")):  # a backlog
        site.write(f"old-{week}.txt", listing(day, 1000 + 60 * week, 60, 5))
    held = set()
    assert run_cli("run", "--config", site.config, "--backfill", "--now", NOW).code == 0
    held |= _feed_papers(site)
    for week in range(3):
        site.write(f"new-{week}.txt", listing(f"Nov {24 + week}", 60 * week, 60, 40))
        moment = dt.datetime(2026, 11, 24, 8, tzinfo=dt.UTC) + dt.timedelta(days=week)
        assert run_cli("run", "--config", site.config, "--now", moment.isoformat()).code == 0
        newest = parsed(site, "atom.xml").entries
        assert len(newest) == 60, "the newest issue whole, though feed_size is 20"
        issues = {re.search(r"/issues/([\d-]+?)(?:/\d+)?\.html#", e.link)[1] for e in newest}
        assert len(issues) == 1  # all of the newest issue, in every section
        for entry in newest:  # on the page (of the paged issue) that shows it
            page, anchor = linked_page(site.out, "https://example.org/digest/", entry.link)
            assert f'<article id="{anchor}">' in page
        held |= _feed_papers(site)
    published = _published(site)
    assert len(published) == 6 * 60
    assert published <= held, f"{len(published - held)} papers never reached a feed"


def test_the_newest_issue_is_ranked_across_sections_in_the_feeds(site, run_cli):
    site.config.write_text(
        site.config.read_text().replace(
            "[email]", '[[sections]]\nname = "First"\nmatch = ["alpha"]\n[email]'
        ),
        encoding="utf-8",
    )
    pairs = [("An alpha paper", "On alpha."), ("A beta paper", "On beta."),
             ("Another alpha paper", "More alpha.")]  # fmt: skip
    meta = ["  • 1 author\n·\nMar 1, 2026 3", "  • 1 author\n·\nMar 1, 2026 90",
            "  • 1 author\n·\nMar 1, 2026 7"]  # fmt: skip
    site.write("a.txt", digest_text("Nov 24", pairs, meta=meta))
    assert run_cli("run", "--config", site.config, "--now", NOW).code == 0
    feed = parsed(site, "atom.xml")
    # The page puts the section first; the feed ranks by upvotes across sections, and
    # its dates agree with that order.
    assert [e.title for e in feed.entries] == ["A beta paper", "Another alpha paper",
                                               "An alpha paper"]  # fmt: skip
    dates = [e.published_parsed for e in feed.entries]
    assert dates == sorted(dates, reverse=True)


def test_a_section_with_no_papers_yet_has_the_feeds_every_page_announces(site, run_cli):
    """Every page's head offers each configured section's feed; a section nothing has
    matched yet used to have no feed files, so a reader subscribing got a 404. Its
    feeds are there, empty and valid, and fill when the section gets papers."""
    site.config.write_text(
        site.config.read_text().replace(
            "[email]", '[[sections]]\nname = "Quantum"\nmatch = ["qubit"]\n[email]'
        ),
        encoding="utf-8",
    )
    site.drop(PLAIN)
    assert run_cli("run", "--config", site.config, "--now", NOW, "--no-send").code == 0
    announced = re.findall(r'href="https://example\.org/digest/(sections/[^"]+)"',
                           (site.out / "index.html").read_text(encoding="utf-8"))  # fmt: skip
    assert "sections/quantum/atom.xml" in announced
    for link in announced:
        assert (site.out / link).is_file(), f"{link} is announced but not there"
    for name in ("rss.xml", "atom.xml"):
        feed = feedparser.parse((site.out / "sections" / "quantum" / name).read_bytes())
        assert not feed.bozo and feed.entries == []
        assert feed.feed.title == "Test digest: Quantum"
    document = json.loads((site.out / "sections" / "quantum" / "feed.json").read_text())
    assert document["items"] == []
