"""Property tests: for any input the loader answers (papers or problems), and whatever it
takes in shows literally, and parses cleanly, in every output."""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import json
import os

import cmarkgfm
import feedparser
import html5lib
import markdown
from conftest import TODAY
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from digest.config.settings import EmailConfig
from digest.intake.decoding import clean_text, utf8_is_clean
from digest.intake.loader import parse_bytes, parse_text
from digest.links import LINK, extract_links
from digest.model import Issue, IssueSummary, Site
from digest.publish import filters, pages
from digest.publish.email_plan import Plan
from digest.publish.feeds import build_feeds, title_is_html
from digest.publish.message import EmailRenderer
from digest.publish.records import IssueContext
from digest.publish.templates import Templates

NOW = dt.datetime(2026, 11, 24, 8, tzinfo=dt.UTC)
SITE = Site("Site", "Description", "https://example.org/d/", "Author")
TEMPLATES = Templates()
SETTINGS = settings(
    max_examples=int(os.environ.get("DIGEST_HYPOTHESIS_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# Any character but surrogates (a str cannot hold lone ones coming from a file: the
# decoder would have refused or the loader removed them); newlines and controls included.
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=60)
MARKUP_HEAVY = st.text(
    st.sampled_from(list("<>&\"'`*_[]()#!|~$\\{}%-+.=:/ \tab1é漢🚀\u200b\u202e")),
    min_size=1,
    max_size=40,
)


def folded(text: str) -> str:
    return " ".join(text.split())


def text_of(fragment: str) -> str:
    tree = html5lib.parse(fragment, namespaceHTMLElements=False)
    return folded("".join(tree.itertext()))


LINKY = st.lists(
    # with what ends a link too: RFC 3986 allows no unencoded { } | \ ^ (TeX leftovers)
    st.sampled_from([*"hHtTpPsS:/.,;)(]ax \t\n<>\"'`é{}|\\^", "://", "http", "https://", "HTTP"]),
    max_size=30,
).map("".join)
UTF8_EDGES = st.lists(
    st.sampled_from(
        [b"a", b"\n", b"\t", b"\r", b"\x00", b"\x1f", b"\x7f", b"\xc2\xb7", b"\xc2\x85",
         b"\xc2\x9f", b"\xc2\xa0", b"\xef\xbf\xbd", b"\xef\xbf\xbe", b"\xef\xbf\xbf",
         b"\xe2\x80\x93", "\U0001f680".encode()]
    ),
    max_size=30,
).map(b"".join)  # fmt: skip


@SETTINGS
@given(st.one_of(LINKY, TEXT))
def test_links_are_what_the_link_pattern_finds(text):
    # The loader finds links by their "://"; the answer must be the pattern's, trimmed.
    expected = []
    for match in LINK.finditer(text):
        url = match.group()
        while url and (
            url[-1] in ".,;:!?'\"*_~"
            or (
                url[-1] in ")]}>"
                and url.count(url[-1])
                > url.count({")": "(", "]": "[", "}": "{", ">": "<"}[url[-1]])
            )
        ):
            url = url[:-1]
        if (
            len(url) > len("https://")
            and url not in expected
            and url[:5].lower() in ("http:", "https")
        ):
            expected.append(url)
    assert extract_links(text) == tuple(expected)


@SETTINGS
@given(st.one_of(UTF8_EDGES, TEXT.map(str.encode)))
def test_the_byte_scan_agrees_with_the_character_scan(data):
    text = data.decode("utf-8")
    assert utf8_is_clean(data) == (clean_text(text) == text)


@SETTINGS
@given(st.binary(max_size=2000))
def test_any_bytes_give_papers_or_a_reason(data):
    loaded = parse_bytes(data, "any.bin", TODAY)
    assert loaded.papers or any(p.severity == "error" for p in loaded.problems)
    for problem in loaded.problems:
        assert problem.message and problem.file == "any.bin"


def digest_of(pairs: list[tuple[str, str]]) -> str:
    parts = ["new", "Subscribe", "byAK and the research community", "Mar 4"]
    for title, abstract in pairs:
        parts += [title.replace("\n", " "), abstract.replace("\n", " ")]
    return "\n\n".join(parts) + "\n"


@SETTINGS
@given(
    st.lists(
        st.tuples(st.one_of(TEXT, MARKUP_HEAVY), st.one_of(TEXT, MARKUP_HEAVY)),
        min_size=1,
        max_size=4,
    )
)
def test_whatever_is_taken_in_shows_literally_everywhere(pairs):
    loaded = parse_text(digest_of(pairs), "prop.txt", TODAY)
    if not loaded.papers:
        assert loaded.problems
        return
    papers = []
    for index, paper in enumerate(loaded.papers):
        if paper.key in {p.key for p in papers}:
            continue
        seen = NOW - dt.timedelta(milliseconds=index)
        papers.append(dataclasses.replace(paper, first_seen=seen, issue_id="2026-11-24"))
    issue = Issue("2026-11-24", 1, dt.date(2026, 11, 24), NOW, len(papers))

    summary = IssueSummary(len(papers), 0, ())
    page = "".join(pages.issue_page(IssueContext(TEMPLATES, SITE, issue, summary), papers))
    tree = html5lib.parse(page, namespaceHTMLElements=False)
    articles = list(tree.iter("article"))
    for article, paper in zip(articles, papers, strict=True):
        assert "".join(article.find("h2").itertext()) == paper.title
        shown = article.find(".//p[@class='abstract']")  # inside its <details> when long
        assert "".join(shown.itertext()) == paper.abstract

    source = "".join(pages.issue_markdown(IssueContext(TEMPLATES, SITE, issue, summary), papers))
    # python-markdown, and GitHub's renderer (cmark-gfm: autolinks, tables, strikethrough).
    for to_html in (markdown.markdown, cmarkgfm.github_flavored_markdown_to_html):
        rendered = html5lib.parse(to_html(source), namespaceHTMLElements=False)
        headings = [folded("".join(h.itertext())) for h in rendered.iter("h2")]
        assert headings == [folded(p.title) for p in papers], to_html
        shown = folded("".join(rendered.itertext()))
        for paper in papers:
            assert folded(paper.abstract) in shown, to_html

    feeds = build_feeds(TEMPLATES, SITE, papers, NOW)
    items = json.loads(feeds.pop("feed.json"))["items"]
    assert [item["title"] for item in items] == [paper.title for paper in papers]
    assert [item["summary"] for item in items] == [paper.abstract for paper in papers]
    for name, data in feeds.items():
        root = etree.fromstring(data)
        feed = feedparser.parse(data)
        assert not feed.bozo, (name, feed.get("bozo_exception"))
        # Exact text through lxml: feedparser "repairs" text that looks like mojibake
        # ("Â¡" comes back as "¡"), which is the reader's doing, not the feed's.
        atom = "{http://www.w3.org/2005/Atom}"
        entries = root.findall(f"{atom}entry") or root.iter("item")
        for element, paper in zip(entries, papers, strict=True):
            title = element.find(f"{atom}title")
            title = element.find("title") if title is None else title
            shown = html.unescape(title.text) if title_is_html(paper.title) else title.text
            assert shown == paper.title
            body = element.find(f"{atom}content")
            body = element.find("description") if body is None else body
            assert folded(paper.abstract) in text_of(body.text)

    mail = EmailRenderer(
        IssueContext(TEMPLATES, SITE, issue, IssueSummary(len(papers), 0, ())),
        EmailConfig(),
        papers,
    )
    plan = Plan(full=True)
    shown = text_of(mail.html(plan))
    text_part = folded(mail.text(plan))
    for paper in papers:
        assert folded(paper.title) in shown and folded(paper.abstract) in shown
        assert folded(paper.title) in text_part and folded(paper.abstract) in text_part


@SETTINGS
@given(st.text(st.sampled_from(list("ab A1.!?\"'([ \n\t")), max_size=40))
def test_first_sentences_break_where_the_sentence_rule_says(text):
    # The page and the email shorten abstracts with a find-based scan; it must split
    # exactly where the rule's regex does.
    assert filters._split_sentences(text, 2) == filters._SENTENCE_BREAK.split(text, maxsplit=2)
