"""The command line: calls the library, prints, sets the exit code.

Only this module prints or exits. Heavy modules (jinja2, feedgen, apscheduler) are
imported inside the commands that need them, so ``digest --help`` starts fast.

Exit codes: 0 done; 1 done, but some input was rejected; 2 usage, config or state
error; 3 an output or template could not be written; 4 email not delivered to every
recipient; 70 an internal error (a bug; the traceback is written to a file);
75 another digest process holds the lock, or the database is unreachable (try later).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from digest.cli.arguments import build_parser
from digest.cli.text import Progress, paper_json, print_run
from digest.errors import ConfigError, DigestError
from digest.text import one_line

EXIT_OK, EXIT_REJECTED, EXIT_USAGE, EXIT_DELIVERY, EXIT_INTERNAL = 0, 1, 2, 4, 70

log = logging.getLogger("digest")

__all__ = ["build_parser", "main"]


def _config(args: argparse.Namespace) -> Any:
    from digest.config import settings as config_module

    cfg = config_module.load(args.config)
    state = args.state and config_module.state_location(args.state, Path.cwd())
    return cfg.with_overrides(
        inbox=getattr(args, "inbox", None) and args.inbox.resolve(),
        output=args.out and args.out.resolve(),
        state=state,
        workers=getattr(args, "workers", None),
        settle=getattr(args, "settle", None),
    )


def _setup_logging(verbosity: int, level: str = "INFO", *, quiet: bool = False) -> None:
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


class _OneLineFormatter(logging.Formatter):
    """A log record is one line: a newline in a file name cannot forge another."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return one_line(super().formatMessage(record))


def _print_json(value: object) -> None:
    """Indented for a person at a terminal; one line for a program or a log, which is
    also several times faster for a report listing thousands of files."""
    indent = 2 if sys.stdout.isatty() else None
    print(json.dumps(value, indent=indent, ensure_ascii=False, default=str))


def cmd_run(args: argparse.Namespace) -> int:
    from digest.run import pipeline

    cfg = _config(args)
    _setup_logging(args.verbose, cfg.log_level, quiet=args.json)
    now = args.now or dt.datetime.now(dt.UTC)
    if args.today and not args.now:
        now = dt.datetime.combine(args.today, now.timetz())
    mode = (
        pipeline.Mode.DRY_RUN
        if args.dry_run
        else pipeline.Mode.MARK_SEEN
        if args.mark_seen
        else pipeline.Mode.PUBLISH
    )
    options = pipeline.RunOptions(
        now=now,
        today=args.today,
        mode=mode,
        wait=args.wait,
        send=args.send,
        adopt_output=args.adopt_output,
        backfill=pipeline.Period(args.backfill) if args.backfill else None,
        progress=Progress() if sys.stderr.isatty() and not args.json else None,
    )
    report = pipeline.run(cfg, options)
    if args.json:
        _print_json(report.as_json())
    else:
        for problem in report.problems:
            print(one_line(str(problem)), file=sys.stderr)
        print_run(report, cfg)
    if report.delivery_failed:
        return EXIT_DELIVERY
    return EXIT_REJECTED if report.rejected_input else EXIT_OK


