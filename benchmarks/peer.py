"""A peer: Pelican 4.12 building a site of the same papers digest publishes
(``python -m benchmarks --peer pelican``).

The papers: one corpus of 101 files of 100 distinct papers each (``make_corpus``, no
repeats, so "1,000 papers" is 1,000 entries, 1,000 distinct papers and 1,000 articles):
the first 10 files are the 1,000-paper inbox, the first 100 the 10,000-paper inbox, the
last one the 100 new papers. They are read with digest's own loader
(``digest.intake.loader.load_file``) and kept once per paper (its title key, as digest
keeps them), and each becomes one Markdown article (title, date, authors or organisation,
the abstract, a link to the paper) in a Pelican content folder. That conversion is cached
and never timed.

Timed, each a whole process (``harness.timed_process``), in the same rounds, digest's and
Pelican's runs alternating which goes first:

* cold: ``digest run`` of the 1,000- and 10,000-paper inboxes into a fresh SQLite state;
  ``pelican`` of the 1,000 and 10,000 articles into an empty output, its cache empty;
* incremental: the 100 new papers on top of the 10,000: ``digest run`` with the new
  file added to the inbox the cold run read; ``pelican`` again with the 100 new articles
  added to the content folder the cold build read, its caches as that build left them.

Pelican's settings (``pelicanconf.py``, written per build; see ``PELICAN_SETTINGS``):
its defaults, which are a fair site, except where they would slow it down or warn:

* no plugins (``PLUGINS = []``, not even namespace plugins), the default theme
  (notmyidea), no pagination (Pelican's default: ``DEFAULT_PAGINATION = False``),
  ``TYPOGRIFY`` off (its default);
* feeds on, as Pelican has them by default (the all-articles Atom feed, one per
  category, Atom and RSS per author; ``FEED_MAX_ITEMS`` 100): digest writes feeds too.
  ``SITEURL`` is set so the feeds have absolute links (``RELATIVE_URLS`` left False);
* ``TIMEZONE = "UTC"`` (else Pelican warns and guesses);
* its caches on and loaded: ``CACHE_CONTENT = True``, ``LOAD_CONTENT_CACHE = True``,
  with ``CONTENT_CACHING_LAYER = "generator"`` (the whole article objects cached, not
  only what the reader parsed: the faster layer, which Pelican's docs say plugins may
  not support, and there are none), ``GZIP_CACHE = False`` (no compressing or
  decompressing the cache) and ``CHECK_MODIFIED_METHOD = "mtime"`` (a stat per file,
  no hashing). The cold builds run with the same settings, their cache empty, as a
  first build of such a site does;
* ``-q``: no progress output (digest's runs print one JSON report).

An article's slug is the paper's anchor (``p-`` and 12 hex digits of its id), so no two
titles can collide in one slug, and every paper is one page.

Pelican lives in its own virtual environment, ``benchmarks/.cache/peer-pelican-venv``
(``python -m venv``, then ``pip install pelican==4.12.0 markdown``, on first use): it is
no dependency of digest nor of its test environment.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    CACHE,
    TODAY,
    digest_run,
    file_sizes,
    make_corpus,
    median,
    settle_disk,
    timed_process,
)

PELICAN = "4.12.0"
VENV = CACHE / "peer-pelican-venv"
CONTENT = CACHE / "peer-content"
CONTENT_MARK = ".done-1"  # the version of the conversion's recipe (write_article)
FILES, PER_FILE, SMALL = 101, 100, 10  # 100 old files + 1 new; the small inbox: 10
MB = 2**20

PELICAN_SETTINGS: dict[str, Any] = {
    "AUTHOR": "digest benchmark",
    "SITENAME": "Daily Papers digest",
    "SITEURL": "https://papers.example.org",
    "TIMEZONE": "UTC",
    "DEFAULT_LANG": "en",
    "PLUGINS": [],
    "DEFAULT_PAGINATION": False,
    "RELATIVE_URLS": False,
    "CACHE_CONTENT": True,
    "LOAD_CONTENT_CACHE": True,
    "CONTENT_CACHING_LAYER": "generator",
    "GZIP_CACHE": False,
    "CHECK_MODIFIED_METHOD": "mtime",
}


# -- Pelican's environment --------------------------------------------------------------


def pelican_python() -> Path:
    """The Python of Pelican's own virtual environment, made on first use."""
    python = VENV / "bin" / "python"
    mark = VENV / f".done-pelican-{PELICAN}"
    if not mark.exists():
        print(f"installing Pelican {PELICAN} into {VENV} ...", file=sys.stderr, flush=True)
        shutil.rmtree(VENV, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", f"pelican=={PELICAN}", "markdown"],
            check=True,
            capture_output=True,
        )
        mark.touch()
    return python


def versions(python: Path) -> dict[str, str]:
    """What is installed in Pelican's environment, as it reports it."""
    script = (
        "import importlib.metadata as m, json, platform; print(json.dumps({n: m.version(n) "
        "for n in ('pelican', 'markdown', 'jinja2', 'feedgenerator')} | "
        "{'python': platform.python_version()}))"
    )
    done = subprocess.run([str(python), "-c", script], check=True, capture_output=True)
    found: dict[str, str] = json.loads(done.stdout)
    return found


