"""A backfill's issues rendered on every core: they are independent of each other.

The issues are committed first (their outputs pending), so that other processes can read
them: each helper (``python -m digest.publish.render_pool``) opens the state, renders its share of
the issues (every n-th) and writes their files, each atomically, while the main process
renders its own share. The site's pages and feeds, which span issues, come after, in the
main process; then the pending mark is cleared. The bytes are those of one process: the
same code renders the same state. A helper that fails fails the run like a template
would, and the issues stay pending: the next run writes them.
"""

from __future__ import annotations

import contextlib
import logging
import pickle
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from digest.config.settings import Config, helper_processes
from digest.errors import DigestError, InternalError
from digest.model import Issue
from digest.publish.publisher import Publisher, writer_for
from digest.store import open_store

log = logging.getLogger("digest")

MIN_ISSUES_PER_HELPER = 4  # fewer, and starting a process costs more than it saves


def helpers_for(workers: int | None, issues: int) -> int:
    """Helpers besides this process, which renders a share too: each gets enough issues."""
    return max(0, min(helper_processes(workers), issues // MIN_ISSUES_PER_HELPER - 1))


@dataclass(frozen=True, slots=True)
class HelperAnswer:
    """What a helper says when it is done: the files it wrote, or the error it met (the
    same error, raised again here)."""

    written: tuple[Path, ...] = ()
    error: DigestError | None = None


def render_issue_files(publisher: Publisher, issues: list[Issue]) -> list[Path]:
    """Write the files of these issues, each issue's files put in place as it is done."""
    written: list[Path] = []
    for issue in issues:
        older = publisher.store.issues(before=issue, limit=1)
        publisher.stage_issue(issue, older[0] if older else None)
        publisher.writer.commit()
        written += publisher.writer.written
        publisher.writer.written.clear()
    return written


def render(config: Config, publisher: Publisher, issues: list[Issue]) -> list[Path]:
    """Every issue's files, in helpers and here; returns the paths written."""
    helpers = helpers_for(config.workers, len(issues)) if sys.executable else 0
    shares = [issues[first :: helpers + 1] for first in range(helpers + 1)]
    if helpers:
        log.info("rendering %d issues in %d processes", len(issues), helpers + 1)
    started = [_start(config, share) for share in shares[1:]]
    try:
        written = render_issue_files(publisher, shares[0])
        for process in started:
            written += _result(process)
    finally:
        for process in started:
            _stop(process)
    return written


def _start(config: Config, issues: list[Issue]) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "digest.publish.render_pool"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert process.stdin is not None
    with contextlib.suppress(OSError):
        pickle.dump((config, [issue.id for issue in issues]), process.stdin)
        process.stdin.close()
    return process


def _result(process: subprocess.Popen[bytes]) -> list[Path]:
    assert process.stdout is not None
    try:
        answer = pickle.load(process.stdout)
    except Exception:  # it stopped without an answer
        answer = HelperAnswer(error=InternalError("a helper process stopped without an answer"))
    if not isinstance(answer, HelperAnswer):
        answer = HelperAnswer(error=InternalError("a helper process answered nonsense"))
    if answer.error is not None:
        error = answer.error
        error.hint = f"{error.hint}; " if error.hint else ""
        error.hint += "the issues stay recorded; the next run writes their files"
        raise error
    return list(answer.written)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
    process.wait()
    if process.stdout is not None:
        process.stdout.close()


def _serve(source: BinaryIO, sink: BinaryIO) -> None:
    config, ids = pickle.load(source)
    try:
        with open_store(config, create=False) as store:
            publisher = Publisher.for_config(config, store, writer_for(config, store))
            publisher.claimed = True  # the main process claimed the folder
            issues = [issue for issue in map(store.issue, ids) if issue is not None]
            answer = HelperAnswer(tuple(render_issue_files(publisher, issues)))
    except DigestError as exc:
        answer = HelperAnswer(error=exc)
    except Exception as exc:  # report it as the main process would: not silently
        answer = HelperAnswer(error=InternalError(f"{type(exc).__name__}: {exc}"))
    pickle.dump(answer, sink)
    sink.flush()


if __name__ == "__main__":
    # Served by the module under its own name, not as __main__: its answers pickle by the
    # name the main process knows them by.
    from digest.publish import render_pool

    with contextlib.suppress(BrokenPipeError):
        render_pool._serve(sys.stdin.buffer, sys.stdout.buffer)
