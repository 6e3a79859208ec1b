"""The README documents every command, every flag and every config key, in the manner of
sqlite-utils: a name a user can type is a name a user can look up. Found from the parser
and the config's own key lists, so a new one cannot be added undocumented."""

from __future__ import annotations

import argparse
import re

from conftest import ROOT

from digest.cli.main import build_parser
from digest.config.loading import CONFIG_KEYS

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _commands(parser: argparse.ArgumentParser, prefix: str = "digest"):
    """(command line, its parser) for every command and sub-command."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield f"{prefix} {name}", sub
                yield from _commands(sub, f"{prefix} {name}")


def test_every_command_is_in_the_readme():
    missing = [line for line, _ in _commands(build_parser()) if f"`{line}" not in README]
    assert missing == []


def test_every_flag_of_every_command_is_in_the_readme():
    missing = sorted(
        f"{line} {flag}"
        for line, parser in _commands(build_parser())
        for action in parser._actions
        for flag in action.option_strings
        if flag.startswith("--")
        and flag != "--help"
        and not re.search(rf"`{re.escape(flag)}[`= \[]", README)
    )
    assert missing == []


def test_every_config_key_is_in_the_readme():
    missing = sorted(
        f"{table}.{key}" if table else key
        for table, keys in CONFIG_KEYS.items()
        for key in keys
        if not re.search(
            rf"(?m)(`{re.escape(key)}[` =]|^#? ?{re.escape(key)} = |\[\[?{re.escape(key)}\]\]?)",
            README,
        )
    )
    assert missing == []


def test_the_check_sees_a_missing_name():
    assert not re.search(r"`--no-such-flag[`= \[]", README)
