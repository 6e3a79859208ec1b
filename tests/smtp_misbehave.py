"""A scripted SMTP server on a free localhost port that misbehaves the ways aiosmtpd will not.

It speaks just enough SMTP to get a client to send a body, then (on demand) drops the
connection, stays silent, or trickles its reply one byte at a time. It records every command
and the raw bytes of every body (still dot-stuffed), so tests can count copies exactly.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
from dataclasses import dataclass, field


@dataclass
class Session:
    """One connection as the server saw it."""

    commands: list[str] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)  # raw, dot-stuffed, without the final "."
    rcpts: list[list[str]] = field(default_factory=list)  # RCPT addresses, one list per MAIL


class MisbehavingServer:
    """``greeting``: "220" or "drop" (close at once). ``after_body``: "250", any reply line,
    "drop" (close without a reply), "silent" (never answer) or "trickle" (a reply that never
    ends, one byte each ``trickle_every`` seconds, for at most ``trickle_for`` seconds).
    ``trickle_greeting`` trickles the greeting instead. ``stall_body`` stops reading after the
    354 until ``release`` is set (then hangs up), so a big enough body stops moving.
    ``rcpt_replies`` maps an address to the reply its RCPT gets. ``extensions`` are the EHLO
    keywords offered. ``later_greeting``, if given, greets every connection after the first."""

    def __init__(
        self,
        *,
        greeting: str = "220",
        after_body: str = "250",
        trickle_greeting: bool = False,
        trickle_every: float = 0.05,
        trickle_for: float = 8.0,
        stall_body: bool = False,
        rcpt_replies: dict[str, str] | None = None,
        extensions: tuple[str, ...] = ("8BITMIME",),
        later_greeting: str | None = None,
    ) -> None:
        self.greeting, self.after_body = greeting, after_body
        self.later_greeting = later_greeting
        self._greeted = 0
        self.trickle_greeting = trickle_greeting
        self.trickle_every, self.trickle_for = trickle_every, trickle_for
        self.stall_body = stall_body
        self.release = threading.Event()
        self.rcpt_replies = rcpt_replies or {}
        self.extensions = extensions
        self.finished: queue.Queue[Session] = queue.Queue()  # each session, once it has ended
        self.body_started = threading.Event()  # set at the first byte after a 354
        self._stop = threading.Event()
        self._accepted: list[tuple[str, int]] = []  # peer addresses, in accept order
        self._accepted_changed = threading.Condition()
        self._probes: set[tuple[str, int]] = set()
        self._live: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]

    def __enter__(self) -> MisbehavingServer:
        self._spawn(self._accept_loop)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for sock in [self._listener, *self._live]:
            with contextlib.suppress(OSError):  # shutdown wakes a thread in accept() or recv()
                sock.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(timeout=5)
        self._listener.close()

    def sessions(self) -> list[Session]:
        """Every session of every connection a client has made so far, once each has ended.

        A probe connection queues behind any earlier one, so once the probe is accepted, so
        were all connections made before this call; none is missed for being still queued."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as probe:
            me = probe.getsockname()[:2]
            self._probes.add(me)
            with self._accepted_changed:
                if not self._accepted_changed.wait_for(lambda: me in self._accepted, timeout=5):
                    raise AssertionError("the scripted server did not accept the probe")
                count = len([p for p in self._accepted if p not in self._probes])
        return [self.finished.get(timeout=5) for _ in range(count)]

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, peer = self._listener.accept()
            except OSError:
                return
            with self._accepted_changed:
                self._accepted.append(peer[:2])
                self._accepted_changed.notify_all()
            self._live.add(conn)
            self._spawn(self._serve, conn, peer[:2])

    def _trickle(self, conn: socket.socket, start: bytes) -> None:
        conn.sendall(start)
        for _ in range(int(self.trickle_for / self.trickle_every)):
            if self._stop.wait(self.trickle_every):
                return
            conn.sendall(b"x")

    def _serve(self, conn: socket.socket, peer: tuple[str, int]) -> None:
        session = Session()
        reader = conn.makefile("rb")
        try:
            greeting = self.greeting
            with self._accepted_changed:
                self._greeted += 1
                if self.later_greeting is not None and self._greeted > 1:
                    greeting = self.later_greeting
            if greeting == "drop":
                return
            if self.trickle_greeting:
                return self._trickle(conn, b"220 ")
            conn.sendall(f"{greeting} misbehave ESMTP\r\n".encode())
            while line := reader.readline():
                command = line.decode(errors="replace").rstrip("\r\n")
                session.commands.append(command)
                verb = command[:4].upper()
                if verb in ("EHLO", "HELO"):
                    lines = ["misbehave", *self.extensions] if verb == "EHLO" else ["misbehave"]
                    reply = "\r\n".join(
                        f"250{'-' if n < len(lines) - 1 else ' '}{text}"
                        for n, text in enumerate(lines)
                    )
                elif verb == "MAIL":
                    session.rcpts.append([])
                    reply = "250 OK"
                elif verb == "RCPT":
                    address = command.partition("<")[2].partition(">")[0]
                    session.rcpts[-1].append(address)
                    reply = self.rcpt_replies.get(address, "250 OK")
                elif verb == "DATA":
                    conn.sendall(b"354 go ahead\r\n")
                    if self.stall_body:
                        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                        self.release.wait(10)
                        return  # reading the rest could take long: the client left mid-body
                    body = bytearray()
                    while (chunk := reader.readline()) not in (b".\r\n", b""):
                        self.body_started.set()
                        body += chunk
                    if not chunk:
                        return  # the client hung up mid-body: no message
                    session.bodies.append(bytes(body))
                    if self.after_body == "drop":
                        return
                    if self.after_body == "silent":
                        while reader.readline():
                            pass
                        return
                    if self.after_body == "trickle":
                        return self._trickle(conn, b"250 ")
                    reply = self.after_body if " " in self.after_body else "250 queued"
                elif verb == "QUIT":
                    conn.sendall(b"221 bye\r\n")
                    return
                else:
                    reply = "250 OK" if verb in ("RSET", "NOOP") else "500 what?"
                conn.sendall(reply.encode() + b"\r\n")
        except OSError:
            pass
        finally:
            reader.close()
            conn.close()
            self._live.discard(conn)
            if peer not in self._probes:  # a probe ends only after it was added there
                self.finished.put(session)
