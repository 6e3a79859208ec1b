"""The loader on the real digests and on the variations real files come with."""

from __future__ import annotations

import codecs
import datetime as dt

import pytest
from conftest import PLAIN, PLAIN_2, ROOT, TODAY, WITH_META, digest_text

from digest.dates import resolve_year
from digest.intake.loader import load_file, parse_bytes, parse_text
from digest.links import extract_links
from digest.model import Organization, title_key


def load(path, today=TODAY):
    loaded, _ = load_file(str(path), today)
    return loaded


@pytest.mark.parametrize(
    ("path", "count", "digest_date"),
    [
        (PLAIN, 80, dt.date(2026, 3, 12)),
        (WITH_META, 105, dt.date(2026, 10, 31)),
        (PLAIN_2, 101, dt.date(2026, 3, 14)),
    ],
)
def test_real_digests_are_read_whole(path, count, digest_date):
    loaded = load(path)
    assert len(loaded.papers) == count
    assert loaded.digest_date == digest_date
    assert loaded.problems == ()


def test_entry_with_organization_and_upvotes():
    first = load(WITH_META).papers[0]
    assert first.title == "Densing Law of LLMs"
    assert first.abstract.startswith("Large Language Models (LLMs) have emerged as a milestone")
    assert first.organization == Organization("openbmb", "OpenBMB")
    assert first.authors is None
    assert first.published == dt.date(2024, 12, 5)
    assert first.upvotes == 2
    assert first.digest_date == dt.date(2026, 10, 31)
    assert first.source == str(WITH_META)
    assert first.line == 13


def test_entry_with_author_count_and_date_without_year():
    second = load(WITH_META).papers[1]
    assert second.title == "Pre-perihelion Development of Interstellar Comet 3I/ATLAS"
    assert second.authors == 2
    assert second.organization is None
    # "Oct 21" in a digest of Oct 31: the latest Oct 21 on or before the digest's date.
    assert second.published == dt.date(2026, 10, 21)
    assert second.upvotes is None


def test_single_author_and_organisation_with_spaces_in_its_name():
    papers = load(WITH_META).papers
    by_title = {paper.title: paper for paper in papers}
    assert by_title["Similarity-Distance-Magnitude Universal Verification"].authors == 1
    adamp = by_title[
        "AdamP: Slowing Down the Slowdown for Momentum Optimizers on Scale-invariant Weights"
    ]
    assert adamp.organization == Organization("naver-ai", "NAVER AI Lab")
    assert adamp.published == dt.date(2020, 6, 15)


def test_entries_without_metadata_in_a_metadata_file():
    papers = load(WITH_META).papers
    bare = [p for p in papers if p.published is None]
    assert [p.title for p in bare] == [
        "Step-3 is Large yet Affordable: Model-system Co-design for Cost-effective Decoding",
        "Cache-to-Cache: Direct Semantic Communication Between Large Language Models",
    ]
    assert all(p.authors is None and p.organization is None and p.upvotes is None for p in bare)
    # The paper after a bare one still gets its own metadata, not its neighbour's.
    after = papers[papers.index(bare[0]) + 1]
    assert after.published is not None


def test_plain_variant_has_no_metadata():
    papers = load(PLAIN).papers
    assert all(p.authors is None and p.published is None and p.upvotes is None for p in papers)
    assert (
        papers[0].title
        == "Scaling Laws for Data Filtering -- Data Curation cannot be Compute Agnostic"
    )


def test_text_is_kept_exactly():
    raw = WITH_META.read_text(encoding="utf-8").split("\n")
    papers = load(WITH_META).papers
    for paper in papers:
        assert raw[paper.line - 1] == paper.title
        assert raw[paper.line + 1] == paper.abstract
    melange = next(p for p in papers if p.title.startswith("Mélange"))
    assert "M\\'elange" in melange.abstract
    comet = papers[1]
    assert "rH**(-2)" in comet.abstract


def test_links_lose_trailing_punctuation_and_unbalanced_brackets():
    text = (
        "Code: https://github.com/LZY-the-boys/Twin-Mergin.) See (https://example.org/a_(b)) "
        "and https://x.org/p?q=1, or <https://y.org/z>. Also http://a.b/c; ftp://no.pe/x "
        "and https://github.com/hmarkc/parallel-prompt-decoding."
    )
    assert extract_links(text) == (
        "https://github.com/LZY-the-boys/Twin-Mergin",
        "https://example.org/a_(b)",
        "https://x.org/p?q=1",
        "https://y.org/z",
        "http://a.b/c",
        "https://github.com/hmarkc/parallel-prompt-decoding",
    )


