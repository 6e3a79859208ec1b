"""A newcomer after the first command (issue 25): the first run says what to do next
(serve it, with the command as it can be typed; the email file; the feeds), ``status`` and
``check`` typed next in the same folder without ``--config`` name the config the last run
used, and a run over an empty inbox says so, naming the folder. All as real processes."""

from __future__ import annotations

import shlex
import shutil
import signal
import subprocess
from pathlib import Path

from conftest import EXAMPLES, NOW, ROOT, digest_process


def folder_with_examples(tmp_path: Path) -> Path:
    """A working folder holding a copy of the examples (config and digests), as a
    clone of the repository does."""
    work = tmp_path / "work"
    (work / "examples").mkdir(parents=True)
    shutil.copy(ROOT / "examples" / "digest.toml", work / "examples" / "digest.toml")
    shutil.copytree(EXAMPLES, work / "examples" / "digests")
    return work


def first_run(work: Path) -> subprocess.CompletedProcess[str]:
    done = digest_process(
        "run", "--config", "examples/digest.toml", "--now", NOW, "--settle", "0", cwd=work
    )
    assert done.returncode == 0, done.stderr
    return done


def test_status_and_check_without_a_config_name_the_one_the_last_run_used(tmp_path):
    work = folder_with_examples(tmp_path)
    first_run(work)
    status = digest_process("status", cwd=work)
    assert "--config examples/digest.toml" in status.stdout, status.stdout
    assert "'digest status --config examples/digest.toml'" in status.stdout
    check = digest_process("check", cwd=work)
    summary = check.stdout.splitlines()[0]
    assert "'digest check --config examples/digest.toml'" in summary, summary
    # ... and what they suggest works, there:
    told = digest_process("status", "--config", "examples/digest.toml", cwd=work)
    assert "274 papers, 1 issue" in told.stdout


def test_a_folder_with_its_own_config_needs_no_reminder(tmp_path):
    work = folder_with_examples(tmp_path)
    first_run(work)
    shutil.copy(work / "examples" / "digest.toml", work / "digest.toml")
    (work / "digest.toml").write_text(
        (work / "digest.toml").read_text().replace('"digests"', '"examples/digests"')
    )
    status = digest_process("status", cwd=work)
    assert "--config" not in status.stdout, status.stdout


def test_the_first_run_says_what_comes_next_and_it_works_as_printed(tmp_path):
    work = folder_with_examples(tmp_path)
    done = first_run(work)
    lines = done.stdout.splitlines()
    start = lines.index("next:")
    serve_line = next(line for line in lines[start:] if "read it in a browser:" in line)
    command = serve_line.split("read it in a browser: ", 1)[1].split("  (")[0]
    assert command.endswith(" serve --config examples/digest.toml"), command
    email = next(line for line in lines[start:] if "the email:" in line)
    eml = Path(email.split("the email: ", 1)[1].split(" (")[0])
    assert eml.is_file() and eml.suffix == ".eml"
    feeds = next(line for line in lines[start:] if "the feeds:" in line)
    assert "http://localhost:8000/atom.xml" in feeds and "http://localhost:8000/feed.json" in feeds
    process = subprocess.Popen(
        [*shlex.split(command), "--port", "0"], cwd=work, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith(f"serving {work / 'output'} at http://")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    again = digest_process("run", "--config", "examples/digest.toml", "--now", NOW, cwd=work)
    assert "next:" not in again.stdout


def test_the_console_script_is_named_as_it_was_typed(tmp_path):
    work = folder_with_examples(tmp_path)
    script = Path(shutil.which("digest") or "")
    if not script.name:
        script = Path(__import__("sys").executable).parent / "digest"
    done = subprocess.run(
        [str(script), "run", "--config", "examples/digest.toml", "--now", NOW, "--settle", "0"],
        cwd=work, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    shown = next(line for line in done.stdout.splitlines() if "read it in a browser:" in line)
    typed = shown.split("read it in a browser: ", 1)[1].split(" serve")[0]
    assert typed == "digest" or Path(typed).resolve() == script.resolve(), typed


def test_an_empty_inbox_says_it_was_empty_and_where(tmp_path):
    (tmp_path / "inbox").mkdir()
    done = digest_process("run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"the inbox {tmp_path / 'inbox'} is empty" in done.stdout, done.stdout
