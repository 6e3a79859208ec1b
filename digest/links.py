"""Links in abstracts: how they are found, what kind each is, how each is written as an
``href``, and where the paper itself is.

One rule for each question, used by every output and by the store's counts: where a
link ends, whether it leads to code, and which link leads to the paper.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote

CODE_HOSTS = ("github.com", "gitlab.com", "gitee.com", "bitbucket.org", "codeberg.org")

# A link ends at whitespace and at the characters RFC 3986 never allows unencoded in a URL
# (and the quote): TeX leftovers such as "url{https://a}" or "\href{https://a}{https://a}"
# then give the URL that was meant, not one with "{...}" inside that leads to a 404.
LINK = re.compile(r"[hH][tT][tT][pP][sS]?://[^\s<>\"'`{}|\\^]+")  # not re.I: "ſ" is no "s"
# A URL ends where RFC 3986 allows no character, and at the quotation marks and the full
# stops and commas of other scripts (“…”, «…», 「…」, 。, ，), which quote or close it.
# (Not at dashes or full-width brackets: Wikipedia's titles hold them.)
_URL_REST = re.compile(
    r"[^\s<>\"'`{}|\\^\u201c\u201d\u2018\u2019\u00ab\u00bb\u2039\u203a"
    r"\u300c-\u300f\u3001\u3002\uff0c]+"
)
_TRAILING_PUNCT = ".,;:!?'\"*_~\u2026\uff1a\uff1b\uff01\uff1f"
_BRACKETS = {")": "(", "]": "[", "}": "{", ">": "<", "\uff09": "\uff08", "\u3011": "\u3010"}

# The default ``paper_link``: arXiv's search by title, for papers whose text names no id.
PAPER_SEARCH = "https://arxiv.org/search/?query={title}&searchtype=title"
_ARCHIVES = (
    "acc-phys|adap-org|alg-geom|ao-sci|astro-ph|atom-ph|bayes-an|chao-dyn|chem-ph|cmp-lg"
    "|comp-gas|cond-mat|cs|dg-ga|funct-an|gr-qc|hep-ex|hep-lat|hep-ph|hep-th|math|math-ph"
    "|mtrl-th|nlin|nucl-ex|nucl-th|patt-sol|physics|plasm-ph|q-alg|q-bio|quant-ph|solv-int"
    "|supr-con"
)
# 0704.0001 to 1412.9999, then five digits: 1501.00001, 2401.01234
_NEW_STYLE = (
    r"(?:(?:0[7-9]|1[0-4])(?:0[1-9]|1[0-2])\.\d{4}|(?:1[5-9]|[2-9]\d)(?:0[1-9]|1[0-2])\.\d{5})"
)
_OLD_STYLE = rf"(?:{_ARCHIVES})(?:\.[A-Z]{{2}})?/\d{{7}}"  # hep-th/9901001, math.AG/0101001
_ARXIV_ID = rf"(?:{_NEW_STYLE}|{_OLD_STYLE})(?:v\d+)?"
# An id the text names as arXiv's: "arXiv:2401.01234", an arxiv.org abs/pdf/html link, or
# Hugging Face's page of the paper (its path is the arXiv id); or a bare id with its
# version ("2401.01234v2"), which no other number in an abstract looks like.
_NAMED_ARXIV = re.compile(
    r"(?i:arxiv\s*:\s*|arxiv\.org/(?:abs|pdf|html)/|huggingface\.co/papers/)"
    rf"({_ARXIV_ID})(?![\w/])"
)
_BARE_HINT = re.compile(r"\.\d{4,5}v\d")
_BARE_ARXIV = re.compile(rf"(?<![\w./])({_NEW_STYLE}v\d+)(?![\w/])")
# The characters an href may carry as they are; others are percent-encoded (as UTF-8).
_HREF_UNSAFE = re.compile(r"[^A-Za-z0-9\-._~:/?#@!$&'()*+,;=%]|%(?![0-9A-Fa-f]{2})|&(?=#?\w+;)")
# The scheme and host of a URL: an IP literal's brackets are RFC 3986's own (kept).
_AUTHORITY = re.compile(r"(https?://)([^/?#]*)")
_TITLE_SAFE = re.compile(r"[A-Za-z0-9\-._~%]*")


def link_spans(text: str) -> Iterator[tuple[int, int]]:
    """Where each http(s) URL in text starts and ends, without trailing sentence
    punctuation or unbalanced brackets (the Markdown writes the text between as text)."""
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
        rest = _URL_REST.match(text, end) if scheme_start >= 0 else None
        if rest is None:  # (the rest is read only after a scheme: linear in "a://a://...")
            separator = text.find("://", end)
            continue
        stop = _url_end(text, scheme_start, rest.end())
        if stop - scheme_start > len("https://"):
            yield scheme_start, stop
        separator = text.find("://", rest.end())


def _url_end(text: str, start: int, stop: int) -> int:
    """Where the URL in text[start:stop] ends, without trailing sentence punctuation or
    closing brackets it never opened; counted once, so a thousand ")" cost linear time."""
    counts: dict[str, int] | None = None
    while stop > start:
        last = text[stop - 1]
        if last in _TRAILING_PUNCT:
            stop -= 1
            continue
        if last not in _BRACKETS:
            break
        if counts is None:
            counts = {c: text.count(c, start, stop) for pair in _BRACKETS.items() for c in pair}
        if counts[last] <= counts[_BRACKETS[last]]:
            break
        counts[last] -= 1
        stop -= 1
    return stop


def extract_links(text: str) -> tuple[str, ...]:
    """http(s) URLs in text, each once (``url{https://a}{https://a}`` holds one)."""
    found: list[str] = []
    for start, end in link_spans(text):
        url = text[start:end]
        if url not in found:
            found.append(url)
    return tuple(found)


def href(url: str) -> str:
    """The URL as an ``href`` every reader takes as written: characters outside RFC 3986's
    set (non-ASCII, ``[``, ``]``), a ``%`` that starts no escape and an ``&`` that would
    read as an HTML entity are percent-encoded. A plain URL comes back unchanged, and so
    CommonMark, GitHub's renderer and python-markdown all give the same href for it."""
    # One search for anything to encode (no nested repetition: a long run of safe
    # characters before an unsafe one must cost linear time, never backtrack).
    if _HREF_UNSAFE.search(url) is None:
        return url
    start = _AUTHORITY.match(url)
    if start is None:
        return _encoded(url)
    scheme, authority = start.groups()
    return scheme + _host(authority) + _encoded(url[start.end() :])


def _encoded(part: str) -> str:
    return _HREF_UNSAFE.sub(lambda m: quote(m.group(), safe=""), part)


def _host(authority: str) -> str:
    """user@host:port as a browser asks for it: a real IP literal keeps its brackets
    (``[::1]``); anything else outside RFC 3986's set is percent-encoded, a host in another
    script too (browsers decode it and look the name up under today's IDNA rules)."""
    user, at, hostport = authority.rpartition("@")
    literal, bracket, rest = hostport.partition("]")
    if hostport.startswith("[") and bracket and (rest == "" or rest[0] == ":"):
        with contextlib.suppress(ValueError):
            ipaddress.IPv6Address(literal[1:])
            return _encoded(user) + at + literal + bracket + _encoded(rest)
    return _encoded(authority)


def quote_title(title: str) -> str:
    """``quote(title, safe="")``, at a fraction of its cost for the usual title (letters,
    digits, spaces, a colon): a large import asks for 80,000 of them."""
    quick = title.replace("%", "%25").replace(" ", "%20").replace(":", "%3A").replace(",", "%2C")
    return quick if _TITLE_SAFE.fullmatch(quick) else quote(title, safe="")


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


@dataclass(frozen=True, slots=True)
class PaperLink:
    """Where the paper itself is: its arXiv page when the text names its id, else a search
    for its title (the config's ``paper_link``). ``url`` is ready for an href."""

    url: str
    arxiv_id: str | None = None

    @property
    def label(self) -> str:
        return f"arXiv:{self.arxiv_id}" if self.arxiv_id else "search by title"

    def __str__(self) -> str:
        return self.url


def arxiv_id(text: str) -> str | None:
    """The first arXiv id the text names, or None: after "arXiv:" (written with a capital
    X, as arXiv writes itself), in an arxiv.org or Hugging Face papers link, or a bare id
    with its version. A large import asks this of 80,000 abstracts, and most name no id:
    the slow search runs only on text with a hint of one, found by one-character tests
    (a memchr each) before any longer one."""
    if ("X" in text and ("rXiv" in text or "RXIV" in text)) or (
        "/" in text and ("arxiv.org/" in text or "huggingface.co/papers/" in text)
    ):
        named = _NAMED_ARXIV.search(text)
        if named:
            return named.group(1)
    hint = _BARE_HINT.search(text)
    while hint:
        bare = _BARE_ARXIV.match(text, max(0, hint.start() - 4))
        if bare:
            return bare.group(1)
        hint = _BARE_HINT.search(text, hint.end())
    return None


@lru_cache(maxsize=4096)  # the page, the Markdown and the feeds ask for the same papers
def paper_link(
    title: str, abstract: str, template: str = PAPER_SEARCH, known_id: str | None = None
) -> PaperLink:
    """The link to the paper: ``https://arxiv.org/abs/<id>`` for the id the listing gives
    (the API's JSON), else for an id in the abstract, else ``template`` with ``{title}``
    URL-encoded."""
    found = known_id or arxiv_id(abstract)
    if found is not None:
        return PaperLink(f"https://arxiv.org/abs/{found}", found)
    return PaperLink(_href_template(template).replace("{title}", quote_title(title)))


@lru_cache(maxsize=8)
def _href_template(template: str) -> str:
    """The template with what is around ``{title}`` made href-safe, once: a quoted title
    is safe as it is, so no paper's link needs href() again."""
    return "{title}".join(href(part) for part in template.split("{title}"))
