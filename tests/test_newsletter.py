"""A newsletter that feeds itself: the listing fetched from the API (a real HTTP server on
127.0.0.1, tests/hf_server.py), then published with everything the API's JSON says, in
every output; the README's own lines, run as written."""

from __future__ import annotations

import copy
import datetime as dt
import email
import json
import os
import re
import signal
import subprocess
import sys
import threading
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

import feedparser
import pytest
from conftest import ROOT, both_backends, digest_process
from hf_server import HfServer, fixture
from http_receiver import Receiver
from lxml import etree
from lxml import html as lxml_html

README = (ROOT / "README.md").read_text(encoding="utf-8")
TODAY = dt.datetime.now(dt.UTC).date()
ATOM = "{http://www.w3.org/2005/Atom}"


def listing(day: dt.date, name: str = "list-2025-11-05.json") -> list[dict]:
    """A fixture's items, featured on ``day`` (its submittedOnDailyAt moved there)."""
    items = copy.deepcopy(fixture(name))
    for item in items:
        paper = item.get("paper", item)
        if "submittedOnDailyAt" in paper:
            paper["submittedOnDailyAt"] = f"{day.isoformat()}T08:00:00.000Z"
    return items


def readme_block(heading: str, language: str) -> str:
    """The first ``language`` code block under a README heading."""
    section = README.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    found = re.search(rf"```{language}\n(.+?)\n```", section, re.S)
    assert found, f"no {language} block under {heading!r}"
    return found.group(1)


def site_config(
    folder: Path, server: HfServer, fetch_table: str = "[fetch]", rate: str = "100/1s"
) -> Path:
    """A site whose [fetch] is pointed at the local server, fast paced (the pace has tests
    of its own); everything else as a user writes it."""
    (folder / "inbox").mkdir(parents=True, exist_ok=True)
    pointed = fetch_table.replace(
        "[fetch]", f'[fetch]\nsource = "{server.url}"\nrate = "{rate}"', 1
    )
    config = folder / "digest.toml"
    config.write_text(
        'title = "Self-fed"\nurl = "https://example.org/papers/"\nsettle = 0\n' + pointed + "\n",
        encoding="utf-8",
    )
    return config


def recent_listings() -> dict[str, list]:
    """What the API lists for the days a first fetch asks for (today and days_back)."""
    return {
        (TODAY - dt.timedelta(days=back)).isoformat(): listing(TODAY - dt.timedelta(days=back))
        for back in (3, 2)
    }


def test_the_readme_crontab_line_fetches_then_publishes(tmp_path):
    line = readme_block("A newsletter that feeds itself", "crontab")
    command = line.split(None, 5)[5]  # after minute hour day month weekday
    home = tmp_path / "home"
    with HfServer(recent_listings()) as server:
        site_config(home / "papers", server)
        env = {
            **os.environ,
            "HOME": str(home),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        }
        done = subprocess.run(
            ["sh", "-c", command], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        asked = {seen.date for seen in server.requests()}
    assert (TODAY - dt.timedelta(days=3)).isoformat() in asked
    issues = list((home / "papers" / "output" / "issues").glob("*.html"))
    (page,) = issues
    text = page.read_text(encoding="utf-8")
    assert "Sparse Lookahead Decoding" in text
    assert "https://huggingface.co/papers/2511.01234" in text


def test_the_readme_daemon_lines_fetch_then_publish(tmp_path):
    table = readme_block("A newsletter that feeds itself", "toml")
    assert "[fetch]" in table and "[schedule]" in table
    with HfServer(recent_listings()) as server:
        site = tmp_path / "papers"
        site_config(site, server, table)
        # A run a month ago, with nothing new: the weekly slot since then was missed, so
        # the daemon runs at once (as it would after a machine was off for a while).
        earlier = digest_process("run", "--now", f"{TODAY - dt.timedelta(days=30)}T08:00:00Z",
                                 cwd=site)  # fmt: skip
        assert earlier.returncode == 0, earlier.stderr
        daemon = subprocess.Popen(
            [sys.executable, "-m", "digest", "daemon"],
            cwd=site,
            stderr=subprocess.PIPE,
            text=True,
        )
        said: list[str] = []
        try:
            assert daemon.stderr is not None
            timer = threading.Timer(90, daemon.kill)  # a hung daemon fails, never hangs
            timer.start()
            for line in daemon.stderr:
                said.append(line)
                if "published issue" in line or "run failed" in line:
                    break
            timer.cancel()
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=60)
        log = "".join(said)
        assert "fetch: fetched" in log and "published issue" in log, log
        assert server.requests(), "the daemon never asked the API"
    (page,) = (site / "output" / "issues").glob("*.html")
    assert "https://github.com/northlake-ai/sparse-lookahead" in page.read_text(encoding="utf-8")


