"""``digest send`` (email) and ``digest post`` (chat): an issue to whoever has not had it."""

from __future__ import annotations

import argparse
import sys

from digest.cli.arguments import Commands, add_common, add_wait
from digest.cli.common import EXIT_DELIVERY, EXIT_OK, load_config, print_json, setup_logging
from digest.text import one_line


def add_parser(commands: Commands) -> None:
    send = commands.add_parser(
        "send",
        help="email an issue (default: the newest) over SMTP, once per recipient",
        description="Send an issue's email. Each recipient gets an issue once: sending again "
        "sends nothing unless --force, and a copy the server never confirmed (in doubt) is "
        "not sent again unless --force.",
    )
    send.add_argument("issue", nargs="?", help="issue id, e.g. 2024-03-15 (default: the newest)")
    add_common(send, inbox=False)
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
    add_wait(send, 60.0)
    send.set_defaults(handler=cmd_send)

    post = commands.add_parser(
        "post",
        help="post an issue (default: the newest) to the chat channels, once per channel",
        description="Post an issue to each [[channels]] entry (or the one named) that has not "
        "had it. Posting again posts nothing unless --force.",
    )
    post.add_argument("issue", nargs="?", help="issue id (default: the newest)")
    add_common(post, inbox=False)
    post.add_argument("--channel", metavar="NAME", help="only this channel")
    post.add_argument("--force", action="store_true", help="post even where it was posted")
    post.add_argument("--json", action="store_true", help="print JSON")
    add_wait(post, 60.0)
    post.set_defaults(handler=cmd_post)


def cmd_send(args: argparse.Namespace) -> int:
    from digest.run import actions

    cfg = load_config(args)
    setup_logging(args.verbose, cfg.log_level, quiet=args.json)
    outcome = actions.send(
        cfg, args.issue, recipients=args.to, smtp=args.smtp, force=args.force, wait=args.wait
    )
    if args.json:
        print_json(
            {
                "issue": outcome.issue_id,
                "sent_to": outcome.sent_to,
                "already_sent": outcome.already_sent,
                "in_doubt": outcome.in_doubt_before + outcome.in_doubt_now,
                "refused": [
                    {"recipient": r.recipient, "reason": r.reason} for r in outcome.refused
                ],
                "deferred": [
                    {"recipient": r.recipient, "reason": r.reason} for r in outcome.deferred
                ],
                "error": outcome.error,
            }
        )
    else:
        if outcome.sent_to:
            print(f"sent issue {outcome.issue_id} to {', '.join(outcome.sent_to)}")
        if outcome.already_sent:
            print(
                f"issue {outcome.issue_id} was already sent to "
                f"{', '.join(outcome.already_sent)}; nothing sent to them "
                "(use --force to send again)"
            )
        if outcome.in_doubt_before:
            print(
                f"issue {outcome.issue_id} may already have reached "
                f"{', '.join(outcome.in_doubt_before)} (the server never confirmed it); "
                "not sent again (use --force to send it anyway)"
            )
        if outcome.error:
            print(one_line(f"digest: error: {outcome.error}"), file=sys.stderr)
    # In doubt is not delivered: until --force (or a look in the mail log) settles it, a
    # cron line's "digest send || alert" must keep saying so.
    return EXIT_DELIVERY if outcome.failed or outcome.in_doubt_before else EXIT_OK


def cmd_post(args: argparse.Namespace) -> int:
    from digest.run import actions

    cfg = load_config(args)
    setup_logging(args.verbose, cfg.log_level, quiet=args.json)
    outcome = actions.post(cfg, args.issue, channel=args.channel, force=args.force, wait=args.wait)
    if args.json:
        print_json(
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