def cmd_parse(args: argparse.Namespace) -> int:
    from digest.intake.loader import load_file
    from digest.model import Severity

    today = args.today or dt.date.today()
    results = [load_file(str(path), today)[0] for path in args.files]
    if args.json:
        _print_json(
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
        from digest.publish.render import meta_line

        for result in results:
            date = result.digest_date.isoformat() if result.digest_date else "no date"
            print(
                one_line(
                    f"{result.path}: digest of {date}, {len(result.papers)} papers, "
                    f"{len(result.problems)} problems"
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


def cmd_status(args: argparse.Namespace) -> int:
    from digest.health import checks as health
    from digest.health import status

    cfg = _config(args)
    info = status.collect(cfg)
    findings = health.check(cfg, status=info)
    if args.json:
        _print_json({**info.as_json(), "health": findings.as_json()})
    else:
        print(info.as_text())
        print(f"health:   {findings.level.name.lower()}")
        for finding in findings.findings:
            if finding.level:
                print(one_line(f"          {finding.level.name.lower()}: {finding.message}"))
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    """A monitoring plugin: its exit codes are the plugin convention's, not digest's."""
    from digest.health import checks as health

    try:
        result = health.check(_config(args))
    except DigestError as exc:
        print(one_line(f"DIGEST UNKNOWN - {exc.message}"))
        return int(health.Level.UNKNOWN)
    if args.json:
        _print_json(result.as_json())
    else:
        print(one_line(result.summary()))
        for finding in result.findings:
            print(one_line(f"{finding.level.name}: {finding.check}: {finding.message}"))
    return int(result.level)


def cmd_post(args: argparse.Namespace) -> int:
    from digest.run import actions

    cfg = _config(args)
    _setup_logging(args.verbose, cfg.log_level, quiet=args.json)
    outcome = actions.post(cfg, args.issue, channel=args.channel, force=args.force)
    if args.json:
        _print_json(
            {
                "issue": outcome.issue_id,
                "posted_to": outcome.posted_to,
                "already": outcome.already,
                "in_doubt": outcome.in_doubt,
                "failed": [{"channel": f.recipient, "reason": f.reason} for f in outcome.failed],
            }
        )
    else:
        if outcome.posted_to:
            print(f"posted issue {outcome.issue_id} to {', '.join(outcome.posted_to)}")
        if outcome.already:
            print(
                f"issue {outcome.issue_id} was already posted to {', '.join(outcome.already)} "
                "(use --force to post again)"
            )
        if outcome.error:
            print(one_line(f"digest: error: {outcome.error}"), file=sys.stderr)
    return EXIT_DELIVERY if outcome.error else EXIT_OK


def cmd_state(args: argparse.Namespace) -> int:
    from digest.config import settings as config_module
    from digest.run import actions

    cfg = config_module.load(args.config)
    site = config_module.check_site(args.site) if args.site else cfg.site
    target_site = config_module.check_site(args.to_site) if args.to_site else site
    source = cfg.with_overrides(
        state=config_module.state_location(args.source, Path.cwd()), site=site
    )
    target = cfg.with_overrides(
        state=config_module.state_location(args.target, Path.cwd()), site=target_site
    )
    report = actions.copy(source, target)
    for table, count in report.counts.items():
        print(f"  {table}: {count:,} rows")
    print(f"copied {report.source} to {report.target}; every table's count matches")
    print(
        "the copy is a state of its own: publish into a new output folder, or take the old "
        "one over once with 'digest run --adopt-output'"
    )
    return EXIT_OK


def cmd_init(args: argparse.Namespace) -> int:
    from digest.config.settings import DEFAULT_CONFIG_NAME
    from digest.config.starter import STARTER

    folder: Path = args.directory
    target = folder / DEFAULT_CONFIG_NAME
    if target.exists():
        raise ConfigError(
            f"{target} already exists", "edit it, or run 'digest init' in another folder"
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "inbox").mkdir(exist_ok=True)
        target.write_text(STARTER.format(title="Paper digest", author="digest"), encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {target}: {exc.strerror}") from None
    print(f"wrote {target} and {folder / 'inbox'}/")
    print("next: drop digest files into the inbox, then run 'digest run'")
    return EXIT_OK


def cmd_rebuild(args: argparse.Namespace) -> int:
    from digest.run import actions

    cfg = _config(args)
    _setup_logging(args.verbose, cfg.log_level)
    written = actions.rebuild(cfg, args.issue, adopt_output=args.adopt_output)
    print(f"rebuilt {len(written)} files in {cfg.output}")
    return EXIT_OK


def cmd_send(args: argparse.Namespace) -> int:
    from digest.run import actions

    cfg = _config(args)
    _setup_logging(args.verbose, cfg.log_level, quiet=args.json)
    outcome = actions.send(cfg, args.issue, recipients=args.to, smtp=args.smtp, force=args.force)
    if args.json:
        _print_json({
            "issue": outcome.issue_id,
            "sent_to": outcome.sent_to,
            "already_sent": outcome.already_sent,
            "in_doubt": outcome.in_doubt_before + outcome.in_doubt_now,
            "refused": [{"recipient": r.recipient, "reason": r.reason} for r in outcome.refused],
            "deferred": [{"recipient": r.recipient, "reason": r.reason} for r in outcome.deferred],
            "error": outcome.error,
        })  # fmt: skip
    else:
        if outcome.sent_to:
            print(f"sent issue {outcome.issue_id} to {', '.join(outcome.sent_to)}")
        if outcome.already_sent:
            print(f"issue {outcome.issue_id} was already sent to "
                  f"{', '.join(outcome.already_sent)}; nothing sent to them "
                  "(use --force to send again)")  # fmt: skip
        if outcome.in_doubt_before:
            print(f"issue {outcome.issue_id} may already have reached "
                  f"{', '.join(outcome.in_doubt_before)} (the server never confirmed it); "
                  "not sent again (use --force to send it anyway)")  # fmt: skip
        if outcome.error:
            print(f"digest: error: {outcome.error}", file=sys.stderr)
    # In doubt is not delivered: until --force (or a look in the mail log) settles it, a
    # cron line's "digest send || alert" must keep saying so.
    return EXIT_DELIVERY if outcome.failed or outcome.in_doubt_before else EXIT_OK


def cmd_daemon(args: argparse.Namespace) -> int:
    from digest.run import schedule

    def load() -> Any:
        cfg = _config(args)
        return schedule.with_cli_schedule(
            cfg, every=args.every, cron=args.cron, timezone=args.timezone
        )

    cfg = load()
    _setup_logging(args.verbose, cfg.log_level)
    return schedule.Daemon(cfg, reload=load).serve(standby=args.standby)


COMMANDS = {
    "run": cmd_run,
    "parse": cmd_parse,
    "status": cmd_status,
    "init": cmd_init,
    "rebuild": cmd_rebuild,
    "send": cmd_send,
    "post": cmd_post,
    "check": cmd_check,
    "state": cmd_state,
    "daemon": cmd_daemon,
}


def _report_crash(exc: BaseException) -> int:
    """A bug, not the user's input: the traceback goes to a file, one line to stderr."""
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


def main(argv: list[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):  # text any terminal or pipe can take
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except DigestError as exc:
        print(one_line(f"digest: error: {exc.message}"), file=sys.stderr)
        if exc.hint:
            print(one_line(f"hint: {exc.hint}"), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("digest: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `digest parse ... | head`
        sys.stderr.close()
        return 0
    except Exception as exc:
        return _report_crash(exc)


if __name__ == "__main__":
    sys.exit(main())
