"""Search across the archive with Pagefind (issue 25): the examples published with
``search = true``, the search page read by Debian's headless Chromium from ``digest
serve`` and from disk, checked with axe-core and the W3C Nu checker; the index built
again on each publish, writing only what changed and removing only its own old files;
scraped text never running on the search page, nor a script on any other page."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from conftest import NOW, ROOT, digest_process, digest_text, published_files
from readers import Browser, axe_version, tree_of, vnu_errors
from test_serve import serving

from digest.publish import pagefind_service

pytestmark = pytest.mark.skipif(
    pagefind_service.executable() is None,
    reason="Pagefind is not installed: pip install -e '.[test]' brings digest[search]",
)

HOSTILE = '<img src=x onerror="window.pwned=1">Hostile <script>window.pwned=2</script>'


def search_config(tmp_path: Path, url: str = "http://localhost:8000/") -> Path:
    text = (ROOT / "examples" / "digest.toml").read_text(encoding="utf-8")
    text = text.replace('inbox = "digests"', f'inbox = "{ROOT / "examples" / "digests"}"')
    text = text.replace('output = "../output"', 'output = "out"')
    config = tmp_path / "digest.toml"
    config.write_text(f"search = true\nsettle = 0\n{text}", encoding="utf-8")
    return config


@pytest.fixture(scope="module")
def site_out(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("search")
    done = digest_process("run", "--config", search_config(work), "--now", NOW)
    assert done.returncode == 0, done.stderr
    return work / "out"


@pytest.fixture(scope="module")
def browser():
    with Browser() as chromium:
        yield chromium


@pytest.fixture(scope="module")
def served(site_out):
    with serving("--out", site_out) as server:
        yield server


def press(tab, key: str, code: int) -> None:
    for kind in ("keyDown", "keyUp"):
        event = {"type": kind, "key": key, "code": key, "windowsVirtualKeyCode": code}
        tab.send("Input.dispatchKeyEvent", event)


def results(tab, at_least: int = 1) -> dict:
    """The results once there are some (or the summary says none), as the page shows them."""
    return tab.evaluate(
        """new Promise(done => {
             const look = () => {
               const links = [...document.querySelectorAll('pagefind-results a')];
               const summary = document.querySelector('pagefind-summary').textContent.trim();
               if (links.length >= AT_LEAST || /^No results/.test(summary) || /Error/.test(summary))
                 done({links: links.map(a => [a.textContent.trim(), a.getAttribute('href')]),
                       summary, text: document.querySelector('pagefind-results').innerText});
               else requestAnimationFrame(look);
             };
             look();
           })""".replace("AT_LEAST", str(at_least)),
        wait=True,
    )


def type_query(tab, text: str) -> None:
    """Into the search field, as a keyboard does: Tab until it has the focus, then type."""
    for _ in range(10):
        if tab.evaluate("document.activeElement && document.activeElement.type === 'search'"):
            break
        press(tab, "Tab", 9)
    assert tab.evaluate("document.activeElement.type") == "search", "the field takes the focus"
    tab.send("Input.insertText", {"text": text})


@pytest.mark.browser
def test_a_reader_finds_a_paper_and_lands_on_it(served, site_out, browser):
    tab = browser.open(served.url + "search.html", width=1280, mobile=False)
    type_query(tab, "absorbing discrete diffusion")
    found = results(tab)
    title, href = found["links"][0]
    assert title.startswith("Your Absorbing Discrete Diffusion"), found
    # on the page of the (paged) issue that shows it
    assert re.fullmatch(r"/issues/2026-11-24(?:/\d+)?\.html#p-[0-9a-f]{12}", href), href
    fetched = tab.evaluate("performance.getEntriesByType('resource').map(e => e.name)")
    assert any(url.endswith("/pagefind/pagefind.js") for url in fetched), fetched
    assert all(url.startswith(served.url) for url in fetched), "nothing from elsewhere"
    # With the keyboard: down to the first result, and Enter follows it.
    for _ in range(20):
        if tab.evaluate("document.activeElement.getAttribute('href')") == href:
            break
        press(tab, "Tab", 9)
    press(tab, "Enter", 13)
    landed = tab.evaluate(
        """new Promise(done => { const look = () => location.pathname.endsWith('.html')
             && location.hash && document.readyState === 'complete'
             ? done([location.pathname + location.hash,
                     document.getElementById(location.hash.slice(1))?.querySelector('h2')
                       ?.textContent]) : requestAnimationFrame(look); look(); })""",
        wait=True,
    )
    tab.close()
    assert landed[0] == href and landed[1].startswith("Your Absorbing Discrete Diffusion")


@pytest.mark.browser
def test_issues_are_found_too_and_the_count_is_announced(served, browser):
    tab = browser.open(served.url + "search.html", width=375)
    tab.evaluate(  # what the live regions say, as a screen reader hears it
        """window.heard = []; new MutationObserver(changes => { for (const c of changes) {
             const region = c.target.nodeType === 1 ? c.target : c.target.parentElement;
             if (region && region.closest('[aria-live]') && region.textContent.trim())
               window.heard.push(region.textContent.trim()); } })
           .observe(document.body, {subtree: true, childList: true, characterData: true})"""
    )
    type_query(tab, "november")
    found = results(tab)
    live = tab.evaluate(
        """new Promise(done => { const look = () => window.heard.some(t => /result/.test(t))
             ? done(window.heard) : requestAnimationFrame(look); look(); })""",
        wait=True,
    )
    tab.close()
    assert ("The issue of November 24, 2026", "/issues/2026-11-24.html") in map(
        tuple, found["links"]
    )
    assert any("result" in text for text in live), live  # what a screen reader is told


@pytest.mark.browser
@pytest.mark.parametrize("width", [375, 1280])
def test_axe_finds_nothing_serious_on_the_search_page(served, browser, width):
    tab = browser.open(served.url + "search.html", width=width, mobile=width < 600)
    type_query(tab, "language models")
    assert results(tab, 5)["links"]
    violations = tab.axe()
    tab.close()
    serious = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert serious == [], (axe_version(), browser.version, serious)


def test_the_nu_checker_finds_no_errors_on_the_search_page(site_out):
    assert vnu_errors([site_out / "search.html"]) == {"search.html": []}


@pytest.mark.browser
def test_from_disk_the_page_says_it_needs_serving(site_out, browser):
    tab = browser.open(site_out / "search.html", width=1280, mobile=False)
    shown = tab.evaluate("document.body.innerText")
    tab.close()
    assert "needs the site served over HTTP (digest serve" in shown


def test_only_the_search_page_has_a_script_and_only_its_own_bundle(site_out):
    pages = sorted(site_out.rglob("*.html"))
    assert len(pages) >= 4
    for page in pages:
        scripts = list(tree_of(page.read_text(encoding="utf-8")).iter("script"))
        if page.name == "search.html":
            assert [(s.get("src"), s.attrib, s.text) for s in scripts] == [
                ("pagefind/pagefind-component-ui.js",
                 {"src": "pagefind/pagefind-component-ui.js"}, None)
            ]  # fmt: skip
        else:
            assert scripts == [], page


def test_the_index_and_the_issue_pages_link_to_the_search_page(site_out):
    for page in (site_out / "index.html", site_out / "issues" / "2026-11-24.html"):
        links = tree_of(page.read_text(encoding="utf-8")).iter("a")
        targets = [(page.parent / a.get("href")).resolve() for a in links if a.get("href")]
        assert (site_out / "search.html").resolve() in targets, page  # relative: from disk too


def test_off_by_default_no_search_page_and_no_link(site):
    site.write("a.txt", digest_text("Nov 23", [("A paper", "Its abstract.")]))
    assert digest_process("run", "--config", site.config, "--now", NOW).returncode == 0
    assert not (site.out / "search.html").exists() and not (site.out / "pagefind").exists()
    assert "search.html" not in (site.out / "index.html").read_text(encoding="utf-8")


def test_asked_for_but_not_installed_is_a_clear_error_before_anything_is_written(site):
    site.config.write_text("search = true\n" + site.config.read_text())
    site.write("a.txt", digest_text("Nov 23", [("A paper", "Its abstract.")]))
    done = digest_process("run", "--config", site.config, "--now", NOW,
                          env={"PAGEFIND_BINARY_PATH": str(site.root / "no-pagefind")})  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "search = true, but Pagefind is not installed" in done.stderr
    assert "hint: pip install 'digest[search]'" in done.stderr
    assert not site.out.exists() or not any(site.out.rglob("*.html"))


@pytest.mark.browser
def test_scraped_text_never_runs_on_the_search_page(tmp_path, site, browser):
    site.config.write_text("search = true\n" + site.config.read_text())
    site.write("a.txt", digest_text("Nov 23", [(HOSTILE, f"An abstract with {HOSTILE} twice.")]))
    done = digest_process("run", "--config", site.config, "--now", NOW)
    assert done.returncode == 0, done.stderr
    with serving("--out", site.out) as server:
        tab = browser.open(server.url + "search.html", width=1280, mobile=False)
        type_query(tab, "hostile")
        found = results(tab)
        pwned = tab.evaluate("[window.pwned, document.querySelectorAll('pagefind-results img,"
                             " pagefind-results script').length]")  # fmt: skip
        tab.close()
    assert pwned == [None, 0], found
    assert "<img src=x" in found["text"], found  # shown as the text it is


def test_publishing_again_writes_only_what_changed_and_removes_only_its_old_index(tmp_path):
    config = search_config(tmp_path)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    config.write_text(config.read_text().replace(str(ROOT / "examples" / "digests"), "inbox"))
    shutil.copy(ROOT / "examples" / "digests" / "000_0e5cb4eac3db34fe.txt", inbox / "a.txt")
    done = digest_process("run", "--config", config, "--now", "2026-11-23T08:00:00Z")
    assert done.returncode == 0, done.stderr
    bundle = tmp_path / "out" / "pagefind"
    manifest = json.loads((bundle / "digest-files.json").read_text())
    before = {name: os.stat(tmp_path / "out" / name).st_ino for name in manifest["files"]}
    (bundle / "mine.txt").write_text("a file of my own")
    inbox.joinpath("b.txt").write_text(digest_text("Nov 23", [("Brand new paper", "Novel.")]))
    done = digest_process("run", "--config", config, "--now", NOW)
    assert done.returncode == 0, done.stderr
    after = json.loads((bundle / "digest-files.json").read_text())
    kept = [n for n in manifest["files"] if n in after["files"] and "/fragment/" in f"/{n}"]
    assert kept and all(os.stat(tmp_path / "out" / n).st_ino == before[n] for n in kept)
    gone = set(manifest["files"]) - set(after["files"])
    assert gone and not any((tmp_path / "out" / name).exists() for name in gone)
    assert (bundle / "mine.txt").read_text() == "a file of my own"  # not the index's
    on_disk = {str(p.relative_to(tmp_path / "out")) for p in bundle.rglob("*") if p.is_file()}
    assert {n for n in on_disk if not n.endswith((".gz", ".br"))} == set(after["files"]) | {
        "pagefind/digest-files.json",
        "pagefind/mine.txt",
    }


def test_the_same_state_gives_the_same_index(site_out, tmp_path):
    files = published_files(site_out)
    config = site_out.parent / "digest.toml"
    assert digest_process("rebuild", "--config", config).returncode == 0
    assert published_files(site_out) == files
