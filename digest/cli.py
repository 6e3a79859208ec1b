"""The command line: parses options, calls the library, prints, sets the exit code.

Only this module prints or exits. Heavy modules (jinja2, feedgen, apscheduler) are
imported inside the commands that need them, so ``digest --help`` starts fast.

Exit codes: 0 done; 1 done, but some input was rejected; 2 usage or config error;
3 an output or template could not be written; 4 email delivery failed; 75 another
digest process holds the lock (try again later).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from digest import __version__
from digest.errors import ConfigError, DigestError

EXIT_OK, EXIT_REJECTED, EXIT_USAGE = 0, 1, 2

log = logging.getLogger("digest")


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


def _duration(text: str) -> float:
    from digest.config import parse_duration

    try:
        return parse_duration(text, "--every")
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


def _common(parser: argparse.ArgumentParser, *, inbox: bool = True) -> None:
    parser.add_argument(
        "--config", "-c", type=Path, help="config file (default: ./digest.toml if present)"
    )
    if inbox:
        parser.add_argument(
            "--inbox", type=Path, help="folder of digest files (overrides the config)"
        )
    parser.add_argument("--out", type=Path, help="output folder (overrides the config)")
    parser.add_argument("--state", type=Path, help="state file (overrides the config)")
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="digest",
        description="Turn a folder of saved paper listings (digest files) into a newsletter of "
        "the papers you have not seen before: Markdown, a web page, an email and RSS/Atom feeds.",
        epilog="Start with 'digest init', drop digest files into the inbox, then 'digest run'.",
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
        "--mark-seen",
        action="store_true",
        help="remember the new papers as seen and publish nothing: for a backlog you do "
        "not want as one huge issue (later runs publish only papers new after it)",
    )
    run.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    run.add_argument(
        "--wait",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="if another run holds the lock, wait this long (default 60)",
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
        help="what the state holds: files, papers, issues, the last run, the schedule",
    )
    _common(status)
    status.add_argument("--json", action="store_true", help="print JSON")

    init = commands.add_parser("init", help="write a starter config and an empty inbox folder")
    init.add_argument("directory", nargs="?", type=Path, default=Path("."), metavar="DIR")

    rebuild = commands.add_parser(
        "rebuild",
        help="render every page, feed and email again from the state (after editing templates)",
    )
    _common(rebuild, inbox=False)

    send = commands.add_parser(
        "send",
        help="email an issue (default: the newest) over SMTP, once per recipient",
        description="Send an issue's email. Each recipient gets an issue once: sending again "
        "sends nothing unless --force.",
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
        "--force", action="store_true", help="send even to recipients who already got it"
    )
    send.add_argument("--json", action="store_true", help="print JSON")

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
    return parser


def _workers(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of processes (0 or more)")
    return int(text)


def _config(args: argparse.Namespace) -> Any:
    from digest import config as config_module

    cfg = config_module.load(args.config)
    return cfg.with_overrides(
        inbox=getattr(args, "inbox", None) and args.inbox.resolve(),
        output=args.out and args.out.resolve(),
        state=args.state and args.state.resolve(),
        workers=getattr(args, "workers", None),
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
        logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
    )
    logger.addHandler(handler)
    logger.setLevel(chosen)
    logger.propagate = False


def _print_json(value: object) -> None:
    """Indented for a person at a terminal; one line for a program or a log, which is
    also several times faster for a report listing thousands of files."""
    indent = 2 if sys.stdout.isatty() else None
    print(json.dumps(value, indent=indent, ensure_ascii=False, default=str))


class _Progress:
    """One updating line on a terminal: files done of total, papers per second, time left."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.last = 0.0

    def __call__(self, done: int, total: int, papers: int) -> None:
        now = time.monotonic()
        if now - self.last < 0.2 and done < total:
            return
        self.last = now
        elapsed = max(now - self.started, 1e-6)
        left = elapsed / done * (total - done)
        sys.stderr.write(
            f"\r  {done:,}/{total:,} files · {papers:,} papers · "
            f"{papers / elapsed:,.0f} papers/s · {left:,.0f}s left   "
        )
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def cmd_run(args: argparse.Namespace) -> int:
    from digest import pipeline

    cfg = _config(args)
    _setup_logging(args.verbose, cfg.log_level, quiet=args.json)
    now = args.now or dt.datetime.now(dt.UTC)
    if args.today and not args.now:
        now = dt.datetime.combine(args.today, now.timetz())
    progress = _Progress() if sys.stderr.isatty() and not args.json else None
    report = pipeline.run(
        cfg,
        now=now,
        today=args.today,
        dry_run=args.dry_run,
        wait=args.wait,
        progress=progress,
        send=args.send,
        mark_seen=args.mark_seen,
    )
    if args.json:
        _print_json(report.as_json())
    else:
        for problem in report.problems:
            print(str(problem), file=sys.stderr)
        _print_run(report, cfg)
    if report.delivery_error:
        return 4
    return EXIT_REJECTED if report.rejected_input else EXIT_OK


