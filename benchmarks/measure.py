"""The measurements, each on every backend, round-robin: within a round each backend runs
once (the order alternating round by round), so that the machine's drift (10-40% over
an hour here) falls on each alike."""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from benchmarks.backends import State, output_sizes
from benchmarks.harness import (
    clean_install,
    digest_cmd,
    digest_run,
    make_corpus,
    median,
    parse_floor,
    read_and_split_floor,
    scheduled_floor,
    settle_disk,
    store_floor,
    timed_process,
    write_floor,
)

MB = 2**20


def _order(backends: Sequence[Any], round_number: int) -> list[Any]:
    return list(backends) if round_number % 2 == 0 else list(backends)[::-1]


@contextlib.contextmanager
def _measurement(backend: Any, scratch: Path) -> Iterator[tuple[State, Path]]:
    """A fresh state and output folder, gone afterwards."""
    work = Path(tempfile.mkdtemp(dir=scratch))
    state = backend.fresh(work)
    try:
        yield state, work
    finally:
        backend.discard(state)
        shutil.rmtree(work, ignore_errors=True)


# -- cold import ------------------------------------------------------------------------


def _import(
    backend: Any, inbox: Path, scratch: Path, *extra: str, memory: bool = False, parts: bool = False
) -> dict:
    """One import into a fresh state: time, peak memory, the bytes it left; with
    ``memory``, then a rebuild of its issue (peak memory of rendering it alone); with
    ``parts``, the floor of the store's part (SQLite: its rows stored by SQLite alone)."""
    with _measurement(backend, scratch) as (state, work):
        settle_disk()
        seconds, peak, report = digest_run(inbox, work / "out", state.arg, *extra, env=state.env)
        sizes = output_sizes(work / "out") + backend.state_sizes(state)
        done = {"seconds": seconds, "peak": peak, "report": report, "sizes": sizes,
                "issue_pages": len(list((work / "out" / "issues").glob("*.html")))}  # fmt: skip
        if memory:
            settle_disk()
            done["rebuild"] = timed_process(
                digest_cmd("rebuild", "--state", state.arg, "--out", str(work / "out")), state.env
            )[:2]
            done["stream"] = stream_check(backend, state)
        if parts and backend.name == "sqlite":
            done["store_floor"] = min(store_floor(Path(state.arg), scratch) for _ in range(3))
    return done


def stream_check(backend: Any, state: State) -> dict | None:
    """Whether the stream of an issue's papers is a server-side cursor (PostgreSQL), in a
    transaction and outside one (then WITH HOLD): the cursors the server has open while
    the first paper is in hand, and the rows the client holds then."""
    if backend.name != "postgres":
        return None
    found: dict[str, Any] = {}
    with backend.open(state) as store:
        issue = store.issue(None)
        for where in ("in_transaction", "autocommit"):
            with store.transaction() if where == "in_transaction" else contextlib.nullcontext():
                papers = store.issue_papers(issue.seq)
                next(papers)
                cursors = store._raw("SELECT name, is_holdable FROM pg_cursors").fetchall()
                papers.close()
            found[where] = [{"name": name, "holdable": hold} for name, hold in cursors]
    found["server_side"] = all(
        any(c["name"].startswith("digest_stream_") for c in found[where])
        for where in ("in_transaction", "autocommit")
    )
    return found


def _backlog(quick: bool) -> tuple[Path, int]:
    """The inbox every import reads (1,000 files of 100 entries; 100 when quick), and how
    many times each import is measured."""
    files = 100 if quick else 1000
    return make_corpus(f"cold-{files}", files, 100), 1 if quick else 3


def _import_header(report: dict, split: list[float]) -> dict[str, Any]:
    """What every import's result starts with: the corpus, and its read-and-split floor."""
    return {
        "entries": report["papers_parsed"],
        "new_papers": report["new_papers"],
        "floor_seconds": median(split),
        "floor_runs_seconds": split,
    }


