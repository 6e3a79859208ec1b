"""The command line's grammar: every command, option and its help.

Kept apart from the commands so that ``digest --help`` builds it without importing
anything heavy. Values are checked here (a date, a time, a finite number of seconds),
so a typo is a usage error with exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
from pathlib import Path

from digest import __version__


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2024-03-15") from None


def _moment(text: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time like 2024-03-15T08:00:00Z"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _duration(text: str, *, allow_zero: bool = False) -> float:
    from digest.config.settings import parse_duration
    from digest.errors import ConfigError

    try:
        return parse_duration(text, "duration", allow_zero=allow_zero)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(exc.message.removeprefix("duration: ")) from None


def _seconds(text: str) -> float:
    """A finite number of seconds, 0 or more (``nan`` and ``inf`` would wait for ever)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not math.isfinite(value) or value < 0 or value > 366 * 86400:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds (0 or more)")
    return value


def _workers(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of processes (0 or more)")
    if int(text) > 64:
        raise argparse.ArgumentTypeError(f"{text} processes: at most 64")
    return int(text)


def _common(parser: argparse.ArgumentParser, *, inbox: bool = True) -> None:
    parser.add_argument(
        "--config", "-c", type=Path, help="config file (default: ./digest.toml if present)"
    )
    if inbox:
        parser.add_argument(
            "--inbox", type=Path, help="folder of digest files (overrides the config)"
        )
    parser.add_argument("--out", type=Path, help="output folder (overrides the config)")
    parser.add_argument(
        "--state",
        metavar="PATH|URL",
        help="state: a SQLite file, or postgresql://user@host/db (overrides the config)",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")


def _clock(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--today",
        type=_date,
        metavar="YYYY-MM-DD",
        help="the run's date: names the issue and resolves dates without a year (default: today)",
    )
    parser.add_argument(
        "--now",
        type=_moment,
        metavar="ISO-TIME",
        help="the run's clock, for reproducible output (default: the current time)",
    )


def _settle(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--settle",
        type=lambda text: _duration(text, allow_zero=True),
        metavar="DURATION",
        help="leave inbox files changed more recently than this for later, as they may still "
        "be being written (default: the config's settle, 5s; 0 takes every file)",
    )


def _adopt(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--adopt-output",
        action="store_true",
        help="publish into an output folder that another (or a lost) state wrote, keeping "
        "every file in it",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="digest",
        description="Turn a folder of saved paper listings (digest files) into a newsletter of "
        "the papers you have not seen before: Markdown, a web page, an email and RSS/Atom feeds.",
        epilog="Start with 'digest init', drop digest files into the inbox, then 'digest run'. "
        "Exit codes: 0 done; 1 done, some input rejected; 2 usage, config or state error; "
        "3 output or template error; 4 email not delivered to everyone; 70 internal error; "
        "75 busy or unreachable, try again later.",
    )
    parser.add_argument("--version", action="version", version=f"digest {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = commands.add_parser(
        "run",
        help="take in new digest files and publish an issue of the new papers",
        description="Read the digest files in the inbox that were not read before, find the "
        "papers never seen before, and publish them as one issue (Markdown, web page, email) "
        "plus the archive index and feeds. A run with nothing new publishes nothing.",
    )
    _common(run)
    _clock(run)
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
    run.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    run.add_argument(
        "--wait",
        type=_seconds,
        default=60.0,
        metavar="SECONDS",
        help="wait this long for another run holding the lock, and for inbox files still "
        "being written (default 60)",
    )
    run.add_argument(
        "--workers",
        type=_workers,
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
    _settle(run)
    _adopt(run)

    parse = commands.add_parser(
        "parse",
        help="show what digest reads from digest files (reads only; changes nothing)",
        description="Parse digest files and print every paper with its fields and every problem.",
    )
    parse.add_argument("files", nargs="+", type=Path, metavar="FILE")
    parse.add_argument(
        "--today",
        type=_date,
        metavar="YYYY-MM-DD",
        help="reference day for dates without a year (default: today)",
    )
    parse.add_argument("--json", action="store_true", help="print JSON")

    status = commands.add_parser(
        "status",
        help="what the state holds: files, papers, issues, the last run, deliveries, schedule",
    )
    _common(status)
    status.add_argument("--json", action="store_true", help="print JSON")

    init = commands.add_parser("init", help="write a starter config and an empty inbox folder")
    init.add_argument("directory", nargs="?", type=Path, default=Path("."), metavar="DIR")

    rebuild = commands.add_parser(
        "rebuild",
        help="render every page, feed and email again from the state (after editing templates), "
        "or one issue's (after editing its note)",
    )
    rebuild.add_argument(
        "issue", nargs="?", help="only this issue (and the site's pages and feeds)"
    )
    _common(rebuild, inbox=False)
    _adopt(rebuild)

    send = commands.add_parser(
        "send",
        help="email an issue (default: the newest) over SMTP, once per recipient",
        description="Send an issue's email. Each recipient gets an issue once: sending again "
        "sends nothing unless --force, and a copy the server never confirmed (in doubt) is "
        "not sent again unless --force.",
    )
    send.add_argument("issue", nargs="?", help="issue id, e.g. 2024-03-15 (default: the newest)")
    _common(send, inbox=False)
    send.add_argument(
        "--to",
        action="append",
        metavar="ADDR",
        help="recipient (repeatable; default: the config's)",
    )
    send.add_argument(
        "--smtp",
        metavar="HOST:PORT",
        help="plain SMTP server to use instead of the config's (for trials)",
    )
    send.add_argument(
        "--force",
        action="store_true",
        help="send even to recipients who already got it, or whose copy is in doubt",
    )
    send.add_argument("--json", action="store_true", help="print JSON")

    check = commands.add_parser(
        "check",
        help="is the digest healthy? a monitoring plugin (exit 0 OK, 1 WARNING, 2 CRITICAL, "
        "3 UNKNOWN)",
        description="Check, as a Nagios/Icinga plugin does: the last run, new digest files, a "
        "short listing, rejected files, deliveries, the daemon's heartbeat, the last ping. "
        "Prints one summary line first, then the details.",
    )
    _common(check)
    check.add_argument("--json", action="store_true", help="print JSON")

    post = commands.add_parser(
        "post",
        help="post an issue (default: the newest) to the chat channels, once per channel",
        description="Post an issue to each [[channels]] entry (or the one named) that has not "
        "had it. Posting again posts nothing unless --force.",
    )
    post.add_argument("issue", nargs="?", help="issue id (default: the newest)")
    _common(post, inbox=False)
    post.add_argument("--channel", metavar="NAME", help="only this channel")
    post.add_argument("--force", action="store_true", help="post even where it was posted")
    post.add_argument("--json", action="store_true", help="print JSON")

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
    copy.add_argument("--config", "-c", type=Path, help="config file (for the site name)")
    copy.add_argument("--site", help="the site to copy (default: the config's site)")
    copy.add_argument("--to-site", help="the site to copy into (default: the same)")
    copy.add_argument("-v", "--verbose", action="count", default=0, help="more log output")

    daemon = commands.add_parser(
        "daemon",
        help="run on a schedule (cron expression or interval) until stopped",
        description="Run the pipeline on the config's schedule. Catches up once at start if a "
        "scheduled run was missed. Stops cleanly on SIGTERM/SIGINT; SIGHUP reloads the config.",
    )
    _common(daemon)
    daemon.add_argument(
        "--every",
        type=_duration,
        metavar="DURATION",
        help="run at this interval instead of the config's schedule, e.g. 5s, 6h",
    )
    daemon.add_argument("--cron", metavar="EXPR", help='crontab expression, e.g. "0 8 * * mon"')
    daemon.add_argument(
        "--timezone", metavar="ZONE", help="IANA time zone for --cron, e.g. Europe/Berlin"
    )
    _settle(daemon)
    daemon.add_argument(
        "--standby",
        action="store_true",
        help="if another daemon runs for this state, wait, and take over when it stops or "
        "dies (for a second machine)",
    )
    return parser
