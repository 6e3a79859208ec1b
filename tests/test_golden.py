"""The golden tree: a small inbox cut from the examples, published in two runs with a fixed
clock, must give exactly the files in tests/golden/expected. A change to any output shows
up here and in review; regenerate on purpose with ``python tests/golden/regenerate.py``."""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import brotli
from conftest import published_files

sys.path.insert(0, str(Path(__file__).parent / "golden"))
import regenerate


def test_the_examples_publish_exactly_the_golden_tree(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    regenerate.publish(tmp_path / "out", str(tmp_path / "state.sqlite"), inbox)
    expected = published_files(regenerate.HERE / "expected")
    got = published_files(tmp_path / "out")
    siblings = {name: got.pop(name) for name in list(got) if name.suffix in (".gz", ".br")}
    assert sorted(got) == sorted(expected), "the same files"
    for name, data in expected.items():
        assert got[name] == data, f"{name} differs: run tests/golden/regenerate.py if on purpose"
    # Each page and feed has its precompressed siblings, holding exactly its bytes.
    pages = [name for name in got if name.suffix in (".html", ".xml", ".json")]
    assert sorted(siblings) == sorted(Path(f"{n}{s}") for n in pages for s in (".gz", ".br"))
    for name in pages:
        assert gzip.decompress(siblings[Path(f"{name}.gz")]) == got[name], name
        assert brotli.decompress(siblings[Path(f"{name}.br")]) == got[name], name
