"""``digest state copy``: a whole state between SQLite and PostgreSQL."""

from __future__ import annotations

import argparse

from digest.cli.arguments import Commands, path_value
from digest.cli.common import EXIT_OK
from digest.text import one_line


def add_parser(commands: Commands) -> None:
    state = commands.add_parser(
        "state",
        help="manage the state: copy it between SQLite and PostgreSQL",
    )
    state_commands = state.add_subparsers(dest="state_command", metavar="ACTION", required=True)
    copy = state_commands.add_parser(
        "copy",
        help="copy a whole state (one site) into an empty one: SQLite to PostgreSQL or back",
        description="Copy every file, paper, issue, run and delivery of one state into an "
        "empty one, checking the counts at the end. FROM and TO are SQLite paths or "
        "PostgreSQL URLs; --site names the site (default: the config's).",
    )
    copy.add_argument("source", metavar="FROM")
    copy.add_argument("target", metavar="TO")
    copy.add_argument("--config", "-c", type=path_value, help="config file (for the site name)")
    copy.add_argument("--site", help="the site to copy (default: the config's site)")
    copy.add_argument("--to-site", help="the site to copy into (default: the same)")
    copy.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    copy.set_defaults(handler=cmd_state_copy)


def cmd_state_copy(args: argparse.Namespace) -> int:
    from pathlib import Path

    from digest.config import loading, settings
    from digest.run import actions

    cfg = loading.load(args.config)
    site = loading.check_site(args.site) if args.site else cfg.site
    target_site = loading.check_site(args.to_site) if args.to_site else site
    source = cfg.with_overrides(state=settings.state_location(args.source, Path.cwd()), site=site)
    target = cfg.with_overrides(
        state=settings.state_location(args.target, Path.cwd()), site=target_site
    )
    report = actions.copy(source, target)
    for table, count in report.counts.items():
        print(f"  {table}: {count:,} rows")
    print(one_line(f"copied {report.source} to {report.target}; every table's count matches"))
    print(
        "the copy is a state of its own: publish into a new output folder, or take the old "
        "one over once with 'digest run --adopt-output'"
    )
    return EXIT_OK
