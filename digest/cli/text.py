"""The command line's text: what a run, a parse or a send says to a person.

Part of the CLI (only the CLI prints): kept apart so that cli.py stays the commands.
Every line that carries text from outside (a file name, a title) goes through
``one_line``, so it is one line and shows what it is.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from digest.text import one_line, plural, shown_name

# What a feed reader subscribes to, at the config's url (see README, Output).
FEED_NAMES = ("atom.xml", "rss.xml", "feed.json", "issues.xml")


class Progress:
    """One updating line on a terminal: files done of total, papers per second, time left."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.last = 0.0

    def __call__(self, done: int, total: int, papers: int) -> None:
        now = time.monotonic()
        if now - self.last < 0.2 and done < total:
            return
        self.last = now
        elapsed = max(now - self.started, 1e-6)
        left = elapsed / done * (total - done)
        sys.stderr.write(
            f"\r  {done:,}/{plural(total, 'file')} · {plural(papers, 'paper')} · "
            f"{papers / elapsed:,.0f} papers/s · {left:,.0f}s left   "
        )
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def print_run(report: Any, cfg: Any) -> None:
    read, skipped, rejected = (
        len(report.files_read),
        report.files_skipped,
        len(report.files_rejected),
    )
    print(
        f"{plural(read, 'new file')} read, {skipped:,} already taken in, {rejected:,} rejected; "
        f"{plural(report.papers_parsed, 'paper')} parsed, {report.new_papers:,} new."
    )
    if report.filtered:
        counts = ", ".join(f"{kind}: {count:,}" for kind, count in sorted(report.filtered.items()))
        total = sum(report.filtered.values())
        print(f"{plural(total, 'new paper')} filtered out ({counts}); remembered as seen.")
    if report.rising:
        print(f"{plural(report.rising, 'earlier paper')} rising (shown, not new).")
    if report.completed:
        print(f"{plural(report.completed, 'cut-off abstract')} completed by a later listing.")
    for path, reason in report.files_rejected:
        print(one_line(f"rejected {path}: {reason}"))
    for path in report.files_waiting:
        print(f"waiting: {shown_name(str(path))} (still being written; the next run takes it)")
    for issue_id in report.finished:
        print(f"finished issue {issue_id}: an earlier run recorded it; its files are written now")
    if report.dry_run:
        for paper in report.new:
            print(one_line(f"  new: {paper.title}"))
        for path in report.preview:
            print(f"preview: {shown_name(path)}")
        written = " (but the preview)" if report.preview else ""
        print(f"dry run: nothing was written{written}.")
    elif report.backfilled:
        print(
            f"published {plural(len(report.backfilled), 'issue')}, {report.backfilled[0]} to "
            f"{report.backfilled[-1]}: {shown_name(str(cfg.output / 'index.html'))}"
        )
    elif report.issue_id:
        page = cfg.output / "issues" / f"{report.issue_id}.html"
        print(f"published issue {report.issue_id}: {shown_name(str(page))}")
    elif report.marked_seen:
        print(f"{plural(report.marked_seen, 'new paper')} marked as seen; nothing published.")
    elif not report.finished and not (read or skipped or rejected or report.files_waiting):
        print(
            f"nothing new: the inbox {shown_name(str(cfg.inbox))} is empty; put digest files in it "
            "(or run 'digest fetch'), then run again."
        )
    elif not report.finished:
        print("nothing new: no issue published, outputs untouched.")
    if report.advice:
        print(f"note: {report.advice}")
    if report.sent_to:
        print(f"sent issue {report.sent_issue} to {', '.join(report.sent_to)}")
    if report.held_for_review:
        print(report.held_for_review)
    if report.delivery_error:
        print(one_line(f"not sent: {report.delivery_error}"), file=sys.stderr)


def command_name() -> list[str]:
    """``digest`` as this process was started, as one would type it again here: the name
    alone when it is on the PATH, else its path (``.venv/bin/digest``), or
    ``.venv/bin/python -m digest``."""
    cwd = Path.cwd()

    def typed(path: str) -> str:
        try:
            return str(Path(path).resolve().relative_to(cwd))
        except ValueError:
            return path

    started = sys.argv[0]
    if started.endswith("__main__.py"):
        return [typed(sys.executable), "-m", "digest"]
    found = shutil.which("digest")
    if found and Path(found).resolve() == Path(started).resolve():
        return ["digest"]
    return [typed(os.path.abspath(started))]


def print_next_steps(report: Any, cfg: Any, args: Any) -> None:
    """After a state's first published run: how to read what it made."""
    command = [*command_name(), "serve"]
    if args.config is not None:
        command += ["--config", str(args.config)]
    if args.out is not None:
        command += ["--out", str(args.out)]
    serve = shown_name(shlex.join(command))
    issue = report.issue_id or report.backfilled[-1]
    feeds = ", ".join(cfg.site_url + name for name in FEED_NAMES)
    email = shown_name(str(cfg.output / "issues" / f"{issue}.eml"))
    print(
        "next:\n"
        f"  read it in a browser: {serve}  (then open the address it prints)\n"
        f"  the email: {email} (open it in a mail client)\n"
        f"  the feeds: {one_line(feeds)}"
    )


def paper_json(paper: Any) -> dict:
    return {
        "id": paper.id,
        "title": paper.title,
        "abstract": paper.abstract,
        "authors": paper.authors,
        "organization": {"id": paper.organization.id, "name": paper.organization.name}
        if paper.organization
        else None,
        "published": paper.published.isoformat() if paper.published else None,
        "upvotes": paper.upvotes,
        "links": list(paper.links),
        "line": paper.line,
        "digest_date": paper.digest_date.isoformat() if paper.digest_date else None,
        # What the API's JSON adds (a text listing has none): keywords and names as lists.
        "details": dataclasses.asdict(paper.details) if paper.details else None,
    }
