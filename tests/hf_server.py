"""A stand-in for the Daily Papers API on 127.0.0.1: real HTTP, scripted to misbehave.

It serves ``listings`` (date -> items) as the API does (``date``, ``limit``, ``p``;
``[]`` past the end and for a day it does not know), with an ETag and Last-Modified when
``validators`` is on (answering 304 to a matching conditional request). ``script`` holds
replies for the next requests, in order, before it goes back to serving. Every request
is recorded with the server's ``time.monotonic()`` as it arrived, so a test judges the
client's pace by what the server saw, without sleeping itself.
"""

from __future__ import annotations

import email.utils
import hashlib
import http.server
import json
import socket
import ssl
import struct
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

DATA = Path(__file__).resolve().parent / "data" / "hf"
PATH = "/api/daily_papers"
STALL_LIMIT = 20.0  # a stalled reply gives up by itself after this, whatever the test does


def fixture(name: str) -> Any:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Seen:
    at: float  # time.monotonic() when the request arrived
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased

    @property
    def date(self) -> str | None:
        return self.query.get("date")


@dataclass(frozen=True)
class Reply:
    """One scripted answer. ``stall_after``: send that many bytes of the body, then wait
    until the test ends; ``trickle``: send the body a byte at a time, this many seconds
    apart, for ever; ``reset``: close the connection with a TCP reset instead."""

    status: int = 200
    body: bytes = b"[]"
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json; charset=utf-8"
    content_length: bool = True
    stall_after: int | None = None
    trickle: float | None = None
    reset: bool = False
    trickle_headers: bool = False  # trickle header lines instead, for ever


class HfServer:
    def __init__(
        self,
        listings: dict[str, list[Any]] | None = None,
        *,
        host: str = "127.0.0.1",
        tls: Any = None,
    ) -> None:
        self.listings: dict[str, list[Any]] = dict(listings or {})
        self.script: list[Reply | None] = []  # None: serve that one as usual
        self.validators = False
        self.ignore_p = False
        self.delay = 0.0  # seconds each answer waits before it is sent
        self.clock: Any = None  # a datetime: the server's clock, for its Date header
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        self.release = threading.Event()  # ends every stall and trickle
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                arrived = time.monotonic()
                parts = urlsplit(self.path)
                seen = Seen(
                    arrived,
                    parts.path,
                    dict(parse_qsl(parts.query)),
                    {k.lower(): v for k, v in self.headers.items()},
                )
                with server.lock:
                    server.seen.append(seen)
                    reply = server.script.pop(0) if server.script else None
                if server.delay:
                    server.release.wait(server.delay)
                server.answer(self, reply or server.serve(seen))

            def log_message(self, *args: object) -> None:
                pass

            def date_time_string(self, timestamp: float | None = None) -> str:
                if server.clock is None:
                    return super().date_time_string(timestamp)
                return email.utils.format_datetime(server.clock, usegmt=True)

        self.server = http.server.ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            tls.configure_cert(context)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.host = host
        self.port = self.server.server_address[1]

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}{PATH}"

    def requests(self, date: str | None = None) -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if date is None or s.date == date]

    def serve(self, seen: Seen) -> Reply:
        if seen.path != PATH:
            return Reply(404, b'{"error": "Not found"}')
        items = self.listings.get(seen.date or "", [])
        limit = int(seen.query.get("limit", 50))
        page = 0 if self.ignore_p else int(seen.query.get("p", 0))
        body = json.dumps(items[page * limit : (page + 1) * limit]).encode()
        headers = {}
        if self.validators:
            etag = 'W/"' + hashlib.sha1(body).hexdigest()[:16] + '"'
            modified = "Wed, 05 Nov 2025 21:14:03 GMT"
            headers = {"ETag": etag, "Last-Modified": modified}
            if seen.headers.get("if-none-match") == etag or (
                "if-none-match" not in seen.headers
                and seen.headers.get("if-modified-since") == modified
            ):
                return Reply(304, b"", headers)
        return Reply(200, body, headers)

    def answer(self, handler: http.server.BaseHTTPRequestHandler, reply: Reply) -> None:
        if reply.reset:
            # SO_LINGER with a zero timeout: close() sends RST, not FIN.
            handler.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
            handler.connection.close()
            return
        if reply.trickle_headers:
            handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
            ends = time.monotonic() + STALL_LIMIT
            try:
                while not self.release.is_set() and time.monotonic() < ends:
                    handler.wfile.write(b"X-Slow: 1\r\n")
                    handler.wfile.flush()
                    self.release.wait(0.2)
            except OSError:
                pass
            return
        handler.send_response(reply.status)
        handler.send_header("Content-Type", reply.content_type)
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        if reply.content_length and reply.status != 304:
            handler.send_header("Content-Length", str(len(reply.body)))
        handler.end_headers()
        try:
            if reply.stall_after is not None:
                handler.wfile.write(reply.body[: reply.stall_after])
                handler.wfile.flush()
                self.release.wait(STALL_LIMIT)
            elif reply.trickle is not None:
                ends = time.monotonic() + STALL_LIMIT
                while not self.release.is_set() and time.monotonic() < ends:
                    handler.wfile.write(b" ")
                    handler.wfile.flush()
                    self.release.wait(reply.trickle)
            elif reply.status != 304:
                handler.wfile.write(reply.body)
        except OSError:
            pass  # the client gave up on it: what the test wanted

    def __enter__(self) -> HfServer:
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
