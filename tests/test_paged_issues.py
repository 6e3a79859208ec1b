"""Large issues on pages (issue 25, point 4): an issue of more than ``papers_per_page``
papers is shown on pages of that many, each light enough for a phone (under the 800 DOM
elements at which Lighthouse warns), while every paper stays reachable from the issue's
own address, and every link to a paper (feeds, email, search, rising) goes to the page
that shows it."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from urllib.parse import urldefrag

import feedparser
import pytest
from conftest import NOW, PLAIN, PLAIN_2, ROOT, digest_process, issue_pages, linked_page
from lxml import html as lxml_html

SITE_URL = "https://example.org/digest/"
SECTIONS = (
    '[[sections]]\nname = "Language models"\nmatch = ["language model", "LLM"]\n'
    '[[sections]]\nname = "Vision"\nmatch = ["image", "video", "vision"]\n'
    '[[sections]]\nname = "Diffusion"\nmatch = ["diffusion"]\n'
)
LIGHTHOUSE_DOM_WARNING = 800  # elements: Lighthouse's "avoid an excessive DOM size"


def configure(work: Path, extra: str = "", drop: tuple[Path, ...] = ()) -> Path:
    """A site under ``work``: its config (``extra`` at the top), its inbox holding
    ``drop``."""
    (work / "inbox").mkdir(exist_ok=True)
    for source in drop:
        (work / "inbox" / source.name).write_bytes(source.read_bytes())
    config = work / "digest.toml"
    config.write_text(
        f'title = "Test digest"\nurl = "{SITE_URL}"\nauthor = "Tester"\n'
        'inbox = "inbox"\noutput = "out"\nstate = "state.sqlite"\nsettle = 0\n'
        f"{extra}{SECTIONS}"
        '[email]\nsender = "Digest <digest@example.org>"\nto = ["reader@example.org"]\n',
        encoding="utf-8",
    )
    return config


def publish(config: Path, now: str = NOW) -> subprocess.CompletedProcess:
    return digest_process("run", "--config", config, "--now", now, "--no-send")


@pytest.fixture(scope="module")
def large(tmp_path_factory) -> Path:
    """One issue of 350 papers, every one with the API's details (the heaviest
    articles), as the 350-paper issue Lighthouse was run on."""
    work = tmp_path_factory.mktemp("paged")
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "make_corpus.py"), "--seeds",
         str(ROOT / "examples" / "digests"), "--out", str(work / "inbox"), "--files", "1",
         "--papers-per-file", "350", "--seed", "1", "--meta-fraction", "1"],
        check=True, capture_output=True,
    )  # fmt: skip
    done = publish(configure(work))
    assert done.returncode == 0, done.stderr
    return work


def elements(page: Path) -> int:
    tree = lxml_html.parse(str(page)).getroot()
    return sum(1 for element in tree.iter() if isinstance(element.tag, str))


def anchors(page: Path) -> list[str]:
    tree = lxml_html.parse(str(page)).getroot()
    return [article.get("id") for article in tree.iter("article")]


def test_each_page_of_a_350_paper_issue_is_light(large):
    out = large / "out"
    pages = issue_pages(out, "2026-11-24")
    assert [p.relative_to(out).as_posix() for p in pages] == [
        "issues/2026-11-24.html",
        *(f"issues/2026-11-24/{n}.html" for n in range(2, 8)),
    ]
    for page in pages:
        assert elements(page) < LIGHTHOUSE_DOM_WARNING, page
        assert page.stat().st_size < 200_000, page  # it was 963 KB on one page
        assert len(anchors(page)) <= 50
    shown = [anchor for page in pages for anchor in anchors(page)]
    assert len(shown) == len(set(shown)) == 350, "every paper once, on one of the pages"


def _crawl(out: Path, start: Path) -> tuple[set[Path], list[tuple[Path, str]]]:
    """Pages reachable from ``start`` by the relative links of the folder (as from disk),
    and every link with a fragment that was followed: (the file it names, its fragment)."""
    seen, queue, fragments = {start}, [start], []
    while queue:
        page = queue.pop()
        for element, _attribute, link, _pos in lxml_html.parse(str(page)).getroot().iterlinks():
            if element.tag != "a" or re.match(r"[a-z]+:", link):
                continue  # a paper's own page, the feeds' absolute URLs
            target, fragment = urldefrag(link)
            path = (page.parent / target).resolve() if target else page
            assert path.is_file(), f"{page} links {link}: no such file"
            if fragment:
                fragments.append((path, fragment))
            if path.suffix == ".html" and path not in seen and "issues" in path.parts:
                seen.add(path)
                queue.append(path)
    return seen, fragments


def test_every_paper_is_reachable_from_the_issues_own_address(large):
    out = (large / "out").resolve()
    reached, fragments = _crawl(out, out / "issues" / "2026-11-24.html")
    assert set(issue_pages(out, "2026-11-24")) <= reached
    found = {anchor for page in reached for anchor in anchors(page)}
    rows = sqlite3.connect(large / "state.sqlite").execute("SELECT key FROM papers").fetchall()
    from digest.model import paper_anchor

    assert found == {paper_anchor(key) for (key,) in rows}
    for path, fragment in fragments:  # sections where they begin, permalinks, picks
        assert f'id="{fragment}"' in path.read_text(encoding="utf-8"), (path, fragment)
    section_links = {(p.name, f) for p, f in fragments if f.startswith("s-")}
    # each section's link goes to the page it begins on, not the issue's first page
    assert {("2.html", "s-vision"), ("4.html", "s-diffusion")} <= section_links, section_links


def test_a_page_says_where_it_is_in_the_issue(large):
    third = (large / "out" / "issues" / "2026-11-24" / "3.html").read_text(encoding="utf-8")
    assert "<title>Test digest — November 24, 2026, page 3 of 7</title>" in third
    assert "Page 3 of 7: papers 101 to 150" in third
    assert f'<link rel="canonical" href="{SITE_URL}issues/2026-11-24/3.html">' in third
    assert '<span aria-current="page">3</span>' in third
    assert 'href="../../issues/2026-11-24/2.html" rel="prev"' in third
    assert 'href="../../issues/2026-11-24/4.html" rel="next"' in third
    # A section that runs on from the page before says so, and is not a second target.
    assert third.count('id="s-vision"') == 0
    assert '<h2 class="section">Vision (continued)</h2>' in third
    first = (large / "out" / "issues" / "2026-11-24.html").read_text(encoding="utf-8")
    assert 'rel="prev"' not in first and 'class="contents"' not in first  # no every-title list


def test_every_link_to_a_paper_goes_to_the_page_that_shows_it(large):
    out = large / "out"
    links: dict[str, list[str]] = {}
    for name in ("atom.xml", "rss.xml", "sections/vision/atom.xml"):
        links[name] = [entry.link for entry in feedparser.parse((out / name).read_bytes()).entries]
    items = json.loads((out / "feed.json").read_text(encoding="utf-8"))["items"]
    links["feed.json"] = [item["url"] for item in items]
    issues_feed = (out / "issues.xml").read_text(encoding="utf-8")
    links["issues.xml"] = re.findall(rf'href="({re.escape(SITE_URL)}issues/[^"]+#p-[^"]+)"',
                                     issues_feed.replace("&quot;", '"'))  # fmt: skip
    import email
    import email.policy

    message = email.message_from_bytes(
        (out / "issues" / "2026-11-24.eml").read_bytes(), policy=email.policy.default
    )
    html_part = message.get_body(("html",)).get_content()
    links["email"] = re.findall(rf'href="({re.escape(SITE_URL)}issues/[^"]+)"', html_part)
    assert all(len(found) > 20 for name, found in links.items() if name != "email"), links
    assert any("/2026-11-24/" in link for link in links["atom.xml"]), "later pages linked"
    assert any("#s-" in link for link in links["email"]), "the email's sections"
    for name, found in links.items():
        for link in found:
            page, fragment = linked_page(out, SITE_URL, link)
            if fragment:
                assert f'id="{fragment}"' in page, (name, link)


def test_an_issues_feed_entry_template_of_ones_own_gets_every_paper_whole(large, tmp_path):
    """Ours lists an issue's papers past the first fifty by title alone, read as such; a
    user's ``issue_feed_entry.html`` (here: ours as it was before) still gets every paper
    whole, and gives the same feed byte for byte."""
    own = tmp_path / "own"
    own.mkdir()
    shutil.copyfile(ROOT / "tests" / "data" / "issue-feed-entry-before-titles.html",
                    own / "issue_feed_entry.html")  # fmt: skip
    (tmp_path / "inbox").mkdir()
    for source in (large / "inbox").iterdir():
        shutil.copyfile(source, tmp_path / "inbox" / source.name)
    done = publish(configure(tmp_path, f'templates = "{own}"\n'))
    assert done.returncode == 0, done.stderr
    ours = (large / "out" / "issues.xml").read_bytes()
    assert (tmp_path / "out" / "issues.xml").read_bytes() == ours
    entry = feedparser.parse(ours).entries[0].content[0].value
    assert entry.count("<h3>") == 50 and entry.count("<li>") == 300, "by title past fifty"


def test_one_page_per_issue_on_request(tmp_path):
    done = publish(configure(tmp_path, "papers_per_page = 0\n", (PLAIN,)))
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "out" / "issues" / "2026-11-24").exists()
    page = (tmp_path / "out" / "issues" / "2026-11-24.html").read_text(encoding="utf-8")
    assert page.count("<article ") == 80 and 'class="contents"' in page
    atom = (tmp_path / "out" / "atom.xml").read_text(encoding="utf-8")
    assert "/issues/2026-11-24/" not in atom


def test_papers_per_page_out_of_range_is_a_config_error(tmp_path):
    config = configure(tmp_path, "papers_per_page = -5\n")
    done = digest_process("run", "--config", config, "--now", NOW)
    assert done.returncode == 2
    assert "papers_per_page" in done.stderr and "0" in done.stderr, done.stderr
    assert not (tmp_path / "out").exists()


def test_a_users_issue_template_that_knows_no_pages_keeps_issues_on_one_page(tmp_path):
    """A user's issue.html from before pages (it never reads ``page``) would show each
    page's papers with no way to the rest: with it, every issue stays one page, and the
    feeds link there."""
    own = tmp_path / "own"
    own.mkdir()
    (own / "issue.html").write_text(
        '{% for paper in papers %}<article id="{{ paper.anchor }}">{{ paper.title }}'
        "</article>\n{% endfor %}",
        encoding="utf-8",
    )
    done = publish(configure(tmp_path, f'templates = "{own}"\n', (PLAIN,)))
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "out" / "issues" / "2026-11-24").exists()
    page = (tmp_path / "out" / "issues" / "2026-11-24.html").read_text(encoding="utf-8")
    assert page.count("<article ") == 80
    atom = (tmp_path / "out" / "atom.xml").read_text(encoding="utf-8")
    assert "/issues/2026-11-24/" not in atom


def test_a_new_issue_rewrites_only_the_first_page_of_the_one_before(tmp_path):
    config = configure(tmp_path, drop=(PLAIN,))
    assert publish(config, "2026-11-23T08:00:00Z").returncode == 0
    first, second = issue_pages(tmp_path / "out", "2026-11-23")
    assert second.name == "2.html"
    before = second.stat().st_mtime_ns, second.read_bytes()
    (tmp_path / "inbox" / PLAIN_2.name).write_bytes(PLAIN_2.read_bytes())
    assert publish(config).returncode == 0
    assert 'href="../issues/2026-11-24.html">Next issue' in first.read_text(encoding="utf-8")
    assert (second.stat().st_mtime_ns, second.read_bytes()) == before


def _published_links_land(out: Path) -> int:
    """Every link to a paper in the feeds lands on a page holding its article."""
    landed = 0
    for feed in ("atom.xml", "rss.xml"):
        for entry in feedparser.parse((out / feed).read_bytes()).entries:
            page, fragment = linked_page(out, SITE_URL, entry.link)
            assert f'<article id="{fragment}">' in page, entry.link
            landed += 1
    return landed


def tree(out: Path) -> dict[str, bytes]:
    return {
        p.relative_to(out).as_posix(): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != ".digest-owner"
    }


def test_an_issue_keeps_its_pages_when_papers_per_page_changes(tmp_path):
    """The page size is an issue's own, from when it was published: a changed config
    pages new issues only, so no link that went out (in an email, a feed reader) moves,
    and a rebuild changes nothing."""
    config = configure(tmp_path, drop=(PLAIN,))
    assert publish(config, "2026-11-23T08:00:00Z").returncode == 0
    out = tmp_path / "out"
    assert [p.name for p in issue_pages(out, "2026-11-23")] == ["2026-11-23.html", "2.html"]
    config.write_text("papers_per_page = 30\n" + config.read_text(), encoding="utf-8")
    (tmp_path / "inbox" / PLAIN_2.name).write_bytes(PLAIN_2.read_bytes())
    done = publish(config)
    assert done.returncode == 0, done.stderr
    assert [p.name for p in issue_pages(out, "2026-11-23")] == ["2026-11-23.html", "2.html"]
    first = (out / "issues" / "2026-11-23.html").read_text(encoding="utf-8")
    assert first.count("<article ") == 50 and "Page 1 of 2" in first
    later = len(issue_pages(out, "2026-11-24"))
    assert later > 2 and "Page 1 of " + str(later) in (
        out / "issues" / "2026-11-24.html"
    ).read_text(encoding="utf-8")
    assert _published_links_land(out) > 100
    before = tree(out)
    assert digest_process("rebuild", "--config", config).returncode == 0
    assert tree(out) == before, "a rebuild re-pages nothing"


def test_issues_published_before_pages_stay_on_one_page(tmp_path):
    """A state from before pages (schema 10): its issues were one page each, and links
    to them went out so; migrated, each keeps one page, while new issues get pages."""
    config = configure(tmp_path, drop=(PLAIN,))
    assert publish(config, "2026-11-23T08:00:00Z").returncode == 0
    from digest.store.sqlite.schema import MIGRATIONS

    out = tmp_path / "out"
    with sqlite3.connect(tmp_path / "state.sqlite") as db:  # as such a state is
        db.execute("ALTER TABLE issues DROP COLUMN papers_per_page")
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS) - 1}")
    for page in (out / "issues" / "2026-11-23").iterdir():  # as such a state published
        page.unlink()
    (out / "issues" / "2026-11-23").rmdir()
    (tmp_path / "inbox" / PLAIN_2.name).write_bytes(PLAIN_2.read_bytes())
    done = publish(config)
    assert done.returncode == 0, done.stderr
    assert done.returncode == 0 and digest_process("rebuild", "--config", config).returncode == 0
    assert not (out / "issues" / "2026-11-23").exists()
    assert (out / "issues" / "2026-11-23.html").read_text(encoding="utf-8").count("<article ") == 80
    assert len(issue_pages(out, "2026-11-24")) == 2
    assert _published_links_land(out) > 100


def test_a_copy_of_the_built_in_issue_template_still_draws_pages(tmp_path):
    """The README's way to change a template: copy it and edit it. A copy reads ``page``
    (through the tags digest adds to Jinja2's) and so still pages large issues."""
    own = tmp_path / "own"
    own.mkdir()
    source = (ROOT / "templates" / "issue.html").read_text(encoding="utf-8")
    (own / "issue.html").write_text(source.replace("<main>", '<main class="mine">'), "utf-8")
    assert publish(configure(tmp_path, f'templates = "{own}"\n', (PLAIN,))).returncode == 0
    pages = issue_pages(tmp_path / "out", "2026-11-24")
    assert len(pages) == 2 and all('class="mine"' in p.read_text("utf-8") for p in pages)


def test_a_missing_later_page_is_reported_and_refused_like_a_missing_issue(tmp_path):
    config = configure(tmp_path, drop=(PLAIN,))
    assert publish(config).returncode == 0
    (tmp_path / "out" / "issues" / "2026-11-24" / "2.html").unlink()
    checked = digest_process("check", "--config", config)
    assert checked.returncode == 2 and "lacks a page of 1 issue(s)" in checked.stdout
    assert "2026-11-24" in checked.stdout
    assert digest_process("rebuild", "--config", config).returncode == 0
    assert (tmp_path / "out" / "issues" / "2026-11-24" / "2.html").is_file()
    assert digest_process("check", "--config", config).returncode == 0


def test_many_sections_keep_each_page_light(tmp_path):
    """An issue of many sections (as grouping by organisation makes): a paged issue lists
    them in its headings only, so a page never carries the whole list."""
    from conftest import digest_text

    sections = "".join(
        f'[[sections]]\nname = "Topic {n}"\nmatch = ["topic{n}x"]\n' for n in range(30)
    )
    (tmp_path / "inbox").mkdir()  # the listing below, made for sections
    pairs = [(f"Paper {n} on topic{n % 30}x", f"We study topic{n % 30}x data.") for n in range(120)]
    (tmp_path / "inbox" / "many.txt").write_text(digest_text("Nov 24", pairs), "utf-8")
    config = configure(tmp_path, "")
    config.write_text(config.read_text().replace(SECTIONS, sections), "utf-8")
    assert publish(config).returncode == 0
    pages = issue_pages(tmp_path / "out", "2026-11-24")
    assert len(pages) == 3
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert 'class="toc"' not in text and text.count('class="section"') <= 31
    headed = "".join(p.read_text("utf-8") for p in pages)
    assert all(f'id="s-topic-{n}"' in headed for n in range(30))


def test_a_section_link_to_the_first_page_still_finds_its_section(large):
    """Emails from templates written before pages link ``issues/<id>.html#s-<slug>``:
    on the first page each later section's entry in the contents carries that id (and
    links to the page where the section begins)."""
    first = (large / "out" / "issues" / "2026-11-24.html").read_text(encoding="utf-8")
    assert '<li id="s-vision"><a href="../issues/2026-11-24/2.html#s-vision">' in first
    assert first.count('id="s-language-models"') == 1  # its heading: on this page


def test_an_adopted_folders_later_pages_are_never_overwritten(tmp_path):
    config = configure(tmp_path, drop=(PLAIN,))
    foreign = tmp_path / "out" / "issues" / "2026-11-24"
    foreign.mkdir(parents=True)
    (foreign / "2.html").write_text("FOREIGN\n", encoding="utf-8")
    done = digest_process("run", "--config", config, "--now", NOW, "--no-send", "--adopt-output")
    assert done.returncode == 0, done.stderr
    assert (foreign / "2.html").read_text(encoding="utf-8") == "FOREIGN\n"
    assert (tmp_path / "out" / "issues" / "2026-11-24-2" / "2.html").is_file()


@pytest.mark.browser
def test_lighthouse_on_a_phone_scores_each_page_fast_and_light(large, tmp_path):
    """Lighthouse's own mobile audit (simulated slow 4G, a 4x slower CPU), on Debian's
    Chromium, of the first page and a later one, served by ``digest serve``."""
    from readers import lighthouse
    from test_serve import serving

    with serving("--config", large / "digest.toml") as served:
        for path in ("issues/2026-11-24.html", "issues/2026-11-24/4.html"):
            report = lighthouse(served.url + path, tmp_path)
            audits = report["audits"]
            assert audits["dom-size"]["numericValue"] < LIGHTHOUSE_DOM_WARNING, path
            assert audits["dom-size"]["score"] == 1, path
            score = report["categories"]["performance"]["score"] * 100
            assert score >= 90, (path, score, audits["largest-contentful-paint"]["displayValue"])


def test_a_later_pages_folder_that_is_a_link_elsewhere_is_never_written_through(tmp_path):
    config = configure(tmp_path, drop=(PLAIN,))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "out" / "issues").mkdir(parents=True)
    (tmp_path / "out" / "issues" / "2026-11-24").symlink_to(elsewhere)
    done = publish(config)
    assert done.returncode == 3, done.stderr
    assert "leads outside" in done.stderr and "remove the symbolic link" in done.stderr
    assert list(elsewhere.iterdir()) == []


