"""The issue as an email: ``multipart/alternative``, plain text first, then HTML.

The message is the same bytes for the same state: Message-ID and the MIME boundary
derive from the issue, never from the clock or a random source. (``Date`` is the
issue's publication time in the file; delivery sets it to the moment of sending.)

Gmail clips HTML parts over about 102 KB (counted after its own rewriting, so clipping
was seen from about 99.5 KB), and the end of a long digest would silently disappear. The
HTML part is therefore kept under a budget (``max_html_bytes``, 90,000 by default) by
shortening deliberately, section by section (``email_plan.py``), and saying so in the
email: abstracts cut to their first sentences (labelled so), the lower-ranked papers of
each section by title only, the rest of a section summed up, linking to it on the page.
The text part follows the same plan, wrapped at 72 columns (a URL longer than that
stands alone on its line), its signature after the standard "-- " line.

With a ``list_unsubscribe`` address the message says how to leave the list
(``List-Unsubscribe``, which Gmail and Yahoo expect of bulk senders), and for an https
URL that it takes one click (RFC 8058's ``List-Unsubscribe-Post``).
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.policy import Policy
from email.utils import format_datetime, parseaddr
from typing import Any, cast

from digest.addresses import AddressError, MailAddress, mail_address
from digest.classify import slug
from digest.config.settings import EmailConfig
from digest.dates import long_date
from digest.errors import ConfigError
from digest.model import Issue, Paper, Site
from digest.publish import note_email, safety
from digest.publish.email_plan import EVERY, ItemStyle, Layout, Plan
from digest.publish.records import IssueContext
from digest.publish.view import Fragments, PaperView, views
from digest.text import HEADER_UNSAFE

TLDR, TITLE = ItemStyle.TLDR, ItemStyle.TITLE


def header_text(value: str) -> str:
    """Text safe for an email header: no CR/LF or other controls (no header injection)."""
    return " ".join(HEADER_UNSAFE.sub(" ", value).split())


def html_part_size(html: str) -> int:
    """Bytes of the HTML part as a mail client gets it: UTF-8, lines ending in CRLF."""
    return len(html.encode("utf-8")) + html.count("\n")


class EmailRenderer:
    """Renders both parts for a plan and finds the richest plan under the budget."""

    def __init__(self, context: IssueContext, email: EmailConfig, papers: Sequence[Paper]) -> None:
        self.issue_context = context
        self.site, self.templates, self.issue = context.site, context.templates, context.issue
        self.email = email
        # The first papers of each section in page order, as many as could be shown.
        self.papers = list(views(papers, context.site))
        self.total = context.issue.paper_count
        self.layout = Layout.of(self.papers, context.summary.sections, self.total)
        # Each paper drawn in a style is drawn once, however many plans the budget tries.
        self.fragments = Fragments(context.templates, context.site)
        self._inliner: Any = None
        self._tried: dict[Plan, tuple[bool, str]] = {}
        # Where each section begins on the web (the page it starts on, if paged).
        self.section_urls = {
            name: self.site.url + self.site.section_path(self.issue, start, slug(name))
            for name, start in context.summary.section_starts().items()
        }
        # The note as an email shows it: images as links, at most half of the budget.
        self.editorial = note_email.for_email(
            context.editorial, email.max_html_bytes, context.site.issue_url(context.issue.id)
        )

    def context(self, plan: Plan) -> dict[str, Any]:
        parts = self.layout.parts(plan)
        return {
            "site": self.site,
            "issue": self.issue,
            "parts": parts,
            "items": [item for part in parts for item in part.items],
            "plan": self.layout.shown(plan),
            "issue_url": self.site.issue_url(self.issue.id),
            "section_urls": self.section_urls,
            "unsubscribe": self.email.list_unsubscribe,
            "rising": self.issue_context.rising,
            "editorial": self.editorial,
            "fragment": self.fragments,
        }

    def html(self, plan: Plan) -> str:
        import css_inline

        raw = self.templates.render("email.html", **self.context(plan))
        if self._inliner is None:  # one inliner for the several renders the budget takes
            self._inliner = css_inline.CSSInliner(
                keep_style_tags=False, keep_link_tags=False, load_remote_stylesheets=False
            )
        inlined: str = self._inliner.inline(raw)
        return inlined

    def text(self, plan: Plan) -> str:
        return self.templates.render("email.txt", **self.context(plan))

    def fits(self, plan: Plan) -> tuple[bool, str]:
        # The search asks for some plans twice, and for some under two names (every paper
        # shortened is also "the first k shortened" for k the largest section): one render.
        largest = self.layout.largest
        if not plan.full:
            tldr = min(plan.tldr, largest)
            plan = Plan(tldr=tldr, titles=min(plan.titles, largest - tldr))
        if plan not in self._tried:
            html = self.html(plan)
            self._tried[plan] = (html_part_size(html) < self.email.max_html_bytes, html)
        return self._tried[plan]

    def best(self) -> tuple[Plan, str]:
        """The plan that shows the most, in the order of shortening ``email_plan`` gives."""
        layout = self.layout
        if layout.complete:
            whole, shortened = Plan(full=True), Plan(tldr=EVERY)
            # The whole plan shows more than the shortened one, which shows more than every
            # paper by title: where a smaller one does not fit, neither do the larger. When
            # the abstracts alone outgrow the budget, that is the likely case: asking the
            # smaller first saves the larger renders (the titles are the search's first
            # step below anyway).
            abstracts = sum(len(paper.abstract) for paper in self.papers)
            order: tuple[Plan, ...] = (whole, shortened)
            if abstracts > self.email.max_html_bytes:
                ok, html = self.fits(Plan(tldr=0, titles=EVERY))
                if ok:
                    ok, html = self.fits(shortened)
                order = (whole, shortened) if ok else ()
            for plan in order:
                ok, html = self.fits(plan)
                if ok:
                    return plan, html
        # Each section's lower papers by title, as few as will do, alike in every section.
        largest = layout.largest
        found = self._largest(
            lambda k: Plan(tldr=k, titles=EVERY),
            0,
            largest,
            self._growth(lambda i: self._item_size(i, TLDR) - self._item_size(i, TITLE), 0),
        )
        if found is not None:
            return found
        # Even titles alone do not fit: keep a few shortened, then as many titles as fit.
        detailed = min(layout.detailed_per_section(), largest)
        found = self._largest(
            lambda t: Plan(tldr=detailed, titles=t),
            0,
            largest - detailed,
            self._growth(lambda i: self._item_size(i, TITLE), detailed),
        )
        if found is not None:
            return found
        found = self._largest(
            lambda k: Plan(tldr=k), 0, detailed, self._growth(lambda i: self._item_size(i, TLDR), 0)
        )
        if found is not None:
            return found
        plan = Plan()
        return plan, self.html(plan)

    def _item_size(self, paper: Paper, style: ItemStyle) -> int:
        """The characters of one paper drawn in a style, as the built-in email.html draws
        it (drawn once: the renders the search confirms with reuse it)."""
        picked = paper.key in self.editorial.picked
        view = cast(PaperView, paper)  # the layout's papers are this renderer's views
        return len(self.fragments("email_paper.html", view, style=style, picked=picked)) + 1

    def _growth(self, weight: Callable[[Paper], int], offset: int) -> Callable[[int], int]:
        """How much a plan of parameter n has drawn beyond the plan of 0, in characters,
        over every section (each paper at place offset + i, i < n, adds its weight).
        Counted when first asked: a search that ends at its first plan draws nothing."""
        cumulative: list[int] = []

        def growth(n: int) -> int:
            if not cumulative:
                cumulative.append(0)
                sections = [heads for _name, _total, heads in self.layout.sections]
                for index in range(offset, offset + self.layout.largest):
                    drawn = [weight(heads[index]) for heads in sections if index < len(heads)]
                    cumulative.append(cumulative[-1] + sum(drawn))
            return cumulative[min(n, len(cumulative) - 1)]

        return growth

    def _largest(
        self,
        make: Callable[[int], Plan],
        low: int,
        high: int,
        growth: Callable[[int], int] = lambda n: n,
    ) -> tuple[Plan, str] | None:
        """The largest n in [low, high] whose plan fits. A plan's size grows with what it
        draws (``growth``: the characters its papers add), so each guess interpolates
        between the two nearest sizes known by that, not by n: it lands on the answer or
        next to it, where papers of very different lengths made a guess by n miss by
        several. A guess that leaves most of the range twice in a row is followed by a
        bisection, which bounds the worst case. Sizes grow with n, so any search finds
        the same plan: only the number of renders differs."""
        ok, html = self.fits(make(low))
        if not ok:
            return None
        best, size_low = (make(low), html), html_part_size(html)
        if high == low:
            return best
        ok, html = self.fits(make(high))
        if ok:
            return make(high), html
        size_high, budget = html_part_size(html), self.email.max_html_bytes
        slow = 0  # interpolations in a row that kept more than half of the range
        while high - low > 1:
            width = high - low
            drawn_low, drawn_high = growth(low), growth(high)
            if slow < 2 and size_high > size_low and drawn_high > drawn_low:
                share = (budget - size_low) / (size_high - size_low)
                target = drawn_low + share * (drawn_high - drawn_low)
                guess = low
                while guess < high and growth(guess + 1) <= target:
                    guess += 1
            else:
                guess, slow = (low + high) // 2, 0
            guess = min(max(guess, low + 1), high - 1)
            ok, html = self.fits(make(guess))
            if ok:
                low, best, size_low = guess, (make(guess), html), html_part_size(html)
            else:
                high, size_high = guess, html_part_size(html)
            slow = slow + 1 if high - low > width // 2 else 0
        return best


def sender_domain(email: EmailConfig, site: Site) -> str:
    address = parseaddr(email.sender)[1]
    if "@" in address:
        return address.rsplit("@", 1)[1]
    from urllib.parse import urlsplit

    try:
        host = urlsplit(site.url).hostname or ""
    except ValueError:
        host = ""
    # An IPv6 literal ([::1]) is no domain a Message-ID or an address can end in.
    return host if host and ":" not in host else "digest.invalid"


def message_id(email: EmailConfig, site: Site, issue: Issue) -> str:
    """Stable per site and issue, so a resend is recognisably the same message."""
    tag = hashlib.blake2b(site.url.encode(), digest_size=6).hexdigest()
    return f"<digest.{issue.id}.{tag}@{sender_domain(email, site)}>"


def subject(email: EmailConfig, site: Site, issue: Issue) -> str:
    try:
        text = email.subject.format(
            site=site.title, date=long_date(issue.date), count=issue.paper_count, id=issue.id
        )
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(
            f"email.subject: cannot fill in {email.subject!r}: {exc}",
            "use {site}, {date}, {count} and {id}",
        ) from None
    return header_text(text)


def build_message(
    context: IssueContext,
    email: EmailConfig,
    papers: Sequence[Paper],
    recipients: Sequence[str] | None = None,
) -> EmailMessage:
    """``papers``: the issue's first papers in page order, as many as could be shown."""
    site, issue = context.site, context.issue
    renderer = EmailRenderer(context, email, papers)
    plan, html = renderer.best()
    safety.check(f"issues/{issue.id}.eml", html)
    text = renderer.text(plan)
    sender = _header_address(email.sender) if email.sender else None
    to = [_header_address(address) for address in (recipients or email.to)]
    message = EmailMessage(policy=_policy([sender, *to]))
    message["Subject"] = subject(email, site, issue)
    message["From"] = (
        sender.header
        if isinstance(sender, MailAddress)
        else header_text(email.sender)
        or f"{header_text(site.title)} <digest@{sender_domain(email, site)}>"
    )
    shown = [a.header if isinstance(a, MailAddress) else a for a in to]
    message["To"] = ", ".join(shown) if shown else "undisclosed-recipients:;"
    message["Date"] = format_datetime(issue.published_at.astimezone(dt.UTC))
    message["Message-ID"] = message_id(email, site, issue)
    if email.list_unsubscribe:
        unsubscribe = header_text(email.list_unsubscribe)
        message["List-Unsubscribe"] = f"<{unsubscribe}>"
        if unsubscribe.startswith("https://"):
            message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    outcome = renderer.layout.shown(plan)
    message["X-Digest-Papers"] = f"{outcome.shown} of {outcome.total} shown"
    message.set_content(text, subtype="plain", charset="utf-8")
    message.add_alternative(html, subtype="html", charset="utf-8")
    boundary = hashlib.blake2b((text + html).encode(), digest_size=12).hexdigest()
    message.set_boundary(f"=_digest_{boundary}")
    return message


