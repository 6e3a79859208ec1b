"""The benchmark suite: ``python -m benchmarks`` (add ``--quick`` for a smaller run).

Every figure is measured on whole ``digest`` processes where the user would pay for a
whole process (imports, start-up, fsync), beside a floor measured in the same run:

* cold import: a 1,000-file, 100,000-entry inbox into an empty state; the floor is
  reading the same files and splitting them into entries with ``re.split``;
* incremental run: one new 100-paper file against stores of 10k, 100k and 1M papers
  whose inbox still holds every old file;
* render: the issue pages, email and feeds for issues of 100 and 1,000 new papers;
* start-up: ``digest --help`` and ``digest status`` beside ``python -c pass``.

Prints a table and writes ``benchmarks/results/latest.json``. Corpora are made with
``make_corpus.py`` (a copy of the shared generator) and cached in ``benchmarks/.cache``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CACHE = HERE / ".cache"
RESULTS = HERE / "results"
SEEDS = ROOT / "examples" / "digests"
TODAY = "2026-11-24"


def make_corpus(
    name: str,
    files: int,
    papers: int,
    overlap: float = 0.2,
    seed: int = 42,
    start: str = "2024-03-12",
) -> Path:
    folder = CACHE / name
    if (folder / ".done").exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    subprocess.run(
        [
            sys.executable,
            str(HERE / "make_corpus.py"),
            "--seeds",
            str(SEEDS),
            "--out",
            str(folder),
            "--files",
            str(files),
            "--papers-per-file",
            str(papers),
            "--overlap",
            str(overlap),
            "--seed",
            str(seed),
            "--start",
            start,
        ],
        check=True,
        capture_output=True,
    )
    (folder / ".done").touch()
    return folder


def timed_process(args: list[str]) -> tuple[float, int, subprocess.CompletedProcess]:
    """Wall seconds and peak resident memory (bytes) of one child process.

    Spawned with posix_spawn, not fork: a forked child's peak memory counts the parent's
    pages until it execs, and this parent may hold a million-paper store it just built."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        actions = [(os.POSIX_SPAWN_DUP2, out.fileno(), 1), (os.POSIX_SPAWN_DUP2, err.fileno(), 2)]
        started = time.perf_counter()
        pid = os.posix_spawn(args[0], args, dict(os.environ), file_actions=actions)
        _, status, usage = os.wait4(pid, 0)
        elapsed = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    done = subprocess.CompletedProcess(args, os.waitstatus_to_exitcode(status), stdout, stderr)
    if done.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(args)} failed: {stderr.decode()[-2000:]}")
    return elapsed, usage.ru_maxrss * 1024, done


def digest_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "digest", *args]


def digest_run(inbox: Path, out: str, state: str, *extra: str) -> tuple[float, int, dict]:
    """One whole ``digest run`` process: wall seconds, peak memory, its JSON report."""
    seconds, peak, done = timed_process(
        digest_cmd(
            "run",
            "--inbox",
            str(inbox),
            "--out",
            out,
            "--state",
            state,
            "--today",
            TODAY,
            "--json",
            *extra,
        )
    )
    return seconds, peak, json.loads(done.stdout)


def read_and_split_floor(inbox: Path) -> tuple[float, int]:
    started = time.perf_counter()
    entries = 0
    for path in sorted(inbox.glob("*.txt")):
        text = path.read_bytes().decode("utf-8")
        entries += len(re.split(r"\n\s*\n", text))
    return time.perf_counter() - started, entries