# -- the papers, as digest inboxes and as Pelican content ---------------------------------


def inboxes() -> dict[str, Path]:
    """The corpus split into its inboxes: ``1k`` and ``10k`` (folders of digest files), and
    ``new`` (a folder holding the one file of the 100 new papers)."""
    corpus = make_corpus("peer-101", FILES, PER_FILE, overlap=0.0, seed=11, start="2026-06-01")
    files = sorted(corpus.glob("*.txt"))
    assert len(files) == FILES, corpus
    parts = {"1k": files[:SMALL], "10k": files[: FILES - 1], "new": files[FILES - 1 :]}
    folders = {name: CACHE / "peer-inboxes" / name for name in parts}
    if not (CACHE / "peer-inboxes" / ".done").exists():
        shutil.rmtree(CACHE / "peer-inboxes", ignore_errors=True)
        for name, chosen in parts.items():
            folders[name].mkdir(parents=True)
            for path in chosen:
                shutil.copyfile(path, folders[name] / path.name)
        (CACHE / "peer-inboxes" / ".done").touch()
    return folders


def distinct_papers(folder: Path, seen: set[str] | None = None) -> list[Any]:
    """The papers of the folder's digest files as digest reads them, in the order it does
    (the files by name, which is by date here), each paper once (its first listing), less
    those whose key is in ``seen`` (papers an earlier inbox already had)."""
    from digest.intake.loader import load_file

    today = dt.date.fromisoformat(TODAY)
    keys = set(seen or ())
    papers = []
    for path in sorted(folder.glob("*.txt")):
        loaded, _ = load_file(str(path), today)
        for paper in loaded.papers:
            if paper.key not in keys:
                keys.add(paper.key)
                papers.append((paper, paper.digest_date or loaded.digest_date))
    return papers


def write_article(paper: Any, day: dt.date | None, folder: Path, number: int) -> None:
    """One paper as a Pelican Markdown article: metadata lines, a blank line, the body."""
    from digest.links import paper_link

    who = ""  # no authors listed: Pelican's AUTHOR setting stands in
    if paper.organization is not None:
        who = f"Authors: {paper.organization.name}\n"
    elif paper.authors is not None:
        who = f"Authors: {paper.authors} authors\n"
    when = day or dt.date.fromisoformat(TODAY)
    link = paper_link(paper.title, paper.abstract).url
    title = " ".join(paper.title.split())
    text = (
        f"Title: {title}\nDate: {when.isoformat()} 00:{number % 60:02d}\n{who}"
        f"Category: papers\nSlug: {paper.anchor}\nPaper: {link}\n\n"
        f"{html.escape(paper.abstract, quote=False)}\n\n[Read the paper]({link})\n"
    )
    (folder / f"{paper.anchor}.md").write_text(text, encoding="utf-8")


def contents(folders: dict[str, Path]) -> dict[str, tuple[Path, int]]:
    """Pelican content folders of the same papers (``1k``, ``10k``; ``new``: the 100 new
    papers' articles alone), each with its number of articles. Made once (untimed)."""
    made = {name: CONTENT / name for name in folders}
    counts_file = CONTENT / CONTENT_MARK
    if not counts_file.exists():
        shutil.rmtree(CONTENT, ignore_errors=True)
        counts: dict[str, int] = {}
        old = distinct_papers(folders["10k"])
        new = distinct_papers(folders["new"], {paper.key for paper, _ in old})
        small_keys = {paper.key for paper, _ in distinct_papers(folders["1k"])}
        for name, papers in (
            ("1k", [item for item in old if item[0].key in small_keys]),
            ("10k", old),
            ("new", new),
        ):
            made[name].mkdir(parents=True)
            for number, (paper, day) in enumerate(papers):
                write_article(paper, day, made[name], number)
            counts[name] = len(papers)
        counts_file.write_text(json.dumps(counts))
    counts = json.loads(counts_file.read_text())
    return {name: (made[name], counts[name]) for name in made}


# -- one build of each ------------------------------------------------------------------


def write_settings(work: Path) -> Path:
    """The build's ``pelicanconf.py`` (its cache in the build's folder)."""
    conf = work / "pelicanconf.py"
    lines = [f"{name} = {value!r}" for name, value in PELICAN_SETTINGS.items()]
    lines.append(f"CACHE_PATH = {str(work / 'cache')!r}")
    conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return conf


def pelican_build(python: Path, content: Path, work: Path) -> tuple[float, int]:
    """One whole ``pelican`` process building ``content`` into ``work/out``: wall seconds
    and peak memory. Fails on Pelican's errors (it exits 1 on them; timed_process lets
    1 through for digest's "nothing new")."""
    conf = work / "pelicanconf.py"
    settle_disk()
    command = [str(python), "-m", "pelican", str(content), "-o", str(work / "out")]
    seconds, peak, done = timed_process([*command, "-s", str(conf), "-q"])
    if done.returncode != 0:
        raise RuntimeError(f"pelican failed: {done.stderr.decode()[-2000:]}")
    return seconds, peak


