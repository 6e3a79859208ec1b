"""What every command shares: the config with the command line's overrides, logging, JSON.

Imports nothing heavy: ``digest --help`` builds every command's grammar, and each
command imports the library it calls only when it runs.
"""

from __future__ import annotations

import argparse
import sys

from digest.text import one_line

TYPE_CHECKING = False  # not typing's (see digest/cli/arguments.py)
if TYPE_CHECKING:
    import logging

    from digest.config.settings import Config

EXIT_OK, EXIT_REJECTED, EXIT_USAGE, EXIT_OUTPUT, EXIT_DELIVERY, EXIT_INTERNAL = 0, 1, 2, 3, 4, 70


def load_config(args: argparse.Namespace) -> Config:
    """The config the command names (or ./digest.toml, or the defaults), with the
    command line's --inbox, --out, --state, --workers and --settle on top."""
    from pathlib import Path

    from digest.config import loading, settings
    from digest.paths import resolved

    cfg = loading.load(args.config)
    state = args.state and settings.state_location(args.state, Path.cwd())
    return cfg.with_overrides(
        inbox=getattr(args, "inbox", None) and resolved(args.inbox, "--inbox"),
        output=args.out and resolved(args.out, "--out"),
        state=state,
        workers=getattr(args, "workers", None),
        settle=getattr(args, "settle", None),
    )


def setup_logging(verbosity: int, level: str = "INFO", *, quiet: bool = False) -> None:
    import logging

    chosen = logging.DEBUG if verbosity else getattr(logging, level.upper(), logging.INFO)
    if quiet and not verbosity:
        chosen = logging.WARNING
    logger = logging.getLogger("digest")
    for old in [h for h in logger.handlers if getattr(h, "digest_cli", False)]:
        logger.removeHandler(old)
    handler = logging.StreamHandler(sys.stderr)
    handler.digest_cli = True  # type: ignore[attr-defined]
    handler.setFormatter(
        _OneLineFormatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
    )
    logger.addHandler(handler)
    logger.setLevel(chosen)
    logger.propagate = False


def _OneLineFormatter(fmt: str, datefmt: str) -> logging.Formatter:
    """A formatter whose every record is one line: a newline in a file name cannot forge
    another. (Made when logging is set up: ``digest --help`` never imports logging.)"""
    import logging

    class OneLine(logging.Formatter):
        def formatMessage(self, record: logging.LogRecord) -> str:
            return one_line(super().formatMessage(record))

    return OneLine(fmt, datefmt)


def print_json(value: object) -> None:
    """Indented for a person at a terminal; one line for a program or a log, which is
    also several times faster for a report listing thousands of files."""
    import json

    indent = 2 if sys.stdout.isatty() else None
    print(json.dumps(value, indent=indent, ensure_ascii=False, default=str))