def cold_import(quick: bool) -> dict:
    """Median of three imports (one when quick); one with no helper processes; one that
    marks the backlog as seen instead of publishing it (``--mark-seen``)."""
    files = 100 if quick else 1000
    inbox = make_corpus(f"cold-{files}", files, 100)
    repeats = 1 if quick else 3
    floor = statistics.median(read_and_split_floor(inbox)[0] for _ in range(repeats))
    runs = []
    for extra in [()] * repeats + [("--workers", "0"), ("--mark-seen",)]:
        with tempfile.TemporaryDirectory() as work:
            runs.append(digest_run(inbox, f"{work}/out", f"{work}/state.db", *extra))
    catch_up = runs.pop()
    seconds = statistics.median(run[0] for run in runs[:-1])
    report = runs[0][2]
    return {
        "entries": report["papers_parsed"],
        "new_papers": report["new_papers"],
        "seconds": seconds,
        "runs_seconds": [run[0] for run in runs[:-1]],
        "papers_per_second": report["papers_parsed"] / seconds,
        "peak_rss_mb": max(run[1] for run in runs[:-1]) / 2**20,
        "floor_seconds": floor,
        "times_floor": seconds / floor,
        "one_process_seconds": runs[-1][0],
        "one_process_peak_rss_mb": runs[-1][1] / 2**20,
        "mark_seen_seconds": catch_up[0],
        "mark_seen_times_floor": catch_up[0] / floor,
        "mark_seen_peak_rss_mb": catch_up[1] / 2**20,
    }


