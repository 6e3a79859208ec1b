"""``digest check`` and ``status`` never say OK while readers meet a broken site: the
output folder deleted, an issue page missing, two machines sharing one state with an
output folder each, a chat channel whose URL variable is unset."""

from __future__ import annotations

import json
import shutil

from conftest import NOW, PLAIN, PLAIN_2, WITH_META, both_backends, digest_process


def check(site, *extra) -> tuple[int, str]:
    result = digest_process("check", "--config", site.config, *extra)
    return result.returncode, result.stdout


def publish_two(site, run_cli) -> None:
    site.drop(PLAIN)
    assert run_cli("run", "--config", site.config, "--now", "2026-11-23T08:00:00Z").code == 0
    site.drop(PLAIN_2)
    assert run_cli("run", "--config", site.config, "--now", NOW).code == 0


@both_backends
def test_a_deleted_output_folder_is_critical_and_no_run_publishes_half_a_site(site, run_cli):
    publish_two(site, run_cli)
    shutil.rmtree(site.out)
    code, out = check(site)
    assert code == 2, out
    gone = f"the output folder {site.out} is gone; 'digest rebuild' writes it again"
    assert out.startswith(f"DIGEST CRITICAL - {gone}")
    status = run_cli("status", "--config", site.config)
    assert gone in status.out and "health:   critical" in status.out
    assert (
        json.loads(run_cli("status", "--config", site.config, "--json").out)["output_problem"]
        == gone
    )
    site.drop(WITH_META)
    refused = run_cli("run", "--config", site.config, "--now", "2026-11-25T08:00:00Z")
    assert refused.code == 2 and gone in refused.err, refused
    assert not site.out.exists(), "nothing written: an index linking pages that are not there"
    assert run_cli("rebuild", "--config", site.config).code == 0
    assert {p.name for p in (site.out / "issues").glob("*.html")} == {
        "2026-11-23.html",
        "2026-11-24.html",
    }
    assert check(site)[0] == 0
    assert run_cli("run", "--config", site.config, "--now", "2026-11-25T08:00:00Z").code == 0


def test_a_missing_issue_page_is_critical_and_named(site, run_cli):
    publish_two(site, run_cli)
    (site.out / "issues" / "2026-11-23.html").unlink()
    code, out = check(site, "--json")
    assert code == 2
    (finding,) = [f for f in json.loads(out)["findings"] if f["check"] == "output"]
    assert finding["level"] == "CRITICAL"
    assert (
        "lacks a page of 1 issue(s) the state says are written (2026-11-23)" in (finding["message"])
    )
    assert run_cli("rebuild", "--config", site.config).code == 0
    assert (site.out / "issues" / "2026-11-23.html").exists() and check(site)[0] == 0


@both_backends
def test_two_machines_sharing_a_state_with_an_output_folder_each_are_told(site, run_cli):
    """Machine B's config: the same state, its own output folder. Its index would link
    machine A's issue pages, which are not in its folder: B's run refuses, and check and
    status on B say which folder the state publishes into."""
    publish_two(site, run_cli)
    other = site.root / "machine-b-out"
    site.drop(WITH_META)
    refused = run_cli(
        "run", "--config", site.config, "--out", other, "--now", "2026-11-25T08:00:00Z"
    )
    assert refused.code == 2, refused
    assert f"the output folder {other} is gone" in refused.err
    assert "machines that share a state need one shared folder" in refused.err
    assert not other.exists()
    other.mkdir()
    (other / "README").write_text("machine b's folder\n")
    code, out = check(site, "--out", other)
    assert code == 2 and f"the output folder {other} is gone" in out
    # B's folder with an issue of its own but not A's: the state records A's folder.
    shutil.copytree(site.out / "issues", other / "issues")
    (other / "issues" / "2026-11-23.html").unlink()
    code, out = check(site, "--out", other)
    assert code == 2, out
    assert f"the state publishes into {site.out}" in out
    again = run_cli("run", "--config", site.config, "--out", other, "--now", "2026-11-25T08:00:00Z")
    assert again.code == 2 and "(2026-11-23)" in again.err
    assert run_cli("status", "--config", site.config).code == 0
    assert check(site)[0] == 0, "machine A's folder is whole"


def test_a_moved_output_folder_is_a_warning_until_a_run_publishes_there(site, run_cli):
    publish_two(site, run_cli)
    moved = site.root / "moved"
    site.out.rename(moved)
    code, out = check(site, "--out", moved)
    assert code == 1, out
    assert f"the state publishes into {site.out}, not this config's output folder {moved}" in out
    site.drop(WITH_META)
    done = run_cli("run", "--config", site.config, "--out", moved, "--now", "2026-11-25T08:00:00Z")
    assert done.code == 0, done
    assert check(site, "--out", moved)[0] == 0


def test_a_channel_whose_url_variable_is_unset_is_recorded_as_a_failed_post(
    site, run_cli, monkeypatch
):
    monkeypatch.delenv("TEST_DIGEST_UNSET_CHAT", raising=False)
    site.config.write_text(
        site.config.read_text()
        + '\n[[channels]]\nname = "team"\nurl_env = "TEST_DIGEST_UNSET_CHAT"\n'
    )
    site.drop(PLAIN)
    result = run_cli("run", "--config", site.config, "--now", NOW)
    assert result.code == 4, result
    status = json.loads(run_cli("status", "--config", site.config, "--json").out)
    assert status["latest_issue"]["failed"] == [
        {
            "recipient": "chat channel team",
            "reason": "the environment variable TEST_DIGEST_UNSET_CHAT (its URL) is not set",
        }
    ]
    code, out = check(site)
    assert code == 2 and "issue 2026-11-24 did not reach chat channel team" in out