def _eml_parts(path: Path) -> tuple[str, str]:
    message = email.message_from_bytes(path.read_bytes(), policy=default_policy)
    assert isinstance(message, EmailMessage)
    text = message.get_body(("plain",))
    page = message.get_body(("html",))
    assert text is not None and page is not None
    return text.get_content(), page.get_content()


@both_backends
def test_fetched_papers_show_every_field_the_api_gave_in_every_output(site, run_cli, monkeypatch):
    receiver = Receiver()
    with receiver, HfServer({"2025-11-05": fixture("list-2025-11-05.json"),
                             "2025-11-06": fixture("list-2025-11-06.json")}) as server:  # fmt: skip
        monkeypatch.setenv("TEST_CHAT", f"json://127.0.0.1:{receiver.port}/hook")
        site.config.write_text(
            site.config.read_text(encoding="utf-8")
            + f'[fetch]\nsource = "{server.url}"\nrate = "100/1s"\n'
            '[[channels]]\nname = "team"\nurl_env = "TEST_CHAT"\n',
            encoding="utf-8",
        )
        fetched = run_cli("fetch", "--config", site.config, "--since", "2025-11-05",
                          "--until", "2025-11-06")  # fmt: skip
        assert fetched.code == 0, fetched.err
        published = run_cli("run", "--config", site.config, "--now", "2025-11-07T08:00:00Z")
        assert published.code == 0, published.err
        (post,) = receiver.to("/hook")
    issue = site.out / "issues" / "2025-11-07"
    page = (issue.with_suffix(".html")).read_text(encoding="utf-8")
    markdown = (issue.with_suffix(".md")).read_text(encoding="utf-8")
    text_part, html_part = _eml_parts(issue.with_suffix(".eml"))
    atom = (site.out / "atom.xml").read_bytes()
    rss = (site.out / "rss.xml").read_bytes()
    feed = json.loads((site.out / "feed.json").read_text(encoding="utf-8"))
    chat = json.loads(post.body)["message"]

    names = "Jonas Lindqvist, Priya Raman, Wei-Ting Chou et al."
    code = "https://github.com/northlake-ai/sparse-lookahead"
    hf_page = "https://huggingface.co/papers/2511.01234"
    for name, output in [("page", page), ("Markdown", markdown), ("text part", text_part),
                         ("HTML part", html_part)]:  # fmt: skip
        assert names in output, name
        assert "Northlake AI Lab" in output and "9 comments" in output, name
        assert code in output and "★ 540" in output, name
        assert "https://northlake-ai.github.io/sparse-lookahead/" in output, name
        assert "https://arxiv.org/abs/2511.01234" in output, name
    for name, output in [("page", page), ("Markdown", markdown)]:
        assert hf_page in output, name
        assert "AI summary (the listing's, not the authors')" in output.replace("&#39;", "'")
    # The feeds: each entry's content, read back as a reader's software reads it.
    entries = {e.title: e for e in feedparser.parse(atom).entries}
    entry = entries["Sparse Lookahead Decoding: Lossless Acceleration of LLM Inference Without "
                    "Draft Models"]  # fmt: skip
    content = entry.content[0].value
    assert hf_page in content and code in content and "★ 540" in content and names in content
    assert "AI summary (the listing's, not the authors')" in content
    related = [link.href for link in entry.links if link.rel == "related"]
    assert related == ["https://arxiv.org/abs/2511.01234"]
    rss_items = etree.fromstring(rss).findall(".//item")
    assert any(hf_page in (item.findtext("description") or "") for item in rss_items)
    (json_item,) = [i for i in feed["items"] if i["title"].startswith("Sparse Lookahead")]
    assert hf_page in json_item["content_html"]
    assert json_item["external_url"] == "https://arxiv.org/abs/2511.01234"
    # The chat post: the authors and the code, linked.
    assert "Jonas Lindqvist" in chat and code in chat
    # Every link on the page goes where the listing meant: a URL it gave, arXiv, its
    # Hugging Face page, or this site.
    listed = set()
    for day in ("list-2025-11-05.json", "list-2025-11-06.json"):
        for item in fixture(day):
            paper = item.get("paper", item)
            listed |= {paper.get("githubRepo"), paper.get("projectPage")}
            listed |= {f"https://huggingface.co/papers/{paper['id']}",
                       f"https://arxiv.org/abs/{paper['id']}"}  # fmt: skip
    hrefs = {a.get("href") for a in lxml_html.fromstring(page).iter("a")}
    strays = {h for h in hrefs - listed if not h.startswith(("#", "../", "https://example.org/digest/"))
              and not h.endswith(".md")}  # fmt: skip
    assert not {h for h in strays if not re.search(r"https?://\S+", h)}, strays
    for stray in strays:  # links inside abstracts: each one is in an abstract as written
        assert any(stray in json.dumps(fixture(d)) for d in ("list-2025-11-05.json",
                   "list-2025-11-06.json")), stray  # fmt: skip


