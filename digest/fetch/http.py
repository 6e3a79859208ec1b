"""A polite HTTP GET over the standard library, for an API that is not ours.

Polite: a User-Agent that says who asks, a pace within the published limit
(``digest.fetch.pace``), retries that back off (exponentially, with full jitter) on
timeouts, resets and 5xx, waits a 429 asks for and never retries sooner, conditional
requests where the server gave validators. Careful: a timeout on connecting and on each
read, a deadline over the whole answer (a watchdog cuts the connection when it passes,
so a server trickling a byte a second cannot hold a fetch for ever), a cap on the size,
redirects followed only within the source's origin (so https stays https, and a token
never reaches another host). ``HF_TOKEN`` goes in the Authorization header only: no
message, log line or exception ever carries it.

http.client rather than urllib.request: urllib follows redirects to anywhere and hides
the socket, which the per-read timeout and the watchdog need. No dependency earns its
place for one GET.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.client
import json
import logging
import random
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import Message
from urllib.parse import urljoin, urlsplit

from digest.config.fetch import TOKEN_ENV, FetchConfig
from digest.errors import ConfigError, FetchUnavailable, NotAListing
from digest.fetch.pace import Pacer, rate_budget, server_date, server_wait
from digest.text import one_line

log = logging.getLogger("digest")

MAX_REDIRECTS = 5
BACKOFF_BASE = 1.0  # seconds: the first retry waits up to this, then 2, 4, ...
BACKOFF_CAP = 60.0
RATE_LIMITED_BASE = 5.0  # a 429 that says nothing of when: 5 s, then 10, 20, ...
ERROR_BODY_CAP = 64 * 1024  # what is read of an error answer, for its message
_READ_SIZE = 64 * 1024
_TOKEN = re.compile(r"[\x21-\x7e]+")
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@")
_UNSAFE_LOCATION = re.compile(r"[\x00-\x20\x7f-\U0010ffff]")  # http.client would refuse it


@dataclass(frozen=True, slots=True)
class Validators:
    """What the server said identifies its answer, to ask "only if changed"."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """A 200 (with its body) or a 304 (not modified: no body)."""

    status: int
    body: bytes
    content_type: str
    validators: Validators
    url: str  # where it came from, after redirects
    server_date: dt.datetime | None = None  # its Date header: the server's clock


@dataclass(frozen=True, slots=True)
class _Raw:
    status: int
    reason: str
    headers: Message
    body: bytes


class _Temporary(Exception):
    """A failure worth retrying: a timeout, a reset, a refused connection."""


def token_from(env: Mapping[str, str]) -> str | None:
    """The token, if set. Checked here, so that http.client never sees a value it would
    quote in an exception."""
    token = env.get(TOKEN_ENV, "").strip()
    if token and not _TOKEN.fullmatch(token):
        raise ConfigError(
            f"{TOKEN_ENV} holds a character a token cannot (a space, a line break, "
            "a letter beyond ASCII)",
            "set it to the token alone",
        )
    return token or None


def shown_url(url: str) -> str:
    """A URL as messages show it: no credentials (a redirect's Location could hold
    some), on one line."""
    return one_line(_USERINFO.sub(r"\1", url))


def _tries(attempt: int) -> str:
    return "1 try" if attempt == 0 else f"{attempt + 1} tries"


def _origin(url: str) -> tuple[str, str, int] | None:
    """Scheme, host and port; None for an address that is not a usable URL."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    return parts.scheme, (parts.hostname or "").lower().rstrip("."), port