def test_links_found_in_real_abstracts():
    paper = load(PLAIN).papers[0]
    assert paper.links == ("https://github.com/locuslab/scaling_laws_data_filtering",)


@pytest.mark.parametrize(
    ("month", "day", "reference", "expected"),
    [
        (10, 21, dt.date(2024, 10, 31), dt.date(2024, 10, 21)),
        (12, 30, dt.date(2025, 1, 5), dt.date(2024, 12, 30)),
        (1, 5, dt.date(2025, 1, 5), dt.date(2025, 1, 5)),
        (2, 29, dt.date(2025, 3, 1), dt.date(2024, 2, 29)),
        (2, 29, dt.date(2027, 3, 1), dt.date(2024, 2, 29)),
    ],
)
def test_dates_without_a_year_resolve_to_the_latest_on_or_before(month, day, reference, expected):
    assert resolve_year(month, day, reference) == expected


def test_digest_date_resolves_against_the_reference_day():
    text = digest_text("Dec 30", [("A title", "An abstract.")])
    assert parse_text(text, "f", dt.date(2025, 1, 5)).digest_date == dt.date(2024, 12, 30)
    assert parse_text(text, "f", dt.date(2025, 12, 31)).digest_date == dt.date(2025, 12, 30)


def test_windows_line_endings_bom_tabs_and_trailing_spaces_change_nothing():
    original = WITH_META.read_text(encoding="utf-8")
    messy = original.replace("\n", "  \r\n").replace("  • ", "\t• ")
    messy = messy.replace("\r\n\r\n", "\r\n \t\r\n\r\n\r\n", 10)
    data = codecs.BOM_UTF8 + messy.encode("utf-8")
    clean, dirty = load(WITH_META), parse_bytes(data, "messy.txt", TODAY)
    assert dirty.problems == ()
    assert [
        (p.title, p.abstract, p.authors, p.organization, p.published, p.upvotes)
        for p in dirty.papers
    ] == [
        (p.title, p.abstract, p.authors, p.organization, p.published, p.upvotes)
        for p in clean.papers
    ]


def test_lone_carriage_returns_and_no_final_newline():
    text = digest_text("Mar 4", [("T one", "A one."), ("T two", "A two.")]).rstrip("\n")
    loaded = parse_bytes(text.replace("\n", "\r").encode(), "cr.txt", TODAY)
    assert [p.title for p in loaded.papers] == ["T one", "T two"]


def test_utf16_with_bom_is_decoded():
    text = digest_text("Mar 4", [("Ünïcode title", "An abstract with ü.")])
    loaded = parse_bytes(text.encode("utf-16"), "u16.txt", TODAY)
    assert [p.title for p in loaded.papers] == ["Ünïcode title"]


def test_cp1252_is_rejected_with_the_reason_and_line():
    text = digest_text("Mar 4", [("Title", "Caf\u00e9 abstract.")])
    loaded = parse_bytes(text.encode("cp1252"), "latin.txt", TODAY)
    assert loaded.papers == ()
    (problem,) = loaded.problems
    assert "not UTF-8" in problem.message and "line 13" in problem.message and problem.line == 13
    assert "iconv" in problem.message


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty file"),
        (b"  \n\n\t\n", "empty file"),
        (
            b"new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\nOct 31\n",
            "no papers found",
        ),
        (bytes(range(256)) * 4, "not UTF-8"),
        ("\x00\x01\x02\x03" * 50 + "Title\n\nAbstract.", "binary data"),
    ],
)
def test_files_that_are_not_digests_are_rejected_with_a_reason(content, reason):
    data = content if isinstance(content, bytes) else content.encode()
    loaded = parse_bytes(data, "bad.txt", TODAY)
    assert loaded.rejected
    assert any(reason in problem.message for problem in loaded.problems)


def test_cut_off_last_entry_is_reported_and_the_rest_is_taken():
    pairs = [("First paper", "A full abstract."), ("Second paper", "Another one.")]
    text = digest_text("Mar 4", pairs) + "\nThird paper, cut off\n"
    loaded = parse_text(text, "cut.txt", TODAY)
    assert [p.title for p in loaded.papers] == ["First paper", "Second paper"]
    (problem,) = loaded.problems
    assert problem.severity == "error"
    assert problem.line == 19
    assert "no abstract" in problem.message


def test_abstract_cut_mid_sentence_is_taken_with_a_warning():
    text = digest_text("Mar 4", [("First", "Done."), ("Second", "We propose a method that")])
    loaded = parse_text(text, "cut.txt", TODAY)
    assert len(loaded.papers) == 2
    (problem,) = loaded.problems
    assert problem.severity == "warning" and "mid-sentence" in problem.message


