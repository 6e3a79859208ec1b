"""``digest serve``: the output folder as a web site on this machine, as a reader's
browser and feed reader should get it.

Each file goes with its right type (feeds as ``application/atom+xml``,
``application/rss+xml`` and ``application/feed+json``, Markdown as ``text/markdown``,
text in UTF-8), compressed: a precompressed sibling (``page.html.br``, ``.gz``) when the
client accepts it and it is not older than its file, else gzip on the fly for text.
Conditional requests (``If-None-Match``, ``If-Modified-Since``) are answered with 304.

Nothing outside the output folder is ever sent: a path with ``..``, a hidden name (the
owner marker, temp files) or a symbolic link that leads out of the folder is "not found",
and so is anything that is not a regular file. A folder is its ``index.html``.
"""

from __future__ import annotations

import contextlib
import email.utils
import logging
import os
import socket
import zlib
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from digest.errors import DigestError, NotFound
from digest.publish.compress import BROTLI, GZIP

log = logging.getLogger("digest")

_BY_NAME = {
    "rss.xml": "application/rss+xml; charset=utf-8",
    "atom.xml": "application/atom+xml; charset=utf-8",
    "issues.xml": "application/atom+xml; charset=utf-8",
    "feed.json": "application/feed+json; charset=utf-8",
}
_BY_SUFFIX = {
    ".html": "text/html; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".xml": "application/xml; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".wasm": "application/wasm",
    ".eml": "message/rfc822",
}
# Text that is worth compressing on the fly when no sibling was written for it.
_TEXT = (".html", ".md", ".txt", ".xml", ".json", ".js", ".css", ".svg")
_ENCODINGS = (("br", BROTLI), ("gzip", GZIP))
_CHUNK = 1 << 16


class ServeError(DigestError):
    """The site cannot be served (the address is taken, the folder is missing)."""


def content_type(name: str) -> str:
    suffix = os.path.splitext(name)[1].lower()
    return _BY_NAME.get(name) or _BY_SUFFIX.get(suffix, "application/octet-stream")


def accepted(header: str | None) -> set[str]:
    """The codings an ``Accept-Encoding`` header accepts (``q=0`` refuses one)."""
    found = set()
    for part in (header or "").split(","):
        name, *params = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if name and quality > 0:
            found.add(name.lower())
    return found


