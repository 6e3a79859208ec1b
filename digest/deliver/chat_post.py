"""One chat post, never repeated once it may have gone out, and bounded by a deadline.

Apprise does not say whether a failed post reached the service: a plugin answers True or
False, whether the service said no, the connection was refused, or the request went out
whole and the answer never came. Only the last may have posted, and that is the one a
retry must never repeat. So each attempt runs in a helper process
(``python -m digest.deliver.chat_post``) that watches its own sockets and says, on its
standard output, one line per event:

* ``wrote``: the first byte of a request went out (from then on it may have posted);
* ``answered <code>``: the service answered that request with an HTTP status;
* ``unsent <reason>``: a request failed before any byte of it went out;
* ``broken <reason>``: a request failed after bytes of it went out (in doubt);
* ``result ok`` / ``result fail``: what the plugin made of it.

A failure is retried only when nothing can have posted: every request that went out was
answered with an HTTP error, or none went out. A last answer of 2xx that the plugin still
calls a failure (a status it did not expect, a body cut off) may have posted: in doubt.
Anything else is in doubt and left for a person (``digest post --force``). Apprise's own
retries are turned off (ours know more), and a post, all its attempts, has a deadline:
the helper is killed when it passes, so a service that trickles bytes cannot hold the
run, and the lock, for ever. The URL, which holds the channel's secret, reaches the helper
on its standard input, never its command line.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any, TextIO

from digest.helpers import helper_command, helper_env
from digest.model import DeliveryStatus

READ_TIMEOUT = 30.0  # for each read of an answer, unless the URL says (Apprise's ``rto``)
CONNECT_TIMEOUT = 10.0  # to connect, unless the URL says (``cto``)


@dataclass(frozen=True, slots=True)
class Posted:
    status: DeliveryStatus  # SENT, IN_DOUBT or FAILED
    reason: str | None = None


def _hidden(text: str) -> str:
    """Text fit to show: a URL (which may carry the channel's secret) is never shown."""
    return re.sub(r"\S+://\S+", "(the channel's URL)", " ".join(text.split()))[:300]


def post(
    url: str, title: str, body: str, *, attempts: int, retry_wait: float, deadline: float
) -> Posted:
    """Post once; again (up to ``attempts``, waiting ``retry_wait`` doubling) only after a
    failure that cannot have posted; never past ``deadline`` seconds in all."""
    end = time.monotonic() + deadline
    outcome = Posted(DeliveryStatus.FAILED, "not tried")
    for attempt in range(max(1, attempts)):
        left = end - time.monotonic()
        if left <= 0:
            break
        outcome = _attempt(url, title, body, left, deadline)
        if outcome.status is not DeliveryStatus.FAILED:
            return outcome
        pause = retry_wait * 2**attempt
        if attempt + 1 < attempts:
            if time.monotonic() + pause >= end:
                break  # no time left to wait and try again
            time.sleep(pause)
    return outcome


def _attempt(url: str, title: str, body: str, left: float, deadline: float) -> Posted:
    request = json.dumps({"url": url, "title": title, "body": body})
    try:
        helper = subprocess.Popen(
            helper_command("digest.deliver.chat_post"),
            env=helper_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
    except OSError as exc:
        return Posted(DeliveryStatus.FAILED, f"could not start the helper that posts: {exc}")
    late = False
    try:
        out, err = helper.communicate(request, timeout=left)
    except subprocess.TimeoutExpired:
        helper.kill()
        out, err = helper.communicate()
        late = True
    return judge(out.splitlines(), late=late, deadline=deadline, stderr=err)


def judge(events: list[str], *, late: bool, deadline: float, stderr: str = "") -> Posted:
    """What the helper's events say of the post (see the module's docstring)."""
    open_request = doubt = False
    reason: str | None = None
    answers: list[str] = []
    result = None
    for line in events:
        kind, _, rest = line.partition(" ")
        if kind == "wrote":
            open_request = True
        elif kind == "answered":
            open_request = False
            answers.append(rest)
        elif kind == "unsent":
            reason = rest
        elif kind == "broken":
            open_request, doubt, reason = False, True, rest
        elif kind == "result":
            result = rest
    if result == "ok":
        return Posted(DeliveryStatus.SENT)
    if late:
        if open_request or doubt:
            return Posted(
                DeliveryStatus.IN_DOUBT,
                f"no answer within the {deadline:g} s deadline after the post went out",
            )
        return Posted(DeliveryStatus.FAILED, f"nothing posted within the {deadline:g} s deadline")
    if open_request or doubt:
        return Posted(DeliveryStatus.IN_DOUBT, reason or "no answer after the post went out")
    if result is None:  # the helper died before it could say (not in doubt: nothing went out)
        last = stderr.strip().splitlines()[-1:] or ["it stopped"]
        return Posted(DeliveryStatus.FAILED, _hidden(f"the helper that posts failed: {last[0]}"))
    errors = [code for code in answers if not code.startswith("2")]
    if answers and answers[-1].startswith("2"):  # the service took the last request, and
        # the plugin called it a failure (a 201 it did not expect, an answer cut off): it
        # may have posted. (A login or join answered 200 before a post answered 500
        # posted nothing: retried.)
        return Posted(
            DeliveryStatus.IN_DOUBT,
            f"the service answered HTTP {answers[-1]}, yet Apprise did not call it posted: "
            "it may have gone out",
        )
    if errors:
        return Posted(DeliveryStatus.FAILED, f"the service answered HTTP {errors[-1]}")
    return Posted(DeliveryStatus.FAILED, reason or "the service did not accept it")


# -- the helper process --------------------------------------------------------------------


class _Watch:
    """Reports, on ``sink``, when a request's first byte goes out and how it ended."""

    def __init__(self, sink: TextIO) -> None:
        self.sink = sink
        self.wrote = False

    def say(self, line: str) -> None:
        self.sink.write(line + "\n")
        self.sink.flush()

    def writing(self) -> None:
        if not self.wrote:
            self.wrote = True
            self.say("wrote")

    def install(self) -> None:
        import socket
        import ssl

        import requests.adapters

        watch = self

        def watched(original: Any) -> Any:
            def write(sock: Any, *args: Any, **kwargs: Any) -> Any:
                watch.writing()
                return original(sock, *args, **kwargs)

            return write

        for cls in (socket.socket, ssl.SSLSocket):
            for name in ("send", "sendall", "sendto", "sendmsg", "sendfile"):
                if hasattr(cls, name):
                    setattr(cls, name, watched(getattr(cls, name)))
        adapter_send = requests.adapters.HTTPAdapter.send

        def send(adapter: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
            watch.wrote = False
            try:
                response = adapter_send(adapter, request, *args, **kwargs)
            except Exception as exc:
                went_out = watch.wrote
                watch.say(f"{'broken' if went_out else 'unsent'} {_failure(exc, went_out)}")
                watch.wrote = False
                raise
            watch.say(f"answered {response.status_code}")
            watch.wrote = False
            return response

        setattr(requests.adapters.HTTPAdapter, "send", send)  # noqa: B010 (mypy: a patch)


def _failure(exc: Exception, went_out: bool) -> str:
    import requests

    if went_out:
        if isinstance(exc, requests.exceptions.ReadTimeout):
            return "no answer in time after the post went out"
        return "the connection failed after the post went out"
    errno = re.search(r"\[Errno -?\d+\] ([^')\]]+)", str(exc))
    if errno:
        return f"could not connect: {errno.group(1).strip().lower()}"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "could not connect: timed out"
    return _hidden(f"could not connect: {type(exc).__name__}")


def _serve(source: TextIO, sink: TextIO) -> None:
    import logging

    request = json.loads(source.read())
    logging.getLogger("apprise").setLevel(logging.CRITICAL + 1)  # its messages name the URL
    import apprise
    from apprise.url import URLBase

    watch = _Watch(sink)
    watch.install()
    client = apprise.Apprise(asset=apprise.AppriseAsset(service_timeout=0))  # we keep time
    if not client.add(request["url"]):
        watch.say("unsent not an Apprise URL")
        watch.say("result fail")
        return
    for service in client:
        service.retry = 0  # a retry of Apprise's cannot tell whether the post went out
        if service.overflow_mode == apprise.OverflowMode.SPLIT:  # one post, never pieces
            service.overflow_mode = apprise.OverflowMode.TRUNCATE
        if service.socket_read_timeout == URLBase.socket_read_timeout:
            service.socket_read_timeout = READ_TIMEOUT
        if service.socket_connect_timeout == URLBase.socket_connect_timeout:
            service.socket_connect_timeout = CONNECT_TIMEOUT
    result = client.notify(
        title=request["title"], body=request["body"], body_format=apprise.NotifyFormat.MARKDOWN
    )
    watch.say("result ok" if result else "result fail")


if __name__ == "__main__":
    _serve(sys.stdin, sys.stdout)