@pytest.mark.parametrize("bad_date", ["Feb 30", "Foo 12, 2024", "Feb 30, 2023 4"])
def test_garbled_date_keeps_the_paper_and_reports_the_line(bad_date):
    text = digest_text(
        "Mar 4",
        [("Good", "Fine."), ("Odd", "Also fine.")],
        meta=["  • 3 authors\n·\nMar 1, 2024 5", f"  • 4 authors\n·\n{bad_date}"],
    )
    loaded = parse_text(text, "dates.txt", TODAY)
    assert [p.title for p in loaded.papers] == ["Good", "Odd"]
    odd = loaded.papers[1]
    assert odd.authors == 4 and odd.published is None
    (problem,) = loaded.problems
    assert problem.line == 25 and "date" in problem.message and bad_date in problem.message


def test_metadata_with_a_missing_line_is_read_as_far_as_it_goes():
    text = digest_text(
        "Mar 4",
        [("One", "First."), ("Two", "Second.")],
        meta=["  • 3 authors\nMar 1, 2024 5", "·\nMar 2, 2024"],
    )
    loaded = parse_text(text, "meta.txt", TODAY)
    one, two = loaded.papers
    assert (one.authors, one.published, one.upvotes) == (3, dt.date(2024, 3, 1), 5)
    assert (two.authors, two.published) == (None, dt.date(2024, 3, 2))
    assert all(p.severity == "warning" for p in loaded.problems)


def test_control_characters_are_removed_and_reported():
    text = digest_text("Mar 4", [("Ti\x00tle\x1b", "Abs\x0ctract\ufffe text.")])
    loaded = parse_text(text, "ctl.txt", TODAY)
    (paper,) = loaded.papers
    assert (paper.title, paper.abstract) == ("Title", "Abstract text.")
    assert loaded.problems[0].severity == "warning" and loaded.problems[0].line == 11


def test_title_identity_ignores_case_spacing_unicode_form_and_punctuation():
    assert title_key("GeMQuAD : Generating") == title_key("GeMQuAD: Generating")
    assert title_key("Deep  LEARNING") == title_key("deep learning")
    assert title_key("Cafe\u0301 au lait") == title_key("Caf\u00e9 au lait")
    assert title_key("ＡＢＣ test") == title_key("ABC test")
    assert title_key("Attention is all you need") != title_key("Attention is all you need 2")


def test_a_text_file_that_is_no_digest_is_rejected_not_published(tmp_path):
    """Notes, a README or a config dropped into the inbox: paragraphs in pairs, but no page
    header, no digest date and no entry with metadata. Published, they would be seen for
    good and emailed."""
    readme = "# digest\n\nA newsletter generator.\n\nRun the tests:\n\npython -m pytest\n"
    result = parse_text(readme, "notes.txt", TODAY)
    assert result.rejected and result.papers == ()
    assert result.errors == (
        "this does not look like a digest file: 2 of 2 entries are not shaped as papers "
        "(line 1: '# digest' is a heading, list item or label, not a title); a listing's "
        "entry is a one-line title over an abstract of 40 words or more (without the Daily "
        "Papers header), or has authors, a date or upvotes"
    )
    # A listing cut from the page without its header still has its papers' metadata.
    pairs = "A title\n\nAn abstract.\n\n  • 3 authors\n·\nMar 1, 2026 4\n"
    assert len(parse_text(pairs, "cut.txt", TODAY).papers) == 1
    # Short title and abstract pairs are a digest of the first kind under the page's header
    # (a date alone says nothing: meeting notes open with one).
    page = "Daily Papers\n\nNov 3\n\n"
    assert len(parse_text(page + "A title\n\nAn abstract.\n", "d.txt", TODAY).papers) == 1
    assert parse_text("Nov 3\n\nA title\n\nAn abstract.\n", "d.txt", TODAY).rejected
    # This project's own README, dropped in by mistake: long paragraphs, but no papers.
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert parse_text(readme, "README.txt", TODAY).rejected


def test_a_real_digest_cut_above_its_first_paper_is_still_read():
    """Copied from the page without its header and date, and without metadata: each
    entry still has a paper's shape (a title line over a paper's abstract)."""
    for name, count in (("000_0e5cb4eac3db34fe.txt", 80), ("003_73824512330c0a56.txt", 101)):
        lines = (ROOT / "examples" / "digests" / name).read_text(encoding="utf-8").splitlines()
        cut = "\n".join(lines[10:]) + "\n"
        result = parse_text(cut, name, TODAY)
        assert (result.rejected, len(result.papers)) == (False, count), result.errors
