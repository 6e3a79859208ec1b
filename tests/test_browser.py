"""The web page and the email, rendered by a real browser (headless Chromium)."""

from __future__ import annotations

import email
import email.policy
import html as html_lib

import pytest
from browser import measure, screenshot
from conftest import ARTIFACTS, NOW, PLAIN, WITH_META, papers_from

pytestmark = pytest.mark.browser


@pytest.fixture
def published(site, run_cli):
    site.config.write_text(site.config.read_text() + '\n[ranking]\norder = "page"\n')
    site.drop(WITH_META)
    site.drop(PLAIN)
    assert run_cli("run", "--config", site.config, "--now", NOW).code == 0
    return site


def test_email_html_part_renders_with_every_title_visible(published):
    raw = (published.out / "issues" / "2026-11-24.eml").read_bytes()
    message = email.message_from_bytes(raw, policy=email.policy.default)
    html = message.get_body(("html",)).get_content()
    screenshot(html, ARTIFACTS / "email-preview.png")
    result = measure(html, ".title a, .compact a", width=700)
    titles = [item["text"] for item in result["items"]]
    # Files are taken in by digest date: PLAIN (Mar 12) before WITH_META (Oct 31).
    expected = [title for title, _ in papers_from(PLAIN) + papers_from(WITH_META)]
    assert titles == [t for t in dict.fromkeys(expected) if t in titles]
    assert len(titles) >= 50
    for item in result["items"]:
        assert item["shown"] and item["width"] > 0 and item["height"] > 0, item
        assert item["left"] >= 0 and item["right"] <= 700, item
    assert result["scrollWidth"] <= result["width"], "no sideways scrolling"


def test_issue_page_reads_on_a_phone(published):
    page = (published.out / "issues" / "2026-11-24.html").read_text(encoding="utf-8")
    screenshot(page, ARTIFACTS / "issue.png", width=500, height=900)
    # Headless Chromium's narrowest window is 500 px; a 360 px page box stands in for a phone.
    # Long abstracts are folded (<details>): measured as a reader who opens them sees them.
    phone = page.replace("</head>", "<style>html { width: 360px; }</style></head>")
    phone = phone.replace('<details class="fold">', '<details class="fold" open>')
    result = measure(phone, "article h2, article .abstract, article .links a", width=500)
    for item in result["items"]:
        assert item["shown"] and item["width"] > 0 and item["right"] <= 360, item
    titles = [item["text"] for item in result["items"] if item["height"] > 0]
    assert html_lib.unescape(titles[0]).startswith("Scaling Laws for Data Filtering")


def test_archive_index_links_the_newest_issues_and_each_year(published):
    page = (published.out / "index.html").read_text(encoding="utf-8")
    screenshot(page, ARTIFACTS / "index.png", width=800, height=600)
    result = measure(page, "table.issues td a, nav.years a")
    assert [item["text"] for item in result["items"]] == ["November 24, 2026", "2026"]
    for item in result["items"]:
        assert item["shown"] and item["width"] > 0 and item["height"] > 0, item
    year = (published.out / "archive" / "2026.html").read_text(encoding="utf-8")
    result = measure(year, "h1, table.issues td a")
    assert [item["text"] for item in result["items"]] == ["2026", "November 24, 2026"]
