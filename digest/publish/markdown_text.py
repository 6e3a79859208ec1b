"""Text for Markdown that every common renderer shows the same way.

The issue's Markdown is pasted anywhere: CommonMark renderers (markdown-it), GitHub's
cmark-gfm, python-markdown. What is data must show literally in all of them, and a URL
in an abstract must be the same link in all of them:

* :func:`markdown_escape` escapes what any of them would read as markup, including what
  only GitHub's renderer reads: a bare ``https://``, ``www.``, ``~`` or ``|`` (its
  autolinks, strikethrough and tables). A backslash left inside a URL that GitHub
  autolinks anyway would end up in the link (``scaling\\_laws``): so ``://`` and ``www.``
  are written with a character reference, which none of them links;
* :func:`markdown_without_html` keeps the editor's Markdown as written but for its raw
  HTML, which shows as written (as on the page) rather than running in a reader's renderer;
* :func:`markdown_linked` writes each URL as an autolink ``<https://...>`` (the same href
  everywhere) and the text between through :func:`markdown_escape`; an e-mail address,
  which GitHub links whatever the escaping, becomes an autolink for all of them too.
"""

from __future__ import annotations

import re
from functools import lru_cache

from digest.links import PaperLink, href, link_spans

__all__ = [
    "MarkdownSafe",
    "markdown_autolink",
    "markdown_escape",
    "markdown_link",
    "markdown_linked",
    "markdown_paper_link",
    "markdown_without_html",
]

_MARKDOWN_INLINE = {
    "\\": "\\\\",
    "`": "\\`",
    "*": "\\*",
    "_": "\\_",
    "[": "\\[",
    "]": "\\]",
    "{": "\\{",
    "}": "\\}",
    "#": "\\#",
    "!": "\\!",
    "<": "&lt;",
    ">": "&gt;",
    "&": "&amp;",
    "|": "&#124;",
    "~": "&#126;",
    "$": "&#36;",
}
# Replaced one character at a time, in an order where no replacement's output is touched
# again: the backslash, "&" and "#" before the escapes and entities that contain them.
_MARKDOWN_STEPS = tuple(
    (special, _MARKDOWN_INLINE[special])
    for special in ("\\", "&", "#", *(c for c in _MARKDOWN_INLINE if c not in "\\&#"))
)
_MARKDOWN_LINE_START = re.compile(r"^(\s*)([-+]|\d+(?=[.)]))")
# An address every renderer takes as an autolink inside <...>: CommonMark's rule and
# GitHub's extended one agree on it (GitHub would link it even if it were escaped).
_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9._+-]+"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+"
)


class MarkdownSafe(str):
    """Text already in Markdown form (a link the template built); not escaped again."""


def markdown_escape(value: object) -> str:
    """Make text show literally in Markdown: no emphasis, links, HTML, lists or headings."""
    if isinstance(value, MarkdownSafe):
        return value
    if value is None:
        return ""
    text = str(value)
    for special, escaped in _MARKDOWN_STEPS:
        if special in text:  # a C-speed scan; most text has few of these characters
            text = text.replace(special, escaped)
    # Then what GitHub's renderer alone would turn into a link (its extended autolinks
    # start at "://" and "www."): a character reference is text for all of them.
    if "/" in text and "://" in text:  # a one-character test first: it is a memchr
        text = text.replace("://", "&#58;//")
    if "www." in text:
        text = text.replace("www.", "www&#46;")
    lines = text.split("\n")
    for index, line in enumerate(lines):
        match = _MARKDOWN_LINE_START.match(line)
        if match:
            head = match.group(2)
            if head.isdigit():
                end = match.end()
                lines[index] = line[:end] + "\\" + line[end:]
            else:
                lines[index] = line[: match.start(2)] + "\\" + line[match.start(2) :]
    return "\n".join(lines)


def _link_target(url: str) -> str:
    return href(url).replace("(", "%28").replace(")", "%29")


def markdown_link(text: str, url: str) -> MarkdownSafe:
    """A Markdown link whose text is escaped and whose target cannot break out."""
    return MarkdownSafe(f"[{markdown_escape(text)}]({_link_target(url)})")


