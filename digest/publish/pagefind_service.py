"""A client of ``pagefind --service``, the indexing service the Pagefind binary offers.

The ``pagefind`` package's own client (``pagefind.index.PagefindIndex``) speaks the same
protocol, but it reads one answer every tenth of a second (``asyncio.sleep(0.1)`` in its
reading loop): 100 ms a record, three hours for a 100,000-paper archive. This one keeps
requests in flight and reads answers as they come, on a thread, so the binary works at
its own speed. The binary is the one the package finds (``pagefind.service
.get_executable``: ``PAGEFIND_BINARY_PATH``, else the ``pagefind-bin`` wheel, else the
PATH). The protocol: each message is a JSON object, base64-encoded and ended by a comma,
``{"message_id": N, "payload": {"type": ...}}`` one way, the answer with the same id back.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import threading
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from digest.errors import OutputError

IN_FLIGHT = 512  # requests sent and not yet answered, at most


def executable() -> Path | None:
    """The Pagefind binary, or None when the ``pagefind`` package (or its binary) is not
    installed."""
    try:
        from pagefind.service import get_executable
    except ImportError:
        return None
    found = get_executable()
    return found if found is not None and Path(found).is_file() else None


class PagefindError(OutputError):
    """The Pagefind binary failed, or answered with an error."""


class Service:
    """One ``pagefind --service`` process, for one index."""

    def __init__(self, binary: Path) -> None:
        self.process = subprocess.Popen(
            [str(binary), "--service"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.answers: dict[int, dict[str, Any]] = {}
        self.ready = threading.Condition()
        self.next_id = 0
        self.ended = False
        self.reader = threading.Thread(target=self._read, name="digest-pagefind", daemon=True)
        self.reader.start()
        self.errors = threading.Thread(target=self._drain_errors, daemon=True)
        self.error_text = b""
        self.errors.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        pending = b""
        try:
            while chunk := os.read(self.process.stdout.fileno(), 1 << 16):
                pending += chunk
                *messages, pending = pending.split(b",")
                answers = [json.loads(base64.b64decode(m)) for m in messages if m.strip()]
                with self.ready:
                    for answer in answers:
                        self.answers[int(answer.get("message_id") or 0)] = answer["payload"]
                    self.ready.notify_all()
        finally:
            with self.ready:
                self.ended = True
                self.ready.notify_all()

    def _drain_errors(self) -> None:
        assert self.process.stderr is not None
        self.error_text = self.process.stderr.read()[-2000:]

    def send(self, payload: dict[str, Any]) -> int:
        assert self.process.stdin is not None
        self.next_id += 1
        message = {"message_id": self.next_id, "payload": payload}
        try:
            self.process.stdin.write(base64.b64encode(json.dumps(message).encode()) + b",")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise self._failed(f"could not talk to Pagefind: {exc}") from None
        return self.next_id

    def wait(self, message_id: int) -> dict[str, Any]:
        with self.ready:
            while message_id not in self.answers:
                if self.ended:
                    raise self._failed("Pagefind stopped before it answered")
                self.ready.wait()
            answer = self.answers.pop(message_id)
        if answer.get("type") == "Error":
            raise self._failed(f"Pagefind: {answer.get('message')}")
        return answer

    def call(self, payload: dict[str, Any]) -> dict[str, Any]:
        return self.wait(self.send(payload))

    def send_all(self, payloads: Iterable[dict[str, Any]]) -> int:
        """Send every payload, keeping at most IN_FLIGHT unanswered; returns how many."""
        flying: deque[int] = deque()
        count = 0
        for payload in payloads:
            flying.append(self.send(payload))
            count += 1
            if len(flying) > IN_FLIGHT:
                self.wait(flying.popleft())
        while flying:
            self.wait(flying.popleft())
        return count

    def _failed(self, message: str) -> PagefindError:
        return PagefindError(
            message,
            "the search index could not be built; nothing was published. Check the "
            "Pagefind install (pip install 'digest[search]'), or set search = false",
        )

    def close(self) -> None:
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.reader.join(timeout=10)
        self.errors.join(timeout=10)

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