def _print_run(report: Any, cfg: Any) -> None:
    read, skipped, rejected = (
        len(report.files_read),
        report.files_skipped,
        len(report.files_rejected),
    )
    print(
        f"{read} new file(s) read, {skipped} already taken in, {rejected} rejected; "
        f"{report.papers_parsed:,} papers parsed, {report.new_papers:,} new."
    )
    if report.filtered:
        counts = ", ".join(f"{kind}: {count:,}" for kind, count in sorted(report.filtered.items()))
        total = sum(report.filtered.values())
        print(f"{total:,} new papers filtered out ({counts}); remembered as seen.")
    if report.rising:
        print(f"{report.rising:,} earlier papers rising (shown, not new).")
    for path, reason in report.files_rejected:
        print(f"rejected {path}: {reason}")
    if report.dry_run:
        for paper in report.new:
            print(f"  new: {paper.title}")
        print("dry run: nothing was written.")
    elif report.issue_id:
        page = cfg.output / "issues" / f"{report.issue_id}.html"
        print(f"published issue {report.issue_id}: {page}")
    elif report.marked_seen:
        print(f"{report.marked_seen:,} new papers marked as seen; nothing published.")
    else:
        print("nothing new: no issue published, outputs untouched.")
    if report.sent_to:
        print(f"sent issue {report.sent_issue} to {', '.join(report.sent_to)}")
    if report.delivery_error:
        print(f"not sent: {report.delivery_error}", file=sys.stderr)


def _paper_json(paper: Any) -> dict:
    return {
        "id": paper.id,
        "title": paper.title,
        "abstract": paper.abstract,
        "authors": paper.authors,
        "organization": {"id": paper.organization.id, "name": paper.organization.name}
        if paper.organization
        else None,
        "published": paper.published.isoformat() if paper.published else None,
        "upvotes": paper.upvotes,
        "links": list(paper.links),
        "line": paper.line,
    }


def cmd_parse(args: argparse.Namespace) -> int:
    from digest.loader import load_file

    today = args.today or dt.date.today()
    results = [load_file(str(path), today)[0] for path in args.files]
    if args.json:
        _print_json(
            [
                {
                    "file": result.path,
                    "digest_date": result.digest_date.isoformat() if result.digest_date else None,
                    "papers": [_paper_json(paper) for paper in result.papers],
                    "problems": [
                        {"line": p.line, "severity": p.severity, "message": p.message}
                        for p in result.problems
                    ],
                }
                for result in results
            ]
        )
    else:
        from digest.render import meta_line

        for result in results:
            date = result.digest_date.isoformat() if result.digest_date else "no date"
            print(
                f"{result.path}: digest of {date}, {len(result.papers)} papers, "
                f"{len(result.problems)} problems"
            )
            for number, paper in enumerate(result.papers, start=1):
                meta = meta_line(paper)
                print(f"  {number:>3}. {paper.title}" + (f"  [{meta}]" if meta else ""))
            for problem in result.problems:
                print(f"  {problem}")
    return (
        EXIT_REJECTED
        if any(r.rejected or any(p.severity == "error" for p in r.problems) for r in results)
        else EXIT_OK
    )


def cmd_status(args: argparse.Namespace) -> int:
    from digest import status

    cfg = _config(args)
    info = status.collect(cfg)
    if args.json:
        _print_json(info)
    else:
        print(status.as_text(info))
    return EXIT_OK


def cmd_init(args: argparse.Namespace) -> int:
    from digest.config import DEFAULT_CONFIG_NAME, STARTER

    folder: Path = args.directory
    target = folder / DEFAULT_CONFIG_NAME
    if target.exists():
        raise ConfigError(
            f"{target} already exists", "edit it, or run 'digest init' in another folder"
        )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "inbox").mkdir(exist_ok=True)
    target.write_text(STARTER.format(title="Paper digest", author="digest"), encoding="utf-8")
    print(f"wrote {target} and {folder / 'inbox'}/")
    print("next: drop digest files into the inbox, then run 'digest run'")
    return EXIT_OK


def cmd_rebuild(args: argparse.Namespace) -> int:
    from digest import pipeline

    cfg = _config(args)
    written = pipeline.rebuild(cfg)
    print(f"rebuilt {len(written)} files in {cfg.output}")
    return EXIT_OK


def cmd_send(args: argparse.Namespace) -> int:
    from digest import mail

    cfg = _config(args)
    _setup_logging(args.verbose, cfg.log_level, quiet=args.json)
    outcome = mail.send_issue(
        cfg, None, args.issue, recipients=args.to, smtp=args.smtp, force=args.force
    )
    if args.json:
        _print_json(
            {
                "issue": outcome.issue_id,
                "sent_to": outcome.sent_to,
                "already_sent": outcome.already_sent,
            }
        )
    else:
        if outcome.sent_to:
            print(f"sent issue {outcome.issue_id} to {', '.join(outcome.sent_to)}")
        if outcome.already_sent:
            print(
                f"issue {outcome.issue_id} was already sent to {', '.join(outcome.already_sent)}; "
                "nothing sent to them (use --force to send again)"
            )
    return EXIT_OK


def cmd_daemon(args: argparse.Namespace) -> int:
    from digest import schedule

    def load() -> Any:
        cfg = _config(args)
        return schedule.with_cli_schedule(
            cfg, every=args.every, cron=args.cron, timezone=args.timezone
        )

    cfg = load()
    _setup_logging(args.verbose, cfg.log_level)
    return schedule.Daemon(cfg, reload=load).serve()


COMMANDS = {
    "run": cmd_run,
    "parse": cmd_parse,
    "status": cmd_status,
    "init": cmd_init,
    "rebuild": cmd_rebuild,
    "send": cmd_send,
    "daemon": cmd_daemon,
}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except DigestError as exc:
        print(f"digest: error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("digest: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `digest parse ... | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
