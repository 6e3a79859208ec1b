"""Reading and parsing files in helper processes, while the main process stores.

A large import spends about a third of its time parsing; helpers do that on the spare
cores, a file or so ahead. Each helper is ``python -m digest.intake.parallel``: it gets its
share of the paths (every n-th) and answers with one pickled ``load_file`` result per
path, in order, so a full pipe makes it wait and parsed papers never pile up. A helper
that fails costs nothing but time: its files are read in the main process instead.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import sys
from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING, BinaryIO

from digest.helpers import helper_command, helper_env
from digest.intake.loader import load_file
from digest.model import DigestFile

if TYPE_CHECKING:
    import subprocess

log = logging.getLogger("digest")

Loaded = tuple[DigestFile, str | None]
# (where to read it, what it is called in the inbox, the latest day its dates may be)
Item = tuple[str, str, dt.date]


def _load(item: Item, max_size: int) -> Loaded:
    source, name, latest = item
    return load_file(source, latest, max_size, name=name, follow=False)


def load_files(
    items: Sequence[Item], max_size: int, helpers: int = 0
) -> Generator[Loaded, None, None]:
    """``load_file`` for each inbox file, in order; with ``helpers``, parsed in that many
    helper processes. Files are opened as regular files only, never through a link that
    appeared after the inbox was listed."""
    helpers = min(helpers, len(items))
    if helpers <= 0:
        for item in items:
            yield _load(item, max_size)
        return
    processes = [_start(items[first::helpers], max_size) for first in range(helpers)]
    try:
        for index, item in enumerate(items):
            process = processes[index % helpers]
            result = _receive(process) if process is not None else None
            if result is None:
                if process is not None:
                    log.warning("a helper process stopped; reading its files here instead")
                    _stop(process)
                    processes[index % helpers] = None
                result = _load(item, max_size)
            yield result
    finally:
        for process in processes:
            if process is not None:
                _stop(process)


def _start(items: Sequence[Item], max_size: int) -> subprocess.Popen | None:
    import pickle
    import subprocess  # only when a helper is worth starting

    if not sys.executable:  # an embedded interpreter cannot start another
        return None
    try:
        process = subprocess.Popen(
            helper_command("digest.intake.parallel"),
            env=helper_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
    except OSError as exc:
        log.warning("could not start a helper process (%s); reading files here instead", exc)
        return None
    assert process.stdin is not None
    with contextlib.suppress(OSError):
        pickle.dump((list(items), max_size), process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
        process.stdin.close()
    return process


def _receive(process: subprocess.Popen) -> Loaded | None:
    import pickle

    assert process.stdout is not None
    try:
        return pickle.load(process.stdout)
    except Exception:  # anything but a result (it stopped, or wrote something else)
        return None


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
    process.wait()
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()


def _serve(source: BinaryIO, sink: BinaryIO) -> None:
    import pickle

    items, max_size = pickle.load(source)
    for item in items:
        pickle.dump(_load(item, max_size), sink, protocol=pickle.HIGHEST_PROTOCOL)
        sink.flush()


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):  # the main process stopped reading: fine
        _serve(sys.stdin.buffer, sys.stdout.buffer)
