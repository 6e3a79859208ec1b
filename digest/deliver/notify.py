"""Telling others: a ping to a push monitor after each run, and each issue posted to chat.

Pings follow the convention of healthchecks.io and Uptime Kuma push monitors: the URL
after a successful run, ``<url>/fail`` after a failed one, ``<url>/start`` when a run
starts (if asked), with the run's one-line summary as the body. A ping is short,
retried twice, and has a hard deadline over all its tries; a failed ping never fails the
run: it is logged, recorded, and shown by ``status`` and ``check``.

Chat channels are Apprise URLs (Slack, Discord, Telegram, Matrix, Mattermost, ntfy, JSON
webhooks, ...), read only from the environment variable each channel names, because they
carry secrets; they are never printed. Each issue is posted once per channel, recorded in
the state as email deliveries are (a claim first; a post that timed out is in doubt and
never repeated unasked), within the channel's message limits.
"""

from __future__ import annotations

import datetime as dt
import http.client
import logging
import os
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from itertools import islice
from typing import Any
from urllib.parse import urlsplit

from digest.config.monitor import ChannelConfig
from digest.config.settings import Config
from digest.dates import long_date
from digest.deliver import chat_post, deadline
from digest.errors import ConfigError, NotFound, PendingOutputs
from digest.faults import pause_point
from digest.links import href
from digest.model import DeliveryStatus, Issue, Medium
from digest.publish.details import authors_text, listing_links
from digest.publish.markdown_text import markdown_escape
from digest.publish.publisher import Publisher
from digest.report import RefusedRecipient
from digest.store import DeliveryUpdate, Store
from digest.text import plural

log = logging.getLogger("digest")

PING_TIMEOUT = 10.0  # to connect, and for each read
PING_ATTEMPTS = 3
PING_DEADLINE = 30.0  # for a ping, all its attempts


