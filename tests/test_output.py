"""The writer stages files whole, and puts them in place only on commit."""

from __future__ import annotations

from digest.publish.output import OutputWriter


def test_nothing_is_in_place_until_commit(tmp_path):
    writer = OutputWriter(tmp_path)
    writer.write_all({"a.md": "first", "b.md": iter(["sec", "ond"])})
    assert not (tmp_path / "a.md").exists() and not (tmp_path / "b.md").exists()
    writer.commit()
    assert (tmp_path / "a.md").read_text() == "first"
    assert (tmp_path / "b.md").read_text() == "second"
