"""Links in abstracts: how they are found, and what kind each is.

One rule for each question, used by every output and by the store's counts: where a
link ends, and whether it leads to code.
"""

from __future__ import annotations

import re

CODE_HOSTS = ("github.com", "gitlab.com", "gitee.com", "bitbucket.org", "codeberg.org")

LINK = re.compile(r"[hH][tT][tT][pP][sS]?://[^\s<>\"'`]+")  # not re.I: "ſ" is no "s"
_URL_REST = re.compile(r"[^\s<>\"'`]+")
_TRAILING_PUNCT = ".,;:!?'\"*_~"
_BRACKETS = {")": "(", "]": "[", "}": "{", ">": "<"}


def extract_links(text: str) -> tuple[str, ...]:
    """http(s) URLs in text, without trailing sentence punctuation or unbalanced brackets."""
    found: list[str] = []
    # Found from their "://" (a C-speed search), then read backwards for the scheme and
    # forwards for the rest: what LINK would match, without a regex pass over the text.
    separator = text.find("://")
    while separator >= 0:
        end = separator + 3
        if separator >= 5 and text[separator - 5 : separator].lower() == "https":
            scheme_start = separator - 5
        elif separator >= 4 and text[separator - 4 : separator].lower() == "http":
            scheme_start = separator - 4
        else:
            scheme_start = -1
        rest = _URL_REST.match(text, end)
        if scheme_start < 0 or rest is None:
            separator = text.find("://", end)
            continue
        url = text[scheme_start : rest.end()]
        while url:
            last = url[-1]
            unbalanced = last in _BRACKETS and url.count(last) > url.count(_BRACKETS[last])
            if last in _TRAILING_PUNCT or unbalanced:
                url = url[:-1]
            else:
                break
        if len(url) > len("https://") and url not in found:
            found.append(url)
        separator = text.find("://", rest.end())
    return tuple(found)


def host_of(url: str) -> str:
    return url.split("://", 1)[-1].split("/", 1)[0].split("@")[-1].split(":", 1)[0].lower()


def is_code_link(url: str) -> bool:
    """A repository host, or a subdomain of one (``www.github.com``)."""
    host = host_of(url)
    return any(host == code or host.endswith("." + code) for code in CODE_HOSTS)


def has_code(links: tuple[str, ...]) -> bool:
    return any(is_code_link(url) for url in links)


def link_kind(url: str) -> str:
    """``code`` for a repository host, else ``project page``."""
    return "code" if is_code_link(url) else "project page"