def build_store(papers: int, state: Path, inbox: Path, out: Path) -> None:
    """A state holding ``papers`` papers in issues of 1,000, an inbox holding every old
    file (small files, recorded as taken in), made directly through the store's API, and
    an output folder holding every old issue's files (empty: a run only lists them)."""
    sys.path.insert(0, str(ROOT))
    from digest.loader import parse_text
    from digest.model import Paper
    from digest.store import Store

    seeds = [
        p
        for path in sorted(SEEDS.glob("*.txt"))
        for p in parse_text(
            path.read_text(encoding="utf-8"), str(path), dt.date(2026, 11, 24)
        ).papers
    ]
    inbox.mkdir(parents=True)
    (out / "issues").mkdir(parents=True)
    (out / "archive").mkdir()
    start = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    per_issue, per_file = 1000, 100
    with Store(state) as store, store.transaction():
        for number in range(papers // per_issue):
            moment = start + dt.timedelta(days=number)
            issue_id, seq = store.next_issue_id(moment.date())
            batch = [
                Paper(
                    title=f"{seeds[i % len(seeds)].title} variant {number}-{i}",
                    abstract=seeds[i % len(seeds)].abstract[:600],
                    source="old.txt",
                    line=1,
                )
                for i in range(per_issue)
            ]
            ids = store.add_papers([(paper, None) for paper in batch], seq, moment)
            store.add_issue(issue_id, seq, moment.date(), moment, per_issue)
            for kind in ("md", "html", "eml"):
                (out / "issues" / f"{issue_id}.{kind}").touch()
            (out / "archive" / f"{moment.year}.html").touch()
            for part in range(per_issue // per_file):
                name = f"old-{number:05d}-{part}.txt"
                path = inbox / name
                path.write_text(f"old digest {number} {part}\n", encoding="utf-8")
                stat = path.stat()
                file_id = store.record_file(
                    f"hash-{name}", name, moment.date(), moment, per_file, 0
                )
                store.remember_inbox_file(str(path), stat.st_size, stat.st_mtime_ns, f"hash-{name}")
                chunk = ids[part * per_file : (part + 1) * per_file]
                store.add_sightings([(i, moment.date(), None) for i in chunk], file_id)
        store.start_run(start)


def incremental(quick: bool) -> list[dict]:
    sizes = [10_000, 100_000] if quick else [10_000, 100_000, 1_000_000]
    new_file = sorted(make_corpus("new-one", 1, 100, seed=7, start="2026-11-23").glob("*.txt"))[0]
    with tempfile.TemporaryDirectory() as compiled:
        # Templates compiled by one run of this version, as the run before would have.
        digest_run(new_file.parent, f"{compiled}/out", f"{compiled}/state.db")
        return _incremental_runs(sizes, new_file, Path(compiled) / "template-cache", quick)


def _incremental_runs(
    sizes: list[int], new_file: Path, cache_of_templates: Path, quick: bool
) -> list[dict]:
    bases = {size: CACHE / f"store-{size}" for size in sizes}
    for size, base in bases.items():
        if not (base / ".done-3").exists():
            shutil.rmtree(base, ignore_errors=True)
            build_store(size, base / "state.db", base / "inbox", base / "out")
            (base / ".done-3").touch()
    # Round by round over the sizes, so that the machine's drift (it moves by 10-20% over
    # minutes here) falls on every size alike instead of on whichever ran last.
    runs: dict[int, list[tuple[float, int, dict]]] = {size: [] for size in sizes}
    for _ in range(1 if quick else 5):
        for size, base in bases.items():
            with tempfile.TemporaryDirectory() as work:
                state = Path(work) / "state.db"
                shutil.copyfile(base / "state.db", state)
                # A scheduled run finds the compiled templates a run before it left, and
                # the files of the issues it published.
                shutil.copytree(cache_of_templates, Path(work) / "template-cache")
                shutil.copytree(base / "out", Path(work) / "out")
                os.sync()  # else the run's first fsync pays for writing the whole copy
                inbox = base / "inbox"
                target = inbox / "zz-new.txt"
                shutil.copyfile(new_file, target)
                try:
                    runs[size].append(digest_run(inbox, f"{work}/out", str(state)))
                finally:
                    target.unlink()
    return [
        {
            "store_papers": size,
            "old_files": size // 100,
            "new_papers": runs[size][0][2]["new_papers"],
            "seconds": statistics.median(run[0] for run in runs[size]),
            "fastest_seconds": min(run[0] for run in runs[size]),
            "runs_seconds": [run[0] for run in runs[size]],
            "peak_rss_mb": max(run[1] for run in runs[size]) / 2**20,
        }
        for size in sizes
    ]


def render(quick: bool) -> list[dict]:
    sys.path.insert(0, str(ROOT))
    from digest.config import Config
    from digest.output import OutputWriter
    from digest.pipeline import publish
    from digest.store import Store

    rows = []
    for count in (100, 1000):
        files = max(1, count // 100)
        inbox = make_corpus(f"render-{count}", files, min(count, 100), overlap=0.0, seed=3)
        with tempfile.TemporaryDirectory() as work:
            config = Config(inbox=inbox, output=Path(work) / "out", state=Path(work) / "s.db")
            subprocess.run(
                digest_cmd(
                    "run",
                    "--inbox",
                    str(inbox),
                    "--out",
                    str(config.output),
                    "--state",
                    str(config.state),
                    "--today",
                    TODAY,
                ),
                check=True,
                capture_output=True,
            )
            with Store(config.state) as store:
                issue = store.issue(None)
                times = []
                for _ in range(3 if quick else 5):
                    writer = OutputWriter(config.output)
                    started = time.perf_counter()
                    publish(config, store, writer, issue)
                    writer.commit()
                    times.append(time.perf_counter() - started)
        rows.append(
            {
                "papers": issue.paper_count,
                "seconds": statistics.median(times),
                "per_paper_ms": statistics.median(times) / issue.paper_count * 1000,
            }
        )
    return rows


def startup(quick: bool) -> dict:
    repeats = 5 if quick else 15
    with tempfile.TemporaryDirectory() as work:
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "digest --help": digest_cmd("--help"),
            "digest status": digest_cmd("status", "--state", f"{work}/s.db", "--inbox", work),
        }
        result = {}
        for name, args in commands.items():
            samples = [timed_process(args)[0] for _ in range(repeats)]
            result[name] = statistics.median(samples)
    imports = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "digest", "--help"],
        capture_output=True,
        text=True,
    ).stderr
    heavy = sorted(
        {
            m
            for m in ("jinja2", "markdown", "feedgen", "apscheduler", "lxml")
            if re.search(rf"\|\s+{m}$", imports, re.M)
        }
    )
    result["help_times_python"] = result["digest --help"] / result["python -c pass"]
    result["heavy_imports_in_help"] = heavy
    return result


def _row(*cells: object, widths: tuple[int, ...]) -> str:
    return "  ".join(f"{cell:<{width}}" for cell, width in zip(cells, widths, strict=False))


