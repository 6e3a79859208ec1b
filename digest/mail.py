"""The issue as an email, and its delivery over SMTP, once per recipient.

The message is ``multipart/alternative`` (plain text first, then HTML) and is the same
bytes for the same state: Date, Message-ID and the MIME boundary all derive from the
issue, never from the clock or a random source.

Gmail clips HTML parts over about 102 KB, and the end of a long digest would silently
disappear. The HTML part is therefore kept under a budget (100,000 bytes by default)
by shortening deliberately, in this order, and saying so in the email:
  1. abstracts become a TL;DR (their first sentence or two);
  2. the lowest-ranked papers are listed by title only;
  3. the rest are summed up as "and N more papers", linking to the issue page.
The text part follows the same plan.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, parseaddr
from typing import Any

from digest import safety
from digest.config import Config
from digest.errors import ConfigError, DeliveryError, NotFound
from digest.lock import RunLock
from digest.model import Issue, Paper
from digest.store import Store

log = logging.getLogger("digest")

TLDR_SENTENCES = 2
TLDR_MAX_CHARS = 320
MIN_DETAILED = 20  # in a huge issue, at least this many keep their TL;DR
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")
_HEADER_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def header_text(value: str) -> str:
    """Text safe for an email header: no CR/LF or other controls (no header injection)."""
    return " ".join(_HEADER_UNSAFE.sub(" ", value).split())


def tldr(abstract: str) -> str:
    """The first sentence or two, cut at a word boundary if still long."""
    sentences = _SENTENCE_BREAK.split(abstract.strip(), maxsplit=TLDR_SENTENCES)
    short = " ".join(sentences[:TLDR_SENTENCES])
    if len(short) > TLDR_MAX_CHARS:
        short = short[:TLDR_MAX_CHARS].rsplit(" ", 1)[0].rstrip(",;:") + " …"
    elif len(sentences) > TLDR_SENTENCES:
        short += " …"
    return short


def html_part_size(html: str) -> int:
    """Bytes of the HTML part as a mail client gets it: UTF-8, lines ending in CRLF."""
    return len(html.encode("utf-8")) + html.count("\n")


@dataclass(frozen=True, slots=True)
class Plan:
    """How much of each paper the email shows, in rank order."""

    full: int  # papers with the whole abstract
    tldr: int  # then papers with a TL;DR
    titles: int  # then papers by title only
    total: int  # papers in the issue; the rest are "and N more"

    @property
    def shown(self) -> int:
        return self.full + self.tldr + self.titles

    @property
    def more(self) -> int:
        return self.total - self.shown

    @property
    def shortened(self) -> bool:
        return self.full < self.total


@dataclass(frozen=True, slots=True)
class EmailItem:
    paper: Paper
    style: str  # "full", "tldr" or "title"

    @property
    def text(self) -> str:
        if self.style == "full":
            return self.paper.abstract
        if self.style == "tldr":
            return tldr(self.paper.abstract)
        return ""


def _items(papers: Sequence[Paper], plan: Plan) -> list[EmailItem]:
    styles = ["full"] * plan.full + ["tldr"] * plan.tldr + ["title"] * plan.titles
    return [EmailItem(paper, style) for paper, style in zip(papers, styles, strict=False)]


class EmailRenderer:
    """Renders both parts for a plan and finds the richest plan under the budget."""

    def __init__(
        self,
        config: Config,
        issue: Issue,
        papers: Sequence[Paper],
        total: int,
        rising: Any = None,
    ) -> None:
        from digest import pipeline, render

        self.config = config
        self.issue = issue
        self.papers = papers
        self.total = total
        self.templates = pipeline.templates_of(config)
        self.site = pipeline.site_of(config)
        self.rising = rising or render.Rising()
        self._inliner: Any = None

    def context(self, plan: Plan) -> dict:
        return {
            "site": self.site,
            "issue": self.issue,
            "items": _items(self.papers, plan),
            "plan": plan,
            "issue_url": self.site.issue_url(self.issue.id),
            "unsubscribe": self.config.email.list_unsubscribe,
            "rising": self.rising,
        }

    def html(self, plan: Plan) -> str:
        import css_inline

        raw = self.templates.render("email.html", **self.context(plan))
        if self._inliner is None:  # one inliner for the several renders the budget takes
            self._inliner = css_inline.CSSInliner(
                keep_style_tags=False, keep_link_tags=False, load_remote_stylesheets=False
            )
        return self._inliner.inline(raw)

    def text(self, plan: Plan) -> str:
        return self.templates.render("email.txt", **self.context(plan))

    def fits(self, plan: Plan) -> tuple[bool, str]:
        html = self.html(plan)
        return html_part_size(html) < self.config.email.max_html_bytes, html

    def best(self) -> tuple[Plan, str]:
        """The plan that shows the most, in the order of shortening the module describes."""
        total, listed = self.total, len(self.papers)
        if listed == total:
            for plan in (Plan(total, 0, 0, total), Plan(0, total, 0, total)):
                ok, html = self.fits(plan)
                if ok:
                    return plan, html
        # Move the lowest-ranked papers to title-only, as few as will do.
        found = self._largest(lambda k: Plan(0, k, listed - k, total), 0, listed)
        if found is not None:
            return found
        # Even titles alone do not fit: keep a few TL;DRs, then as many titles as fit.
        detailed = min(MIN_DETAILED, listed)
        found = self._largest(lambda t: Plan(0, detailed, t, total), 0, listed - detailed)
        if found is not None:
            return found
        found = self._largest(lambda k: Plan(0, k, 0, total), 0, detailed)
        if found is not None:
            return found
        plan = Plan(0, 0, 0, total)
        return plan, self.html(plan)

    def _largest(self, make, low: int, high: int) -> tuple[Plan, str] | None:
        """The largest n in [low, high] whose plan fits. Size grows about linearly with n,
        so guesses interpolate (alternating with bisection, to bound the worst case):
        about four renders instead of a binary search's seven or more."""
        ok, html = self.fits(make(low))
        if not ok:
            return None
        best, size_low = (make(low), html), html_part_size(html)
        if high == low:
            return best
        ok, html = self.fits(make(high))
        if ok:
            return make(high), html
        size_high, budget = html_part_size(html), self.config.email.max_html_bytes
        for step in range(64):
            if high - low <= 1:
                break
            if step % 2 == 0 and size_high > size_low:
                guess = low + int((budget - size_low) / (size_high - size_low) * (high - low))
            else:
                guess = (low + high) // 2
            guess = min(max(guess, low + 1), high - 1)
            ok, html = self.fits(make(guess))
            if ok:
                low, best, size_low = guess, (make(guess), html), html_part_size(html)
            else:
                high, size_high = guess, html_part_size(html)
        return best


