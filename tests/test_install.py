"""The installed package carries its templates: a wheel into a fresh venv works alone."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest
from conftest import NOW, PLAIN, ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("digest-*.whl")
    return built


def test_wheel_contains_the_default_templates(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for template in (
        "base.html",
        "issue.html",
        "issue.md",
        "index.html",
        "feed_entry.html",
        "email.html",
        "email.txt",
    ):
        assert f"digest/templates/{template}" in names


def test_wheel_installed_in_a_fresh_venv_runs_without_the_source_tree(wheel, tmp_path):
    target = tmp_path / "venv"
    venv.create(target, with_pip=False)
    site_packages = Path(
        sysconfig.get_path("purelib", vars={"base": str(target), "platbase": str(target)})
    )
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site_packages)
    # Dependencies come from the test environment, after the fresh venv's own packages.
    env = {**os.environ, "PYTHONPATH": sysconfig.get_path("purelib")}
    work = tmp_path / "work"
    (work / "inbox").mkdir(parents=True)
    (work / "inbox" / PLAIN.name).write_bytes(PLAIN.read_bytes())
    python = target / "bin" / "python"
    where = subprocess.run(
        [
            python,
            "-c",
            "import digest, digest.publish.render as r; print(digest.__file__); "
            "print(r.default_template_dir())",
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert all(str(site_packages) in line for line in where), where
    process = subprocess.run(
        [python, "-m", "digest", "run", "--now", NOW],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    )
    assert process.returncode == 0, process.stderr
    page = (work / "output" / "issues" / "2026-11-24.html").read_text(encoding="utf-8")
    assert "Scaling Laws for Data Filtering" in page
