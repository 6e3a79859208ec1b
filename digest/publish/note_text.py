"""An editor's note as plain text, for the email's text part and the Markdown issue's
readers who see no HTML: kept apart so a run without a note never imports the parser."""

from __future__ import annotations

import textwrap
from html.parser import HTMLParser


class _Text(HTMLParser):
    """HTML of a note as plain text: paragraphs, list items, links written out."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[str] = []
        self.current: list[str] = []
        self.links: list[str] = []
        self.prefix = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("p", "li", "h1", "h2", "h3", "h4", "blockquote", "pre"):
            self.flush()
            self.prefix = "- " if tag == "li" else ""
        if tag == "a":
            self.links.append(dict(attrs).get("href") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self.links:
            href = self.links.pop().removeprefix("mailto:")
            if href and href not in "".join(self.current):
                self.current.append(f" <{href}>")
        if tag in ("p", "li", "h1", "h2", "h3", "h4", "blockquote", "pre"):
            self.flush()

    def handle_data(self, data: str) -> None:
        self.current.append(data)

    def flush(self) -> None:
        text = " ".join("".join(self.current).split())
        if text:
            if self.prefix and self.blocks and self.blocks[-1].startswith("- "):
                self.blocks[-1] += "\n" + textwrap.fill(
                    text,
                    72,
                    initial_indent="- ",
                    subsequent_indent="  ",
                    break_long_words=False,
                    break_on_hyphens=False,
                )
                self.current, self.prefix = [], ""
                return
            indent = "  " if self.prefix else ""
            self.blocks.append(
                textwrap.fill(
                    text,
                    72,
                    initial_indent=self.prefix,
                    subsequent_indent=indent,
                    break_long_words=False,
                    break_on_hyphens=False,
                )
            )
        self.current, self.prefix = [], ""


def to_text(rendered: str) -> str:
    parser = _Text()
    parser.feed(rendered)
    parser.close()
    parser.flush()
    return "\n\n".join(parser.blocks)
