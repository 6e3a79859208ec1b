"""``digest fetch``: the listing of each day from the Daily Papers API into the inbox.

Exit codes: 0 done (some days may have had nothing new); 1 the API answered with
something that is not a listing (a person should look); 2 usage or config error;
3 the inbox could not be written; 75 a temporary failure (network, timeout, 429, 5xx,
another fetch holding the inbox): try again later. What was fetched before a failure
stays written. Nothing heavy is imported until the command runs.
"""

from __future__ import annotations

import argparse
import sys

from digest.cli.arguments import Commands, date_value, path_value
from digest.cli.common import load_config, print_json, setup_logging
from digest.errors import ConfigError
from digest.text import one_line


def add_parser(commands: Commands) -> None:
    fetch = commands.add_parser(
        "fetch",
        help="fetch each day's listing from the Daily Papers API into the inbox, then stop",
        description="Write the listing of each day into the inbox, one file per day "
        "(hf-YYYY-MM-DD.json), whole or not at all. By default: the days since the last one "
        "fetched, up to today (UTC), and every earlier day not final yet. A day is final "
        "once fetched 36 hours after it ended (UTC) (when the answer lists nothing, or lacks "
        "papers of the inbox's file: once a second such answer 12 hours later agrees) and is "
        "never fetched again. A shorter "
        "answer, or one that is not a listing, never replaces a file. HF_TOKEN, if set in "
        "the environment, is sent as a bearer token.",
    )
    fetch.add_argument(
        "--config", "-c", type=path_value, help="config file (default: ./digest.toml if present)"
    )
    fetch.add_argument(
        "--inbox", type=path_value, help="folder to fetch into (overrides the config)"
    )
    which = fetch.add_mutually_exclusive_group()
    which.add_argument("--date", type=date_value, metavar="YYYY-MM-DD", help="fetch this day only")
    which.add_argument(
        "--since", type=date_value, metavar="YYYY-MM-DD", help="fetch every day from this one on"
    )
    fetch.add_argument(
        "--until",
        type=date_value,
        metavar="YYYY-MM-DD",
        help="with --since: the last day (default: today)",
    )
    fetch.add_argument("--force", action="store_true", help="fetch days that are final too")
    fetch.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    fetch.add_argument("-v", "--verbose", action="count", default=0, help="log each request")
    fetch.set_defaults(handler=cmd_fetch, out=None, state=None)


def cmd_fetch(args: argparse.Namespace) -> int:
    import datetime as dt

    from digest.config.fetch import FetchConfig
    from digest.fetch.days import Selection
    from digest.fetch.fetcher import fetch_listings

    if args.until and not args.since:
        raise ConfigError("--until needs --since", "e.g. --since 2025-11-01 --until 2025-11-30")
    cfg = load_config(args)
    inbox = cfg.inbox
    if args.date:
        selection = Selection.one_day(args.date, force=args.force)
    elif args.since:
        selection = Selection.between(args.since, args.until, force=args.force)
    else:
        selection = Selection.catch_up(force=args.force)
    # The report says everything: no log lines besides it, unless asked for.
    setup_logging(args.verbose, cfg.log_level if args.verbose else "CRITICAL")
    report = fetch_listings(cfg.fetch or FetchConfig(), inbox, selection, dt.datetime.now(dt.UTC))
    if args.json:
        print_json(report.as_json())
    else:
        for warning in report.warnings:
            print(one_line(f"digest: warning: {warning}"), file=sys.stderr)
        for result in report.days:
            line = f"{result.day}  {result.outcome.value:<9}  {result.papers:,} papers"
            if result.outcome.value == "kept":
                line += f" (the inbox's file has {result.inbox_papers:,}: kept)"
            if result.final and result.outcome.value != "final":
                line += "  (final now)"
            elif result.confirm_from is not None:
                again = result.confirm_from.astimezone(dt.UTC)
                line += f"  (in doubt: asked again from {again:%Y-%m-%d %H:%M} UTC)"
            print(one_line(line))
        print(one_line(report.one_line()))
    if report.failure:
        print(one_line(f"digest: error: {report.failure.reason}"), file=sys.stderr)
        if report.failure.hint:
            print(one_line(f"hint: {report.failure.hint}"), file=sys.stderr)
    return report.exit_code
