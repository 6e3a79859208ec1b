"""The README's two commands are the ones that work: CI runs the second verbatim."""

from __future__ import annotations

import re

from conftest import ROOT


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```sh\n(.+?)\n```", text)[:2]


def test_ci_runs_the_readme_test_command():
    _, test_command = readme_commands()
    assert test_command in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()


def test_first_command_runs_the_examples():
    install_and_run, _ = readme_commands()
    assert install_and_run.endswith("digest run --config examples/digest.toml")