def test_a_paper_first_seen_in_text_takes_the_details_of_a_later_json_listing(site, run_cli):
    """One paper: its text listing comes first (published, no details); a JSON listing
    of it later fills in its details, which a rebuild then shows; it is never new again."""
    items = fixture("list-2025-11-05.json")
    first = items[0]["paper"]
    site.write(
        "2025-11-04.txt", f"Nov 4\n\n{first['title']}\n\n{' '.join(first['summary'].split())}\n"
    )
    assert run_cli("run", "--config", site.config, "--now", "2025-11-04T08:00:00Z").code == 0
    site.write("hf-2025-11-05.json", json.dumps(items))
    again = run_cli("run", "--config", site.config, "--now", "2025-11-05T08:00:00Z", "--json")
    assert json.loads(again.out)["new_papers"] == len(items) - 1
    assert run_cli("rebuild", "--config", site.config).code == 0
    older = (site.out / "issues" / "2025-11-04.html").read_text(encoding="utf-8")
    assert "https://github.com/northlake-ai/sparse-lookahead" in older


def test_a_day_fetched_again_as_it_grows_publishes_only_what_is_new(site, run_cli):
    day = TODAY.isoformat()  # not final yet: each fetch asks for it again
    items = listing(TODAY)
    with HfServer({day: items[:5]}) as server:
        site.config.write_text(site.config.read_text(encoding="utf-8")
                               + f'[fetch]\nsource = "{server.url}"\nrate = "100/1s"\n',
                               encoding="utf-8")  # fmt: skip
        assert run_cli("fetch", "--config", site.config, "--date", day).code == 0
        first = run_cli("run", "--config", site.config, "--now", f"{day}T10:00:00Z", "--json")
        server.listings[day] = items  # the day's listing grew
        assert run_cli("fetch", "--config", site.config, "--date", day).code == 0
        second = run_cli("run", "--config", site.config, "--now", f"{day}T20:00:00Z", "--json")
        assert run_cli("fetch", "--config", site.config, "--date", day).code == 0  # unchanged
        third = run_cli("run", "--config", site.config, "--now", f"{day}T21:00:00Z", "--json")
    assert json.loads(first.out)["new_papers"] == 5
    assert json.loads(second.out)["new_papers"] == len(items) - 5
    assert json.loads(third.out)["issue"] is None
    assert site.rows("SELECT count(*) FROM papers") == [(len(items),)]


