"""HTTP requests with a hard deadline, however slowly the bytes come.

urllib's ``timeout`` bounds each read, not the request: a server that sends a byte every
few seconds keeps it going for ever. Here a watchdog holds a duplicate of every socket
the requests open and shuts them down when the deadline passes, which wakes any read or
write blocked on them at once. (Only a name lookup that hangs escapes it: the system
resolver cannot be interrupted.) Standard library only.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
import urllib.request
from typing import Any


class Watchdog:
    """Shuts down every socket handed to ``watch`` once ``end`` (time.monotonic()) passes.
    Use as a context manager: leaving it stops the clock and lets go of the sockets."""

    def __init__(self, end: float) -> None:
        self.end = end
        self.fired = False
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._timer = threading.Timer(max(0.0, end - time.monotonic()), self._fire)
        self._timer.daemon = True

    def __enter__(self) -> Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        with self._lock:
            for sock in self._sockets:
                sock.close()
            self._sockets.clear()

    def left(self) -> float:
        return self.end - time.monotonic()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            copy = sock.dup()  # the same connection, whatever later wraps the original
            self._sockets.append(copy)
            if self.fired:
                _shut(copy)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class _Watched:
    """What both handlers share: connections whose sockets the watchdog holds."""

    watchdog: Watchdog

    def _connection(self, kind: type[http.client.HTTPConnection], host: str, **kwargs: Any) -> Any:
        connection = kind(host, **kwargs)
        watchdog = self.watchdog

        def create(address: Any, timeout: Any = None, source: Any = None) -> socket.socket:
            sock = socket.create_connection(address, timeout, source)
            watchdog.watch(sock)
            return sock

        connection._create_connection = create  # type: ignore[attr-defined]
        return connection


class _HTTPHandler(_Watched, urllib.request.HTTPHandler):
    def __init__(self, watchdog: Watchdog) -> None:
        super().__init__()
        self.watchdog = watchdog

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        def make(host: str, **kwargs: Any) -> Any:
            return self._connection(http.client.HTTPConnection, host, **kwargs)

        return self.do_open(make, req)


class _HTTPSHandler(_Watched, urllib.request.HTTPSHandler):
    def __init__(self, watchdog: Watchdog) -> None:
        super().__init__()
        self.watchdog = watchdog

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        def make(host: str, **kwargs: Any) -> Any:
            return self._connection(http.client.HTTPSConnection, host, **kwargs)

        return self.do_open(make, req, context=getattr(self, "_context", None))


def opener(watchdog: Watchdog) -> urllib.request.OpenerDirector:
    """An opener (proxies and redirects as urllib's own) whose sockets ``watchdog`` holds."""
    return urllib.request.build_opener(_HTTPHandler(watchdog), _HTTPSHandler(watchdog))
