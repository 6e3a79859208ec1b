"""A real HTTP server on 127.0.0.1 that records what it receives: push-monitor pings and
chat webhooks (Apprise's json://, ntfy://) posted to it. Scripted to fail: ``replies``
maps a path prefix to the status codes its next requests get (then 200; 0: hang up
without an answer). Scripted to be hostile: a path under a prefix in ``silent`` has its
whole request read and is never answered; one under ``trickle`` gets its answer a byte
at a time (8 s for the whole of it: no read ever waits long)."""

from __future__ import annotations

import http.server
import queue
import threading
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class Receiver:
    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.arrived: queue.Queue[Request] = queue.Queue()
        self.replies: dict[str, list[int]] = {}
        self.silent: set[str] = set()
        self.trickle: set[str] = set()
        self.closing = threading.Event()
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(self.command, self.path, self.rfile.read(length),
                                  dict(self.headers))  # fmt: skip
                with receiver.lock:
                    receiver.requests.append(request)
                    scripted = next((codes for prefix, codes in receiver.replies.items()
                                     if self.path.startswith(prefix) and codes), None)  # fmt: skip
                    code = scripted.pop(0) if scripted else 200
                receiver.arrived.put(request)
                if code == 0:  # scripted to hang up without a word
                    self.close_connection = True
                    return
                if any(self.path.startswith(prefix) for prefix in receiver.silent):
                    receiver.closing.wait()  # the whole request read; no answer, ever
                    return
                if any(self.path.startswith(prefix) for prefix in receiver.trickle):
                    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
                    for byte in answer:  # one every 0.2 s: 8 s for the whole answer
                        if receiver.closing.wait(0.2):
                            return
                        try:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                        except OSError:
                            return
                    return
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            do_POST = do_GET = _answer

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def to(self, prefix: str) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.path.startswith(prefix)]

    def __enter__(self) -> Receiver:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()