@pytest.mark.slow
def test_a_year_fetched_then_backfilled_is_an_archive_of_weekly_issues(tmp_path):
    """``digest fetch --since`` a year back, then ``digest run --backfill week``: one
    issue per week, each paper once, with what the API said of it."""
    start = dt.date(2024, 11, 4)  # a Monday
    days = [start + dt.timedelta(days=n) for n in range(364)]
    base = fixture("list-2025-11-05.json")
    listings = {}
    for number, day in enumerate(days):
        items = listing(day)[:2]
        for offset, item in enumerate(items):  # two papers of their own each day
            paper = item["paper"]
            paper["id"] = f"24{(number % 12) + 1:02d}.{number * 2 + offset:05d}"
            paper["title"] = f"{paper['title']} (day {number}, {offset})"
        listings[day.isoformat()] = items
    assert base  # the fixture carries every field the outputs show
    with HfServer(listings) as server:
        site = tmp_path / "site"
        site_config(site, server, rate="2000/1s")
        fetched = digest_process("fetch", "--since", days[0], "--until", days[-1], cwd=site,
                                 timeout=600)  # fmt: skip
        assert fetched.returncode == 0, fetched.stderr
        assert len(server.requests()) == len(days)
    run = digest_process("run", "--backfill", "week", "--now", "2025-11-10T08:00:00Z",
                         "--json", cwd=site, timeout=600)  # fmt: skip
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert len(report["backfilled"]) == 52
    assert report["new_papers"] == 2 * len(days)
    pages = sorted((site / "output" / "issues").glob("*.html"))
    assert len(pages) == 52
    one = pages[20].read_text(encoding="utf-8")
    assert "https://huggingface.co/papers/24" in one and "★ 318" in one


def _check(site: Path | object, config: Path, *extra: str) -> tuple[int, str]:
    done = digest_process("check", "--config", config, *extra)
    return done.returncode, done.stdout


def test_check_tells_a_failing_fetch_from_a_quiet_api(site, run_cli):
    """Both leave the inbox without a new file; only one is a broken pipeline. A fetch
    that fails now and then is fine; one that has failed for longer than a listing may
    take to come (expect_new_every) is a warning, and the status says what failed."""
    with HfServer({TODAY.isoformat(): []}) as server:  # a quiet day: the API lists nothing
        site.config.write_text(
            site.config.read_text(encoding="utf-8")
            + f'[monitor]\nexpect_new_every = "1d"\n[fetch]\nsource = "{server.url}"\n'
            'rate = "100/1s"\ndays_back = 0\nretries = 0\n',
            encoding="utf-8",
        )
        assert run_cli("fetch", "--config", site.config).code == 0
        _, quiet = _check(site, site.config)
        assert "fetch: the last fetch" in quiet and "the API had nothing new" in quiet
        server.listings[TODAY.isoformat()] = listing(TODAY)
        assert run_cli("fetch", "--config", site.config).code == 0  # a success, then
    assert run_cli("run", "--config", site.config).code == 0
    # The API is gone now (its port closed): every fetch fails.
    failed = run_cli("fetch", "--config", site.config)
    assert failed.code == 75
    code, out = _check(site, site.config)  # failed just now: not yet an alarm
    assert "OK: fetch: the last fetch" in out and "failed:" in out, out
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1, hours=1)).isoformat()
    code, out = _check(site, site.config, "--now", later)  # failing for over a day
    assert code == 1 and "WARNING: fetch: the last fetch" in out, out
    assert "failed:" in out and "the last answer came 25.0 hours ago" in out, out
    status = run_cli("status", "--config", site.config)
    assert re.search(r"^fetch: +\S+ \(.+\) → failed: ", status.out, re.M), status.out
    shown = json.loads(run_cli("status", "--config", site.config, "--json").out)["fetch"]
    assert shown["failure"] and shown["days"] == 1 and shown["last_success"]


