"""The command line's entry point: the grammar of every command, dispatch, exit codes.

Only the CLI prints or exits. Each command lives in a module of its own beside this one
(``run.py``, ``send.py``, ...), its grammar beside its code; heavy modules (jinja2,
feedgen, apscheduler) are imported inside the commands that need them, so
``digest --help`` starts fast.

Exit codes: 0 done; 1 done, but some input was rejected; 2 usage, config or state
error; 3 an output or template could not be written; 4 email not delivered to every
recipient; 70 an internal error (a bug; the traceback is written to a file);
75 another digest process holds the lock, or the database is unreachable (try later).
"""

from __future__ import annotations

import argparse
import errno
import os
import sys

from digest import __version__
from digest.cli import daemon, fetch, init, parse, rebuild, run, send, serve, state, status
from digest.cli.arguments import Parser
from digest.cli.common import EXIT_INTERNAL, EXIT_OUTPUT
from digest.errors import DigestError
from digest.text import one_line

# In the order ``digest --help`` lists them.
COMMAND_MODULES = (run, fetch, parse, status, init, rebuild, send, serve, state, daemon)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="digest",
        description="Turn a folder of saved paper listings (digest files) into a newsletter of "
        "the papers you have not seen before: Markdown, a web page, an email and RSS/Atom feeds.",
        epilog="Start with 'digest init', drop digest files into the inbox, then 'digest run'. "
        "Exit codes: 0 done; 1 done, some input rejected; 2 usage, config or state error; "
        "3 output or template error; 4 email not delivered to everyone; 70 internal error; "
        "75 busy or unreachable, try again later.",
    )
    parser.add_argument("--version", action="version", version=f"digest {__version__}")
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=Parser
    )
    for module in COMMAND_MODULES:
        module.add_parser(commands)
    return parser


def _report_crash(exc: BaseException) -> int:
    """A bug, not the user's input: the traceback goes to a file, one line to stderr."""
    import tempfile
    import time
    import traceback
    from pathlib import Path

    text = "".join(traceback.format_exception(exc))
    name = f"digest-crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.txt"
    where = Path(tempfile.gettempdir()) / name
    try:
        where.write_text(text, encoding="utf-8")
        pointer = f"the traceback is in {where}"
    except OSError:
        sys.stderr.write(text)
        pointer = "the traceback is above"
    print(one_line(f"digest: internal error: {type(exc).__name__}: {exc}"), file=sys.stderr)
    print(
        f"this is a bug in digest, not in your input; {pointer} (please report it)", file=sys.stderr
    )
    return EXIT_INTERNAL


DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def _disk_full(exc: OSError) -> int:
    """A full disk is the machine's state, not a bug: said in one line, exit code 3. Most
    often it is standard output's (``digest run >> digest.log`` on a full disk): the
    command's own work is done, only its report could not be written."""
    where = f" {exc.filename}" if exc.filename else " its output (standard output)"
    _quiet_stdout()
    try:
        print(one_line(f"digest: error: cannot write{where}: {exc.strerror}"), file=sys.stderr)
        print(
            "hint: free some disk space; what the command did is done ('digest status' "
            "says what the state holds)",
            file=sys.stderr,
        )
    except OSError:
        pass  # standard error is on the full disk too: the exit code says it
    return EXIT_OUTPUT


def _quiet_stdout() -> None:
    """Standard output to /dev/null, so that the interpreter's last flush of what could
    not be written fails no more (it would print a traceback of its own)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def main(argv: list[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):  # text any terminal or pipe can take
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except OSError as exc:  # help or usage that could not be written
        if isinstance(exc, BrokenPipeError):  # `digest --help | head -1`
            _quiet_stdout()
            return 0
        if exc.errno in DISK_FULL:
            return _disk_full(exc)
        raise
    try:
        code: int = args.handler(args)
        sys.stdout.flush()  # here, where a full disk is an error, not at exit
        return code
    except DigestError as exc:
        try:
            print(one_line(f"digest: error: {exc.message}"), file=sys.stderr)
            if exc.hint:
                print(one_line(f"hint: {exc.hint}"), file=sys.stderr)
        except OSError:  # standard error on a full disk: the exit code says it
            _quiet_stdout()
        return exc.exit_code
    except KeyboardInterrupt:
        print("digest: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `digest parse ... | head`
        sys.stderr.close()
        return 0
    except OSError as exc:
        if exc.errno in DISK_FULL:
            return _disk_full(exc)
        return _report_crash(exc)
    except Exception as exc:
        return _report_crash(exc)


if __name__ == "__main__":
    sys.exit(main())
