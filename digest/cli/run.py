"""``digest run``: take in the inbox's new files and publish an issue of the new papers."""

from __future__ import annotations

import argparse
import sys

from digest.cli.arguments import (
    Commands,
    add_adopt,
    add_clock,
    add_common,
    add_settle,
    add_year,
    path_value,
    seconds_value,
    workers_value,
)
from digest.cli.common import (
    EXIT_DELIVERY,
    EXIT_OK,
    EXIT_REJECTED,
    load_config,
    print_json,
    setup_logging,
)
from digest.errors import ConfigError
from digest.text import one_line


def add_parser(commands: Commands) -> None:
    run = commands.add_parser(
        "run",
        help="take in new digest files and publish an issue of the new papers",
        description="Read the digest files in the inbox that were not read before, find the "
        "papers never seen before, and publish them as one issue (Markdown, web page, email) "
        "plus the archive index and feeds. A run with nothing new publishes nothing.",
    )
    add_common(run)
    add_clock(run)
    once = run.add_mutually_exclusive_group()
    once.add_argument(
        "--dry-run", action="store_true", help="show what would be new; change nothing"
    )
    once.add_argument(
        "--backfill",
        nargs="?",
        const="week",
        choices=("week", "day", "digest"),
        metavar="PERIOD",
        help="publish a backlog as the archive it would have been: one issue per week "
        "(the default), day or digest of listings, oldest first, each dated by its listings",
    )
    once.add_argument(
        "--mark-seen",
        action="store_true",
        help="remember the new papers as seen and publish nothing: for a backlog you do "
        "not want as one huge issue (later runs publish only papers new after it)",
    )
    run.add_argument(
        "--preview",
        type=path_value,
        metavar="DIR",
        help="with --dry-run: write the issue a run would publish now (its web page, "
        "Markdown and email, under DIR/issues/) to read before publishing",
    )
    run.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    run.add_argument(
        "--wait",
        type=seconds_value,
        default=60.0,
        metavar="SECONDS",
        help="wait this long for another run holding the lock, and for inbox files still "
        "being written (default 60)",
    )
    run.add_argument(
        "--workers",
        type=workers_value,
        metavar="N",
        help="helper processes that parse files during a large import; 0 for none "
        "(default: the config's workers, one per spare core)",
    )
    run.add_argument(
        "--send",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="email the new issue after publishing (default: the config's send_after_run)",
    )
    add_settle(run)
    add_adopt(run)
    add_year(run)
    run.set_defaults(handler=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    import datetime as dt

    from digest.backfill import Period
    from digest.cli.text import Progress, print_next_steps, print_run
    from digest.paths import resolved
    from digest.run import pipeline
    from digest.run.context import Mode, RunOptions

    if args.preview is not None and not args.dry_run:
        raise ConfigError("--preview goes with --dry-run", "digest run --dry-run --preview DIR")
    cfg = load_config(args)
    if args.config is not None and not args.dry_run:  # for status and check typed next
        from pathlib import Path

        from digest.config.remembered import remember

        remember(args.config, Path.cwd())
    setup_logging(args.verbose, cfg.log_level, quiet=args.json)
    now = args.now or dt.datetime.now(dt.UTC)
    if args.today and not args.now:
        now = dt.datetime.combine(args.today, now.timetz())
    mode = Mode.DRY_RUN if args.dry_run else Mode.MARK_SEEN if args.mark_seen else Mode.PUBLISH
    options = RunOptions(
        now=now,
        today=args.today,
        mode=mode,
        wait=args.wait,
        send=args.send,
        adopt_output=args.adopt_output,
        backfill=Period(args.backfill) if args.backfill else None,
        progress=Progress() if sys.stderr.isatty() and not args.json else None,
        year=args.year,
        preview=args.preview and resolved(args.preview, "--preview"),
    )
    report = pipeline.run(cfg, options)
    if args.json:
        print_json(report.as_json())
    else:
        for problem in report.problems:
            print(one_line(str(problem)), file=sys.stderr)
        print_run(report, cfg)
        if report.first_run and (report.issue_id or report.backfilled):
            print_next_steps(report, cfg, args)
    if report.delivery_failed:
        return EXIT_DELIVERY
    return EXIT_REJECTED if report.rejected_input else EXIT_OK
