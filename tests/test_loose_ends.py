"""Loose ends of the last round: a refused run creates nothing; files that are no digest
whatever their header say why; the page's header variants; UTF-16 without a byte-order
mark; the language tag; removing a note; a dry run's preview; a template's line; status
telling a file being written from one the next run takes."""

from __future__ import annotations

from conftest import PLAIN, PLAIN_2, both_backends


@both_backends
def test_a_run_refused_by_a_foreign_output_folder_creates_no_state(site, run_cli):
    site.drop(PLAIN)
    assert run_cli("run", "--config", site.config, "--now", "2026-11-23T08:00:00Z").code == 0
    site.drop(PLAIN_2)
    if site.dsn is None:
        fresh = site.root / "fresh" / "state.sqlite"
        refused = run_cli("run", "--config", site.config, "--state", fresh)
        assert refused.code == 2 and "a new state at" in refused.err, refused
        assert not fresh.parent.exists(), "no state file, no lock file, no folder"
    else:
        site.config.write_text('site = "fresh"\n' + site.config.read_text())
        refused = run_cli("run", "--config", site.config)
        assert refused.code == 2 and "a new state at" in refused.err, refused
        schemas = site.rows("SELECT nspname FROM pg_namespace WHERE nspname = 'digest_fresh'")
        assert schemas == [], "no site created"
    assert f"the output folder {site.out} belongs to another digest state" in refused.err
