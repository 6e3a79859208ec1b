"""Stores of 10k to 1M papers for the incremental runs, made directly through the store's
API in one transaction (on PostgreSQL, papers and sightings go in by COPY, through the
store's ``_insert_rows``), the same rows on either backend."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from benchmarks.harness import SEEDS

PER_ISSUE, PER_FILE = 1000, 100


def fill_store(store, papers: int, inbox: Path, out: Path, *, write_inbox: bool) -> None:
    """``papers`` papers in issues of 1,000, ranked, on pages as this version publishes
    them (``PAPERS_PER_PAGE`` each), their outputs written; an inbox
    holding every old file (small files, recorded as taken in; written here, or left as
    an earlier build wrote them); and an output folder holding every old issue's files
    (empty: a run only lists them), claimed by this state."""
    from digest.intake.loader import parse_text
    from digest.model import PAPERS_PER_PAGE, Paper, RunResult
    from digest.publish.output import OutputWriter, Owner
    from digest.publish.ownership import claim_output

    seeds = [
        p
        for path in sorted(SEEDS.glob("*.txt"))
        for p in parse_text(
            path.read_text(encoding="utf-8"), str(path), dt.date(2026, 11, 24)
        ).papers
    ]
    inbox.mkdir(parents=True, exist_ok=True)
    (out / "issues").mkdir(parents=True)
    (out / "archive").mkdir()
    start = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    seqs: list[int] = []
    with store.transaction():
        for number in range(papers // PER_ISSUE):
            moment = start + dt.timedelta(days=number)
            issue_id, seq = store.next_issue_id(moment.date())
            batch = [
                Paper(
                    title=f"{seeds[i % len(seeds)].title} variant {number}-{i}",
                    abstract=seeds[i % len(seeds)].abstract[:600],
                    source="old.txt",
                    line=1,
                )
                for i in range(PER_ISSUE)
            ]
            ids = store.add_papers([(paper, None) for paper in batch], seq, moment)
            store.rank_issue(seq, by_upvotes=True)
            store.add_issue(
                issue_id, seq, moment.date(), moment, PER_ISSUE, papers_per_page=PAPERS_PER_PAGE
            )
            seqs.append(seq)
            for kind in ("md", "html", "eml"):
                (out / "issues" / f"{issue_id}.{kind}").touch()
            (out / "issues" / issue_id).mkdir()
            for page in range(2, -(-PER_ISSUE // PAPERS_PER_PAGE) + 1):
                (out / "issues" / issue_id / f"{page}.html").touch()
            (out / "archive" / f"{moment.year}.html").touch()
            for part in range(PER_ISSUE // PER_FILE):
                name = f"old-{number:05d}-{part}.txt"
                path = inbox / name
                if write_inbox:
                    path.write_text(f"old digest {number} {part}\n", encoding="utf-8")
                stat = path.stat()
                file_id = store.record_file(
                    f"hash-{name}", name, moment.date(), moment, PER_FILE, 0
                )
                store.remember_inbox_file(str(path), stat.st_size, stat.st_mtime_ns, f"hash-{name}")
                chunk = ids[part * PER_FILE : (part + 1) * PER_FILE]
                store.add_sightings([(i, moment.date(), None) for i in chunk], file_id)
        store.outputs_written(seqs)
        run_id = store.start_run(start, "benchmark", 0)
        store.finish_run(run_id, start, RunResult.PUBLISHED, new_papers=PER_ISSUE)
        claim_output(store, OutputWriter(out, Owner(store.state_id, store.site)))
