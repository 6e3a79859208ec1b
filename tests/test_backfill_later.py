"""A backfill into a state that already has issues: its older issues take their place in
the archive by date, and the newest issue stays the newest for the feeds, the index,
status, send and post."""

from __future__ import annotations

import json

import feedparser
from conftest import PLAIN, PLAIN_2, both_backends, digest_text, papers_from
from smtp_server import SMTPServer

from digest.model import title_key

NOW = "2026-11-24T08:00:00Z"
META = "  • 3 authors\n·\nMar 1, 2026 {votes}"


@both_backends
def test_older_listings_backfilled_later_never_become_the_latest_issue(site, run_cli):
    site.config.write_text(
        site.config.read_text().replace("settle = 0", "settle = 0\nfeed_size = 10")
    )
    site.config.write_text(site.config.read_text() + "[rising]\nmin_gain = 5\n")
    newest = papers_from(PLAIN)[:12]
    site.write("now.txt", digest_text("Nov 24", newest, meta=[META.format(votes=2)] * 12))
    assert run_cli("run", "--config", site.config, "--now", NOW).code == 0
    older = papers_from(PLAIN_2)
    site.write("oct1.txt", digest_text("Oct 5", older[:15]))
    # An October listing of a paper the November issue published, with many more votes:
    # it cannot rise in an issue dated before the one that published it.
    again = [*older[15:30], newest[0]]
    site.write("oct2.txt", digest_text("Oct 14", again, meta=[META.format(votes=90)] * 16))
    done = run_cli(
        "run", "--config", site.config, "--backfill", "--json", "--now", "2026-11-25T08:00:00Z"
    )
    assert done.code == 0, done.err
    assert json.loads(done.out)["backfilled"] == ["2026-10-05", "2026-10-14"]

    feed = feedparser.parse((site.out / "atom.xml").read_bytes())
    shown = {title_key(entry.title) for entry in feed.entries}
    # The newest issue whole (it is over feed_size), nothing of the backfilled ones.
    assert shown == {title_key(title) for title, _ in newest}, "the newest issue's papers"
    index = (site.out / "index.html").read_text()
    assert (
        index.index("2026-11-24.html")
        < index.index("2026-10-14.html")
        < index.index("2026-10-05.html")
    )
    issues_feed = feedparser.parse((site.out / "issues.xml").read_bytes())
    assert issues_feed.entries[0].link.endswith("2026-11-24.html")
    page = (site.out / "issues" / "2026-10-14.html").read_text()
    assert "2026-10-05.html" in page and "Previous issue: October 5, 2026" in page
    assert "since the issue of" not in page
    assert "Next issue: November 24, 2026" in page
    # The newest issue's page, written before the backfill, now links back to it.
    newest_page = (site.out / "issues" / "2026-11-24.html").read_text()
    assert "Previous issue: October 14, 2026" in newest_page

    status = json.loads(run_cli("status", "--config", site.config, "--json").out)
    assert status["latest_issue"]["id"] == "2026-11-24"
    with SMTPServer() as server:
        sent = run_cli("send", "--config", site.config, "--smtp", f"127.0.0.1:{server.port}")
        assert sent.code == 0, sent.err
        assert "sent issue 2026-11-24" in sent.out