def cold_import(backends: Sequence[Any], quick: bool, scratch: Path) -> dict:
    """Imports of the whole backlog into empty states: median of three per backend (one
    when quick), one with no helper processes, one that marks the backlog seen
    (``--mark-seen``); beside the read-and-split floor, and an I/O floor: that plus
    durably writing as many bytes as the import left (best of three)."""
    inbox, repeats = _backlog(quick)
    names = [backend.name for backend in backends]
    split: list[float] = []
    runs: dict[str, list[dict]] = {name: [] for name in names}
    other: dict[str, dict[str, dict]] = {name: {} for name in names}
    floors: dict[tuple[str, str], list[float]] = {}
    for number in range(repeats):
        split.append(read_and_split_floor(inbox)[0])
        for backend in _order(backends, number):
            runs[backend.name].append(_import(backend, inbox, scratch, memory=number == 0))
        for backend in _order(backends, number):
            sizes = runs[backend.name][0]["sizes"]
            floors.setdefault((backend.name, "publish"), []).append(write_floor(sizes, scratch))
    for mode, extra in (("one_process", ("--workers", "0")), ("mark_seen", ("--mark-seen",))):
        for backend in _order(backends, repeats):
            other[backend.name][mode] = _import(
                backend, inbox, scratch, *extra, parts=mode == "mark_seen"
            )
    parsing: list[float] = []
    for number in range(repeats):
        split.append(read_and_split_floor(inbox)[0])
        parsing.append(parse_floor(inbox))
        for backend in _order(backends, number):
            sizes = other[backend.name]["mark_seen"]["sizes"]
            floors.setdefault((backend.name, "mark_seen"), []).append(write_floor(sizes, scratch))
    split_floor = median(split)
    result = _import_header(runs[names[0]][0]["report"], split)
    result["parse_floor_seconds"] = median(parsing)
    for name in names:
        seconds = median(run["seconds"] for run in runs[name])
        write = min(floors[(name, "publish")])
        seen = other[name]["mark_seen"]
        seen_write = min(floors[(name, "mark_seen")])
        first = runs[name][0]
        rebuild_seconds, rebuild_peak = first["rebuild"]
        result[name] = {
            "seconds": seconds,
            "runs_seconds": [run["seconds"] for run in runs[name]],
            "papers_per_second": result["entries"] / seconds,
            "peak_rss_mb": max(run["peak"] for run in runs[name]) / MB,
            "bytes_written": sum(first["sizes"]),
            "files_written": len(first["sizes"]),
            "write_floor_seconds": write,
            "write_floor_runs_seconds": floors[(name, "publish")],
            "io_floor_seconds": split_floor + write,
            "times_floor": seconds / split_floor,
            "times_io_floor": seconds / (split_floor + write),
            "one_process_seconds": other[name]["one_process"]["seconds"],
            "one_process_peak_rss_mb": other[name]["one_process"]["peak"] / MB,
            "mark_seen_seconds": seen["seconds"],
            "mark_seen_peak_rss_mb": seen["peak"] / MB,
            "mark_seen_bytes_written": sum(seen["sizes"]),
            "mark_seen_io_floor_seconds": split_floor + seen_write,
            "mark_seen_times_floor": seen["seconds"] / split_floor,
            "mark_seen_times_io_floor": seen["seconds"] / (split_floor + seen_write),
            "mark_seen_store_floor_seconds": seen.get("store_floor"),
            "render_issue_seconds": rebuild_seconds,
            "render_issue_peak_rss_mb": rebuild_peak / MB,
            "stream": first["stream"],
        }
    # The SQLite figures where they always were, for anything that reads them.
    result.update({key: value for key, value in result[names[0]].items() if key != "stream"})
    if "postgres" in result:
        pg, lite = result["postgres"], result["sqlite"]
        result["postgres_vs_sqlite"] = {
            "seconds": pg["seconds"] / lite["seconds"],
            "peak_rss": pg["peak_rss_mb"] / lite["peak_rss_mb"],
            "render_issue_peak_rss": pg["render_issue_peak_rss_mb"]
            / lite["render_issue_peak_rss_mb"],
            "mark_seen_seconds": pg["mark_seen_seconds"] / lite["mark_seen_seconds"],
            "one_process_seconds": pg["one_process_seconds"] / lite["one_process_seconds"],
        }
    return result


