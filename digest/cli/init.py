"""``digest init``: a commented starter config and an empty inbox."""

from __future__ import annotations

import argparse

from digest.cli.arguments import Commands, path_value
from digest.cli.common import EXIT_OK
from digest.errors import ConfigError
from digest.text import shown_name


def add_parser(commands: Commands) -> None:
    init = commands.add_parser("init", help="write a starter config and an empty inbox folder")
    init.add_argument("directory", nargs="?", type=path_value, default=".", metavar="DIR")
    init.set_defaults(handler=cmd_init)


def cmd_init(args: argparse.Namespace) -> int:
    from pathlib import Path

    from digest.config.settings import DEFAULT_CONFIG_NAME
    from digest.config.starter import STARTER

    folder = Path(args.directory)
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
    print(f"wrote {shown_name(str(target))} and {shown_name(str(folder / 'inbox'))}/")
    print("next: drop digest files into the inbox, then run 'digest run'")
    return EXIT_OK
