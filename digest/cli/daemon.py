"""``digest daemon``: the pipeline on a schedule, until stopped."""

from __future__ import annotations

import argparse

from digest.cli.arguments import Commands, add_common, add_settle, duration_value
from digest.cli.common import load_config, setup_logging

TYPE_CHECKING = False  # not typing's (see digest/cli/arguments.py)
if TYPE_CHECKING:
    from digest.config.settings import Config


def add_parser(commands: Commands) -> None:
    daemon = commands.add_parser(
        "daemon",
        help="run on a schedule (cron expression or interval) until stopped",
        description="Run the pipeline on the config's schedule. Catches up once at start if a "
        "scheduled run was missed. Stops cleanly on SIGTERM/SIGINT; SIGHUP reloads the config.",
    )
    add_common(daemon)
    daemon.add_argument(
        "--every",
        type=duration_value,
        metavar="DURATION",
        help="run at this interval instead of the config's schedule, e.g. 5s, 6h",
    )
    daemon.add_argument("--cron", metavar="EXPR", help='crontab expression, e.g. "0 8 * * mon"')
    daemon.add_argument(
        "--timezone", metavar="ZONE", help="IANA time zone for --cron, e.g. Europe/Berlin"
    )
    add_settle(daemon)
    daemon.add_argument(
        "--standby",
        action="store_true",
        help="if another daemon runs for this state, wait, and take over when it stops or "
        "dies (for a second machine)",
    )
    daemon.set_defaults(handler=cmd_daemon)


def cmd_daemon(args: argparse.Namespace) -> int:
    from digest.run import schedule

    def load() -> Config:
        return schedule.with_cli_schedule(
            load_config(args), every=args.every, cron=args.cron, timezone=args.timezone
        )

    cfg = load()
    setup_logging(args.verbose, cfg.log_level)
    return schedule.Daemon(cfg, reload=load).serve(standby=args.standby)