def _peak_rss_mb(config: Path, work: Path) -> float:
    """Peak resident memory of one whole ``digest run`` process, in MB (from wait4)."""
    with (work / "run.out").open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "digest", "run", "--config", str(config), "--now", NOW,
             "--no-send"],
            stdout=out, stderr=out,
        )  # fmt: skip
        _pid, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    assert process.returncode == 0, (work / "run.out").read_text()
    return usage.ru_maxrss / 1024


def test_an_issue_on_many_pages_needs_no_more_memory_than_on_one(tmp_path):
    """Every page's files stay staged until the issue is renamed into place; each used to
    keep its Brotli encoder (megabytes) until then: 150 pages took 325 MB, against 120 MB
    for the same issue on one page, and an 80,000-paper backlog on 1,600 pages gigabytes."""
    corpus = tmp_path / "corpus"
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "make_corpus.py"), "--seeds",
         str(ROOT / "examples" / "digests"), "--out", str(corpus), "--files", "1",
         "--papers-per-file", "1500", "--seed", "1"],
        check=True, capture_output=True,
    )  # fmt: skip
    peaks = {}
    for per_page in (0, 10):
        work = tmp_path / f"per-page-{per_page}"
        work.mkdir()
        config = configure(work, f"papers_per_page = {per_page}\n", tuple(corpus.iterdir()))
        peaks[per_page] = _peak_rss_mb(config, work)
    assert len(list((tmp_path / "per-page-10" / "out" / "issues").glob("*/*.html"))) == 149
    assert peaks[10] < peaks[0] + 60, peaks
