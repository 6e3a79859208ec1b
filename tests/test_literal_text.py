"""Scraped text is data: every output shows it exactly, in every context."""

from __future__ import annotations

import email
import email.policy

import feedparser
import html5lib
import markdown
import pytest
from conftest import NOW, digest_text, shown_title
from lxml import etree
from markdown_it import MarkdownIt

from digest.publish.markdown_text import markdown_escape

TRICKY = [
    (
        "<projektor>: Projecting *two-stage* `Models` with rH**(-2) & M\\'elange",
        "We use <projektor> and <think> tags, rH**(-2) scaling, *two-stage* training, "
        "`backticks`, 40.6\\% gains, \\textless2MB, snake_case_names, a | b | c, ~approx~, "
        "$x^2$, &amp; and &lt; entities, ]]> CDATA ends, [a link](http://evil.example) and "
        "![img](http://evil.example/i.png), <script>alert(1)</script>, "
        "<img src=x onerror=alert(2)>, {braces} #hashtag and a trailing backslash \\",
    ),
    ("1986. A title that looks like a list item", "- an abstract that starts like a list."),
    ("# A title with hashes #", "+ plus first; then > quote, = equals, 1) paren."),
    ("Unicode: مرحبا \u200bzero\u200dwidth, e\u0301, 漢字, 🚀", "Emoji 🚀 and RTL ‮text‬ kept."),
]


def text_of(fragment: str) -> str:
    """The text a reader sees in an HTML fragment, whitespace folded."""
    tree = html5lib.parse(fragment, namespaceHTMLElements=False)
    return " ".join("".join(tree.itertext()).split())


def folded(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("text", [t for pair in TRICKY for t in pair])
@pytest.mark.parametrize("renderer", ["python-markdown", "commonmark"])
def test_markdown_escape_shows_text_literally(text, renderer):
    escaped = markdown_escape(text)
    if renderer == "python-markdown":
        rendered = markdown.markdown(escaped)
    else:
        rendered = MarkdownIt("commonmark").render(escaped)
    assert text_of(rendered) == folded(text)
    assert "<script" not in rendered and "<img" not in rendered and "<a " not in rendered


@pytest.fixture
def published(site, run_cli):
    site.write("tricky.txt", digest_text("Mar 4", TRICKY))
    result = run_cli("run", "--config", site.config, "--now", NOW)
    assert result.code == 0, result.err
    return site.out


def test_markdown_issue_renders_every_title_and_abstract_literally(published):
    source = next((published / "issues").glob("*.md")).read_text(encoding="utf-8")
    for rendered in (markdown.markdown(source), MarkdownIt("commonmark").render(source)):
        tree = html5lib.parse(rendered, namespaceHTMLElements=False)
        headings = [folded("".join(h.itertext())) for h in tree.iter("h2")]
        assert headings == [folded(title) for title, _ in TRICKY]
        paragraphs = {folded("".join(p.itertext())) for p in tree.iter("p")}
        for _, abstract in TRICKY:
            assert folded(abstract) in paragraphs


def test_web_page_shows_text_literally(published):
    page = next((published / "issues").glob("*.html")).read_text(encoding="utf-8")
    tree = html5lib.parse(page, namespaceHTMLElements=False)
    articles = list(tree.iter("article"))
    assert len(articles) == len(TRICKY)
    for article, (title, abstract) in zip(articles, TRICKY, strict=True):
        assert "".join(article.find("h2").itertext()) == title
        shown = article.find(".//p[@class='abstract']")  # inside its <details> when long
        assert "".join(shown.itertext()) == abstract
    assert not any(True for _ in tree.iter("script"))
    assert not any(el.get("onerror") for el in tree.iter())


@pytest.mark.parametrize("name", ["rss.xml", "atom.xml"])
def test_feeds_show_text_literally(published, name):
    data = (published / name).read_bytes()
    etree.fromstring(data)  # well-formed XML
    feed = feedparser.parse(data)
    assert not feed.bozo, feed.get("bozo_exception")
    by_title = {shown_title(entry): entry for entry in feed.entries}
    assert set(by_title) == {title for title, _ in TRICKY}
    for title, abstract in TRICKY:
        entry = by_title[title]
        body = entry.content[0].value if "content" in entry else entry.summary
        assert folded(abstract) in text_of(body)


def test_email_shows_text_literally(published):
    raw = next((published / "issues").glob("*.eml")).read_bytes()
    message = email.message_from_bytes(raw, policy=email.policy.default)
    html_part = message.get_body(("html",)).get_content()
    text_part = message.get_body(("plain",)).get_content()
    shown = text_of(html_part)
    for title, abstract in TRICKY:
        assert folded(title) in shown
        assert folded(abstract) in shown
        assert folded(title) in folded(text_part)
        assert folded(abstract) in folded(text_part)
    tree = html5lib.parse(html_part, namespaceHTMLElements=False)
    assert not any(el.tag == "script" or el.get("onerror") for el in tree.iter())
