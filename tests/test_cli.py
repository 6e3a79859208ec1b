"""The command line: exit codes, messages, JSON, and the real console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import NOW, PLAIN, WITH_META, digest_process, digest_text, example_run_args


def test_every_command_has_help(run_cli):
    for command in ("run", "parse", "status", "init", "rebuild", "send", "daemon"):
        with pytest.raises(SystemExit) as exit_info:
            run_cli(command, "--help")
        assert exit_info.value.code == 0


def test_run_json_has_the_documented_shape(site, run_cli):
    site.drop(PLAIN)
    site.write("broken.txt", b"caf\xe9 \x80 not UTF-8 text\n\nmore")
    result = run_cli("run", "--config", site.config, "--json", "--now", NOW)
    assert result.code == 1  # done, but some input was rejected
    report = json.loads(result.out)
    assert report["issue"] == "2026-11-24"
    assert report["new_papers"] == 80 and report["papers_parsed"] == 80
    assert report["files"]["read"] == [str(site.inbox / PLAIN.name)]
    assert (report["files"]["skipped"], report["files"]["copies"]) == (0, [])
    (rejected,) = report["files"]["rejected"]
    assert rejected["file"] == str(site.inbox / "broken.txt") and "not UTF-8" in rejected["reason"]
    names = (
        "issues/2026-11-24.md",
        "issues/2026-11-24.html",
        "issues/2026-11-24/2.html",  # 80 papers: pages of 50
        "issues/2026-11-24.eml",
        "index.html",
        "archive/2026.html",
        "feed.json",
        "issues.xml",
        "rss.xml",
        "atom.xml",
    )
    siblings = [f"{name}{suffix}" for name in names if not name.endswith((".md", ".eml"))
                for suffix in (".gz", ".br")]  # fmt: skip
    assert sorted(report["written"]) == sorted(str(site.out / n) for n in (*names, *siblings))


def test_run_text_output_names_rejected_files_and_the_issue(site, run_cli):
    site.drop(PLAIN)
    site.write("empty.txt", "")
    result = run_cli("run", "--config", site.config, "--now", NOW)
    assert result.code == 1
    assert (
        "1 new file read, 0 already taken in, 1 rejected; 80 papers parsed, 80 new." in result.out
    )
    assert f"rejected {site.inbox / 'empty.txt'}: empty file" in result.out
    assert "published issue 2026-11-24" in result.out
    assert "nothing new" not in result.out, "a run that published must not say it did not"
    again = run_cli("run", "--config", site.config, "--now", NOW)
    assert "nothing new" in again.out and "published issue" not in again.out
    assert again.code == 1, "a rejected file still in the inbox is reported on every run"


def test_parse_json_gives_every_field(run_cli):
    result = run_cli("parse", WITH_META, "--today", "2026-11-24", "--json")
    assert result.code == 0
    (document,) = json.loads(result.out)
    assert document["file"] == str(WITH_META)
    assert document["digest_date"] == "2026-10-31"
    assert document["problems"] == []
    assert len(document["papers"]) == 105
    first = document["papers"][0]
    assert first == {
        "id": first["id"],
        "title": "Densing Law of LLMs",
        "abstract": first["abstract"],
        "authors": None,
        "organization": {"id": "openbmb", "name": "OpenBMB"},
        "published": "2024-12-05",
        "upvotes": 2,
        "links": [],
        "line": 13,
        "digest_date": "2026-10-31",
        "details": None,
    }
    assert len(first["id"]) == 36


def test_parse_reports_problems_and_exit_code(tmp_path, run_cli):
    bad = tmp_path / "cut.txt"
    bad.write_text(digest_text("Mar 4", [("Fine", "Done.")]) + "\nCut off title\n")
    result = run_cli("parse", bad, "--today", "2026-11-24")
    assert result.code == 1
    assert "1 paper, 1 problem" in result.out and f"{bad}:15: error:" in result.out


def test_status_reports_the_store_and_the_last_run(site, run_cli):
    site.drop(PLAIN)
    run_cli("run", "--config", site.config, "--now", NOW)
    site.write("later.txt", digest_text("Mar 13", [("A new one", "Text.")]))
    result = run_cli("status", "--config", site.config, "--json")
    assert result.code == 0
    info = json.loads(result.out)
    assert (info["files"], info["papers"], info["issues"], info["new_files"]) == (1, 80, 1, 1)
    assert info["waiting"] == 0, "settled (settle = 0): the next run takes it"
    assert info["last_run"]["result"] == "published" and info["last_run"]["issue"] == "2026-11-24"
    assert info["latest_issue"]["id"] == "2026-11-24"
    text = run_cli("status", "--config", site.config).out
    assert "1 file, 80 papers, 1 issue" in text and "(1 new file for the next run)" in text


def test_status_before_any_run(site, run_cli):
    result = run_cli("status", "--config", site.config)
    assert result.code == 0 and "last run: never" in result.out


def test_unknown_config_key_is_an_error_naming_it(site, run_cli):
    site.config.write_text(site.config.read_text().replace('author = "Tester"', 'autor = "Tester"'))
    result = run_cli("run", "--config", site.config)
    assert result.code == 2
    assert "unknown key 'autor'" in result.err and "known keys:" in result.err


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('feed_size = "lots"', "feed_size: expected int"),
        ("workers = -1", "workers: must be 0 or more"),
        ('workers = "many"', "workers: expected int"),
        ('url = "ftp://x"', "is not an http(s) URL"),
        ('[email]\npassword = "hunter2"', "passwords do not belong in the config file"),
        ("title = ", "is not valid TOML"),
        (
            '[[sections]]\nname = "x"\nmatch = ["y"]\ncolour = "red"',
            "unknown key sections[1].colour",
        ),
        ('[[sections]]\nname = "x"\nmatch = ["y"]\nfields = ["body"]', "unknown field 'body'"),
        ('[[sections]]\nname = "x"', "needs a name and match phrases"),
        ("[filters]\nmin_votes = 3", "unknown key filters.min_votes"),
        ('[ranking]\norder = "random"', "ranking.order: 'random'"),
        ('[rising]\nname = "Up"', "rising: set min_gain, min_factor or both"),
    ],
)
def test_config_errors_are_clear(tmp_path, run_cli, line, message):
    config = tmp_path / "digest.toml"
    config.write_text(line + "\n")
    result = run_cli("run", "--config", config)
    assert result.code == 2 and message in result.err


def test_missing_config_file_has_a_hint(tmp_path, run_cli):
    result = run_cli("run", "--config", tmp_path / "nope.toml")
    assert result.code == 2 and "digest init" in result.err


def test_usage_errors_exit_2(run_cli):
    with pytest.raises(SystemExit) as exit_info:
        run_cli("run", "--today", "yesterday")
    assert exit_info.value.code == 2


def test_init_writes_a_config_that_runs(tmp_path, run_cli):
    assert run_cli("init", tmp_path / "site").code == 0
    assert (tmp_path / "site" / "inbox").is_dir()
    (tmp_path / "site" / "inbox" / PLAIN.name).write_bytes(PLAIN.read_bytes())
    result = run_cli("run", "--config", tmp_path / "site" / "digest.toml", "--now", NOW)
    assert result.code == 0
    assert (tmp_path / "site" / "output" / "issues" / "2026-11-24.html").exists()
    again = run_cli("init", tmp_path / "site")
    assert again.code == 2 and "already exists" in again.err


def test_defaults_without_a_config_use_the_working_folder(tmp_path):
    (tmp_path / "inbox").mkdir()
    (tmp_path / "inbox" / PLAIN.name).write_bytes(PLAIN.read_bytes())
    process = digest_process("run", "--now", NOW, cwd=tmp_path)
    assert process.returncode == 0, process.stderr
    assert (tmp_path / "output" / "rss.xml").exists()
    assert (tmp_path / ".digest" / "state.sqlite").exists()


def test_console_script_runs_the_examples(tmp_path):
    script = Path(sys.executable).parent / "digest"
    process = subprocess.run(
        [script, *example_run_args(tmp_path)], capture_output=True, text=True, check=False
    )
    assert process.returncode == 0, process.stderr
    report = json.loads(process.stdout)
    assert report["new_papers"] == 274 and report["papers_parsed"] == 286


def test_help_imports_no_heavy_module():
    code = (
        "import sys\nfrom digest.cli import main as cli\n"
        "try:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = {'jinja2', 'markdown', 'feedgen', 'apscheduler', 'lxml', 'css_inline',"
        " 'sqlite3'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    process = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert process.stdout.strip().endswith("[]")


def test_a_scheduled_run_imports_only_what_it_uses(tmp_path):
    """A cron run that publishes an issue (no preview, no note, nothing to send or post,
    SQLite) loads no module only other runs need: a module's import is paid every run."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / PLAIN.name).write_bytes(PLAIN.read_bytes())
    args = ["run", "--inbox", str(inbox), "--out", str(tmp_path / "out"),
            "--state", str(tmp_path / "state.db"), "--settle", "0", "--json"]  # fmt: skip
    assert digest_process(*args, "--now", NOW).returncode == 0
    (inbox / WITH_META.name).write_bytes(WITH_META.read_bytes())
    code = (
        "import sys, json\nfrom digest.cli import main as cli\n"
        f"try:\n    cli.main({[*args, '--now', '2026-11-25T08:00:00Z']!r})\n"
        "except SystemExit:\n    pass\n"
        "print(json.dumps(sorted(set(sys.modules))), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert json.loads(done.stdout)["new_papers"] > 0, done.stdout
    loaded = set(json.loads(done.stderr.strip().splitlines()[-1]))
    unused = {
        "smtplib", "apprise", "psycopg", "apscheduler", "aiosmtpd", "digest.deliver.smtp",
        "digest.store.postgres", "digest.run.preview", "digest.run.schedule", "uuid",
        "html.parser", "subprocess", "digest.publish.note_text", "urllib.request",
        "http.client", "ssl", "digest.fetch.fetcher",
    }  # fmt: skip
    assert sorted(unused & loaded) == []


def _help_without_site(columns: str) -> subprocess.CompletedProcess[str]:
    """``digest --help`` as a clean install runs it: no site-packages, so no editable
    finder (which imports pathlib itself) on the path; the work tree from the cwd."""
    code = (
        "import sys\nfrom digest.cli import main as cli\n"
        "try:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted({'pathlib', 'shutil', 'bz2', 'lzma'} & set(sys.modules)), file=sys.stderr)\n"
    )
    return subprocess.run(
        [sys.executable, "-S", "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
        env={**os.environ, "COLUMNS": columns},
    )


def test_help_starts_without_pathlib_or_shutil_and_fits_the_terminal():
    """A fifth of --help's own imports were pathlib (for argument types) and shutil (for
    the terminal's width, bringing bz2 and lzma); the help still wraps to the width."""
    narrow, wide = _help_without_site("50"), _help_without_site("120")
    assert narrow.stderr.strip() == "[]" and wide.stderr.strip() == "[]"
    assert max(len(line) for line in narrow.stdout.splitlines()) <= 50
    assert max(len(line) for line in wide.stdout.splitlines()) > 50
    assert "Start with 'digest init'" in " ".join(narrow.stdout.split())


def test_a_missing_inbox_is_an_error_with_a_hint(tmp_path, run_cli):
    result = run_cli(
        "run", "--inbox", tmp_path / "nope", "--out", tmp_path / "o", "--state", tmp_path / "s.db"
    )
    assert result.code == 2
    assert "the inbox folder" in result.err and "does not exist" in result.err
    assert "digest init" in result.err
    assert not (tmp_path / "s.db").exists()


def test_progress_shows_on_a_terminal_only(tmp_path):
    import os
    import pty

    (tmp_path / "inbox").mkdir()
    for path in (PLAIN, WITH_META):
        (tmp_path / "inbox" / path.name).write_bytes(path.read_bytes())
    args = [
        sys.executable,
        "-m",
        "digest",
        "run",
        "--inbox",
        str(tmp_path / "inbox"),
        "--out",
        str(tmp_path / "out"),
        "--state",
        str(tmp_path / "s.db"),
    ]
    leader, follower = pty.openpty()
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=follower, text=True)
    os.close(follower)
    process.wait(timeout=120)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    assert b"2/2 files" in shown and b"papers/s" in shown
    quiet = digest_process(
        "run",
        "--inbox",
        tmp_path / "inbox",
        "--out",
        tmp_path / "out2",
        "--state",
        tmp_path / "s2.db",
    )
    assert "papers/s" not in quiet.stderr


def test_json_is_one_line_for_a_program_and_indented_on_a_terminal(site):
    import pty

    site.drop(PLAIN)
    piped = digest_process("run", "--config", site.config, "--json", "--now", NOW)
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.count("\n") == 1 and json.loads(piped.stdout)["new_papers"] == 80

    terminal, tty = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "digest", "status", "--config", str(site.config), "--json"],
            stdout=tty,
            stderr=subprocess.PIPE,
            timeout=60,
        )
        os.close(tty)
        shown = b""
        while chunk := _read_or_end(terminal):
            shown += chunk
    finally:
        os.close(terminal)
    assert done.returncode == 0, done.stderr
    text = shown.decode().replace("\r\n", "\n")
    assert text.startswith("{\n  ") and json.loads(text)["issues"] == 1


def _read_or_end(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except OSError:  # Linux: EIO once the other end is closed and drained
        return b""
