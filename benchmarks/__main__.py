"""The benchmark suite: ``python -m benchmarks`` (add ``--quick`` for a smaller run).

Every figure is measured on whole ``digest`` processes where the user would pay for a
whole process (imports, start-up, fsync), beside a floor measured in the same run, on
both store backends round-robin: SQLite, and PostgreSQL on a throwaway local server
this suite starts (as a real one runs: fsync, synchronous commits), a fresh database
per measurement (``--sqlite-only`` leaves it out):

* cold import: a 1,000-file, 100,000-entry inbox into an empty state; the floors are
  reading the same files and splitting them into entries with ``re.split``, and that
  plus durably writing as many bytes as the import left (outputs, the state's growth);
* backfill import: ``digest run --backfill week`` of the same inbox into an empty state
  (an issue per week of its digests), beside the same two floors;
* incremental run: one new 100-paper file against stores of 10k, 100k and 1M papers
  whose inbox still holds every old file;
* daemon: the daemon's run per slot, warm (modules, templates, the PostgreSQL driver
  loaded), one new 100-paper file per slot against the 10k store (``slot.py``);
* render: the issue pages, email and feeds for issues of 100 and 1,000 new papers;
* start-up: ``digest --help`` and ``digest status`` beside ``python -c pass``;
* with ``--peer pelican``, a peer: Pelican 4.12 (in its own virtual environment) and
  digest on the same papers, cold at 1,000 and 10,000 and 100 new on 10,000 (``peer.py``;
  ``--only peer`` runs it alone).

Prints a table and writes ``benchmarks/results/latest.json``. Corpora are made with
``make_corpus.py`` (a copy of the shared generator) and cached in ``benchmarks/.cache``,
with the SQLite stores; the PostgreSQL stores are built on each suite run's server.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import CACHE, RESULTS, ROOT, compile_package
from benchmarks.table import table

STEPS = ("cold", "backfill", "incremental", "daemon", "render", "startup")
PEERS = ("pelican",)  # --peer: another tool run on the same papers (benchmarks/peer.py)


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument(
        "--quick", action="store_true", help="smaller corpora (10x fewer files, no 1M store)"
    )
    parser.add_argument("--only", choices=(*STEPS, "peer"), action="append")
    parser.add_argument(
        "--sqlite-only", action="store_true", help="leave the PostgreSQL backend out"
    )
    parser.add_argument(
        "--peer",
        choices=PEERS,
        help="also run a peer on the same papers (installed into benchmarks/.cache on "
        "first use; --only peer runs it alone)",
    )
    args = parser.parse_args()
    if args.only and "peer" in args.only and not args.peer:
        parser.error("--only peer needs --peer pelican")
    sys.path.insert(0, str(ROOT))
    from benchmarks import measure
    from benchmarks.backends import Postgres, Sqlite
    from benchmarks.slot import daemon_slots

    started = time.perf_counter()
    CACHE.mkdir(exist_ok=True)
    RESULTS.mkdir(exist_ok=True)
    wanted = set(args.only or (*STEPS, "peer"))
    if not args.peer:
        wanted.discard("peer")
    scratch = Path(tempfile.mkdtemp(prefix="digest-bench-"))
    backends: list[Any] = [Sqlite()]
    results: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
    }
    try:
        compile_package()
        if not args.sqlite_only and wanted & set(STEPS):  # the peer is on SQLite alone
            print("starting a PostgreSQL server ...", file=sys.stderr, flush=True)
            pg = Postgres(scratch)
            backends.append(pg)
            version = pg.version
            results["postgres"] = {"version": f"{version // 10000}.{version % 10000}",
                                   **pg.settings}  # fmt: skip
        results["backends"] = [backend.name for backend in backends]
        steps = {
            "cold": ("cold_import", measure.cold_import),
            "backfill": ("backfill", measure.backfill),
            "incremental": ("incremental", measure.incremental),
            "daemon": ("daemon", daemon_slots),
            "render": ("render", measure.render),
            "startup": ("startup", measure.startup),
        }
        for key, (name, function) in steps.items():
            if key in wanted:
                print(f"running {name} ...", file=sys.stderr, flush=True)
                step_started = time.perf_counter()
                results[name] = function(backends, args.quick, scratch)
                results.setdefault("step_seconds", {})[name] = time.perf_counter() - step_started
        if "peer" in wanted:
            from benchmarks.peer import pelican_peer

            print(f"running peer ({args.peer}) ...", file=sys.stderr, flush=True)
            step_started = time.perf_counter()
            results["peer"] = pelican_peer(args.quick, scratch)
            results.setdefault("step_seconds", {})["peer"] = time.perf_counter() - step_started
    finally:
        for backend in backends:
            if hasattr(backend, "close"):
                backend.close()
        shutil.rmtree(scratch, ignore_errors=True)
    results["suite_seconds"] = time.perf_counter() - started
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))


if __name__ == "__main__":
    main()
