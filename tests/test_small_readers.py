"""What readers get, third pass (issue 25), the small ones: counts in words that agree
("1 file", "2 files"), a unit on the monitor's age, the site's description once on the
index, folded abstracts that read as text (no ▶ bullet, no underlined space before
"Read more"), each paper's upvotes once, a way forward to the next issue, and no chart of
one bar. The pages are the examples', laid out in Debian's headless Chromium."""

from __future__ import annotations

import re

import pytest
from conftest import NOW, digest_process, digest_text
from readers import Browser, Published, tree_of


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Published:
    return Published(tmp_path_factory.mktemp("small"))


@pytest.fixture(scope="module")
def browser():
    with Browser() as chromium:
        yield chromium


def text_of(element) -> str:
    return "".join(element.itertext())


def test_counts_agree_with_their_words(site):
    site.write("a.txt", digest_text("Nov 23", [("Only paper", "Its abstract.")]))
    done = digest_process("run", "--config", site.config, "--now", NOW)
    assert done.returncode == 0, done.stderr
    assert "1 new file read" in done.stdout and "1 paper parsed" in done.stdout
    status = digest_process("status", "--config", site.config, "--now", NOW).stdout
    assert "1 file, 1 paper, 1 issue" in status and "(nothing new)" in status
    assert not re.search(r"\(s\)|\b1 (files|papers|issues)\b", done.stdout + status)


def test_the_monitors_file_age_carries_its_unit(site):
    site.write("a.txt", digest_text("Nov 23", [("A paper", "Its abstract.")]))
    assert digest_process("run", "--config", site.config, "--now", NOW).returncode == 0
    line = digest_process("check", "--config", site.config).stdout.splitlines()[0]
    perf = line.split(" | ", 1)[1].split()
    assert any(re.fullmatch(r"newest_file_age=\d+s", item) for item in perf), line
    assert "issues=1" in perf and "papers=1" in perf  # counts have no unit


def test_the_index_says_its_description_once(published):
    body = tree_of((published.out / "index.html").read_text(encoding="utf-8")).find("body")
    description = "New research papers from the Daily Papers listings, each once."
    assert text_of(body).count(description) == 1
    for page in published.pages:  # each page of the issue: its footer still says it
        issue = tree_of(page.read_text(encoding="utf-8")).find("body")
        assert text_of(issue).count(description) == 1, page


@pytest.mark.browser
def test_a_folded_abstract_reads_as_text_not_as_a_list(published, browser):
    tab = browser.open(published.issue, width=375)
    found = tab.evaluate(
        """[...document.querySelectorAll('details.fold summary')].slice(0, 20).map(s => {
             const text = s.querySelector('.short').firstChild, range = document.createRange();
             range.selectNodeContents(text);
             return {indent: range.getClientRects()[0].left - s.getBoundingClientRect().left,
                     more: getComputedStyle(s, '::after').content,
                     line: getComputedStyle(s, '::after').textDecorationLine};
           })"""
    )
    tab.close()
    assert len(found) == 20
    for summary in found:
        assert abs(summary["indent"]) < 1, summary  # no marker before the first words
        assert summary["more"] == '"Read more"', summary  # the underline starts on "R"
        assert summary["line"] == "underline", summary


def test_each_paper_shows_its_upvotes_once(published):
    counted = 0
    for article in tree_of(published.page).iter("article"):
        votes = text_of(article).count("▲")
        assert votes <= 1, text_of(article)[:300]
        counted += votes
    assert counted >= 30  # the example papers with a metadata block


def test_a_reason_recorded_with_upvotes_shows_them_once_after_a_rebuild(site):
    site.write("a.txt", digest_text("Nov 23", [("A paper", "Its abstract.")],
                                    meta=["  • 3 authors\n·\nNov 20, 2026 7"]))  # fmt: skip
    assert digest_process("run", "--config", site.config, "--now", NOW).returncode == 0
    site.rows("UPDATE papers SET reason = reason || ' · ▲ 7'")  # as older versions wrote it
    assert digest_process("rebuild", "--config", site.config).returncode == 0
    page = tree_of((site.out / "issues" / "2026-11-24.html").read_text(encoding="utf-8"))
    (article,) = page.iter("article")
    assert text_of(article).count("▲ 7") == 1
    assert text_of(article.find("p[@class='why']")).endswith("Nov 23, 2026")


def test_an_issue_links_forward_to_the_next_one(site):
    site.write("a.txt", digest_text("Nov 22", [("First", "One.")]))
    done = digest_process("run", "--config", site.config, "--now", "2026-11-23T08:00:00Z")
    assert done.returncode == 0, done.stderr
    first = site.out / "issues" / "2026-11-23.html"
    assert "Next issue" not in first.read_text(encoding="utf-8")
    site.write("b.txt", digest_text("Nov 23", [("Second", "Two.")]))
    done = digest_process("run", "--config", site.config, "--now", NOW)
    assert done.returncode == 0, done.stderr

    def nav(path):
        links = tree_of(path.read_text(encoding="utf-8")).find(".//nav[@class='nav']").iter("a")
        return {text_of(a): a.get("href") for a in links}

    assert nav(first)["Next issue: November 24, 2026"] == "../issues/2026-11-24.html"
    second = nav(site.out / "issues" / "2026-11-24.html")
    assert second["Previous issue: November 23, 2026"].endswith("/issues/2026-11-23.html")
    assert not any(name.startswith("Next") for name in second)
    # Publishing the second rewrote the first's page, and nothing else of the first's.
    markdown = (site.out / "issues" / "2026-11-23.md").read_text(encoding="utf-8")
    assert "2026-11-24" not in markdown