def article_pages(out: Path) -> int:
    return len(list(out.glob("p-*.html")))


def written_since(out: Path, started_ns: int) -> list[int]:
    """The sizes of the output files (re)written at or after ``started_ns``."""
    return [
        entry.stat().st_size
        for entry in out.rglob("*")
        if entry.is_file() and not entry.is_symlink() and entry.stat().st_mtime_ns >= started_ns
    ]


def _digest_round(inbox: dict[str, Path], scratch: Path) -> dict[str, Any]:
    """digest's three runs of one round: cold 1k, cold 10k, +100 on that 10k."""
    done: dict[str, Any] = {}
    work = Path(tempfile.mkdtemp(prefix="peer-digest-", dir=scratch))
    try:
        settle_disk()
        seconds, peak, report = digest_run(inbox["1k"], work / "out-1k", str(work / "1k.db"))
        done["cold_1k"] = (seconds, peak, report["new_papers"], file_sizes(work / "out-1k"))
        shutil.copytree(inbox["10k"], work / "inbox")
        settle_disk()
        seconds, peak, report = digest_run(work / "inbox", work / "out", str(work / "10k.db"))
        done["cold_10k"] = (seconds, peak, report["new_papers"], file_sizes(work / "out"))
        for path in inbox["new"].glob("*.txt"):
            shutil.copyfile(path, work / "inbox" / path.name)
        settle_disk()
        started = time.time_ns()
        seconds, peak, report = digest_run(work / "inbox", work / "out", str(work / "10k.db"))
        done["incremental"] = (seconds, peak, report["new_papers"],
                               written_since(work / "out", started))  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return done


def _pelican_round(
    python: Path, content: dict[str, tuple[Path, int]], scratch: Path
) -> dict[str, Any]:
    """Pelican's three builds of one round: cold 1k, cold 10k, +100 on that 10k."""
    done: dict[str, Any] = {}
    work = Path(tempfile.mkdtemp(prefix="peer-pelican-", dir=scratch))
    try:
        small, big = work / "1k", work / "10k"
        for folder in (small, big):
            folder.mkdir()
            write_settings(folder)
        seconds, peak = pelican_build(python, content["1k"][0], small)
        done["cold_1k"] = (seconds, peak, article_pages(small / "out"), file_sizes(small / "out"))
        shutil.copytree(content["10k"][0], big / "content")
        seconds, peak = pelican_build(python, big / "content", big)
        done["cold_10k"] = (seconds, peak, article_pages(big / "out"), file_sizes(big / "out"))
        for path in content["new"][0].glob("*.md"):
            shutil.copyfile(path, big / "content" / path.name)
        started = time.time_ns()
        seconds, peak = pelican_build(python, big / "content", big)
        new_pages = article_pages(big / "out") - done["cold_10k"][2]
        done["incremental"] = (seconds, peak, new_pages, written_since(big / "out", started))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return done


# -- the measurement --------------------------------------------------------------------

CASES = ("cold_1k", "cold_10k", "incremental")


def pelican_peer(quick: bool, scratch: Path) -> dict[str, Any]:
    """digest and Pelican on the same papers, round-robin (three rounds; one when quick):
    medians, peak memory, what each wrote, and Pelican's time over digest's."""
    python = pelican_python()
    folders = inboxes()
    content = contents(folders)
    rounds = 1 if quick else 3
    runs: dict[str, list[dict[str, Any]]] = {"digest": [], "pelican": []}
    for number in range(rounds):
        order = ["digest", "pelican"] if number % 2 == 0 else ["pelican", "digest"]
        for tool in order:
            print(f"  peer round {number + 1}/{rounds}: {tool} ...", file=sys.stderr, flush=True)
            if tool == "digest":
                runs[tool].append(_digest_round(folders, scratch))
            else:
                runs[tool].append(_pelican_round(python, content, scratch))
    expected = {"cold_1k": content["1k"][1], "cold_10k": content["10k"][1],
                "incremental": content["new"][1]}  # fmt: skip
    result: dict[str, Any] = {
        "peer": "pelican",
        "versions": versions(python),
        "settings": PELICAN_SETTINGS,
        "rounds": rounds,
        "articles": expected,
    }
    for case in CASES:
        row: dict[str, Any] = {"papers": expected[case]}
        for tool, samples in runs.items():
            seconds = [sample[case][0] for sample in samples]
            first = samples[0][case]
            row[tool] = {
                "seconds": median(seconds),
                "runs_seconds": seconds,
                "peak_rss_mb": max(sample[case][1] for sample in samples) / MB,
                "papers": first[2],  # digest: new papers; Pelican: article pages made
                "bytes_written": sum(first[3]),
                "files_written": len(first[3]),
            }
        row["same_papers"] = row["digest"]["papers"] == row["pelican"]["papers"] == expected[case]
        row["ratio"] = row["pelican"]["seconds"] / row["digest"]["seconds"]
        result[case] = row
    return result