def masked(url: str) -> str:
    """A URL fit to show: scheme and host, never the path or query that holds the key."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}/…" if parts.scheme else "(a URL)"


@dataclass(frozen=True, slots=True)
class PingResult:
    to: str  # masked
    kind: str
    ok: bool
    error: str | None = None


def ping(url: str, kind: str, body: str, *, sleep: Any = time.sleep) -> PingResult:
    """POST ``body`` to the URL for ``kind`` ("success", "fail" or "start"): at most
    PING_ATTEMPTS tries, all within PING_DEADLINE seconds, however slowly bytes come."""
    target = url.rstrip("/") + {"success": "", "fail": "/fail", "start": "/start"}[kind]
    error = "not tried"
    with deadline.Watchdog(time.monotonic() + PING_DEADLINE) as watchdog:
        for attempt in range(PING_ATTEMPTS):
            request = urllib.request.Request(
                target,
                data=body.encode("utf-8"),
                method="POST",
                headers={"Content-Type": "text/plain; charset=utf-8", "User-Agent": "digest"},
            )
            try:
                timeout = max(0.001, min(PING_TIMEOUT, watchdog.left()))
                with deadline.opener(watchdog).open(request, timeout=timeout) as response:
                    response.read(1024)
                return PingResult(masked(url), kind, True)  # a 2xx came: the ping arrived
            except urllib.error.HTTPError as exc:
                error = f"HTTP {exc.code}"
                if exc.code < 500 and exc.code != 429:
                    break  # the monitor said no: asking again will not change that
            except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
                reason = getattr(exc, "reason", exc)
                error = str(getattr(reason, "strerror", None) or reason or type(exc).__name__)
                error = error.lower()
            if watchdog.fired:
                error = f"no answer within the {PING_DEADLINE:g} s deadline"
                break
            pause = 1.0 * 2**attempt
            if attempt + 1 < PING_ATTEMPTS:
                if watchdog.left() <= pause:
                    break
                sleep(pause)
    log.warning("ping to %s (%s) failed: %s", masked(url), kind, error)
    return PingResult(masked(url), kind, False, error)


# -- chat ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PostOutcome:
    issue_id: str
    posted_to: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    in_doubt: list[str] = field(default_factory=list)
    failed: list[RefusedRecipient] = field(default_factory=list)

    @property
    def error(self) -> str | None:
        parts = [f"{f.recipient}: {f.reason}" for f in self.failed]
        parts += [
            f"{name}: no answer in time; it may have been posted ('digest post --force' "
            "posts it again)"
            for name in self.in_doubt
        ]
        return ("issue " + self.issue_id + " not posted to " + "; ".join(parts)) if parts else None


def _message(
    publisher: Publisher, issue: Issue, channel: ChannelConfig, limit: int
) -> tuple[str, str]:
    """Title and Markdown body: the top papers of the channel's sections with their
    links, then the issue's web page; as many papers as the channel's limit allows."""
    site = publisher.site
    title = f"{site.title}: {long_date(issue.date)}, {plural(issue.paper_count, 'new paper')}"
    footer = f"\n\nThe whole issue: <{site.issue_url(issue.id)}>"
    papers = publisher.store.issue_papers(issue.seq)
    if channel.sections:
        papers = (p for p in papers if p.section in channel.sections)
    lines: list[str] = []
    for number, paper in enumerate(islice(papers, channel.max_papers), start=1):
        line = f"{number}. {markdown_escape(paper.title)} <{site.paper_url(paper)}>"
        by = authors_text(paper)
        if by:
            line += f" · {markdown_escape(by)}"
        for link in listing_links(paper):
            if link.kind == "code":
                stars = f" {link.note}" if link.note else ""
                line += f" · code <{href(link.url)}>{markdown_escape(stars)}"
        if len("\n".join([*lines, line])) + len(footer) > limit:
            break
        lines.append(line)
    return title, "\n".join(lines) + footer


def _apprise() -> Any:
    try:
        import apprise  # 0.3 s to import: only a run that posts pays for it
    except ImportError:
        raise ConfigError(
            "chat channels are configured, but apprise (what posts to them) is not installed",
            "pip install 'digest[chat]'",
        ) from None
    return apprise


def _limit(url: str) -> int:
    """Characters the body may have on this service (less the title, where the service
    puts it in the body)."""
    apprise = _apprise()

    client = apprise.Apprise()
    client.add(url)
    plugin = client[0] if len(client) else None
    body = min(getattr(plugin, "body_maxlen", 4000) or 4000, 32_000)
    return body - (300 if not getattr(plugin, "title_maxlen", 1) else 0) - 64


def post_issue(
    config: Config,
    publisher: Publisher,
    issue_id: str | None,
    *,
    channel: str | None = None,
    force: bool = False,
    now: dt.datetime,
    automatic: bool = False,
) -> PostOutcome:
    """Post an issue to each configured channel (or the one named) that has not had it."""
    store: Store = publisher.store
    issue = store.issue(issue_id)
    if issue is None:
        raise NotFound(
            "no issue has been published yet" if issue_id is None else f"no issue {issue_id!r}",
            "'digest status' lists the issues",
        )
    if issue.outputs_pending:
        raise PendingOutputs(
            f"issue {issue.id} is recorded, but its files are not all written",
            "'digest run' (or 'digest rebuild') writes them; then post it",
        )
    chosen = [c for c in config.channels if channel is None or c.name == channel]
    if channel is not None and not chosen:
        names = ", ".join(c.name for c in config.channels) or "none configured"
        raise ConfigError(f"no channel {channel!r}", f"channels: {names}")
    if automatic:
        chosen = [c for c in chosen if c.send_after_run]
    known = store.deliveries(issue.id, Medium.CHAT)
    outcome = PostOutcome(issue.id)
    for item in chosen:
        past = known.get(item.name)
        if past is not None and past.status.may_have_arrived and not force:
            (outcome.already if past.status is DeliveryStatus.SENT else outcome.in_doubt).append(
                item.name
            )
            continue
        _post_one(config, publisher, issue, item, force, now, outcome)
    return outcome


def _post_one(
    config: Config,
    publisher: Publisher,
    issue: Issue,
    item: ChannelConfig,
    force: bool,
    now: dt.datetime,
    outcome: PostOutcome,
) -> None:
    store = publisher.store
    url = os.environ.get(item.url_env, "")
    reason: str | None
    if not url:
        reason = f"the environment variable {item.url_env} (its URL) is not set"
        outcome.failed.append(RefusedRecipient(item.name, reason))
        log.error("channel %s: %s", item.name, reason)
        # Recorded as a failed post, so that status and check say so after the run.
        if store.claim_deliveries(
            issue.id, [item.name], "chat", now, force=force, medium=Medium.CHAT
        ):
            update = DeliveryUpdate(item.name, DeliveryStatus.FAILED, reason)
            store.settle_deliveries(issue.id, [update], dt.datetime.now(dt.UTC), Medium.CHAT)
        return
    if not store.claim_deliveries(
        issue.id, [item.name], "chat", now, force=force, medium=Medium.CHAT
    ):
        outcome.in_doubt.append(item.name)
        return
    pause_point("posting")
    try:
        title, body = _message(publisher, issue, item, _limit(url))
        posted = chat_post.post(
            url,
            title,
            body,
            attempts=config.email.retries,
            retry_wait=config.email.retry_wait,
            deadline=item.deadline,
        )
        status, reason = posted.status, posted.reason
    except Exception as exc:  # a broken channel never stops the others, nor the run
        status = DeliveryStatus.FAILED
        reason = re.sub(r"\S+://\S+", "(the channel's URL)", f"{type(exc).__name__}: {exc}")
    store.settle_deliveries(
        issue.id, [DeliveryUpdate(item.name, status, reason)], dt.datetime.now(dt.UTC), Medium.CHAT
    )
    if status is DeliveryStatus.SENT:
        outcome.posted_to.append(item.name)
        log.info("posted issue %s to %s", issue.id, item.name)
    elif status is DeliveryStatus.IN_DOUBT:
        outcome.in_doubt.append(item.name)
        log.error(
            "channel %s: %s; issue %s may have been posted",
            item.name,
            reason or "no answer in time",
            issue.id,
        )
    else:
        outcome.failed.append(RefusedRecipient(item.name, reason or "failed"))
        log.error("channel %s: issue %s not posted: %s", item.name, issue.id, reason)
