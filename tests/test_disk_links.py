"""The site opened from disk (issue 25, point 3): every link between its pages is relative,
so ``output/index.html`` opened with ``file://`` navigates, and so does the same folder
served by ``digest serve``. Debian's headless Chromium follows every link it resolves and
clicks through the issues; the config's absolute ``url`` stays where a page leaves the folder
(its canonical link, its feed discovery) and in the feeds and emails."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urldefrag, urlparse
from urllib.request import url2pathname

import pytest
from conftest import NOW, PLAIN, PLAIN_2, WITH_META
from readers import Browser, Tab
from test_serve import serving

pytestmark = pytest.mark.browser

SITE_URL = "https://example.org/digest/"
DAYS = [(PLAIN, "2026-11-22T08:00:00Z"), (PLAIN_2, "2026-11-23T08:00:00Z"), (WITH_META, NOW)]
# Every link, stylesheet and script of the page as the browser resolved it.
HREFS = """[...document.querySelectorAll("a[href], link[rel=stylesheet], script[src]")]
           .map(e => e.href || e.src)"""
# What a loaded page is: its address, its title, and its ids (for the anchors).
SEEN = """({url: location.href, title: document.title, h1: !!document.querySelector("h1"),
           ids: [...document.querySelectorAll("[id]")].map(e => e.id)})"""


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Path:
    """Three daily issues (so a middle one has a previous and a next), sections on."""
    from conftest import digest_process

    work = tmp_path_factory.mktemp("disk")
    (work / "inbox").mkdir()
    config = work / "digest.toml"
    config.write_text(
        f'title = "Test digest"\nurl = "{SITE_URL}"\nauthor = "Tester"\n'
        'inbox = "inbox"\noutput = "out"\nstate = "state.sqlite"\nsettle = 0\n'
        '[[sections]]\nname = "Language models"\nmatch = ["language model", "LLM"]\n'
        '[[sections]]\nname = "Vision"\nmatch = ["image", "video", "vision"]\n',
        encoding="utf-8",
    )
    for source, now in DAYS:
        (work / "inbox" / source.name).write_bytes(source.read_bytes())
        done = digest_process("run", "--config", config, "--now", now, "--no-send")
        assert done.returncode == 0, done.stderr
    return work / "out"


def _load(tab: Tab, url: str) -> dict:
    tab.send("Page.navigate", {"url": url})
    tab.browser.wait_for("Page.loadEventFired", tab.session)
    return tab.evaluate(SEEN)


def crawl(
    browser: Browser, start: str, inside: str, fetch: Callable[[str], bool]
) -> Iterator[tuple[str, str, dict]]:
    """Each page reachable from ``start`` by links under ``inside``, as Chromium loads it:
    (the page linking, the link as resolved, what loaded). Links elsewhere (a paper's
    arXiv page, the feeds' subscription URLs) are not followed."""
    tab = browser.open(start, width=1280, mobile=False)
    try:
        queue, seen = [start], {start}
        while queue:
            page = queue.pop(0)
            _load(tab, page)
            for link in tab.evaluate(HREFS):
                target, fragment = urldefrag(link)
                if not target.startswith(inside):
                    continue
                loaded = _load(tab, target) if target.endswith(".html") else None
                if loaded is None:  # a feed, the Markdown, a stylesheet: asked for as a file
                    loaded = {"url": target, "status": fetch(target)}
                elif fragment:
                    loaded["fragment"] = fragment in loaded["ids"]
                yield page, link, loaded
                if target.endswith(".html") and target not in seen:
                    seen.add(target)
                    queue.append(target)
    finally:
        tab.close()


def on_disk(url: str) -> bool:
    """Whether a file:// link names a file of the folder (a feed, the Markdown)."""
    return Path(url2pathname(urlparse(url).path)).is_file()


def _assert_every_link_lands(found: list[tuple[str, str, dict]]) -> set[str]:
    pages = set()
    for page, link, loaded in found:
        if "status" in loaded:
            assert loaded["status"], f"{page} links {link}: nothing there"
            continue
        assert loaded["h1"] and loaded["title"].startswith("Test digest"), (page, link, loaded)
        assert loaded.get("fragment", True), f"{page} links {link}: no such anchor there"
        pages.add(urldefrag(loaded["url"])[0])
    return pages


def test_the_site_opened_from_disk_navigates(published):
    start = (published / "index.html").as_uri()
    with Browser() as browser:
        found = list(crawl(browser, start, published.as_uri() + "/", on_disk))
    pages = _assert_every_link_lands(found)
    issues = {
        (published / "issues" / f"{day}.html").as_uri()
        for day in ("2026-11-22", "2026-11-23", "2026-11-24")
    }
    assert issues | {(published / "archive" / "2026.html").as_uri(), start} <= pages
    links = {link for _, link, _ in found}
    assert (published / "atom.xml").as_uri() in links and any(".md" in link for link in links)
    assert not any(link.startswith(SITE_URL) for _, link, _ in found)


def test_previous_and_next_issue_are_clicked_through_from_disk(published):
    with Browser() as browser:
        tab = browser.open(published / "index.html", width=1280, mobile=False)
        try:
            trail = [tab.evaluate("document.title")]
            for text in ("November 24, 2026", "Previous issue", "Previous issue", "Next issue",
                         "All issues"):  # fmt: skip
                clicked = tab.evaluate(
                    f"""(() => {{ const a = [...document.querySelectorAll("a")]
                          .find(a => a.textContent.startsWith({json.dumps(text)}));
                        if (!a) return null; a.click(); return a.href; }})()"""
                )
                assert clicked, f"no link {text!r} on {trail[-1]}"
                tab.browser.wait_for("Page.loadEventFired", tab.session)
                trail.append(tab.evaluate("location.href.split('/').slice(-2).join('/')"))
        finally:
            tab.close()
    days = ["2026-11-24", "2026-11-23", "2026-11-22", "2026-11-23"]
    assert trail[1:] == [f"issues/{day}.html" for day in days] + ["out/index.html"]


def test_the_same_folder_served_navigates_on_its_own_address(published):
    with serving("--config", published.parent / "digest.toml") as served, Browser() as browser:

        def asked(url: str) -> bool:
            return served.get(url.removeprefix(served.url[:-1]))[0] == 200

        found = list(crawl(browser, served.url + "index.html", served.url, asked))
    pages = _assert_every_link_lands(found)
    assert (
        served.url + "issues/2026-11-23.html" in pages and served.url + "archive/2026.html" in pages
    )
    assert not any(link.startswith(SITE_URL) for _, link, _ in found)


def test_the_absolute_url_stays_where_a_page_leaves_the_folder(published):
    page = (published / "issues" / "2026-11-23.html").read_text(encoding="utf-8")
    assert f'<link rel="canonical" href="{SITE_URL}issues/2026-11-23.html">' in page
    assert (
        f'type="application/atom+xml" title="Test digest (Atom)" href="{SITE_URL}atom.xml"' in page
    )
    assert f"{SITE_URL}issues/2026-11-24.html#" in (published / "atom.xml").read_text(
        encoding="utf-8"
    )
    assert 'href="../issues/2026-11-22.html"' in page and 'href="../index.html"' in page
