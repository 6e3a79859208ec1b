"""The installed package carries its templates: a wheel into a fresh venv works alone."""

from __future__ import annotations

import os
import shutil
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
    """A wheel built from the files git would commit, in a copy: a ``build/`` folder
    left in the working tree by an earlier install would slip stale modules in."""
    source = tmp_path_factory.mktemp("source")
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-co", "--exclude-standard", "-z"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split("\0")
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
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
            str(source),
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
            "import digest, digest.publish.templates as t; print(digest.__file__); "
            "print(t.default_template_dir())",
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


def test_run_from_the_project_folder_with_a_wheel_installed_finds_the_templates(wheel, tmp_path):
    """``python -m digest`` in the project's folder imports the source tree's ``digest/``,
    not the installed one, and the source tree has no ``digest/templates``: the run must
    find the top-level ``templates/`` (it once exited 70, 'No module named
    digest.templates')."""
    target = tmp_path / "venv"
    venv.create(target, with_pip=False)
    site_packages = Path(
        sysconfig.get_path("purelib", vars={"base": str(target), "platbase": str(target)})
    )
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site_packages)
    env = {**os.environ, "PYTHONPATH": sysconfig.get_path("purelib")}
    site = tmp_path / "site"
    (site / "inbox").mkdir(parents=True)
    (site / "inbox" / PLAIN.name).write_bytes(PLAIN.read_bytes())
    (site / "digest.toml").write_text('title = "From the source tree"\n', encoding="utf-8")
    process = subprocess.run(
        [
            target / "bin" / "python",
            "-m",
            "digest",
            "run",
            "--now",
            NOW,
            "--config",
            site / "digest.toml",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert process.returncode == 0, process.stderr
    page = (site / "output" / "issues" / "2026-11-24.html").read_text(encoding="utf-8")
    assert "Scaling Laws for Data Filtering" in page and "From the source tree" in page