def test_check_trusts_no_fetch_ledger_day_recorded_after_now(site, run_cli):
    """A clock that ran ahead wrote a day "fetched" next year: that is no answer (else a
    fetch failing for days looks fresh), nor a final day; check warns of it."""
    ahead = (dt.datetime.now(dt.UTC) + dt.timedelta(days=300)).strftime("%Y-%m-%dT%H:%M:%SZ")
    long_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(days=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    failure = {"day": None, "reason": "the API could not be reached", "exit_code": 75}
    ledger = {
        "version": 1,
        "days": {
            "2025-11-03": {"fetched_at": long_ago, "papers": 3, "file": None, "final": True},
            "2025-11-04": {"fetched_at": ahead, "papers": 3, "file": None, "final": True},
        },
        "last_attempt": {"at": long_ago, "days": [], "failure": failure, "nothing_new": True},
    }
    (site.inbox / ".digest-fetch.json").write_text(json.dumps(ledger), encoding="utf-8")
    site.config.write_text(
        site.config.read_text(encoding="utf-8") + '[monitor]\nexpect_new_every = "1d"\n',
        encoding="utf-8",
    )
    _, out = _check(site, site.config)
    assert "CRITICAL: fetch: the last fetch" in out and "came 20.0 days ago" in out, out
    assert "WARNING: fetch: 1 day of the fetch ledger recorded after now" in out, out
    shown = json.loads(run_cli("status", "--config", site.config, "--json").out)["fetch"]
    assert (shown["final"], shown["ahead"]) == (1, 1)


def test_a_fetch_that_failed_once_is_not_an_alarm(site, run_cli):
    with HfServer({TODAY.isoformat(): listing(TODAY)}) as server:
        site.config.write_text(
            site.config.read_text(encoding="utf-8")
            + f'[fetch]\nsource = "{server.url}"\nrate = "100/1s"\ndays_back = 0\nretries = 0\n',
            encoding="utf-8",
        )
        assert run_cli("fetch", "--config", site.config).code == 0
        assert run_cli("run", "--config", site.config).code == 0
    assert run_cli("fetch", "--config", site.config).code == 75  # gone: one failure
    code, out = _check(site, site.config)
    assert "OK: fetch: the last fetch" in out and "failed" in out, out
    assert code == 0, out


def test_sections_match_the_listings_keywords_authors_and_organisations(site, run_cli):
    site.config.write_text(
        site.config.read_text(encoding="utf-8")
        + '[[sections]]\nname = "By keyword"\nkeywords = ["Speculative Decoding"]\n'
        '[[sections]]\nname = "By author"\nauthors = ["hannah brodeur"]\n'
        '[[sections]]\nname = "By organisation"\norganizations = ["kestrelresearch"]\n'
        '[[sections]]\nname = "In the keywords"\nmatch = ["reward"]\nfields = ["keywords"]\n',
        encoding="utf-8",
    )
    site.write("hf-2025-11-05.json", json.dumps(fixture("list-2025-11-05.json")))
    assert run_cli("run", "--config", site.config, "--now", "2025-11-05T08:00:00Z").code == 0
    placed = dict(site.rows("SELECT title, section || ' | ' || reason FROM papers"))
    keyworded = [t for t, where in placed.items() if where.startswith("By keyword")]
    assert keyworded and all('keyword "' in placed[t] for t in keyworded)
    assert placed[next(t for t in placed if t.startswith("Escaping the Sandbox"))].startswith(
        'By author | by "Hannah Brodeur"'
    )
    assert any(w.startswith('By organisation | from "') for w in placed.values())