# -- backfill import --------------------------------------------------------------------


def backfill(backends: Sequence[Any], quick: bool, scratch: Path) -> dict:
    """``digest run --backfill week`` of the cold import's backlog into empty states: an
    issue per week of its digests; median of three per backend (one when quick), beside
    the cold import's floors: reading and splitting the inbox, and that plus durably
    writing as many bytes as the backfill left (best of three)."""
    inbox, repeats = _backlog(quick)
    names = [backend.name for backend in backends]
    split: list[float] = []
    runs: dict[str, list[dict]] = {name: [] for name in names}
    floors: dict[str, list[float]] = {name: [] for name in names}
    for number in range(repeats):
        split.append(read_and_split_floor(inbox)[0])
        for backend in _order(backends, number):
            runs[backend.name].append(_import(backend, inbox, scratch, "--backfill", "week"))
    for number in range(3):
        split.append(read_and_split_floor(inbox)[0])
        for backend in _order(backends, number):
            floors[backend.name].append(write_floor(runs[backend.name][0]["sizes"], scratch))
    split_floor = median(split)
    result = {"period": "week", **_import_header(runs[names[0]][0]["report"], split)}
    for name in names:
        seconds = median(run["seconds"] for run in runs[name])
        write = min(floors[name])
        first = runs[name][0]
        issues = first["report"]["backfilled"]
        result[name] = {
            "seconds": seconds,
            "runs_seconds": [run["seconds"] for run in runs[name]],
            "papers_per_second": first["report"]["papers_parsed"] / seconds,
            "peak_rss_mb": max(run["peak"] for run in runs[name]) / MB,
            "bytes_written": sum(first["sizes"]),
            "files_written": len(first["sizes"]),
            "new_papers": first["report"]["new_papers"],
            "issues_published": len(issues),
            "issues_published_runs": [len(run["report"]["backfilled"]) for run in runs[name]],
            "issue_pages": first["issue_pages"],  # out/issues/*.html
            "first_issue": issues[0] if issues else None,
            "last_issue": issues[-1] if issues else None,
            "write_floor_seconds": write,
            "write_floor_runs_seconds": floors[name],
            "io_floor_seconds": split_floor + write,
            "times_floor": seconds / split_floor,
            "times_io_floor": seconds / (split_floor + write),
        }
    if "postgres" in result:
        pg, lite = result["postgres"], result["sqlite"]
        result["postgres_vs_sqlite"] = {
            "seconds": pg["seconds"] / lite["seconds"],
            "peak_rss": pg["peak_rss_mb"] / lite["peak_rss_mb"],
        }
    return result


# -- incremental runs -------------------------------------------------------------------