def markdown_paper_link(source: PaperLink) -> MarkdownSafe:
    """``[arXiv:2401.01234](https://arxiv.org/abs/2401.01234)``: a paper's own link is
    href-safe already and its label is one of a few, so only the parentheses are left."""
    target = source.url.replace("(", "%28").replace(")", "%29")
    return MarkdownSafe(f"[{_label(source.label)}]({target})")


@lru_cache(maxsize=256)
def _label(text: str) -> str:
    return markdown_escape(text)


def markdown_autolink(url: str) -> MarkdownSafe:
    """``<url>``, which every renderer links to exactly that URL and shows as written;
    a URL that must be percent-encoded to be one href everywhere (non-ASCII, ``[``)
    becomes a link whose text is the URL as written."""
    target = href(url)
    if target == url:
        return MarkdownSafe(f"<{url}>")
    return markdown_link(url, url)


def markdown_linked(value: object) -> MarkdownSafe:
    """Text with its URLs (and e-mail addresses) as autolinks, the rest escaped."""
    text = "" if value is None else str(value)
    if "://" not in text and "@" not in text:  # most abstracts: no link to make
        return MarkdownSafe(markdown_escape(text))
    pieces: list[str] = []
    done = 0
    for start, end in link_spans(text):
        pieces.append(_escape_with_emails(text[done:start]))
        pieces.append(markdown_autolink(text[start:end]))
        done = end
    pieces.append(_escape_with_emails(text[done:]))
    return MarkdownSafe("".join(pieces))


def _escape_with_emails(text: str) -> str:
    if "@" not in text:
        return markdown_escape(text)
    pieces: list[str] = []
    done = 0
    for match in _EMAIL.finditer(text):
        pieces.append(markdown_escape(text[done : match.start()]))
        pieces.append(f"<{match.group()}>")
        done = match.end()
    pieces.append(markdown_escape(text[done:]))
    return "".join(pieces)


# What python-markdown links in <...> (and the note's check lets through): kept as links.
_NOTE_AUTOLINK = re.compile(r"<(?:https?://|mailto:)[^\s<>`]*>|<[A-Za-z0-9._+-]+@[A-Za-z0-9.-]+>")


def markdown_without_html(text: str) -> MarkdownSafe:
    """The editor's Markdown as written, but every ``<`` that could open raw HTML (a tag, a
    comment, a declaration) written ``&lt;``, which every renderer shows as ``<``: a
    ``<script>`` or an ``onerror`` shows as written, never runs. Left alone: an ``<http…>``
    or ``<mailto:…>`` autolink, and code spans within a line, where all three renderers
    agree the text is code (in a fenced or indented block, python-markdown without its
    extension would not, so there it is escaped too: shown as ``&lt;`` in some renderers,
    never run in any)."""
    return MarkdownSafe("\n".join(_without_html(line) for line in text.split("\n")))


def _without_html(line: str) -> str:
    if "<" not in line:
        return line
    out: list[str] = []
    at, end = 0, len(line)
    while at < end:
        char = line[at]
        if char == "\\" and at + 1 < end:
            # "\<" is no escape to python-markdown: the "<" would open a tag there
            out.append("&lt;" if line[at + 1] == "<" else line[at : at + 2])
            at += 2
        elif char == "`":
            run = len(line[at:]) - len(line[at:].lstrip("`"))
            close = _closing_run(line, at + run, run)
            stop = at + run if close is None else close + run
            out.append(line[at:stop])
            at = stop
        elif char == "<":
            link = _NOTE_AUTOLINK.match(line, at)
            if link:
                out.append(link.group())
                at = link.end()
            else:
                opens = at + 1 < end and (line[at + 1].isalpha() or line[at + 1] in "/!?")
                out.append("&lt;" if opens else "<")
                at += 1
        else:
            out.append(char)
            at += 1
    return "".join(out)


def _closing_run(line: str, start: int, run: int) -> int | None:
    """Where a run of exactly ``run`` backticks closes a code span opened before ``start``."""
    for match in re.finditer(r"`+", line[start:]):
        if len(match.group()) == run:
            return start + match.start()
    return None
