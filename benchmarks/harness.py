"""What every measurement uses: the corpora, whole ``digest`` processes timed with their
peak memory, the floors (reading and splitting the inbox; writing as many bytes as a
run wrote, durably), and the sizes of what a run left."""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
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
        [sys.executable, str(HERE / "make_corpus.py"), "--seeds", str(SEEDS), "--out",
         str(folder), "--files", str(files), "--papers-per-file", str(papers), "--overlap",
         str(overlap), "--seed", str(seed), "--start", start],
        check=True,
        capture_output=True,
    )  # fmt: skip
    (folder / ".done").touch()
    return folder


# Starts the measured process and reports its wall time and peak memory. A process's
# peak memory (ru_maxrss) counts that of the memory it was spawned from (Linux records
# the old address space's peak at exec, and posix_spawn's child shares its parent's):
# spawned from this process, which may hold a million-paper store it just built or an
# issue it rendered, a child would count all of it. Spawned from this small launcher, it
# counts the launcher's few MB, less than any digest process holds.
_LAUNCHER = """
import os, sys, time
args = sys.argv[1:]
started = time.perf_counter()
pid = os.posix_spawn(args[0], args, os.environ, file_actions=[(os.POSIX_SPAWN_CLOSE, 3)])
_, status, usage = os.wait4(pid, 0)
elapsed = time.perf_counter() - started
os.write(3, f"{elapsed!r} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}".encode())
"""


# The digest processes run as an installed digest would: with its modules' bytecode cached
# (this environment may say PYTHONDONTWRITEBYTECODE, and then every process would compile
# every module of the work tree again, some 0.1-0.2 s; pip compiles them at install).
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def compile_package() -> None:
    """The work tree's bytecode, written once before anything is timed (into the ignored
    ``__pycache__`` folders; a source edited since is compiled again, by its date)."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "digest")],
                   env=CHILD_ENV, check=True, capture_output=True)  # fmt: skip


def clean_install(where: Path) -> Path:
    """A fresh virtual environment holding this work tree installed as a user installs it
    (``pip install .``: a wheel, its bytecode compiled, no editable finder on the path),
    without its dependencies: ``digest --help`` must not need them. Its Python."""
    venv = where / "clean-install"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps"]
    subprocess.run([*pip, str(ROOT)], env=CHILD_ENV, check=True, capture_output=True)
    return python


def timed_process(
    args: list[str], env: dict[str, str] | None = None
) -> tuple[float, int, subprocess.CompletedProcess]:
    """Wall seconds and peak resident memory (bytes) of one child process (see _LAUNCHER)."""
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.TemporaryFile() as told,
    ):
        actions = [(os.POSIX_SPAWN_DUP2, out.fileno(), 1), (os.POSIX_SPAWN_DUP2, err.fileno(), 2),
                   (os.POSIX_SPAWN_DUP2, told.fileno(), 3)]  # fmt: skip
        launcher = [sys.executable, "-S", "-I", "-c", _LAUNCHER, *args]
        pid = os.posix_spawn(launcher[0], launcher, {**CHILD_ENV, **(env or {})},
                             file_actions=actions)  # fmt: skip
        _, status, _usage = os.wait4(pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            err.seek(0)
            raise RuntimeError(f"the launcher failed: {err.read().decode()[-2000:]}")
        for stream in (out, err, told):
            stream.seek(0)
        stdout, stderr = out.read(), err.read()
        elapsed_text, peak_kb, code = told.read().decode().split()
    done = subprocess.CompletedProcess(args, int(code), stdout, stderr)
    if done.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(args)} failed: {stderr.decode()[-2000:]}")
    return float(elapsed_text), int(peak_kb) * 1024, done


def digest_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "digest", *args]


def digest_run(
    inbox: Path, out: Path | str, state: str, *extra: str, env: dict[str, str] | None = None
) -> tuple[float, int, dict]:
    """One whole ``digest run`` process: wall seconds, peak memory, its JSON report.
    ``--settle 0``: the benchmark's files were just written, and are whole."""
    seconds, peak, done = timed_process(
        digest_cmd("run", "--inbox", str(inbox), "--out", str(out), "--state", state,
                   "--today", TODAY, "--json", "--settle", "0", *extra),
        env,
    )  # fmt: skip
    return seconds, peak, json.loads(done.stdout)


