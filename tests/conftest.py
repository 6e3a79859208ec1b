"""Shared fixtures: real files in temporary folders, the CLI in-process or as a subprocess."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from digest.cli import main as cli

pytest_plugins = ["pg_server"]

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "digests"
DATA = Path(__file__).resolve().parent / "data"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
TODAY = dt.date(2026, 11, 24)
NOW = "2026-11-24T08:00:00Z"

# The three real digest files, by the variant they show.
PLAIN = EXAMPLES / "000_0e5cb4eac3db34fe.txt"  # title/abstract pairs only
WITH_META = EXAMPLES / "002_b459e3eae30a13fb.txt"  # "Daily Papers", metadata blocks
PLAIN_2 = EXAMPLES / "003_73824512330c0a56.txt"


@dataclass
class Result:
    code: int
    out: str
    err: str


BACKENDS = ("sqlite", "postgres")
# On both backends: the same tests, the same outputs (for pipeline, fault, trust tests).
both_backends = pytest.mark.parametrize("backend", BACKENDS, indirect=True)


@dataclass
class Site:
    """A config, an inbox, an output folder and a state, all under tmp_path; the state
    is a SQLite file, or (``backend`` "postgres") a fresh PostgreSQL database."""

    root: Path
    inbox: Path
    out: Path
    state: Path
    config: Path
    dsn: str | None = None  # the PostgreSQL state, when the backend is PostgreSQL

    @property
    def state_arg(self) -> str:
        """What --state takes for this site's state."""
        return self.dsn or str(self.state)

    def rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        """Rows of a query on the site's state, either backend (test inspection only)."""
        if self.dsn is None:
            import sqlite3

            with sqlite3.connect(self.state) as db:
                return db.execute(sql, params).fetchall()
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as db:
            db.execute("SET search_path TO digest_default")
            cursor = db.execute(sql.replace("?", "%s"), params)
            return cursor.fetchall() if cursor.description else []

    def drop(self, source: Path, name: str | None = None) -> Path:
        target = self.inbox / (name or source.name)
        shutil.copyfile(source, target)
        return target

    def write(self, name: str, content: str | bytes) -> Path:
        target = self.inbox / name
        if isinstance(content, str):
            target.write_text(content, encoding="utf-8")
        else:
            target.write_bytes(content)
        return target


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """The store backend a test runs on: SQLite unless parametrised (``both_backends``)."""
    return getattr(request, "param", "sqlite")


@pytest.fixture
def site(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> Site:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    dsn = request.getfixturevalue("pg_dsn") if backend == "postgres" else None
    state = f'"{dsn}"' if dsn else '"state/digest.sqlite"'
    config = tmp_path / "digest.toml"
    config.write_text(
        'title = "Test digest"\n'
        'url = "https://example.org/digest/"\n'
        'author = "Tester"\n'
        f'inbox = "inbox"\noutput = "out"\nstate = {state}\n'
        "settle = 0  # the tests drop whole files\n"
        "[email]\n"
        'sender = "Digest <digest@example.org>"\n'
        'to = ["reader@example.org"]\n'
        "retry_wait = 0.01\n",
        encoding="utf-8",
    )
    state_path = tmp_path / "state" / "digest.sqlite"
    return Site(tmp_path, inbox, tmp_path / "out", state_path, config, dsn)


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """The CLI in-process: fast, and the same main() the console script calls."""

    def invoke(*args: str | Path) -> Result:
        code = cli.main([str(arg) for arg in args])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return invoke


def example_run_args(work: Path) -> list[str | Path]:
    """``digest run`` on the examples' config, writing under ``work``."""
    return ["run", "--config", ROOT / "examples" / "digest.toml", "--out", work / "out",
            "--state", work / "state.db", "--now", NOW, "--json"]  # fmt: skip


def digest_process(
    *args: str | Path, cwd: Path | None = None, env: dict | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """The CLI as a real subprocess (python -m digest)."""
    return subprocess.run(
        [sys.executable, "-m", "digest", *[str(arg) for arg in args]],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def papers_from(path: Path) -> list[tuple[str, str]]:
    """(title, abstract) pairs straight from a plain digest file, for building variants."""
    from digest.intake.loader import parse_text

    loaded = parse_text(path.read_text(encoding="utf-8"), str(path), TODAY)
    return [(paper.title, paper.abstract) for paper in loaded.papers]


def digest_text(
    date: str, papers: list[tuple[str, str]], *, meta: list[str | None] | None = None
) -> str:
    """A digest file in the real layout."""
    parts = [
        "new",
        "Get trending papers in your email inbox!",
        "Subscribe",
        "byAK and the research community",
        date,
    ]
    for index, (title, abstract) in enumerate(papers):
        parts += [title, abstract]
        if meta and meta[index]:
            parts.append(meta[index])
    return "\n\n".join(parts) + "\n"


def shown_title(entry) -> str:
    """What a feed reader shows for an entry title: an HTML title rendered to its text."""
    if entry.title_detail.type == "text/html":
        import html5lib

        return "".join(html5lib.parse(entry.title, namespaceHTMLElements=False).itertext())
    return entry.title


def published_files(out: Path, *, siblings: bool = True) -> dict[Path, bytes]:
    """Every file of an output folder by relative path, but the marker naming the state
    that owns the folder (each state has its own); without ``siblings``, not the
    precompressed ``.gz`` and ``.br`` either (as the golden tree keeps them)."""
    from digest.publish.output import OWNER_FILE

    return {
        p.relative_to(out): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != OWNER_FILE and (siblings or p.suffix not in (".gz", ".br"))
    }


def issue_pages(out: Path, issue_id: str) -> list[Path]:
    """An issue's web pages in order: ``issues/<id>.html``, then, for an issue of more
    than ``papers_per_page`` papers, ``issues/<id>/2.html``, ``3.html``, ..."""
    later = (out / "issues" / issue_id).glob("*.html")
    return [out / "issues" / f"{issue_id}.html", *sorted(later, key=lambda p: int(p.stem))]


def whole_issue(out: Path, issue_id: str) -> str:
    """The text of every page of an issue, in order (for what is on "the issue's page",
    paged or not)."""
    return "".join(page.read_text(encoding="utf-8") for page in issue_pages(out, issue_id))


def every_issue_page(out: Path) -> list[Path]:
    """Every issue's every page (first pages and the later pages of paged issues)."""
    issues = out / "issues"
    return sorted([*issues.glob("*.html"), *issues.glob("*/*.html")])


def linked_page(out: Path, base_url: str, url: str) -> tuple[str, str]:
    """The text of the page of the output folder that an absolute link to the site goes
    to, and the link's fragment (a link that leaves the site fails the test)."""
    assert url.startswith(base_url), f"{url} is not on the site {base_url}"
    path, _, fragment = url[len(base_url) :].partition("#")
    target = out / path
    assert target.is_file(), f"{url} links to {path}, which the output folder does not hold"
    return target.read_text(encoding="utf-8"), fragment