def incremental(backends: Sequence[Any], quick: bool, scratch: Path) -> list[dict]:
    """One new 100-paper file against stores of 10k, 100k and 1M papers whose inbox
    keeps every old file and whose output folder every old issue; five rounds."""
    sizes = [10_000, 100_000] if quick else [10_000, 100_000, 1_000_000]
    new_file = sorted(make_corpus("new-one", 1, 100, seed=7, start="2026-11-23").glob("*.txt"))[0]
    compiled = Path(tempfile.mkdtemp(dir=scratch))
    # Templates compiled by one run of this version, as the run before would have.
    digest_run(new_file.parent, compiled / "out", str(compiled / "state.db"))
    built: dict[str, float] = {}
    for backend in backends:  # built before any is timed
        for size in sizes:
            started = time.perf_counter()
            if backend.name == "postgres":
                backend.base(size)
            else:
                from benchmarks.backends import sqlite_base

                sqlite_base(size)
            built[f"{backend.name} {size}"] = time.perf_counter() - started
    runs: dict[tuple[str, int], list[tuple[float, int, dict, list[int]]]] = {}
    floors: dict[tuple[str, int], list[float]] = {}
    for number in range(1 if quick else 5):
        for index, size in enumerate(sizes):
            for backend in _order(backends, number + index):
                runs.setdefault((backend.name, size), []).append(
                    _incremental_run(backend, size, new_file, compiled / "template-cache", scratch)
                )
            for backend in _order(backends, number + index):
                floors.setdefault((backend.name, size), []).append(
                    scheduled_floor(new_file, runs[(backend.name, size)][-1][3], scratch)
                )
    shutil.rmtree(compiled, ignore_errors=True)
    rows = []
    for size in sizes:
        row: dict[str, Any] = {"store_papers": size, "old_files": size // 100}
        for backend in backends:
            done = runs[(backend.name, size)]
            seconds = [run[0] for run in done]
            row[backend.name] = {
                "new_papers": done[0][2]["new_papers"],
                "seconds": median(seconds),
                "fastest_seconds": min(seconds),
                "runs_seconds": seconds,
                "peak_rss_mb": max(run[1] for run in done) / MB,
                "build_seconds": built[f"{backend.name} {size}"],
                "bytes_written": sum(done[0][3]),
                "files_written": len(done[0][3]),
                "floor_seconds": min(floors[(backend.name, size)]),
                "floor_runs_seconds": floors[(backend.name, size)],
                "times_floor": median(seconds) / min(floors[(backend.name, size)]),
            }
        row.update({k: v for k, v in row[backends[0].name].items() if k != "build_seconds"})
        if "postgres" in row:
            row["postgres_minus_sqlite_seconds"] = (
                row["postgres"]["seconds"] - row["sqlite"]["seconds"]
            )
            row["postgres_vs_sqlite_peak_rss"] = (
                row["postgres"]["peak_rss_mb"] / row["sqlite"]["peak_rss_mb"]
            )
        rows.append(row)
    return rows


def _incremental_run(
    backend: Any, size: int, new_file: Path, templates: Path, scratch: Path
) -> tuple[float, int, dict, list[int]]:
    """One scheduled run, and the sizes of what it wrote: the output files it made or
    replaced (the old issues' files are there, untouched), and what the state grew by."""
    from benchmarks.backends import inbox_of

    work = Path(tempfile.mkdtemp(dir=scratch))
    state = backend.copy_of(size, work)
    inbox = inbox_of(size)
    target = inbox / "zz-new.txt"
    try:
        # A scheduled run finds the compiled templates a run before it left, and the
        # files of the issues it published.
        shutil.copytree(templates, backend.template_cache(state))
        shutil.copyfile(new_file, target)
        if backend.name == "postgres":
            backend.checkpoint()
        settle_disk()  # else the run's first fsync pays for writing the whole copy
        before = sum(backend.state_sizes(state))
        started = time.time_ns()
        seconds, peak, report = digest_run(inbox, work / "out", state.arg, env=state.env)
        written = [
            entry.stat().st_size
            for entry in (work / "out").rglob("*")
            if entry.is_file() and not entry.is_symlink() and entry.stat().st_mtime_ns >= started
        ]
        written.append(max(0, sum(backend.state_sizes(state)) - before))
        return seconds, peak, report, written
    finally:
        target.unlink(missing_ok=True)
        backend.discard(state)
        shutil.rmtree(work, ignore_errors=True)


# -- render, in-process -----------------------------------------------------------------


def render(backends: Sequence[Any], quick: bool, scratch: Path) -> list[dict]:
    """An issue's pages, email and feeds staged (in a transaction, as a run does) and
    put in place, for issues of 100 and 1,000 papers, in this process."""
    from digest.config.settings import Config
    from digest.publish.publisher import Publisher, writer_for

    rows = []
    for count in (100, 1000):
        files = max(1, count // 100)
        inbox = make_corpus(f"render-{count}", files, min(count, 100), overlap=0.0, seed=3)
        with contextlib.ExitStack() as stack:
            setups = {}
            for backend in backends:
                state, work = stack.enter_context(_measurement(backend, scratch))
                digest_run(inbox, work / "out", state.arg, env=state.env)
                config = Config(inbox=inbox, output=work / "out", state=backend.location(state),
                                settle=0)  # fmt: skip
                store = stack.enter_context(backend.open(state))
                setups[backend.name] = config, store, store.issue(None)
            times: dict[str, list[float]] = {backend.name: [] for backend in backends}
            for number in range(3 if quick else 5):
                for backend in _order(backends, number):
                    config, store, issue = setups[backend.name]
                    started = time.perf_counter()
                    writer = writer_for(config, store)
                    publisher = Publisher.for_config(config, store, writer)
                    publisher.claimed = True
                    with store.transaction():
                        publisher.stage([issue])
                    writer.commit()
                    times[backend.name].append(time.perf_counter() - started)
        row: dict[str, Any] = {"papers": issue.paper_count}
        for name, samples in times.items():
            row[name] = {
                "seconds": median(samples),
                "per_paper_ms": median(samples) / issue.paper_count * 1000,
                "runs_seconds": samples,
            }
        row.update(row[backends[0].name])
        rows.append(row)
    return rows


# -- start-up ---------------------------------------------------------------------------


def startup(backends: Sequence[Any], quick: bool, scratch: Path) -> dict:
    """``python -c pass``, ``digest --help``, ``digest status`` with no state yet, and
    ``digest status`` of a state holding one issue on each backend; interleaved."""
    repeats = 5 if quick else 15
    one = make_corpus("new-one", 1, 100, seed=7, start="2026-11-23")
    with contextlib.ExitStack() as stack:
        work = Path(tempfile.mkdtemp(dir=scratch))
        stack.callback(shutil.rmtree, work, ignore_errors=True)
        clean = clean_install(work)
        commands: dict[str, tuple[list[str], dict[str, str]]] = {
            "python -c pass": ([sys.executable, "-c", "pass"], {}),
            "clean install: python -c pass": ([str(clean), "-c", "pass"], {}),
            "clean install: digest --help": ([str(clean.parent / "digest"), "--help"], {}),
            "python -c 'import psycopg'": ([sys.executable, "-c", "import psycopg"], {}),
            "digest --help": (digest_cmd("--help"), {}),
            "digest status": (digest_cmd("status", "--state", f"{work}/s.db", "--inbox",
                                         str(work)), {}),
        }  # fmt: skip
        for backend in backends:
            state, folder = stack.enter_context(_measurement(backend, scratch))
            digest_run(one, folder / "out", state.arg, env=state.env)
            commands[f"digest status ({backend.name})"] = (
                digest_cmd("status", "--state", state.arg, "--inbox", str(one), "--out",
                           str(folder / "out")),
                state.env,
            )  # fmt: skip
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(repeats):
            for name, (args, env) in commands.items():
                samples[name].append(timed_process(args, env)[0])
    result: dict[str, Any] = {name: median(times) for name, times in samples.items()}
    result["ranges"] = {name: [min(times), max(times)] for name, times in samples.items()}
    imports = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "digest", "--help"],
        capture_output=True,
        text=True,
    ).stderr
    result["heavy_imports_in_help"] = sorted(
        m
        for m in ("jinja2", "markdown", "feedgen", "apscheduler", "lxml", "psycopg")
        if re.search(rf"\|\s+{m}$", imports, re.M)
    )
    result["help_times_python"] = result["digest --help"] / result["python -c pass"]
    result["clean_help_times_python"] = (
        result["clean install: digest --help"] / result["clean install: python -c pass"]
    )
    # What the PostgreSQL driver costs any process that opens a PostgreSQL state.
    result["psycopg_import_seconds"] = (
        result["python -c 'import psycopg'"] - result["python -c pass"]
    )
    return result