def table(results: dict) -> str:
    cold, start = results["cold_import"], results["startup"]
    wide = (22, 9, 8, 8, 9, 8, 8, 7)
    lines = [f"digest benchmarks — {results['machine']}", ""]
    lines.append(
        _row(
            "cold import",
            "entries",
            "new",
            "seconds",
            "papers/s",
            "peak MB",
            "floor s",
            "x floor",
            widths=wide,
        )
    )
    lines.append(
        _row(
            "",
            f"{cold['entries']:,}",
            f"{cold['new_papers']:,}",
            f"{cold['seconds']:.2f}",
            f"{cold['papers_per_second']:,.0f}",
            f"{cold['peak_rss_mb']:.0f}",
            f"{cold['floor_seconds']:.2f}",
            f"{cold['times_floor']:.1f}",
            widths=wide,
        )
    )
    lines.append(
        _row(
            "",
            f"without helper processes (--workers 0): {cold['one_process_seconds']:.2f} s, "
            f"peak {cold['one_process_peak_rss_mb']:.0f} MB",
            widths=(22, 70),
        )
    )
    lines.append(
        _row(
            "",
            f"marking the backlog seen, no issue (--mark-seen): {cold['mark_seen_seconds']:.2f} s "
            f"({cold['mark_seen_times_floor']:.1f}x floor), "
            f"peak {cold['mark_seen_peak_rss_mb']:.0f} MB",
            widths=(22, 80),
        )
    )
    lines += [
        "",
        _row(
            "incremental run",
            "store",
            "old files",
            "new",
            "seconds",
            "fastest",
            "peak MB",
            widths=wide,
        ),
    ]
    for row in results["incremental"]:
        lines.append(
            _row(
                "",
                f"{row['store_papers']:,}",
                f"{row['old_files']:,}",
                row["new_papers"],
                f"{row['seconds']:.3f}",
                f"{row['fastest_seconds']:.3f}",
                f"{row['peak_rss_mb']:.0f}",
                widths=wide,
            )
        )
    if len(results["incremental"]) > 1:
        first, last = results["incremental"][0], results["incremental"][-1]
        ratio = last["seconds"] / first["seconds"]
        fastest = last["fastest_seconds"] / first["fastest_seconds"]
        lines.append(
            _row(
                "",
                f"largest/smallest store: {ratio:.2f}x (fastest runs: {fastest:.2f}x)",
                widths=(22, 60),
            )
        )
    lines += ["", _row("render (issue, email,", "papers", "seconds", "ms/paper", widths=wide)]
    lines[-1] += "\n  feeds; in-process)"
    for row in results["render"]:
        lines.append(
            _row(
                "",
                f"{row['papers']:,}",
                f"{row['seconds']:.3f}",
                f"{row['per_paper_ms']:.2f}",
                widths=wide,
            )
        )
    lines += ["", _row("start-up (median ms)", "python", "--help", "status", widths=wide)]
    lines.append(
        _row(
            "",
            f"{start['python -c pass'] * 1000:.0f}",
            f"{start['digest --help'] * 1000:.0f}",
            f"{start['digest status'] * 1000:.0f}",
            widths=wide,
        )
    )
    heavy = ", ".join(start["heavy_imports_in_help"]) or "none"
    lines.append(
        _row(
            "",
            f"--help = {start['help_times_python']:.1f}x python; heavy imports: {heavy}",
            widths=(22, 60),
        )
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--quick", action="store_true", help="smaller corpora (10x fewer files, no 1M store)"
    )
    parser.add_argument(
        "--only", choices=("cold", "incremental", "render", "startup"), action="append"
    )
    args = parser.parse_args()
    CACHE.mkdir(exist_ok=True)
    RESULTS.mkdir(exist_ok=True)
    wanted = set(args.only or ("cold", "incremental", "render", "startup"))
    results: dict = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    steps = {
        "cold": ("cold_import", cold_import),
        "incremental": ("incremental", incremental),
        "render": ("render", render),
        "startup": ("startup", startup),
    }
    for key, (name, function) in steps.items():
        if key in wanted:
            print(f"running {name} ...", file=sys.stderr, flush=True)
            results[name] = function(args.quick)
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    if wanted == set(steps):
        print(table(results))
    else:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
