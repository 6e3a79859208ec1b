"""An edit that keeps a file's size and modification time is still read: a file read too
soon after it changed (within the filesystem's timestamp granularity) is hashed again by
the next run, rather than known by its size and time."""

from __future__ import annotations

import json
import os
import time

from conftest import both_backends, digest_text

ABSTRACT = (
    "We study a question that matters for the field and answer it with a method that is "
    "simple to state, cheap to run and easy to check, on benchmarks that others use, with "
    "results that hold across sizes, seeds and settings; code and data are released."
)


def run(run_cli, site, now):
    result = run_cli("run", "--config", site.config, "--json", "--now", now)
    assert result.code == 0, result.err
    return json.loads(result.out)


@both_backends
def test_an_edit_keeping_size_and_time_right_after_a_run_is_read(site, run_cli):
    listing = site.write("a.txt", digest_text("Nov 23", [("Densing law of LLMs", ABSTRACT)]))
    old = site.write("old.txt", digest_text("Nov 22", [("An older paper", ABSTRACT)]))
    hour_ago = time.time_ns() - 3600 * 10**9
    os.utime(old, ns=(hour_ago, hour_ago))
    first = run(run_cli, site, "2026-11-23T08:00:00Z")
    assert first["new_papers"] == 2
    stat = listing.stat()
    # The same second, the same size: a typo fixed in the title, its time kept.
    listing.write_text(digest_text("Nov 23", [("Densing law of VLMs", ABSTRACT)]))
    assert listing.stat().st_size == stat.st_size
    os.utime(listing, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    second = run(run_cli, site, "2026-11-24T08:00:00Z")
    assert second["files"]["read"] == [str(listing)]
    assert second["new_papers"] == 1, "the edited title is a paper of its own"
    assert second["files"]["copies"] == [] and second["files"]["skipped"] == 1
    # Read once more and found as it was, it is known by size and time from then on.
    third = run(run_cli, site, "2026-11-25T08:00:00Z")
    assert third["files"]["read"] == [] and third["files"]["skipped"] == 2
    (unsure,) = site.rows("SELECT value FROM settings WHERE name = 'inbox_unsure'")
    assert str(old) not in json.loads(unsure[0])
