"""The last line of defence: no HTML digest writes carries script, event handlers or
links other than http(s), whatever the input.

Templates autoescape, so scraped text cannot become markup; this check makes sure a
template (ours or a user's) did not let any through. It parses the HTML as it is
written, chunk by chunk, with the standard library's tokenizer, and refuses the file.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from html.parser import HTMLParser
from urllib.parse import urlsplit

from digest.errors import OutputError

FORBIDDEN_TAGS = frozenset({"script", "iframe", "object", "embed", "applet", "frame", "frameset",
                            "base", "form", "input", "button", "textarea", "select", "svg", "math",
                            "template", "noscript"})  # fmt: skip
URL_ATTRIBUTES = frozenset({"href", "src", "action", "formaction", "poster", "cite", "background",
                            "longdesc", "usemap", "data", "srcset", "xlink:href"})  # fmt: skip
SAFE_SCHEMES = frozenset({"http", "https", "mailto", ""})


class _Checker(HTMLParser):
    def __init__(self, name: str) -> None:
        super().__init__(convert_charrefs=True)
        self.name = name

    def fail(self, what: str) -> None:
        line, _ = self.getpos()
        raise OutputError(
            f"refusing to write {self.name}: {what} (line {line})",
            "a template put unescaped input into the page; use {{ value }} (autoescaped), "
            "never |safe, for text from digest files",
        )

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in FORBIDDEN_TAGS:
            self.fail(f"a <{tag}> element")
        for name, value in attrs:
            if name.startswith("on"):
                self.fail(f"an event handler {name}= on <{tag}>")
            if name == "style" and value and ("expression(" in value or "url(" in value):
                self.fail(f"a style with url() or expression() on <{tag}>")
            if name in URL_ATTRIBUTES and value is not None:
                scheme = urlsplit(value.strip()).scheme.lower()
                if scheme not in SAFE_SCHEMES:
                    self.fail(f"a {scheme}: link in {name}= on <{tag}>")

    handle_startendtag = handle_starttag


def checked(name: str, chunks: Iterable[str]) -> Iterator[str]:
    """Pass chunks through unchanged, raising OutputError at the first unsafe markup."""
    checker = _Checker(name)
    for chunk in chunks:
        checker.feed(chunk)
        yield chunk
    checker.close()


def check(name: str, html: str) -> str:
    for _ in checked(name, (html,)):
        pass
    return html
