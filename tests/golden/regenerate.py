"""The golden output tree: what digest publishes for a small inbox cut from the examples.

``python tests/golden/regenerate.py`` writes ``inbox/`` (the first entries of each example
digest, over two days) and ``expected/`` (two runs with a fixed clock). Run it on purpose,
after a change to any output, and review the diff: tests/test_golden.py compares a fresh
run with ``expected/`` byte for byte, so no output changes unnoticed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parent.parent / "examples" / "digests"
# (file, how many of its entries, the day it arrives); the second day repeats a paper.
CUTS = [("000_0e5cb4eac3db34fe.txt", 4, 1), ("002_b459e3eae30a13fb.txt", 4, 1),
        ("003_73824512330c0a56.txt", 4, 2), ("002_b459e3eae30a13fb.txt", 2, 2)]  # fmt: skip
RUNS = ["2026-11-23T08:00:00Z", "2026-11-24T08:00:00Z"]


def first_entries(text: str, count: int) -> str:
    """The header and the first ``count`` entries (title, abstract, metadata if any)."""
    paragraphs = re.split(r"\n\s*\n", text.strip())
    date = next(i for i, p in enumerate(paragraphs) if re.fullmatch(r"[A-Z][a-z]{2} \d{1,2}", p))
    kept, entries, index = paragraphs[: date + 1], 0, date + 1
    while index < len(paragraphs) and entries < count:
        kept += paragraphs[index : index + 2]
        index += 2
        if index < len(paragraphs) and "·" in paragraphs[index].splitlines():
            kept.append(paragraphs[index])
            index += 1
        entries += 1
    return "\n\n".join(kept) + "\n"


def write_inbox(inbox: Path, day: int) -> None:
    for number, (name, count, arrives) in enumerate(CUTS):
        if arrives == day:
            text = first_entries((EXAMPLES / name).read_text(encoding="utf-8"), count)
            (inbox / f"day{day}-{number}.txt").write_text(text, encoding="utf-8")


def publish(out: Path, state: str, inbox: Path) -> None:
    """The two runs, into ``out``, as a user would run them (the CLI, a fresh process);
    ``state`` is a path or a PostgreSQL URL."""
    for day, now in enumerate(RUNS, start=1):
        write_inbox(inbox, day)
        subprocess.run(
            [sys.executable, "-m", "digest", "run", "--config", str(HERE / "digest.toml"),
             "--out", str(out), "--state", state, "--inbox", str(inbox), "--now", now,
             "--settle", "0"],
            check=True, capture_output=True,
        )  # fmt: skip


def main() -> None:
    expected = HERE / "expected"
    shutil.rmtree(expected, ignore_errors=True)
    with tempfile.TemporaryDirectory() as work:
        inbox = Path(work) / "inbox"
        inbox.mkdir()
        publish(expected, str(Path(work) / "state.sqlite"), inbox)
    (expected / ".digest-owner").unlink()
    # The precompressed siblings are checked by what they decompress to (tests/test_golden.py),
    # not kept here: their bytes are zlib's and Brotli's, which a new release may change.
    for sibling in [*expected.rglob("*.gz"), *expected.rglob("*.br")]:
        sibling.unlink()
    print(f"wrote {sum(1 for p in expected.rglob('*') if p.is_file())} files to {expected}")


if __name__ == "__main__":
    main()
