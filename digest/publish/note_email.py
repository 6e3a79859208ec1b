"""The editor's note as the email shows it: no remote images, and at most half the email.

An email loads nothing from elsewhere: an image there would tell whoever serves it who
opened the mail and when (a tracking pixel, whether the editor meant one or not). So an
image in a note is a link in the email, ``[image: its alt text]``, to the picture; the page
and the feeds show it as the editor wrote it.

The email's HTML part has a budget (``max_html_bytes``) that the papers share with the
note. A note whose HTML would take more than half of it is cut, in the email only, after
the last paragraph that fits, and a link to the issue's web page, where the whole note
is, follows: the papers keep at least the other half, and the email never outgrows the
budget for the note's sake. (The run warns when it does this.)
"""

from __future__ import annotations

import dataclasses
import html
import re

from digest.publish.notes import to_html, to_text
from digest.publish.records import Editorial, Note

_IMAGE = re.compile(r"<img\b([^>]*?)\s*/?>")
_ATTRIBUTE = re.compile(r'([a-z]+)="([^"]*)"')
_BLOCK_BREAK = re.compile(r"\n[ \t]*\n")


def _size(markup: str) -> int:
    """Bytes in the HTML part, as message.html_part_size counts them."""
    return len(markup.encode("utf-8")) + markup.count("\n")


def images_as_links(markup: str) -> str:
    """Each ``<img>`` of a rendered note as a link to the image (its attributes are
    python-markdown's, already escaped: they go into the link as they are)."""

    def link(match: re.Match[str]) -> str:
        attributes = dict(_ATTRIBUTE.findall(match.group(1)))
        alt = attributes.get("alt", "")
        label = f"[image: {alt}]" if html.unescape(alt).strip() else "[image]"
        return f'<a href="{attributes.get("src", "")}">{label}</a>'

    return _IMAGE.sub(link, markup) if "<img" in markup else markup


def share(budget: int) -> int:
    """What of the email's HTML budget a note may take."""
    return budget // 2


def for_email(editorial: Editorial, budget: int, issue_url: str) -> Editorial:
    """The editorial as the email shows it (see the module's docstring)."""
    note = editorial.note
    if note is None:
        return editorial
    markup = images_as_links(note.html)
    if _size(markup) > share(budget):
        markup = _cut(note, share(budget), issue_url)
    if markup == note.html:
        return editorial
    shown = dataclasses.replace(note, html=markup, text=to_text(markup))
    return dataclasses.replace(editorial, note=shown)


def too_long(note: Note, budget: int) -> bool:
    """Whether the email shows only the start of the note (the run warns)."""
    return _size(images_as_links(note.html)) > share(budget)


def _cut(note: Note, room: int, issue_url: str) -> str:
    """The note's first paragraphs (Markdown blocks) that fit in ``room`` bytes with the
    link to the rest; just the link if not even the first one fits."""
    url = html.escape(issue_url)
    tail = (
        f'<p>The editor\'s note goes on in the web version of this issue: <a href="{url}">'
        f"{url}</a></p>"
    )
    blocks = _BLOCK_BREAK.split(note.body.strip())

    def render(count: int) -> str:
        head = images_as_links(to_html("\n\n".join(blocks[:count]), "")) if count else ""
        return f"{head}\n{tail}" if head else tail

    low, high, best = 0, len(blocks), tail  # low always fits (none of the note fits)
    while low < high:
        middle = (low + high + 1) // 2
        markup = render(middle)
        if _size(markup) <= room:
            low, best = middle, markup
        else:
            high = middle - 1
    return best
