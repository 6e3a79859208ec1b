"""``digest parse``: what the loader reads from files; it changes nothing."""

from __future__ import annotations

import argparse

from digest.cli.arguments import Commands, add_year, date_value, path_value
from digest.cli.common import EXIT_OK, EXIT_REJECTED, print_json
from digest.text import one_line, plural

TYPE_CHECKING = False  # not typing's (see digest/cli/arguments.py)
if TYPE_CHECKING:
    import datetime as dt
    from pathlib import Path

    from digest.model import DigestFile


def add_parser(commands: Commands) -> None:
    parse = commands.add_parser(
        "parse",
        help="show what digest reads from digest files (reads only; changes nothing)",
        description="Parse digest files and print every paper with its fields and every problem.",
    )
    parse.add_argument("files", nargs="+", type=path_value, metavar="FILE")
    parse.add_argument(
        "--today",
        type=date_value,
        metavar="YYYY-MM-DD",
        help="reference day for dates without a year (default: today): a date resolves "
        "to no later than a few days past it, or past the file's modification time",
    )
    add_year(parse)
    parse.add_argument("--json", action="store_true", help="print JSON")
    parse.set_defaults(handler=cmd_parse)


def cmd_parse(args: argparse.Namespace) -> int:
    import datetime as dt

    from digest.cli.text import paper_json
    from digest.model import Severity

    today = args.today or dt.date.today()
    results = _read(args.files, today, args.year)
    if args.json:
        print_json(
            [
                {
                    "file": result.path,
                    "digest_date": result.digest_date.isoformat() if result.digest_date else None,
                    "papers": [paper_json(paper) for paper in result.papers],
                    "problems": [
                        {"line": p.line, "severity": p.severity.value, "message": p.message}
                        for p in result.problems
                    ],
                }
                for result in results
            ]
        )
    else:
        from digest.publish.filters import meta_line

        for result in results:
            date = result.digest_date.isoformat() if result.digest_date else "no date"
            print(
                one_line(
                    f"{result.path}: digest of {date}, {plural(len(result.papers), 'paper')}, "
                    f"{plural(len(result.problems), 'problem')}"
                )
            )
            for number, paper in enumerate(result.papers, start=1):
                meta = meta_line(paper)
                print(one_line(f"  {number:>3}. {paper.title}" + (f"  [{meta}]" if meta else "")))
            for problem in result.problems:
                print(one_line(f"  {problem}"))
    rejected = any(
        r.rejected or any(p.severity is Severity.ERROR for p in r.problems) for r in results
    )
    return EXIT_REJECTED if rejected else EXIT_OK


def _read(files: list[Path], today: dt.date, year: int | None) -> list[DigestFile]:
    """Each file as a run reads it: dates without a year by when the file was saved (or
    in ``year``), and a warning where files read together leave a year unsure."""
    import dataclasses
    import os

    from digest.dates import latest_listing_day, saved_day
    from digest.intake.loader import load_file
    from digest.intake.years import Dated, wrap_warnings

    read = []
    for path in files:
        try:
            saved: dt.date | None = saved_day(os.stat(path).st_mtime_ns)
        except (OSError, ValueError):
            saved = None
        latest = latest_listing_day(today, saved, year)
        result = load_file(str(path), latest)[0]
        # A text listing's date has no year; the API's JSON carries whole dates.
        yearless = not any(paper.details is not None for paper in result.papers[:1])
        read.append((result, Dated(result.path, result.digest_date, latest, yearless)))
    warnings = wrap_warnings([dated for _, dated in read])
    return [
        dataclasses.replace(
            result, problems=result.problems + tuple(w for w in warnings if w.file == result.path)
        )
        for result, _ in read
    ]