def read_and_split_floor(inbox: Path) -> tuple[float, int]:
    """Reading every file of the inbox and splitting it into entries (page cache warm)."""
    started = time.perf_counter()
    entries = 0
    for path in sorted(inbox.glob("*.txt")):
        text = path.read_bytes().decode("utf-8")
        entries += len(re.split(r"\n\s*\n", text))
    return time.perf_counter() - started, entries


def file_sizes(folder: Path) -> list[int]:
    """The size of every regular file under ``folder``."""
    return [
        entry.stat().st_size
        for entry in folder.rglob("*")
        if entry.is_file() and not entry.is_symlink()
    ]


_CHUNK = os.urandom(1 << 20)


def write_floor(sizes: Sequence[int], where: Path) -> float:
    """Seconds to write files of these sizes, fresh, each fsync'ed once: what durably
    writing a run's output and state costs on this disk by itself."""
    folder = Path(tempfile.mkdtemp(prefix="write-floor-", dir=where))
    chunk = memoryview(_CHUNK)
    try:
        started = time.perf_counter()
        for number, size in enumerate(sizes):
            fd = os.open(folder / f"{number}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                left = size
                while left:
                    left -= os.write(fd, chunk[: min(left, len(chunk))])
                os.fsync(fd)
            finally:
                os.close(fd)
        return time.perf_counter() - started
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        os.sync()  # the freed blocks, before whatever is measured next


def scheduled_floor(new_file: Path, sizes: Sequence[int], scratch: Path) -> float:
    """The floor of a scheduled run: a process that imports what such a run cannot do
    without (Jinja2, sqlite3) and reads the new file, then durably writing as many bytes,
    in as many files, as the run wrote (its outputs, the state's growth)."""
    settle_disk()
    process = timed_process([sys.executable, "-c", "import jinja2, sqlite3, sys; "
                             "open(sys.argv[1], 'rb').read()", str(new_file)])[0]  # fmt: skip
    return process + write_floor(sizes, scratch)


def settle_disk() -> None:
    """Nothing of the set-up left for a measured run's first fsync to pay for."""
    os.sync()


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def parse_floor(inbox: Path) -> float:
    """Seconds digest's own reader takes to parse every file of the inbox in one process,
    storing nothing: the CPU an import must spend on parsing, however it is split
    between processes (page cache warm)."""
    import datetime as dt

    from digest.intake.loader import load_file

    started = time.perf_counter()
    for path in sorted(inbox.glob("*.txt")):
        load_file(str(path), dt.date.max, 1 << 30, name=str(path), follow=False)
    return time.perf_counter() - started


def store_floor(state_db: Path, where: Path) -> float:
    """Seconds SQLite itself takes to durably store what an import left in its papers and
    sightings tables: the same rows inserted into a fresh file of the same schema, page
    size, cache and journal as digest's state (WAL, synchronous FULL), in one transaction
    of two ``executemany`` calls, then closed (its checkpoint included). No Python work
    per row beyond the driver's: the floor of the store's part of an import."""
    import sqlite3

    source = sqlite3.connect(f"file:{state_db}?mode=ro", uri=True)
    tables = ("papers", "sightings")
    try:
        schema = [
            sql
            for (sql,) in source.execute(
                "SELECT sql FROM sqlite_master WHERE tbl_name IN (?, ?) AND sql IS NOT NULL "
                "ORDER BY type = 'index', rowid",
                tables,
            )
        ]
        rows = {table: source.execute(f"SELECT * FROM {table}").fetchall() for table in tables}
        page_size = source.execute("PRAGMA page_size").fetchone()[0]
    finally:
        source.close()
    folder = Path(tempfile.mkdtemp(prefix="store-floor-", dir=where))
    try:
        db = sqlite3.connect(folder / "floor.db", isolation_level=None)
        db.execute(f"PRAGMA page_size = {page_size}")
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = FULL")
        db.execute("PRAGMA cache_size = -16384")
        for sql in schema:
            db.execute(sql)
        settle_disk()
        started = time.perf_counter()
        db.execute("BEGIN IMMEDIATE")
        for table in tables:
            if rows[table]:
                marks = ", ".join("?" * len(rows[table][0]))
                db.executemany(f"INSERT INTO {table} VALUES ({marks})", rows[table])
        db.execute("COMMIT")
        db.close()
        return time.perf_counter() - started
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        os.sync()