def _error_text(raw: _Raw) -> str:
    """The API's own words for an error, if it gave any (``{"error": ...}`` bodies and
    the ``X-Error-Message`` header), cut to one short line."""
    words = raw.headers.get("X-Error-Message") or ""
    try:
        data = json.loads(raw.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        data = None
    if isinstance(data, dict):
        error = data.get("error_description") or data.get("error") or data.get("message")
        if isinstance(error, list):
            error = "; ".join(str(part) for part in error)
        words = str(error) if error else words
    return one_line(words[:200])


class Client:
    """GETs for one fetch: one pacer across every request it makes."""

    def __init__(
        self,
        config: FetchConfig,
        *,
        token: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        wall: Callable[[], float] = time.time,
        jitter: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self.config = config
        self.pacer = Pacer(config.rate, clock=clock, sleep=sleep)
        self._token = token
        self._clock = clock
        self._wall = wall
        self._jitter = jitter
        self._tls = ssl.create_default_context()

    @property
    def requests(self) -> int:
        return self.pacer.requests

    def get(self, url: str, validators: Validators | None = None) -> Answer:
        """The answer at ``url`` (200, or 304 to a conditional request), after retries.

        Raises FetchUnavailable when the retries run out on temporary failures, and
        NotAListing for an answer that retrying would not change (4xx, over the cap,
        a redirect elsewhere)."""
        attempt = 0
        while True:
            try:
                raw = self._follow(url, validators)
            except _Temporary as problem:
                reason = str(problem)
                wait = self._jitter(0.0, min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt))
                self.pacer.hold(wait, asked_by_server=False)
            else:
                if raw.status == 200 or (raw.status == 304 and validators):
                    return Answer(
                        raw.status,
                        raw.body,
                        raw.headers.get("Content-Type", ""),
                        Validators(raw.headers.get("ETag"), raw.headers.get("Last-Modified")),
                        url,
                        server_date(raw.headers),
                    )
                reason = f"the API answered {raw.status} {one_line(raw.reason)}".rstrip()
                if raw.status == 429:
                    asked = server_wait(raw.headers, self._wall())
                    wait = asked if asked is not None else RATE_LIMITED_BASE * 2**attempt
                    wait += self._jitter(0.0, 0.1 * wait)  # later, never sooner
                    if attempt >= self.config.retries:
                        raise FetchUnavailable(
                            f"{shown_url(url)}: rate limited ({reason}, {_tries(attempt)})",
                            "try again later; the next fetch waits as long as the API asked",
                            retry_after=wait,
                        )
                    self.pacer.hold(wait, asked_by_server=True)
                elif raw.status >= 500 or raw.status == 408:
                    wait = self._jitter(0.0, min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt))
                    asked = server_wait(raw.headers, self._wall())  # a 503's Retry-After
                    self.pacer.hold(max(wait, asked or 0.0), asked_by_server=asked is not None)
                else:
                    raise self._refusal(url, raw, reason)
            if attempt >= self.config.retries:
                raise FetchUnavailable(
                    f"{shown_url(url)}: {reason} ({_tries(attempt)})",
                    "the API or the network is down; try again later",
                )
            log.info("%s: %s; retrying", shown_url(url), reason)
            attempt += 1

    def _refusal(self, url: str, raw: _Raw, reason: str) -> NotAListing:
        said = _error_text(raw)
        message = f"{shown_url(url)}: {reason}" + (f": {said}" if said else "")
        if raw.status in (401, 403):
            hint = (
                f"the API refused the token in {TOKEN_ENV}; check it, or unset it"
                if self._token
                else f"the API wants a token: set {TOKEN_ENV} in the environment"
            )
        elif raw.status == 404:
            hint = "check fetch.source in the config"
        else:
            hint = "the API refused the request; check fetch.source and the dates asked for"
        return NotAListing(message, hint)

    def _follow(self, url: str, validators: Validators | None) -> _Raw:
        """One request, and the redirects it leads to within the source's origin."""
        headers = {
            "User-Agent": self.config.agent,
            "Accept": "application/json",
            "Connection": "close",
        }
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        if validators and validators.etag:
            headers["If-None-Match"] = validators.etag
        if validators and validators.last_modified:
            headers["If-Modified-Since"] = validators.last_modified
        current = url
        for _hop in range(MAX_REDIRECTS + 1):
            self.pacer.wait()
            try:
                raw = self._exchange(current, headers)
            finally:
                self.pacer.done()
            budget = rate_budget(raw.headers, self._wall())
            if budget is not None:
                self.pacer.budget(*budget)
            log.debug("GET %s: %s", shown_url(current), raw.status)
            if raw.status not in (301, 302, 303, 307, 308):
                return raw
            location = raw.headers.get("Location")
            if not location:
                return raw
            try:
                target = urljoin(current, location.strip())
            except ValueError:  # not even a URL (a broken IPv6 literal)
                target = location
            if _UNSAFE_LOCATION.search(target) or _origin(target) != _origin(current):
                raise NotAListing(
                    f"{shown_url(current)}: the API redirected to {shown_url(target)}; "
                    "not followed",
                    "redirects are followed only on the source's own scheme, host and port; "
                    "if the API moved, set fetch.source to its new address",
                )
            current = target
        raise NotAListing(f"{shown_url(url)}: more than {MAX_REDIRECTS} redirects")

    def _exchange(self, url: str, headers: dict[str, str]) -> _Raw:
        """One request and its whole answer, within the timeout and the deadline."""
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
        timeout, deadline = self.config.timeout, self.config.deadline
        connection: http.client.HTTPConnection
        if parts.scheme == "https":
            connection = http.client.HTTPSConnection(host, port, timeout=timeout, context=self._tls)
        else:
            connection = http.client.HTTPConnection(host, port, timeout=timeout)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        ends = self._clock() + deadline
        sockets: list[socket.socket] = []
        passed = threading.Event()

        def cut() -> None:
            """The deadline passed: end the connection, so a blocked read returns."""
            passed.set()
            for sock in sockets:
                with contextlib.suppress(OSError):
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)

        watchdog = threading.Timer(deadline, cut)
        watchdog.daemon = True
        watchdog.start()
        response: http.client.HTTPResponse | None = None
        late = f"the answer took longer than the deadline ({deadline:g}s)"
        try:
            connection.connect()
            assert connection.sock is not None
            sock = connection.sock
            sockets.append(sock)
            if passed.is_set():
                cut()
            connection.request("GET", target, headers=headers)
            sock.settimeout(self._left(ends, timeout))
            response = connection.getresponse()
            body = self._body(response, sock, ends, timeout)
            if passed.is_set():
                raise _Temporary(late)
            return _Raw(response.status, response.reason, response.msg, body)
        except ssl.SSLCertVerificationError as exc:
            raise FetchUnavailable(
                f"{shown_url(url)}: the server's certificate is not valid: "
                f"{one_line(exc.verify_message or str(exc))}",
                "check the machine's clock and CA certificates, or the network in between",
            ) from None
        except (
            TimeoutError,
            http.client.IncompleteRead,
            OSError,
            http.client.HTTPException,
        ) as exc:
            raise _Temporary(late if passed.is_set() else _why(exc, host, timeout)) from None
        finally:
            watchdog.cancel()
            if response is not None:
                response.close()
            connection.close()

    def _left(self, ends: float, timeout: float) -> float:
        return max(0.001, min(timeout, ends - self._clock()))

    def _body(
        self, response: http.client.HTTPResponse, sock: socket.socket, ends: float, timeout: float
    ) -> bytes:
        """At most the cap (of an error, 64 KiB, for its message), each read within
        what is left of the deadline."""
        if response.status == 304:
            return b""
        listing = response.status == 200
        cap = self.config.max_bytes if listing else ERROR_BODY_CAP
        declared = response.getheader("Content-Length", "").strip()
        if listing and declared.isdigit() and int(declared) > cap:
            raise self._too_large(f"{int(declared):,} bytes")
        chunks: list[bytes] = []
        size = 0
        try:
            while size <= cap:
                if self._clock() >= ends:
                    raise TimeoutError  # bytes kept coming, each in time: too slow in all
                sock.settimeout(self._left(ends, timeout))
                chunk = response.read1(min(_READ_SIZE, cap + 1 - size))  # cap + 1 in all
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        except http.client.IncompleteRead as exc:  # a chunked answer cut off: all it sent
            raise http.client.IncompleteRead(b"".join(chunks) + exc.partial) from None
        if size > cap and listing:
            raise self._too_large(f"more than {cap:,} bytes")
        if size <= cap and declared.isdigit() and size < int(declared):
            # read1 ends quietly where the connection did: fewer bytes than promised is
            # an answer cut off (retried, then temporary), not a listing to judge
            raise http.client.IncompleteRead(b"".join(chunks), int(declared) - size)
        return b"".join(chunks)[:cap]

    def _too_large(self, size: str) -> NotAListing:
        return NotAListing(
            f"the API's answer is {size}, over the cap of {self.config.max_bytes:,} bytes",
            "a day's listing is some 100 KB; if one really is larger, raise fetch.max_bytes",
        )


def _why(exc: BaseException, host: str, timeout: float) -> str:
    """A failure to retry, in words (never the request's headers: they hold the token)."""
    if isinstance(exc, TimeoutError):
        return f"no answer within the timeout ({timeout:g}s)"
    if isinstance(exc, http.client.IncompleteRead):
        return f"the answer was cut off after {len(exc.partial):,} bytes"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "the server closed the connection without answering"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset by the server"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve {one_line(host)}: {exc.strerror}"
    if isinstance(exc, http.client.HTTPException):
        return f"not an HTTP answer ({type(exc).__name__})"
    if isinstance(exc, OSError):
        return f"network error: {one_line(exc.strerror or type(exc).__name__)}"
    return type(exc).__name__