def _header_address(text: str) -> MailAddress | str:
    """An address as a header names it (its domain in ASCII); one that is none (a --to
    that delivery refuses before anything is sent) as plain header text."""
    try:
        return mail_address(text)
    except AddressError:
        return header_text(text)


def _policy(addresses: Sequence[MailAddress | str | None]) -> Policy:
    """UTF-8 headers (RFC 6532) only where an address needs them: an encoded word inside
    an address is read by no one, and only a server that offers SMTPUTF8 takes UTF-8."""
    utf8 = any(isinstance(a, MailAddress) and a.needs_smtputf8 for a in addresses)
    return SMTP_POLICY.clone(utf8=True) if utf8 else SMTP_POLICY


def addressed(message: EmailMessage, recipients: Sequence[str]) -> bytes:
    """The message as it goes to ``recipients``: To: names them (each as a header names
    it), in UTF-8 headers only if an address (theirs, the sender's) needs them."""
    variant = copy.deepcopy(message)
    to = [_header_address(address) for address in recipients]
    sender = _header_address(str(message["From"]))
    variant.replace_header(
        "To", ", ".join(a.header if isinstance(a, MailAddress) else a for a in to)
    )
    return variant.as_bytes(policy=_policy([sender, *to]))


def papers_to_show(email: EmailConfig) -> int:
    """At most this many papers of a section can fit in the HTML budget (about 100 bytes
    a title)."""
    return max(1, email.max_html_bytes // 100) + 1
