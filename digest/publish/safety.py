"""The last line of defence: no HTML digest writes carries script, event handlers or
links other than http(s), whatever the input.

Templates autoescape, so scraped text cannot become markup; inline SVG (the archive's
chart) is allowed, but not the SVG elements that run or fetch anything; this check makes sure a
template (ours or a user's) did not let any through. It parses the HTML as it is
written, chunk by chunk, and refuses the file. It looks only at tags: the scan skips text
at C speed, so checking a 100 MB page costs about as much as writing it.

One script is allowed, on one page: the search page (``search.html``) may load Pagefind's
own bundle, ``<script src="pagefind/pagefind-component-ui.js"></script>`` exactly as
written (no other attribute, nothing inside, in no other file). Every other script,
anywhere, is refused as before.

One ``data:`` URL is allowed: a page's icon, ``<link rel="icon">`` with an SVG or PNG
image (so that no page asks the server for a favicon it does not have). A browser shows
an icon as an image, which runs nothing; anywhere else ``data:`` is refused.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Iterator

from digest.errors import OutputError

FORBIDDEN_TAGS = frozenset(
    {
        "script",
        "iframe",
        "object",
        "embed",
        "applet",
        "frame",
        "frameset",
        "base",
        "form",
        "input",
        "button",
        "textarea",
        "select",
        "math",
        "foreignobject",
        "animate",
        "set",
        "animatetransform",
        "animatemotion",
        "use",
        "handler",
        "template",
        "noscript",
        "portal",
    }
)
URL_ATTRIBUTES = frozenset(
    {
        "href",
        "src",
        "action",
        "formaction",
        "poster",
        "cite",
        "background",
        "longdesc",
        "usemap",
        "data",
        "srcset",
        "xlink:href",
        "ping",
    }
)
SAFE_SCHEMES = frozenset({"http", "https", "mailto", ""})
ICON_DATA = ("data:image/svg+xml,", "data:image/png;base64,")
SEARCH_PAGE = "search.html"
SEARCH_SCRIPT = "pagefind/pagefind-component-ui.js"
_ALLOWED_SCRIPT = f'<script src="{SEARCH_SCRIPT}">'
_SCRIPT_END = "</script>"
MAX_TAG = 1 << 20  # a tag still open after this many characters never ends (a lone quote)


# A start tag: its name, then its attributes up to the closing ">". Text between tags is
# skipped at C speed; what autoescaping produced (&lt;script&gt;) never matches.
_TAG_BODY = r"([a-zA-Z][a-zA-Z0-9:-]*)((?:=\s*\"[^\"]*\"|=\s*'[^']*'|=(?!\s*[\"'])|[^>=])*+)>"
_TAG = re.compile("<" + _TAG_BODY)
_TAG_START = re.compile("<[a-zA-Z]")
# Tags that pass the check by their shape alone: a common element with only double-quoted
# presentational attributes and links that start safely. Nearly every tag of a page is
# one, and the scan passes over them inside the regex engine; their values hold no "<"
# or ">", so skipping one is the same as checking it and moving past it.
_PLAIN_TAG = (
    r"(?:a|article|b|br|code|details|div|em|figcaption|figure|footer|h[1-6]|header|hr|i|li"
    r"|main|nav|ol|p|section|small|span|strong|summary|time|ul)"
    r"(?:\s+(?:class|id|rel|lang|dir|title)=\"[^\"<>]*\""
    r"|\s+href=\"(?:https?://|#|/|\.\./)[^\"<>]*\")*"
    r"\s*/?>"
)
_TAG_TO_CHECK = re.compile("<(?!" + _PLAIN_TAG + ")" + _TAG_BODY)
_ATTRIBUTE = re.compile(r"""([^\s"'>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?""")
_RISKY = re.compile(
    r"(?i)[\s/\"']on|href|src|action|poster|cite|background|longdesc|usemap|data|style|ping"
    r"|http-equiv"
)
_EVENT_HANDLER = re.compile(r"(?i)(?:^|[\s/\"'])on[a-z0-9_-]*\s*=")
_SAFE_URL_START = ("https://", "http://", "#", "/", "../", "mailto:")


class _Checker:
    """Scans HTML as it streams by; a tag cut between two chunks is carried over."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.pending = ""
        self.lines = 0

    def fail(self, what: str, text: str, offset: int) -> None:
        line = self.lines + text.count("\n", 0, offset) + 1
        raise OutputError(
            f"refusing to write {self.name}: {what} (line {line})",
            "a template put unescaped input into the page; use {{ value }} (autoescaped), "
            "never |safe, for text from digest files",
        )

    def feed(self, chunk: str, final: bool = False) -> None:
        text = self.pending + chunk
        cut = len(text) if final else text.rfind("<")
        while cut > 0 and not final:  # a "<" inside a value: the tag may start before it
            earlier = text.rfind("<", 0, cut)
            if earlier < 0 or not _TAG_START.match(text, earlier):
                break
            found = _TAG.match(text, earlier)
            if found is not None and found.end() <= cut:
                break
            cut = earlier
        if cut < 0 or (not final and _TAG.match(text, cut)):
            cut = len(text)  # the last tag is complete: nothing to carry over
        for match in _TAG_TO_CHECK.finditer(text, 0, cut):
            tag = match.group(1).lower()
            if tag == "script" and self.name == SEARCH_PAGE and match[0] == _ALLOWED_SCRIPT:
                end = text[match.end() : match.end() + len(_SCRIPT_END)]
                if end == _SCRIPT_END:
                    continue  # the search page's own Pagefind bundle, with nothing inside
                if not final and _SCRIPT_END.startswith(end) and len(end) < len(_SCRIPT_END):
                    cut = match.start()  # its end is in the next chunk: look again then
                    break
            if tag in FORBIDDEN_TAGS:
                self.fail(f"a <{tag}> element", text, match.start())
            attributes = match.group(2)
            if attributes and _RISKY.search(attributes):
                self.check_attributes(tag, attributes, text, match.start())
        self.lines += text.count("\n", 0, cut)
        self.pending = text[cut:]
        if (final and self.pending.strip()) or len(self.pending) > MAX_TAG:
            self.fail("an unfinished tag", text, cut)

    def check_attributes(self, tag: str, attributes: str, text: str, offset: int) -> None:
        lowered = attributes.lower()
        if (
            not _EVENT_HANDLER.search(attributes)
            and "style" not in lowered
            and ("http-equiv" not in lowered)
        ):
            # The common case, a link: check only the URL-valued attributes.
            for match in _ATTRIBUTE.finditer(attributes):
                name = match.group(1).lower()
                if name in URL_ATTRIBUTES:
                    value = next((v for v in match.group(2, 3, 4) if v is not None), "")
                    if "&" in value or (not value.startswith(_SAFE_URL_START) and ":" in value):
                        break  # look closer, below (a reference may spell the colon)
            else:
                return
        found = [
            (match.group(1).lower(), next((v for v in match.group(2, 3, 4) if v is not None), None))
            for match in _ATTRIBUTE.finditer(attributes)
        ]
        if tag == "meta" and any(
            name == "http-equiv" and html.unescape(value or "").strip().lower() == "refresh"
            for name, value in found
        ):  # a redirect, to anywhere (javascript: too), before the reader sees the page
            self.fail("a <meta http-equiv=refresh>", text, offset)
        for name, value in found:
            if name.startswith("on"):
                self.fail(f"an event handler {name}= on <{tag}>", text, offset)
            if value is None:
                continue
            value = html.unescape(value)
            if name == "style" and ("expression(" in value or "url(" in value):
                self.fail(f"a style with url() or expression() on <{tag}>", text, offset)
            if name in URL_ATTRIBUTES:
                scheme = url_scheme(value)
                if scheme not in SAFE_SCHEMES and not _is_icon(tag, name, value, found):
                    self.fail(f"a {scheme}: link in {name}= on <{tag}>", text, offset)


_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_TAB_AND_NEWLINES = str.maketrans("", "", "\t\n\r")
_C0_AND_SPACE = "".join(map(chr, range(0x21)))


def url_scheme(value: str) -> str:
    """The scheme of an attribute's URL (references decoded) as a browser finds it: C0
    controls and spaces around it are dropped, tabs and line breaks anywhere; a URL
    whose first characters make no scheme is relative (``""``). Never raises."""
    found = _SCHEME.match(value.translate(_TAB_AND_NEWLINES).strip(_C0_AND_SPACE))
    return found[1].lower() if found else ""


def _is_icon(tag: str, name: str, value: str, found: list[tuple[str, str | None]]) -> bool:
    """``<link rel="icon" href="data:image/svg+xml,...">``, and nothing else."""
    if tag != "link" or name != "href" or not value.startswith(ICON_DATA):
        return False
    rels = [html.unescape(v or "").lower().split() for n, v in found if n == "rel"]
    return len(rels) == 1 and rels[0] == ["icon"] and [n for n, _ in found] == ["rel", "href"]


def checked(name: str, chunks: Iterable[str]) -> Iterator[str]:
    """Pass chunks through unchanged, raising OutputError at the first unsafe markup."""
    checker = _Checker(name)
    for chunk in chunks:
        checker.feed(chunk)
        yield chunk
    checker.feed("", final=True)


def check(name: str, html_text: str) -> str:
    checker = _Checker(name)
    checker.feed(html_text, final=True)
    return html_text
