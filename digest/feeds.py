"""RSS 2.0 and Atom 1.0 feeds of the newest papers, built with feedgen.

Feeds are built from the store, never from the run: the same state gives the same
bytes. feedgen stamps "now" into feeds and entries unless told otherwise and prepends
entries unless told ``order='append'``; both are set explicitly here. Every date is a
paper's first-seen instant or the newest issue's publication time.

Titles are plain text in both formats (Atom ``type="text"``; in RSS a title is text by
the spec). Entry bodies are HTML that our template escaped, so a reader shows
``<projektor>`` as those characters.
"""

from __future__ import annotations

import datetime as dt

from feedgen.feed import FeedGenerator

from digest import __version__, safety
from digest.model import Paper
from digest.render import Site, Templates, feed_entry_html

RSS_NAME = "rss.xml"
ATOM_NAME = "atom.xml"


def _generator(site: Site, updated: dt.datetime, self_url: str) -> FeedGenerator:
    feed = FeedGenerator()
    feed.id(site.url)
    feed.title(site.title)
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


def _add_entries(
    feed: FeedGenerator, templates: Templates, site: Site, papers: list[Paper]
) -> None:
    for paper in papers:
        assert paper.first_seen is not None
        entry = feed.add_entry(order="append")
        entry.id(f"urn:uuid:{paper.id}")
        entry.guid(f"urn:uuid:{paper.id}", permalink=False)
        entry.title(paper.title)
        entry.link(href=site.paper_url(paper), rel="alternate")
        entry.published(paper.first_seen)
        entry.updated(paper.first_seen)
        body = safety.check("feed entry", feed_entry_html(templates, site, paper))
        entry.content(body, type="html")  # also the RSS <description>
        if paper.organization is not None:
            entry.category(term=paper.organization.id, label=paper.organization.name)


def build_feeds(
    templates: Templates, site: Site, papers: list[Paper], updated: dt.datetime
) -> dict[str, bytes]:
    """RSS and Atom bytes by file name; ``papers`` newest first."""
    rss = _generator(site, updated, site.url + RSS_NAME)
    _add_entries(rss, templates, site, papers)
    atom = _generator(site, updated, site.url + ATOM_NAME)
    _add_entries(atom, templates, site, papers)
    return {
        RSS_NAME: rss.rss_str(pretty=True),
        ATOM_NAME: atom.atom_str(pretty=True),
    }
