"""What counts as a day's listing, and the bytes a listing is kept as.

A listing is a JSON array of objects, each carrying a paper id and a title: under
``paper`` (as the API nests them) or at the top level. Anything else, an HTML page
served with status 200, broken JSON, an object, an item without an id, is not a listing
and never replaces a file in the inbox. Items are kept as the API sent them (the loader
reads what it needs), deduplicated by paper id, in the API's order.

The bytes are deterministic (``json.dumps`` with ``indent=1``, keys in the API's order,
UTF-8, a final newline): the same items give the same bytes, so fetching an unchanged
day again writes nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from digest.errors import NotAListing
from digest.intake.reading import Unreadable, content_hash, read_regular

LISTING_PREFIX = "hf-"
# Far more than any day has (a busy one lists about 50): a server that keeps sending
# new pages past this is not paginating.
MAX_PAPERS_PER_DAY = 10_000

Item = dict[str, Any]


def listing_name(day: Any) -> str:
    return f"{LISTING_PREFIX}{day.isoformat()}.json"


def paper_id(item: object) -> str | None:
    """The paper's id, if ``item`` is a listing's entry (an id and a title)."""
    if not isinstance(item, dict):
        return None
    paper = item.get("paper")
    inner = paper if isinstance(paper, dict) else {}
    ident = inner.get("id", item.get("id"))
    title = inner.get("title") or item.get("title")
    if isinstance(ident, str) and ident.strip() and isinstance(title, str) and title.strip():
        return ident.strip()
    return None


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def parse_items(data: bytes) -> list[tuple[str, Item]] | str:
    """(id, item) pairs of a listing, or why ``data`` is not one."""
    if data.lstrip()[:1] == b"<":
        return "an HTML page, not JSON (the API may be down for maintenance)"
    try:
        value = json.loads(data.decode("utf-8-sig"), parse_constant=_refuse_constant)
    except UnicodeDecodeError:
        return "not UTF-8 text"
    except ValueError as exc:
        return f"not valid JSON ({str(exc).split(':')[0]})"
    except RecursionError:
        return "JSON nested too deeply to read"
    if not isinstance(value, list):
        return f"JSON, but {type(value).__name__ if value is not None else 'null'}, not a list"
    pairs = []
    for number, item in enumerate(value, start=1):
        ident = paper_id(item)
        if ident is None:
            return f"item {number} is not a paper (no id and title, under 'paper' or on its own)"
        pairs.append((ident, item))
    return pairs


def read_page(body: bytes, content_type: str, where: str) -> list[tuple[str, Item]]:
    """A page of the API's answer as (id, item) pairs; NotAListing if it is none."""
    if "html" in content_type.lower():
        found: list[tuple[str, Item]] | str = (
            "an HTML page, not JSON (the API may be down for maintenance)"
        )
    else:
        found = parse_items(body)
    if isinstance(found, str):
        raise NotAListing(
            f"{where}: the answer is {found}",
            "nothing was replaced; if this lasts, check fetch.source (the API may have changed)",
        )
    return found


# Half of a UTF-16 pair, as an answer cut mid-emoji carries it ("\ud83d"): JSON can say
# it, UTF-8 cannot hold it.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def listing_bytes(items: Iterable[Item]) -> bytes:
    """The items as the inbox keeps them. A lone surrogate stays the JSON escape the API
    sent (the intake reads it, and removes it with a warning), so the file says what
    the answer said and never fails to be written."""
    text = json.dumps(list(items), ensure_ascii=False, indent=1) + "\n"
    text = _LONE_SURROGATE.sub(lambda half: f"\\u{ord(half[0]):04x}", text)
    return text.encode("utf-8")


@dataclass(frozen=True, slots=True)
class InboxCopy:
    """What the inbox already holds for a day."""

    data: bytes | None  # None: no such file
    # Its papers by id, each once, in the file's order; None when it is no listing (or
    # is missing)
    items: dict[str, Item] | None
    refused: str | None = None  # not a regular file (a link, a folder): never replaced

    @property
    def papers(self) -> int | None:
        return len(self.items) if self.items is not None else None

    @property
    def hash(self) -> str | None:
        return content_hash(self.data) if self.data is not None else None


# A day's file is its answers (each at most fetch.max_bytes) as listing_bytes indents
# them: about three times the bytes of a compact answer, more for a day of pages.
COPY_SIZE_FACTOR = 16


def read_inbox_copy(path: Path, max_bytes: int) -> InboxCopy:
    """The day's file as the inbox holds it, read whole: a copy cut at some limit would
    read as no listing, and any answer could then replace it, however few its papers.
    One larger than fetch would write is not its to replace."""
    if path.is_symlink():
        return InboxCopy(None, None, "a symbolic link")
    if not path.exists():
        return InboxCopy(None, None)
    limit = COPY_SIZE_FACTOR * max_bytes
    try:
        data = read_regular(str(path), limit + 1, follow=False)
    except Unreadable as exc:
        return InboxCopy(None, None, str(exc))
    if len(data) > limit:
        return InboxCopy(None, None, f"larger than fetch writes (over {limit:,} bytes)")
    found = parse_items(data)
    if isinstance(found, str):
        return InboxCopy(data, None)
    items: dict[str, Item] = {}
    for ident, item in found:
        items.setdefault(ident, item)  # a paper listed twice: the first listing wins
    return InboxCopy(data, items)