def _domain(config: Config) -> str:
    address = parseaddr(config.email.sender)[1]
    if "@" in address:
        return address.rsplit("@", 1)[1]
    host = re.sub(r"^https?://", "", config.site_url).split("/")[0].split(":")[0]
    return host or "digest.invalid"


def message_id(config: Config, issue: Issue) -> str:
    """Stable per site and issue, so a resend is recognisably the same message."""
    site = hashlib.blake2b(config.site_url.encode(), digest_size=6).hexdigest()
    return f"<digest.{issue.id}.{site}@{_domain(config)}>"


def subject(config: Config, issue: Issue) -> str:
    try:
        text = config.email.subject.format(
            site=config.title,
            date=f"{issue.date:%B} {issue.date.day}, {issue.date.year}",
            count=issue.paper_count,
            id=issue.id,
        )
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(
            f"email.subject: cannot fill in {config.email.subject!r}: {exc}",
            "use {site}, {date}, {count} and {id}",
        ) from None
    return header_text(text)


def build_message(
    config: Config, store: Store, issue: Issue, recipients: Sequence[str] | None = None
) -> EmailMessage:
    limit = max(1, config.email.max_html_bytes // 100)
    papers: list[Paper] = []
    for paper in store.issue_papers(issue.seq):
        papers.append(paper)
        if len(papers) > limit:
            break
    from digest.render import Rising

    rising = Rising(config.rising.name, store.rising_papers(issue.seq))
    renderer = EmailRenderer(config, issue, papers, issue.paper_count, rising)
    plan, html = renderer.best()
    safety.check(f"issues/{issue.id}.eml", html)
    text = renderer.text(plan)
    message = EmailMessage(policy=SMTP_POLICY)
    message["Subject"] = subject(config, issue)
    message["From"] = (
        header_text(config.email.sender)
        or f"{header_text(config.title)} <digest@{_domain(config)}>"
    )
    to = [header_text(address) for address in (recipients or config.email.to)]
    message["To"] = ", ".join(to) if to else "undisclosed-recipients:;"
    message["Date"] = format_datetime(issue.published_at.astimezone(dt.UTC))
    message["Message-ID"] = message_id(config, issue)
    if config.email.list_unsubscribe:
        message["List-Unsubscribe"] = f"<{header_text(config.email.list_unsubscribe)}>"
    message["X-Digest-Papers"] = f"{plan.shown} of {plan.total} shown"
    message.set_content(text, subtype="plain", charset="utf-8")
    message.add_alternative(html, subtype="html", charset="utf-8")
    boundary = hashlib.blake2b((text + html).encode(), digest_size=12).hexdigest()
    message.set_boundary(f"=_digest_{boundary}")
    return message


# -- delivery ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SendOutcome:
    issue_id: str
    sent_to: list[str]
    already_sent: list[str]


def _split_hostport(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--smtp {value!r}: expected HOST:PORT", "e.g. --smtp localhost:1025")
    return host.strip("[]"), int(port)


def _is_temporary(exc: BaseException) -> bool:
    import smtplib

    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return False
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    return isinstance(exc, (smtplib.SMTPServerDisconnected, OSError))


def _describe(exc: BaseException) -> str:
    import smtplib

    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(
            f"{rcpt}: {code} {msg.decode(errors='replace')}"
            for rcpt, (code, msg) in exc.recipients.items()
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        text = (
            exc.smtp_error.decode(errors="replace")
            if isinstance(exc.smtp_error, bytes)
            else str(exc.smtp_error)
        )
        return f"{exc.smtp_code} {text}"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _deliver_once(
    config: Config,
    host: str,
    port: int,
    security: str,
    login: bool,
    message: EmailMessage,
    sender: str,
    recipients: list[str],
) -> dict:
    import smtplib
    import ssl

    password = None
    if config.email.username and login:
        name = config.email.password_env
        password = os.environ.get(name) if name else None
        if password is None:
            raise ConfigError(
                f"email.username is set but no password: environment variable "
                f"{name or '(email.password_env is not set)'} is empty",
                "export the password in the variable email.password_env names",
            )
    context = ssl.create_default_context()
    smtp_class = smtplib.SMTP_SSL if security == "tls" else smtplib.SMTP
    kwargs = {"context": context} if security == "tls" else {}
    with smtp_class(host, port, timeout=30, **kwargs) as client:
        if security == "starttls":
            client.starttls(context=context)
        if password is not None:
            client.login(config.email.username, password)
        return client.send_message(message, from_addr=sender, to_addrs=recipients)


def send_issue(
    config: Config,
    store: Store | None,
    issue_id: str | None,
    *,
    recipients: Sequence[str] | None = None,
    smtp: str | None = None,
    force: bool = False,
    now: dt.datetime | None = None,
    wait: float = 60.0,
) -> SendOutcome:
    """Send an issue to each recipient who has not had it; record each delivery."""
    import smtplib  # here, not at the top: publishing an issue never needs it

    if store is None:
        with RunLock(config.lock_path, wait=wait), Store(config.state, create=False) as opened:
            return send_issue(
                config, opened, issue_id, recipients=recipients, smtp=smtp, force=force, now=now
            )
    issue = store.issue(issue_id)
    if issue is None:
        if issue_id is None:
            raise NotFound("no issue has been published yet", "run 'digest run' first")
        raise NotFound(f"no issue {issue_id!r}", "'digest status' lists the issues")
    wanted = [address for address in (recipients or config.email.to) if address.strip()]
    if not wanted:
        raise ConfigError("no recipients", "set email.to in the config, or pass --to ADDR")
    for address in wanted:
        if "@" not in parseaddr(address)[1] or header_text(address) != address:
            raise ConfigError(f"{address!r} is not an email address")
    delivered = store.delivered_to(issue.id)
    already = [a for a in wanted if a in delivered]
    pending = wanted if force else [a for a in wanted if a not in delivered]
    if not pending:
        return SendOutcome(issue.id, [], already)
    if smtp:
        host, port = _split_hostport(smtp)
        security = "none"
    elif config.email.smtp_host:
        host, port, security = config.email.smtp_host, config.email.smtp_port, config.email.security
    else:
        raise ConfigError(
            "no SMTP server", "set email.smtp_host in the config, or pass --smtp HOST:PORT"
        )
    message = build_message(config, store, issue, pending)
    sender = parseaddr(message["From"])[1] or f"digest@{_domain(config)}"
    attempts = max(1, config.email.retries)
    for attempt in range(1, attempts + 1):
        try:
            refused = _deliver_once(
                config, host, port, security, not smtp, message, sender, pending
            )
            break
        except ConfigError:
            raise
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            temporary = _is_temporary(exc)
            where = f"{host}:{port}"
            if not temporary:
                raise DeliveryError(
                    f"the SMTP server {where} refused issue {issue.id}: {_describe(exc)}",
                    "check the sender, recipients and credentials; the issue stays unsent",
                    temporary=False,
                ) from None
            if attempt == attempts:
                raise DeliveryError(
                    f"could not deliver issue {issue.id} via {where} after {attempts} attempts: "
                    f"{_describe(exc)}",
                    "the issue stays unsent; 'digest send' (or the next run) tries again",
                    temporary=True,
                ) from None
            delay = config.email.retry_wait * 2 ** (attempt - 1)
            log.warning("SMTP %s: %s; retrying in %.1fs", where, _describe(exc), delay)
            time.sleep(delay)
    accepted = [address for address in pending if address not in refused]
    store.record_delivery(issue.id, accepted, now or dt.datetime.now(dt.UTC), message["Message-ID"])
    if refused:
        log.error("refused by the server: %s", ", ".join(refused))
    return SendOutcome(issue.id, accepted, already)
