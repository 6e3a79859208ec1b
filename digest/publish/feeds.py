"""RSS 2.0 and Atom 1.0 feeds of the newest papers, built with feedgen.

Feeds are built from the store, never from the run: the same state gives the same
bytes. feedgen stamps "now" into feeds and entries unless told otherwise and prepends
entries unless told ``order='append'``; both are set explicitly here. Every date is a
paper's first-seen instant or the newest issue's publication time.

Titles are plain text, except a title with markup-like text in it (``<think>``,
``&amp;``): readers treat such an RSS title as HTML, and the W3C validator warns about
HTML in a title not declared as such. Those titles go out as escaped HTML, so every
reader shows the characters as written: in Atom as ``type="html"``; in RSS encoded as
the RSS Best Practices Profile asks, ``&`` and ``<`` as the character references
``&#x26;`` and ``&#x3C;`` (written ``&#x26;#x3C;`` in the XML). Entry bodies are HTML
that our template escaped.

An entry links to the paper in its issue (``rel="alternate"``, RSS ``<link>``) and to the
paper itself (Atom ``rel="related"``, a link in the body, JSON Feed ``external_url``);
RSS ``<comments>`` would tell readers it is a discussion page, which it is not. Each feed
has an id of its own, stable for ever: readers that key on it must never merge two.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from typing import TYPE_CHECKING

from digest import __version__
from digest.classify import slug
from digest.dates import long_date, moment_text
from digest.model import Paper, Site, paper_uuid
from digest.publish import safety
from digest.publish.pages import feed_entry_html
from digest.publish.records import IssueFeedEntry
from digest.publish.templates import Templates

if TYPE_CHECKING:
    from feedgen.feed import FeedGenerator

RSS_NAME = "rss.xml"
ATOM_NAME = "atom.xml"
JSON_NAME = "feed.json"
ISSUES_NAME = "issues.xml"
ISSUE_FEED_PAPERS = 50
ATOM_NS = "{http://www.w3.org/2005/Atom}"
_LOOKS_LIKE_MARKUP = re.compile(r"<|&#?\w+;")


def title_is_html(title: str) -> bool:
    return bool(_LOOKS_LIKE_MARKUP.search(title))


def _generator(
    site: Site, updated: dt.datetime, self_url: str, title: str | None = None, feed_id: str = ""
) -> FeedGenerator:
    from feedgen.feed import FeedGenerator  # with dateutil and lxml, a sixth of a cron run

    feed = FeedGenerator()
    feed.id(feed_id or site.url)
    feed.title(title or site.title)
    feed.subtitle(site.description)
    feed.author({"name": site.author})
    feed.link(href=self_url, rel="self")
    feed.link(href=site.url, rel="alternate")  # last: feedgen takes the last link for RSS
    feed.language(site.language)
    feed.generator("digest", version=__version__)
    feed.updated(updated)
    feed.lastBuildDate(updated)
    feed.pubDate(updated)
    return feed


def _add_entries(feed: FeedGenerator, site: Site, papers: list[Paper], bodies: list[str]) -> None:
    for paper, body in zip(papers, bodies, strict=True):
        assert paper.first_seen is not None
        entry = feed.add_entry(order="append")
        entry.id(f"urn:uuid:{paper.id}")
        entry.guid(f"urn:uuid:{paper.id}", permalink=False)
        entry.title(
            html.escape(paper.title, quote=False) if title_is_html(paper.title) else paper.title
        )
        entry.link(href=site.paper_url(paper), rel="alternate")
        entry.published(paper.first_seen)
        # A later listing that completed a cut-off abstract updates the entry.
        entry.updated(max(paper.first_seen, paper.updated or paper.first_seen))
        entry.content(body, type="html")  # also the RSS <description>
        if paper.organization is not None:
            entry.category(term=paper.organization.id, label=paper.organization.name)


def section_folder(section: str) -> str:
    return f"sections/{slug(section)}/"


def build_feeds(
    templates: Templates,
    site: Site,
    papers: list[Paper],
    updated: dt.datetime,
    section: str | None = None,
) -> dict[str, bytes]:
    """RSS, Atom and JSON Feed bytes by file name (under ``sections/<slug>/`` for a
    section's feeds); ``papers`` newest first."""
    folder = section_folder(section) if section else ""
    title = f"{site.title}: {section}" if section else site.title
    feed_id = site.url + folder
    bodies = [safety.check("feed entry", feed_entry_html(templates, site, p)) for p in papers]
    rss = _generator(site, updated, site.url + folder + RSS_NAME, title, feed_id)
    _add_entries(rss, site, papers, bodies)
    atom = _generator(site, updated, site.url + folder + ATOM_NAME, title, feed_id)
    _add_entries(atom, site, papers, bodies)
    flags = [title_is_html(paper.title) for paper in papers]
    rss_bytes = rss.rss_str(pretty=True)
    atom_bytes = _atom_entries_finished(site, atom.atom_str(pretty=True), papers, flags)
    if any(flags):
        rss_bytes = _rss_html_titles(rss_bytes, papers, flags)
    return {
        folder + RSS_NAME: rss_bytes,
        folder + ATOM_NAME: atom_bytes,
        folder + JSON_NAME: json_feed(site, papers, bodies, title, site.url + folder + JSON_NAME),
    }


def json_feed(
    site: Site, papers: list[Paper], bodies: list[str], title: str, feed_url: str
) -> bytes:
    """JSON Feed 1.1 (https://jsonfeed.org/version/1.1), the same items as RSS and Atom."""
    items = []
    for paper, body in zip(papers, bodies, strict=True):
        assert paper.first_seen is not None
        item: dict[str, object] = {
            "id": f"urn:uuid:{paper.id}",
            "url": site.paper_url(paper),
            "title": paper.title,
            "content_html": body,
            "summary": paper.abstract,
            "date_published": moment_text(paper.first_seen),
        }
        if paper.updated is not None and paper.updated > paper.first_seen:
            item["date_modified"] = moment_text(paper.updated)
        item["external_url"] = site.source(paper).url
        if paper.organization is not None:
            item["tags"] = [paper.organization.name]
        items.append(item)
    document = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": title,
        "home_page_url": site.url,
        "feed_url": feed_url,
        "description": site.description,
        "language": site.language,
        "authors": [{"name": site.author}],
        "items": items,
    }
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def build_issues_feed(templates: Templates, site: Site, issues: list[IssueFeedEntry]) -> bytes:
    """An Atom feed of whole issues (newest first), for readers who want the newsletter
    itself; each entry holds the issue's papers (the first ISSUE_FEED_PAPERS of them)."""
    newest = issues[0].issue.published_at if issues else dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    # Its own id: the paper feed (atom.xml) keeps the site's URL as its id, as it always had.
    feed = _generator(site, newest, site.url + ISSUES_NAME, feed_id=site.url + ISSUES_NAME)
    feed.title(f"{site.title}: issues")
    for item in issues:
        issue = item.issue
        entry = feed.add_entry(order="append")
        entry.id(f"urn:uuid:{paper_uuid('issue ' + issue.id)}")
        entry.title(f"{site.title}: {long_date(issue.date)}")
        entry.link(href=site.issue_url(issue.id), rel="alternate")
        entry.published(issue.published_at)
        entry.updated(issue.published_at)
        body = templates.render(
            "issue_feed_entry.html",
            site=site,
            issue=issue,
            papers=item.papers,
            titles=item.titles,
            shown=item.shown,
            total=item.total,
            editorial=item.editorial,
            abstracts=ISSUE_FEED_PAPERS,
        )
        entry.content(safety.check("issues feed entry", body), type="html")
    return feed.atom_str(pretty=True)


