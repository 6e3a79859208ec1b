"""The command line's shared grammar: value types and the options several commands take.

Each command's own options live beside the command (``digest/cli/<command>.py``).
Values are checked here (a date, a time, a finite number of seconds), so a typo is a
usage error with exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import math

# Not typing's: importing typing, datetime or pathlib for ``digest --help`` would cost a
# third of its time (mypy is told to take this name as true).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import datetime as dt
    from pathlib import Path
    from typing import Any, TypeAlias


class HelpFormatter(argparse.HelpFormatter):
    """argparse's own, told the terminal's width as ``shutil.get_terminal_size`` finds it
    (COLUMNS, else the terminal's, else 80) without importing shutil, which brings bz2 and
    lzma: a tenth of what ``digest --help`` costs beyond Python's own start."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if len(args) < 4 and kwargs.get("width") is None:
            kwargs["width"] = _terminal_columns() - 2
        super().__init__(*args, **kwargs)


class Parser(argparse.ArgumentParser):
    """Every parser of the command line, each command's too: argparse makes a formatter
    for each option it is given (to check its metavar), so each must be the one above."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def _print_message(self, message: str, file: Any = None) -> None:
        """argparse drops an error writing help or usage (``digest --help > /dev/full``
        then says nothing and exits 0); written and flushed here, a full disk is an error
        the command line reports (exit code 3)."""
        if message:
            import sys

            stream = file or sys.stderr
            stream.write(message)
            stream.flush()


def _terminal_columns() -> int:
    """The columns ``shutil.get_terminal_size()`` reports, by the same rules."""
    import os
    import sys

    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns > 0:
        return columns
    try:
        size = os.get_terminal_size(sys.__stdout__.fileno())  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        return 80
    return size.columns or 80


def path_value(text: str) -> Path:
    from pathlib import Path

    return Path(text)


def date_value(text: str) -> dt.date:
    import datetime as dt

    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2024-03-15") from None


def moment_value(text: str) -> dt.datetime:
    import datetime as dt

    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time like 2024-03-15T08:00:00Z"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def duration_value(text: str, *, allow_zero: bool = False) -> float:
    from digest.config.values import parse_duration
    from digest.errors import ConfigError

    try:
        return parse_duration(text, "duration", allow_zero=allow_zero)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(exc.message.removeprefix("duration: ")) from None


def seconds_value(text: str) -> float:
    """A finite number of seconds, 0 or more (``nan`` and ``inf`` would wait for ever)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not math.isfinite(value) or value < 0 or value > 366 * 86400:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds (0 or more)")
    return value


def workers_value(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of processes (0 or more)")
    if int(text) > 64:
        raise argparse.ArgumentTypeError(f"{text} processes: at most 64")
    return int(text)


def year_value(text: str) -> int:
    if not (text.isdigit() and 2000 <= int(text) <= 2999):
        raise argparse.ArgumentTypeError(f"{text!r} is not a year like 2025")
    return int(text)


def add_year(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--year",
        type=year_value,
        metavar="YYYY",
        help="the year of the listings' dates that have none (default: by when each file "
        "was saved, its modification time, and never after today)",
    )


def add_wait(parser: argparse.ArgumentParser, default: float) -> None:
    parser.add_argument(
        "--wait",
        type=seconds_value,
        default=default,
        metavar="SECONDS",
        help=f"wait this long for another digest process holding the lock, then exit with "
        f"code 75 (default {default:g})",
    )


def add_common(parser: argparse.ArgumentParser, *, inbox: bool = True) -> None:
    parser.add_argument(
        "--config", "-c", type=path_value, help="config file (default: ./digest.toml if present)"
    )
    if inbox:
        parser.add_argument(
            "--inbox", type=path_value, help="folder of digest files (overrides the config)"
        )
    parser.add_argument("--out", type=path_value, help="output folder (overrides the config)")
    parser.add_argument(
        "--state",
        metavar="PATH|URL",
        help="state: a SQLite file, or postgresql://user@host/db (overrides the config)",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")


def add_clock(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--today",
        type=date_value,
        metavar="YYYY-MM-DD",
        help="the run's date: names the issue and resolves dates without a year (default: today)",
    )
    parser.add_argument(
        "--now",
        type=moment_value,
        metavar="ISO-TIME",
        help="the run's clock, for reproducible output (default: the current time)",
    )


def add_settle(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--settle",
        type=lambda text: duration_value(text, allow_zero=True),
        metavar="DURATION",
        help="leave inbox files changed more recently than this for later, as they may still "
        "be being written (default: the config's settle, 5s; 0 takes every file)",
    )


def add_adopt(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--adopt-output",
        action="store_true",
        help="publish into an output folder that another (or a lost) state wrote, keeping "
        "every file in it",
    )


if TYPE_CHECKING:  # what add_subparsers() returns, to which each command adds itself
    Commands: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    Commands = argparse._SubParsersAction
