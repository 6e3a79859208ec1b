"""Issues rendered on every core: a backfill's issues are independent of each other, and
one large issue's page and Markdown are too.

The issues are committed first (their outputs pending), so that other processes can read
them: each helper (``python -m digest.publish.render_pool``) opens the state, renders its
share (every n-th issue, or one large issue's Markdown and email while this process
renders its page) and writes the files, each atomically, while the main process renders
its own share. An issue rendered whole in one process is marked written as soon as its
files are in place, so a run killed half way leaves only the rest to render again. The
site's pages and feeds, which span issues, come after, in the main process. The bytes are
those of one process: the same code renders the same state. A helper that fails fails
the run like a template would, and its issues stay pending: the next run writes them.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from digest.config.settings import Config, helper_processes
from digest.errors import DigestError, InternalError
from digest.faults import pause_point
from digest.helpers import helper_command, helper_env
from digest.model import Issue
from digest.publish.publisher import PARTS, Part, Publisher, writer_for
from digest.store import open_store

if TYPE_CHECKING:
    import subprocess

log = logging.getLogger("digest")

MIN_ISSUES_PER_HELPER = 4  # fewer, and starting a process costs more than it saves
# An issue this large renders its page here while a helper renders its Markdown and email
# (each takes seconds; starting a helper, a fifth of one).
SPLIT_PAPERS = 10_000


@dataclass(frozen=True, slots=True)
class Job:
    """Files of one issue to render: all of them (``whole``: the issue is marked written
    once they are in place), or some, the others being rendered elsewhere."""

    issue_id: str
    parts: tuple[Part, ...] = PARTS

    @property
    def whole(self) -> bool:
        return set(self.parts) == set(PARTS)


def helpers_for(workers: int | None, issues: int) -> int:
    """Helpers besides this process, which renders a share too: each gets enough issues."""
    return max(0, min(helper_processes(workers), issues // MIN_ISSUES_PER_HELPER - 1))


def shares(workers: int | None, issues: list[Issue]) -> list[list[Job]]:
    """What each process renders, this one first."""
    if len(issues) == 1 and issues[0].paper_count >= SPLIT_PAPERS and helper_processes(workers):
        issue_id = issues[0].id
        return [[Job(issue_id, ("page",))], [Job(issue_id, ("markdown", "email"))]]
    helpers = helpers_for(workers, len(issues))
    jobs = [Job(issue.id) for issue in issues]
    return [jobs[first :: helpers + 1] for first in range(helpers + 1)]


@dataclass(frozen=True, slots=True)
class HelperAnswer:
    """What a helper says when it is done: the files it wrote, or the error it met (the
    same error, raised again here)."""

    written: tuple[Path, ...] = ()
    error: DigestError | None = None


def worth_helpers(config: Config, issues: list[Issue]) -> bool:
    """Whether these issues render faster on several cores than in this process."""
    return bool(sys.executable) and len(shares(config.workers, issues)) > 1


def render_jobs(publisher: Publisher, jobs: list[Job]) -> list[Path]:
    """Write the files of these jobs, each job's files put in place as it is done (and a
    whole issue marked written)."""
    store, written = publisher.store, []
    for job in jobs:
        issue = store.issue(job.issue_id)
        if issue is None:
            continue
        older = store.issues(before=issue, limit=1)
        newer = store.next_issue(issue)
        publisher.stage_issue(issue, older[0] if older else None, newer, job.parts)
        publisher.writer.commit()
        if job.whole:
            with store.transaction():
                store.outputs_written([issue.seq])
            pause_point("issue-written")
        written += publisher.writer.written
        publisher.writer.written.clear()
    return written


def render(config: Config, publisher: Publisher, issues: list[Issue]) -> list[Path]:
    """Every issue's files, in helpers and here; returns the paths written."""
    planned = shares(config.workers, issues) if sys.executable else [[Job(i.id) for i in issues]]
    if len(planned) > 1 and len(issues) == 1:
        log.info("rendering issue %s in %d processes", issues[0].id, len(planned))
    elif len(planned) > 1:
        log.info("rendering %d issues in %d processes", len(issues), len(planned))
    started = [_start(config, share) for share in planned[1:]]
    try:
        written = render_jobs(publisher, planned[0])
        for process in started:
            written += _result(process)
    finally:
        for process in started:
            _stop(process)
    return written


def _start(config: Config, jobs: list[Job]) -> subprocess.Popen[bytes]:
    import pickle
    import subprocess  # only when an issue is worth the helpers

    process = subprocess.Popen(
        helper_command("digest.publish.render_pool"),
        env=helper_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert process.stdin is not None
    with contextlib.suppress(OSError):
        pickle.dump((config, jobs), process.stdin)
        process.stdin.close()
    return process


def _result(process: subprocess.Popen[bytes]) -> list[Path]:
    import pickle

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
    import pickle

    config, jobs = pickle.load(source)
    try:
        with open_store(config, create=False) as store:
            publisher = Publisher.for_config(config, store, writer_for(config, store))
            publisher.claimed = True  # the main process claimed the folder
            answer = HelperAnswer(tuple(render_jobs(publisher, jobs)))
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