def _atom_entries_finished(
    site: Site, atom: bytes, papers: list[Paper], flags: list[bool]
) -> bytes:
    """What feedgen cannot write: an entry title's type (set, with the title as escaped
    HTML, where flagged), and a link's rel (feedgen 1.0 drops every link attribute but
    href): each entry's ``rel="alternate"`` link to its issue, then ``rel="related"`` to
    the paper itself."""
    from lxml import etree

    root = etree.fromstring(atom)
    for entry, paper, is_html in zip(root.iter(f"{ATOM_NS}entry"), papers, flags, strict=True):
        if is_html:
            title = entry.find(f"{ATOM_NS}title")
            assert title is not None
            title.set("type", "html")
            title.text = html.escape(paper.title, quote=False)
        alternate = entry.find(f"{ATOM_NS}link")
        assert alternate is not None
        alternate.set("rel", "alternate")
        related = etree.Element(f"{ATOM_NS}link", href=site.source(paper).url)
        related.set("rel", "related")
        related.set("title", "the paper")
        related.tail = alternate.tail
        alternate.addnext(related)
    return etree.tostring(root, pretty_print=True, xml_declaration=True, encoding="UTF-8")


def _rss_html_titles(rss: bytes, papers: list[Paper], flags: list[bool]) -> bytes:
    """Set each flagged item title to HTML-encoded text, written with &#x26; for its "&"."""
    from lxml import etree

    root = etree.fromstring(rss)
    for item, paper, is_html in zip(root.iter("item"), papers, flags, strict=True):
        title = item.find("title")
        if is_html and title is not None:
            title.text = paper.title.replace("&", "&#x26;").replace("<", "&#x3C;")
    data = etree.tostring(root, pretty_print=True, xml_declaration=True, encoding="UTF-8")
    # lxml writes each "&" of those titles as &amp;; the profile wants &#x26; (same XML value).
    head, *items = data.split(b"<item>")
    for index, is_html in enumerate(flags):
        if is_html:
            before, closing, after = items[index].partition(b"</title>")
            items[index] = before.replace(b"&amp;", b"&#x26;") + closing + after
    return b"<item>".join([head, *items])