def local_file(root: Path, url_path: str) -> Path | str | None:
    """The regular file inside ``root`` that ``url_path`` names; a ``str`` when the path
    names a folder without its trailing slash (redirect there); None when it names
    nothing that may be sent."""
    path = unquote(urlsplit(url_path).path)
    if not path.startswith("/") or "\0" in path or "\\" in path:
        return None
    parts = path[1:].split("/")
    if any(part in (".", "..") or part.startswith(".") for part in parts if part):
        return None
    candidate = root.joinpath(*[part for part in parts if part])
    if candidate.is_dir():
        if not path.endswith("/"):
            return path + "/"
        candidate = candidate / "index.html"
    real = Path(os.path.realpath(candidate))
    if real != root and root not in real.parents:
        return None  # a symbolic link that leads out of the folder
    return real if real.is_file() else None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "digest-serve"
    root: Path  # set on the subclass made for each server

    def handle(self) -> None:
        with contextlib.suppress(ConnectionError):  # a reader that went away
            super().handle()

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def _answer(self, *, body: bool) -> None:
        found = local_file(self.root, self.path)
        if isinstance(found, str):
            self.send_response(HTTPStatus.MOVED_PERMANENTLY)
            self.send_header("Location", found)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if found is None:
            self._not_found(body)
            return
        kind = content_type(found.name)
        wanted = accepted(self.headers.get("Accept-Encoding"))
        stat = found.stat()
        for coding, suffix in _ENCODINGS:
            sibling = Path(f"{found}{suffix}")
            if coding in wanted and sibling.is_file():
                sibling_stat = sibling.stat()
                if sibling_stat.st_mtime_ns >= stat.st_mtime_ns:
                    self._send_file(sibling, kind, coding, stat.st_mtime, body)
                    return
        if "gzip" in wanted and found.suffix in _TEXT and stat.st_size > 256:
            self._send_compressed(found, kind, stat, body)
        else:
            self._send_file(found, kind, None, stat.st_mtime, body)

    def _headers(self, kind: str, coding: str | None, tag: str, modified: float) -> bool:
        """The validators; True when the client's copy is current (304 sent)."""
        last = email.utils.formatdate(modified, usegmt=True)
        fresh = self.headers.get("If-None-Match") == tag or (
            "If-None-Match" not in self.headers and self.headers.get("If-Modified-Since") == last
        )
        self.send_response(HTTPStatus.NOT_MODIFIED if fresh else HTTPStatus.OK)
        self.send_header("Content-Type", kind)
        if coding:
            self.send_header("Content-Encoding", coding)
        self.send_header("Vary", "Accept-Encoding")
        self.send_header("ETag", tag)
        self.send_header("Last-Modified", last)
        self.send_header("Cache-Control", "no-cache")  # revalidate: a run may rewrite it
        self.send_header("X-Content-Type-Options", "nosniff")
        return fresh

    def _send_file(
        self, path: Path, kind: str, coding: str | None, modified: float, body: bool
    ) -> None:
        stat = path.stat()
        tag = f'"{stat.st_size:x}-{stat.st_mtime_ns:x}{"-" + coding if coding else ""}"'
        if self._headers(kind, coding, tag, modified):
            self.end_headers()
            return
        self.send_header("Content-Length", str(stat.st_size))
        self.end_headers()
        if body:
            with path.open("rb") as handle:
                self.wfile.flush()
                self.connection.sendfile(handle)

    def _send_compressed(self, path: Path, kind: str, stat: os.stat_result, body: bool) -> None:
        """gzip on the fly, streamed in chunks (a page may be 160 MB)."""
        tag = f'"{stat.st_size:x}-{stat.st_mtime_ns:x}-gzip-live"'
        if self._headers(kind, "gzip", tag, stat.st_mtime):
            self.end_headers()
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if not body:
            return
        packer = zlib.compressobj(6, zlib.DEFLATED, 31)
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                self._chunk(packer.compress(chunk))
        self._chunk(packer.flush())
        self.wfile.write(b"0\r\n\r\n")

    def _chunk(self, data: bytes) -> None:
        if data:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _not_found(self, body: bool) -> None:
        message = b"Not found.\n"
        self.send_response(HTTPStatus.NOT_FOUND)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(message)))
        self.end_headers()
        if body:
            self.wfile.write(message)


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


def make_server(root: Path, bind: str, port: int) -> ThreadingHTTPServer:
    """A server of ``root`` on ``bind``:``port`` (0: a free port), not yet serving."""
    root = Path(os.path.realpath(root))
    if not root.is_dir():
        raise NotFound(
            f"nothing to serve: the output folder {root} does not exist",
            "run 'digest run' first, or point --out (or --config) at your site's output",
        )
    handler = type("Handler", (_Handler,), {"root": root})
    kind = _Server6 if ":" in bind else _Server
    try:
        return kind((bind, port), handler)
    except OSError as exc:
        raise ServeError(
            f"cannot serve on {bind}:{port}: {exc.strerror or exc}",
            "choose another --port (or 0 for any free one), or stop what listens there",
        ) from None


def url_of(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    name = host.decode() if isinstance(host, bytes) else str(host)
    shown = f"[{name}]" if ":" in name else name
    return f"http://{shown}:{port}/"


def serve(server: ThreadingHTTPServer) -> None:
    """Serve until interrupted (SIGINT, SIGTERM: the caller turns them into an exit)."""
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        server.server_close()
