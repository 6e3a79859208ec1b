"""The daemon's run per slot: what each scheduled slot of ``digest daemon`` costs once the
process is warm (its modules, templates and the PostgreSQL driver loaded), on each
backend, against a store of 10,000 papers whose inbox and output folder hold every old
issue.

One process per backend and round (``python -m benchmarks.slot``) makes a ``Daemon``
from the config a command line would give, and calls its ``run_once`` as the scheduler
does: a first slot (not timed) loads what the daemon keeps loaded, then each timed slot
finds one new 100-paper file in the inbox and publishes it. Both backends run on the
same machine in the same rounds, so the ratio is what drift leaves alone.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.harness import ROOT, make_corpus, median, settle_disk

STORE_PAPERS = 10_000
SLOTS = 4  # timed slots per process, after the first
PREFIX = "zz-slot-"  # the new files' names in the shared inbox (after every old file)


def _serve(argv: list[str]) -> None:
    """In the measuring process: a warm-up slot, then one timed slot per new file."""
    from digest.cli.common import load_config
    from digest.cli.main import build_parser
    from digest.run.schedule import Daemon

    inbox, out, state, *new_files = argv
    logging.basicConfig(level=logging.INFO, format="%(message)s")  # what each slot did
    args = build_parser().parse_args(["run", "--inbox", inbox, "--out", out, "--state", state])
    daemon = Daemon(load_config(args).with_overrides(settle=0.0))
    target = Path(inbox)
    seconds = []
    try:
        for number, new_file in enumerate(new_files):
            shutil.copyfile(new_file, target / f"{PREFIX}{number:02d}.txt")
            started = time.perf_counter()
            daemon.run_once()
            if number:  # the first loads what the daemon keeps loaded
                seconds.append(time.perf_counter() - started)
    finally:
        for number in range(len(new_files)):
            (target / f"{PREFIX}{number:02d}.txt").unlink(missing_ok=True)
    print(json.dumps(seconds))


def daemon_slots(backends: Sequence[Any], quick: bool, scratch: Path) -> dict:
    """Each backend's median slot, over ``rounds`` processes of SLOTS timed slots each."""
    from benchmarks.backends import inbox_of

    rounds = 1 if quick else 3
    corpus = make_corpus("slots", SLOTS + 1, 100, seed=11, start="2026-11-23")
    new_files = sorted(corpus.glob("*.txt"))
    inbox = inbox_of(STORE_PAPERS)
    samples: dict[str, list[float]] = {backend.name: [] for backend in backends}
    for number in range(rounds):
        for backend in [*backends[number % 2 :], *backends[: number % 2]]:
            work = Path(tempfile.mkdtemp(dir=scratch))
            state = backend.copy_of(STORE_PAPERS, work)
            try:
                if backend.name == "postgres":
                    backend.checkpoint()
                settle_disk()
                done = subprocess.run(
                    [sys.executable, "-m", "benchmarks.slot", str(inbox), str(work / "out"),
                     state.arg, *map(str, new_files)],
                    capture_output=True, text=True, cwd=ROOT, env={**os.environ, **state.env},
                )  # fmt: skip
                published = done.stderr.count("published issue")
                if done.returncode or published != len(new_files):
                    raise RuntimeError(f"daemon slots failed: {done.stderr[-2000:]}")
                samples[backend.name] += json.loads(done.stdout.splitlines()[-1])
            finally:
                backend.discard(state)
                shutil.rmtree(work, ignore_errors=True)
    result: dict[str, Any] = {"store_papers": STORE_PAPERS, "slots": samples}
    for name, seconds in samples.items():
        result[name] = {"seconds": median(seconds), "range": [min(seconds), max(seconds)]}
    if "postgres" in samples:
        result["postgres_vs_sqlite"] = result["postgres"]["seconds"] / result["sqlite"]["seconds"]
    return result


if __name__ == "__main__":
    _serve(sys.argv[1:])
