"""The writer stages files whole, and keeps two renderings of one issue in step."""

from __future__ import annotations

from itertools import tee

from digest.publish.output import OutputWriter


class Consumed:
    """Items handed out so far, by one consumer of a shared stream."""

    def __init__(self, items, tally: dict, name: str) -> None:
        self.items, self.tally, self.name = iter(items), tally, name
        tally[name] = 0

    def __iter__(self):
        return self

    def __next__(self):
        item = next(self.items)
        self.tally[self.name] += 1
        return item

    def count(self) -> int:
        return self.tally[self.name]


def rendering(papers, piece: str, lag: list[int], tally: dict):
    for _ in papers:
        lag[0] = max(lag[0], abs(tally["dense"] - tally["sparse"]))
        yield piece


def test_two_streams_over_one_tee_stay_within_a_batch_of_each_other(tmp_path):
    # Like the issue page and its Markdown: one pass over 200,000 papers, feeding two
    # renderings that write very different amounts per paper. What tee() holds is the
    # gap between them; it must stay small, or a huge issue would sit in memory.
    tally: dict[str, int] = {}
    lag = [0]
    left, right = tee(range(200_000))
    dense, sparse = Consumed(left, tally, "dense"), Consumed(right, tally, "sparse")
    writer = OutputWriter(tmp_path)
    writer.write_all(
        {
            "dense.md": rendering(dense, "x" * 2000, lag, tally),  # abstracts and all
            "sparse.md": rendering(sparse, "y" * 100, lag, tally),  # titles only
        },
        pace={"dense.md": dense.count, "sparse.md": sparse.count},
    )
    writer.commit()
    assert (tmp_path / "dense.md").stat().st_size == 2000 * 200_000
    assert (tmp_path / "sparse.md").stat().st_size == 100 * 200_000
    # A batch is a quarter megabyte: 2,622 papers of titles only.
    assert lag[0] <= 5_000, f"one rendering ran {lag[0]:,} papers ahead of the other"


def test_nothing_is_in_place_until_commit(tmp_path):
    writer = OutputWriter(tmp_path)
    writer.write_all({"a.md": "first", "b.md": iter(["sec", "ond"])})
    assert not (tmp_path / "a.md").exists() and not (tmp_path / "b.md").exists()
    writer.commit()
    assert (tmp_path / "a.md").read_text() == "first"
    assert (tmp_path / "b.md").read_text() == "second"
