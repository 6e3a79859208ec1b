"""``digest rebuild``: every output again from the state, or one issue's after its note."""

from __future__ import annotations

import argparse

from digest.cli.arguments import Commands, add_adopt, add_common, add_wait
from digest.cli.common import EXIT_OK, load_config, setup_logging
from digest.errors import ConfigError
from digest.text import plural, shown_name


def add_parser(commands: Commands) -> None:
    rebuild = commands.add_parser(
        "rebuild",
        help="render every page, feed and email again from the state (after editing templates), "
        "or one issue's (after editing its note)",
    )
    rebuild.add_argument(
        "issue", nargs="?", help="only this issue (and the site's pages and feeds)"
    )
    add_common(rebuild, inbox=False)
    add_adopt(rebuild)
    add_wait(rebuild, 0.0)
    rebuild.add_argument(
        "--no-note",
        action="store_true",
        help="remove the issue's editor's note (after deleting notes/ISSUE.md): pages, "
        "Markdown, email and feeds are written again without it",
    )
    rebuild.set_defaults(handler=cmd_rebuild)


def cmd_rebuild(args: argparse.Namespace) -> int:
    from digest.run import actions

    if args.no_note and args.issue is None:
        raise ConfigError(
            "--no-note removes one issue's note: name the issue",
            "e.g. 'digest rebuild 2026-11-24 --no-note'",
        )
    cfg = load_config(args)
    setup_logging(args.verbose, cfg.log_level)
    written = actions.rebuild(
        cfg, args.issue, wait=args.wait, adopt_output=args.adopt_output, no_note=args.no_note
    )
    print(f"rebuilt {plural(len(written), 'file')} in {shown_name(str(cfg.output))}")
    return EXIT_OK
