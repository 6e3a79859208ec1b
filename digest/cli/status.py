"""``digest status`` (for a person) and ``digest check`` (for a monitor)."""

from __future__ import annotations

import argparse

from digest.cli.arguments import Commands, add_common, moment_value
from digest.cli.common import EXIT_OK, load_config, print_json
from digest.errors import ConfigError, DigestError
from digest.text import one_line


def add_parser(commands: Commands) -> None:
    status = commands.add_parser(
        "status",
        help="what the state holds: files, papers, issues, the last run, deliveries, schedule",
    )
    add_common(status)
    status.add_argument("--json", action="store_true", help="print JSON")
    _add_now(status)
    status.set_defaults(handler=cmd_status)

    check = commands.add_parser(
        "check",
        help="is the digest healthy? a monitoring plugin (exit 0 OK, 1 WARNING, 2 CRITICAL, "
        "3 UNKNOWN)",
        description="Check, as a Nagios/Icinga plugin does: the last run, new digest files, a "
        "short listing, rejected files, deliveries, the daemon's heartbeat, the last ping. "
        "Prints one summary line first, then the details.",
    )
    add_common(check)
    check.add_argument("--json", action="store_true", help="print JSON")
    _add_now(check)
    check.set_defaults(handler=cmd_check)


def _add_now(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--now",
        type=moment_value,
        metavar="ISO-TIME",
        help="judge ages as of this time (default: the current time), to try a threshold",
    )


def cmd_status(args: argparse.Namespace) -> int:
    from digest.health import checks, status

    cfg = load_config(args)
    info = status.collect(cfg, args.now)
    findings = checks.check(cfg, args.now, status=info)
    if args.json:
        print_json({**info.as_json(), "health": findings.as_json()})
    else:
        print(info.as_text())
        print(f"health:   {findings.level.name.lower()}")
        for finding in findings.findings:
            if finding.level:
                print(one_line(f"          {finding.level.name.lower()}: {finding.message}"))
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    """A monitoring plugin: its exit codes are the plugin convention's, not digest's."""
    from digest.health import checks

    try:
        result = checks.check(load_config(args), args.now)
    except DigestError as exc:
        summary = one_line(f"DIGEST UNKNOWN - {exc.message}")
        if args.json:  # a monitor that asked for JSON parses JSON, whatever went wrong
            what = "config" if isinstance(exc, ConfigError) else "state"
            unknown = {"level": "UNKNOWN", "check": what, "message": exc.message}
            print_json(
                {"level": "UNKNOWN", "code": 3, "summary": summary, "findings": [unknown]}
                | {"metrics": {}}
            )
        else:
            print(summary)
        return int(checks.Level.UNKNOWN)
    if args.json:
        print_json(result.as_json())
    else:
        print(one_line(result.summary()))
        for finding in result.findings:
            print(one_line(f"{finding.level.name}: {finding.check}: {finding.message}"))
    return int(result.level)
