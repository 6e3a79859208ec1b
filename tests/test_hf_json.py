"""The API's own JSON as a digest file: every field read where the API puts it, missing
left unknown, bad input handled as bad input always is, and one paper whether it is seen
in a text listing or in JSON."""

from __future__ import annotations

import codecs
import datetime as dt
import hashlib
import json
import os
from pathlib import Path

import pytest
from conftest import DATA, NOW, TODAY, digest_process, digest_text
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from digest.intake.hf_json import looks_like_json, parse_json, peek_json_date
from digest.intake.loader import load_file, parse_bytes, parse_text, peek_digest_date
from digest.model import DigestFile, Organization, Paper, PaperDetails, Severity, title_key

HF = DATA / "hf"
SETTINGS = settings(
    max_examples=int(os.environ.get("DIGEST_HYPOTHESIS_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
ABSTRACT = "We study a thing\nand find that it\n  works well. Code: https://github.com/a/b."


def paper_fields(title: str = "A Paper", **fields: object) -> dict:
    return {"title": title, "summary": ABSTRACT, **fields}


def listing(*items: object) -> bytes:
    return json.dumps(list(items), indent=1).encode()


def read(data: bytes | str, name: str = "hf-2026-11-05.json") -> DigestFile:
    return parse_json(data.encode() if isinstance(data, str) else data, name)


def only(loaded: DigestFile):
    (paper,) = loaded.papers
    return paper


def load(tmp_path: Path, name: str, data: bytes) -> DigestFile:
    """Through the loader, from a real file: the way every run reads it."""
    path = tmp_path / name
    path.write_bytes(data)
    return load_file(str(path), TODAY)[0]


def messages(loaded: DigestFile, severity: Severity | None = None) -> str:
    return " | ".join(p.message for p in loaded.problems if severity in (None, p.severity))


# --- the fields, where the API puts them ------------------------------------------------


def test_a_real_listing_is_read_whole_with_every_field(tmp_path):
    loaded = load(tmp_path, "hf-2025-11-05.json", (HF / "list-2025-11-05.json").read_bytes())
    assert loaded.problems == ()
    assert loaded.digest_date == dt.date(2025, 11, 5)
    assert len(loaded.papers) == 8
    first = loaded.papers[0]
    assert first.title.startswith("Sparse Lookahead Decoding: Lossless Acceleration")
    assert "\n" not in first.abstract and "  " not in first.abstract
    assert first.abstract.startswith(
        "Autoregressive decoding of large language models is "
        "bottlenecked by memory bandwidth rather than compute"
    )
    assert first.authors == 5, "six listed, one of them hidden"
    assert first.organization == Organization("northlake-ai", "Northlake AI Lab")
    assert first.published == dt.date(2025, 11, 3)  # paper.publishedAt, arXiv's date
    assert first.upvotes == 142
    assert first.digest_date == dt.date(2025, 11, 5)
    assert first.line == 2
    assert first.source == str(tmp_path / "hf-2025-11-05.json")
    assert first.key == title_key(first.title)
    details = first.details
    assert details.arxiv_id == "2511.01234"
    assert details.author_names == (
        "Jonas Lindqvist",
        "Priya Raman",
        "Wei-Ting Chou",
        "Mira Kovač",
        "Samuel Adeyemi",
    )
    assert details.comments == 6  # the item's numComments
    assert details.github_repo == "https://github.com/northlake-ai/sparse-lookahead"
    assert details.github_stars == 318
    assert details.project_page == "https://northlake-ai.github.io/sparse-lookahead/"
    assert details.ai_summary.startswith("Sparse Lookahead Decoding speeds up")
    assert details.ai_keywords[:2] == ("lookahead decoding", "speculative decoding")
    assert details.submitted_by == "mirakovac"
    by_id = {p.details.arxiv_id: p for p in loaded.papers}
    assert by_id["2511.01877"].organization == Organization("KestrelResearch", "Kestrel Research")
    assert by_id["2511.00412"].details.github_stars == 0, "0 is a real value"
    assert by_id["2511.03005"].authors == 13, "fourteen listed, one hidden"


def test_the_single_paper_shape_has_its_fields_at_the_top():
    paper = only(read((HF / "paper-2511.01234.json").read_bytes()))
    assert paper.upvotes == 211 and paper.authors == 5 and paper.line == 1
    assert paper.published == dt.date(2025, 11, 3)
    assert paper.organization == Organization("northlake-ai", "Northlake AI Lab")
    assert paper.details.arxiv_id == "2511.01234" and paper.details.github_stars == 540
    assert paper.details.comments is None, "the single endpoint has no numComments"


ORG = {"name": "acme", "fullname": "Acme Research"}
USER = {"name": "akhaliq", "fullname": "AK", "user": "akhaliq"}
# field: (its JSON value, what it reads as)
FIELDS = {
    "upvotes": (7, lambda p: p.upvotes, 7),
    "authors": ([{"name": "A", "hidden": False}, {"name": "B"}], lambda p: p.authors, 2),
    "organization": (ORG, lambda p: p.organization, Organization("acme", "Acme Research")),
    "submittedOnDailyAt": (
        "2026-11-05T06:00:00.000Z",
        lambda p: p.digest_date,
        dt.date(2026, 11, 5),
    ),
    "id": ("2511.01234", lambda p: p.details.arxiv_id, "2511.01234"),
    "numComments": (4, lambda p: p.details.comments, 4),
    "githubRepo": (
        "https://github.com/a/b",
        lambda p: p.details.github_repo,
        "https://github.com/a/b",
    ),
    "githubStars": (12, lambda p: p.details.github_stars, 12),
    "projectPage": ("https://a.example/", lambda p: p.details.project_page, "https://a.example/"),
    "ai_summary": ("In short.", lambda p: p.details.ai_summary, "In short."),
    "ai_keywords": (["k1", "k2"], lambda p: p.details.ai_keywords, ("k1", "k2")),
    "submittedBy": (USER, lambda p: p.details.submitted_by, "akhaliq"),
    "submittedOnDailyBy": (USER, lambda p: p.details.submitted_by, "akhaliq"),
}


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("place", ["paper", "item", "single"])
def test_every_field_is_read_from_either_place(field, place):
    value, get, expected = FIELDS[field]
    if place == "paper":
        document = [{"paper": paper_fields(**{field: value})}]
    elif place == "item":
        document = [{"paper": paper_fields(), field: value}]
    else:
        document = paper_fields(**{field: value})
    loaded = read(json.dumps(document), "x.json")
    assert loaded.problems == ()
    assert get(only(loaded)) == expected


def test_title_and_summary_are_found_at_the_item_top_too():
    paper = only(read(json.dumps([{"paper": {"id": "2511.01234"}, **paper_fields("Top")}])))
    assert paper.title == "Top" and paper.abstract.startswith("We study")


def test_the_paper_place_comes_first():
    document = [{"paper": paper_fields("Inner", upvotes=3), "title": "Outer", "upvotes": 9}]
    paper = only(read(json.dumps(document)))
    assert (paper.title, paper.upvotes) == ("Inner", 3)


def test_the_items_own_published_at_is_no_paper_date():
    # item.publishedAt is when it went on the page (research notes): never the arXiv date.
    document = [{"paper": paper_fields(), "publishedAt": "2026-11-04T20:00:00.000Z"}]
    assert only(read(json.dumps(document))).published is None
    inner = [{"paper": paper_fields(publishedAt="2026-10-30T17:00:00.000Z")}]
    assert only(read(json.dumps(inner))).published == dt.date(2026, 10, 30)


def test_absent_fields_stay_unknown_not_zero():
    paper = only(read(json.dumps([{"paper": paper_fields()}]), "x.json"))
    assert (paper.authors, paper.organization, paper.published, paper.upvotes) == (None,) * 4
    assert paper.digest_date is None, "no featured date and no date in the file name"
    assert paper.details == PaperDetails()


def test_nulls_are_absent_and_fall_back_to_the_other_place():
    nulls = dict.fromkeys(
        [
            "upvotes",
            "authors",
            "organization",
            "publishedAt",
            "submittedOnDailyAt",
            "id",
            "githubRepo",
            "githubStars",
            "projectPage",
            "ai_summary",
            "ai_keywords",
        ]
    )
    loaded = read(json.dumps([{"paper": paper_fields(**nulls), "numComments": None}]), "x.json")
    assert loaded.problems == ()
    paper = only(loaded)
    assert paper.upvotes is None and paper.details == PaperDetails()
    fallback = [
        {"paper": paper_fields(upvotes=None, organization=None), "upvotes": 5, "organization": ORG}
    ]
    paper = only(read(json.dumps(fallback)))
    assert paper.upvotes == 5 and paper.organization.id == "acme"


@pytest.mark.parametrize(
    ("field", "value", "get"),
    [
        ("upvotes", "12", lambda p: p.upvotes),
        ("upvotes", True, lambda p: p.upvotes),
        ("upvotes", 12.0, lambda p: p.upvotes),
        ("upvotes", -1, lambda p: p.upvotes),
        ("upvotes", 2**53, lambda p: p.upvotes),
        ("githubStars", [3], lambda p: p.details.github_stars),
        ("numComments", {"n": 1}, lambda p: p.details.comments),
        ("authors", "Ann, Bob", lambda p: p.authors),
        ("organization", "acme", lambda p: p.organization),
        ("organization", {"fullname": "No slug"}, lambda p: p.organization),
        ("publishedAt", 20261105, lambda p: p.published),
        ("publishedAt", "yesterday", lambda p: p.published),
        ("submittedOnDailyAt", "2026-13-40T00:00:00Z", lambda p: p.digest_date),
        ("githubRepo", "javascript:alert(1)", lambda p: p.details.github_repo),
        ("githubRepo", "owner/repo", lambda p: p.details.github_repo),
        ("githubRepo", "https://github.com/a/\u202egnp.exe", lambda p: p.details.github_repo),
        ("projectPage", "https://a.example/x y", lambda p: p.details.project_page),
        ("id", "../../etc/passwd", lambda p: p.details.arxiv_id),
        ("ai_summary", 42, lambda p: p.details.ai_summary),
        ("ai_keywords", "one string", lambda p: p.details.ai_keywords),
        ("submittedBy", "akhaliq", lambda p: p.details.submitted_by),
    ],
)
def test_a_wrong_type_is_unknown_with_a_warning(field, value, get):
    loaded = read(listing({"paper": paper_fields(**{field: value})}), "x.json")
    paper = only(loaded)
    assert get(paper) in (None, ())
    assert loaded.problems and all(p.severity is Severity.WARNING for p in loaded.problems)
    assert all(p.line == 2 for p in loaded.problems), "located at the item"


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1" * 5000, "1e999"])
def test_nan_infinity_and_huge_numbers_are_no_counts(literal):
    data = f'[{{"paper": {{"title": "T", "summary": "S.", "upvotes": {literal}}}}}]'
    loaded = read(data)
    assert only(loaded).upvotes is None
    named = {"1e999": "the number inf", "1" * 5000: "a number of 5000 digits"}.get(
        literal, f"{literal} (not a JSON number)"
    )
    assert f"'paper.upvotes' is {named}, not a whole number" in messages(loaded, Severity.WARNING)


def test_hidden_authors_are_neither_counted_nor_named():
    authors = [
        {"name": "Ann", "hidden": False},
        {"name": "Secret", "hidden": True},
        {"name": "Bob"},
        {"name": "Odd", "hidden": "yes"},
        "Carl",
        {"hidden": False},
    ]
    loaded = read(json.dumps([{"paper": paper_fields(authors=authors)}]))
    paper = only(loaded)
    assert paper.details.author_names == ("Ann", "Bob")
    assert paper.authors == 3, "Ann, Bob and the nameless one; not the hidden or odd ones"
    assert "2 authors not an object" in messages(loaded)
    assert "1 author shown without a name" in messages(loaded)
    hidden_only = [{"paper": paper_fields(authors=[{"name": "S", "hidden": True}])}]
    assert only(read(json.dumps(hidden_only))).authors is None, "0 authors is never true"


def test_markup_and_script_in_strings_are_kept_as_data():
    title = "Escaping <script>alert(1)</script> &amp; <b>bold</b>"
    fields = paper_fields(
        title,
        summary="<img src=x onerror=alert(1)> & done.",
        ai_keywords=["<i>x</i>"],
        authors=[{"name": "<svg onload=1>"}],
    )
    paper = only(read(json.dumps([{"paper": fields}])))
    assert paper.title == title
    assert paper.abstract == "<img src=x onerror=alert(1)> & done."
    assert paper.details.ai_keywords == ("<i>x</i>",)
    assert paper.details.author_names == ("<svg onload=1>",)


def test_text_is_cleaned_as_a_text_listings_is():
    title = "Bidi \u202eopen title"
    summary = "Line one\nline two\u0000 with\tcontrol\x85s  and\r\nbreaks \u2067isolated."
    loaded = read(json.dumps([{"paper": paper_fields(title, summary=summary)}]))
    paper = only(loaded)
    on_the_page = "Line one line two\u0000 with control\x85s and breaks \u2067isolated."
    listed = digest_text("Nov 5", [(title, on_the_page)])
    text = parse_text(listed, "t.txt", TODAY).papers[0]
    assert (paper.title, paper.abstract) == (text.title, text.abstract)
    assert paper.abstract == "Line one line two with controls and breaks \u2067isolated.\u2069"
    assert paper.title == "Bidi \u202eopen title\u202c"
    assert "removed 2 control characters" in messages(loaded, Severity.WARNING)
    assert "closed 2 bidirectional controls" in messages(loaded, Severity.WARNING)


WORDS = st.lists(
    st.text(
        st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), min_size=1, max_size=8
    ),
    min_size=1,
    max_size=12,
)


@SETTINGS
@given(WORDS, WORDS)
def test_a_paper_reads_the_same_from_json_as_from_its_text_listing(title, abstract):
    # arXiv's hard line breaks in the API's summary are the text page's joined lines.
    api = read(
        json.dumps([{"paper": {"title": " ".join(title), "summary": "\n".join(abstract) + "."}}])
    )
    text = parse_text(
        digest_text("Nov 5", [(" ".join(title), " ".join(abstract) + ".")]), "t.txt", TODAY
    )
    # A text file is judged by the shape of its entries (an abstract "#." reads as a heading,
    # not a paper); JSON names its fields, so it needs no such judgement.
    assume(text.papers)
    assert [(p.key, p.title, p.abstract) for p in api.papers] == [
        (p.key, p.title, p.abstract) for p in text.papers
    ]


def test_the_same_paper_in_text_and_json_has_one_identity():
    api = only(read(json.dumps([{"paper": paper_fields("GeMQuAD : Generating Multilingual")}])))
    text = parse_text(
        digest_text("Nov 5", [("GeMQuAD: generating multilingual", "It works.")]), "t.txt", TODAY
    ).papers[0]
    assert api.key == text.key and api.id == text.id


# --- digest dates -----------------------------------------------------------------------


def featured(day: str) -> dict:
    return {"paper": paper_fields(f"Paper of {day}", submittedOnDailyAt=day)}


def test_each_paper_has_the_utc_day_it_was_featured_and_the_file_the_commonest():
    loaded = read(
        listing(
            featured("2026-11-05T23:30:00-02:00"),
            featured("2026-11-04T10:00Z"),
            featured("2026-11-04T23:59:59Z"),
        ),
        "x.json",
    )
    assert [p.digest_date for p in loaded.papers] == [
        dt.date(2026, 11, 6),
        dt.date(2026, 11, 4),
        dt.date(2026, 11, 4),
    ]
    assert loaded.digest_date == dt.date(2026, 11, 4)
    tie = read(listing(featured("2026-11-03T08:00Z"), featured("2026-11-02T08:00Z")), "x.json")
    assert tie.digest_date == dt.date(2026, 11, 3), "a tie goes to the later day"


def test_the_file_name_dates_a_file_whose_papers_say_nothing():
    loaded = read(
        listing({"paper": paper_fields("A")}, featured("2026-11-05T08:00Z")),
        "inbox/hf-2026-11-07.json",
    )
    assert loaded.digest_date == dt.date(2026, 11, 5), "the papers' own days come first"
    assert "named for 2026-11-07, but most of its papers were featured on 2026-11-05" in (
        messages(loaded, Severity.WARNING)
    )
    assert loaded.papers[0].digest_date == dt.date(2026, 11, 5), "the file's day, as in text"
    undated = read(listing({"paper": paper_fields("A")}), "inbox/hf-2026-11-07.json")
    assert undated.digest_date == undated.papers[0].digest_date == dt.date(2026, 11, 7)
    assert read(listing({"paper": paper_fields("A")}), "hf-2026-02-30.json").digest_date is None


def test_the_inbox_orders_json_files_by_their_featured_day():
    head = listing(featured("2026-11-04T08:00Z"), featured("2026-11-04T09:00Z"))[:4096]
    assert peek_json_date(head) == dt.date(2026, 11, 4)
    assert peek_digest_date(head, TODAY) == (dt.date(2026, 11, 4), False), "a date with its year"


# --- bad input --------------------------------------------------------------------------


def rejected(loaded: DigestFile) -> str:
    assert loaded.rejected and loaded.papers == ()
    assert any(p.severity is Severity.ERROR for p in loaded.problems)
    return loaded.errors


def test_an_html_error_page_is_said_to_be_one(tmp_path):
    page = (HF / "error-html-200.html").read_bytes()
    reason = rejected(load(tmp_path, "hf-2026-11-05.json", page))
    assert reason.startswith("an HTML page, not the API's JSON: was it an error page?")
    assert "Hugging Face – The AI community" in reason, "its title, to tell which page"
    assert "HTML page" in rejected(read(codecs.BOM_UTF8 + b"  \n<html><body>503</body></html>"))


def test_invalid_json_is_rejected_with_its_line_and_column():
    good = json.dumps({"paper": paper_fields()})
    loaded = read(f'[\n{good},\n{good},\n{{"paper": {{"title": "T" "summary": "S"}}}}\n]')
    reason = rejected(loaded)
    assert "not valid JSON: Expecting ',' delimiter at line 4, column 25" in reason
    assert loaded.problems[0].line == 4
    cut = read(f"[\n{good},\n{good[:40]}")
    assert "line 3" in rejected(cut) and "(cut off?)" in cut.errors
    assert "Extra data at line 2" in rejected(read(f"[{good}]\n[]"))
    assert "Expecting value" in rejected(read(f"[{good},]"))


@pytest.mark.parametrize(
    ("body", "shown"),
    [
        ((HF / "error-404-paper.json").read_text(), "'Paper not found'"),
        ((HF / "error-429.json").read_text(), "'Too many requests: rate limit reached"),
        ('{"error": ["bad date", "too far"]}', "'bad date; too far'"),
        (
            '{"error": "invalid_request", "error_description": "no such day"}',
            "'invalid_request; no such day'",
        ),
        ('{"errors": [{"message": "Too big: expected number to be <=100"}]}', "'Too big"),
        ('{"error": 42}', "(no message)"),
    ],
)
def test_the_apis_error_is_quoted(body, shown):
    reason = rejected(read(body))
    assert reason.startswith("the API answered with an error, not papers: ")
    assert shown in reason and "fetch that day again" in reason


def test_an_error_message_is_quoted_on_one_line_and_cut_short():
    long = "first line\nsecond \u202e line \x1b[31m " + "x" * 1000
    reason = rejected(read(json.dumps({"error": long})))
    assert "\n" not in reason and "\u202e" not in reason and "\x1b" not in reason
    assert len(reason) < 320 and "…" in reason and "\\u202e" in reason


def test_json_that_is_no_list_of_papers_says_what_it_is():
    assert "a JSON object, not the API's list of papers (its keys: 'papers')" in rejected(
        read('{"papers": [{"title": "T", "summary": "S."}]}')
    )
    assert "JSON that is the number 42" in rejected(read("42", "x.json"))
    assert "JSON that is the string 'text'" in rejected(read('"text"', "x.json"))


def test_an_empty_list_is_rejected_as_a_day_without_papers():
    reason = rejected(read((HF / "list-empty.json").read_bytes()))
    assert reason.startswith("an empty list: the API had no papers") and "remove the file" in reason
    assert rejected(read(b"  \n", "x.json")) == "empty file: no papers found"


@pytest.mark.parametrize("depth", [5000, 200_000])
def test_deep_nesting_is_refused_not_a_crash(depth):
    assert "nested too deeply" in rejected(read("[" * depth + "]" * depth))
    nested = "[" * depth + "]" * depth
    inside = f'[{{"paper": {{"title": "T", "summary": "S.", "x": {nested}}}}}]'
    assert "nested too deeply" in rejected(read(inside))


def test_one_bad_item_costs_that_item_only():
    data = listing(
        {"paper": paper_fields("First")},
        42,
        {"paper": {"title": "No summary"}},
        {"paper": {"summary": "No title."}},
        {"paper": paper_fields("*** ")},
        [1, 2],
        {"paper": paper_fields("Last")},
    )
    loaded = read(data)
    assert [p.title for p in loaded.papers] == ["First", "Last"]
    errors = [(p.line, p.message) for p in loaded.problems if p.severity is Severity.ERROR]
    lines = [
        n
        for n, line in enumerate(data.decode().splitlines(), start=1)
        if line in (" {", " 42,", " [")
    ]
    assert [line for line, _ in errors] == lines[1:-1]
    assert [message.split(";")[0] for _, message in errors] == [
        "item 2 is the number 42, not an object",
        "paper 'No summary' has no summary",
        "an item with no title",
        "an item with title '***' has no letters or digits",
        "item 6 is a list, not an object",
    ]
    assert loaded.papers[1].line == lines[-1]


def test_duplicate_keys_warn_and_the_last_wins():
    loaded = read('[{"paper": {"title": "A", "summary": "S.", "upvotes": 1, "upvotes": 9}}]')
    assert only(loaded).upvotes == 9
    assert "duplicate key 'upvotes': the last of each is read" in messages(loaded)


@pytest.mark.parametrize(
    "encode",
    [
        lambda text: codecs.BOM_UTF8 + text.encode(),
        lambda text: text.encode("utf-16"),  # with its byte-order mark
        lambda text: text.encode("utf-16-le"),
        lambda text: text.encode("utf-32-be"),
    ],
)
def test_byte_order_marks_and_utf16_are_read(tmp_path, encode):
    text = json.dumps([{"paper": paper_fields("Ünïcode title", upvotes=3)}])
    loaded = load(tmp_path, "listing", encode(text))  # no .json: told by its content
    assert [(p.title, p.upvotes) for p in loaded.papers] == [("Ünïcode title", 3)]
    assert "not UTF-8: byte 0xff on line 1" in rejected(read(b'[{"title": "\xff"}]'))


def test_what_is_json_and_what_stays_text(tmp_path):
    reproduction = digest_text("Nov 5", [("[Re] Reproducing a result", "We did it again.")])
    assert not looks_like_json(reproduction.encode(), "listing.txt")
    assert load(tmp_path, "listing.txt", reproduction.encode()).papers[0].title.startswith("[Re]")
    assert looks_like_json(b'\n  [\n  {"paper"', "listing") and looks_like_json(b"{}", "x")
    assert looks_like_json(b"[]", "x") and looks_like_json(b"new\n", "x.JSON")
    assert "not valid JSON" in rejected(load(tmp_path, "listing.json", reproduction.encode()))
    assert (
        parse_bytes(b'[{"paper": {}}]', "x", TODAY)
        .problems[0]
        .message.startswith("an item with no title")
    )


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    *FIELDS,
                    "paper",
                    "title",
                    "summary",
                    "name",
                    "hidden",
                    "fullname",
                    "publishedAt",
                    "error",
                ]
            ),
            inner,
            max_size=6,
        )
    ),
    max_leaves=30,
)


@SETTINGS
@given(st.one_of(st.binary(max_size=2000), JSON_VALUES.map(lambda v: json.dumps(v).encode())))
def test_any_bytes_give_papers_or_a_reason_and_never_raise(data):
    loaded = parse_json(data, "any.json")
    assert loaded.papers or any(p.severity is Severity.ERROR for p in loaded.problems)
    for paper in loaded.papers:
        assert paper.title and paper.abstract and paper.key
        for count in (
            paper.authors,
            paper.upvotes,
            paper.details.github_stars,
            paper.details.comments,
        ):
            assert count is None or (type(count) is int and count >= 0)
        for url in (paper.details.github_repo, paper.details.project_page):
            assert url is None or url.startswith(("http://", "https://"))
    for problem in loaded.problems:
        assert problem.message and problem.file == "any.json"
        json.dumps(problem.message).encode("utf-8")  # printable: no lone surrogate


# --- through a real `digest run` --------------------------------------------------------


def api_item(title: str, upvotes: int, day: str, **paper: object) -> dict:
    fields = paper_fields(
        title,
        upvotes=upvotes,
        submittedOnDailyAt=f"{day}T06:00:00.000Z",
        publishedAt="2026-10-30T17:00:00.000Z",
        **paper,
    )
    return {"paper": fields, "numComments": 1}


def text_meta(upvotes: int) -> str:
    return f"  • 2 authors\n·\nOct 30, 2026 {upvotes}"


def run(site, *extra: str):
    result = digest_process("run", "--config", site.config, "--now", NOW, "--json", *extra)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)


def published_once(site, titles: list[str]) -> None:
    pages = "".join(p.read_text(encoding="utf-8") for p in (site.out / "issues").glob("*.html"))
    rows = dict(site.rows("SELECT key, issue_seq FROM papers"))
    for title in titles:
        paper = Paper(title, "")
        assert rows[paper.key] is not None, title
        assert pages.count(f'id="{paper.anchor}"') == 1, title


def upvotes(site, title: str) -> tuple[int, list[int]]:
    key = title_key(title)
    (current,) = site.rows("SELECT upvotes FROM papers WHERE key = ?", (key,))[0]
    history = site.rows(
        "SELECT s.upvotes FROM sightings s JOIN papers p ON p.id = s.paper_id "
        "WHERE p.key = ? ORDER BY s.file_id",
        (key,),
    )
    return current, [row[0] for row in history]


@pytest.mark.parametrize("json_first", [True, False])
def test_a_paper_in_text_then_json_or_back_is_published_once(site, json_first):
    api = (
        "hf-2026-11-05.json",
        10,
        listing(
            api_item("GeMQuAD: Generating data", 10, "2026-11-05"),
            api_item("Only in JSON", 4, "2026-11-05"),
        ),
    )
    papers = [("GeMQuAD : Generating Data", "It works."), ("Only in text", "Yes.")]
    day = "Nov 6" if json_first else "Nov 4"
    text = ("listing.txt", 20, digest_text(day, papers, meta=[text_meta(20), text_meta(2)]))
    first, second = (api, text) if json_first else (text, api)
    site.write(first[0], first[2])
    assert run(site)[0] == 0
    site.write(second[0], second[2])
    code, report = run(site)
    assert code == 0 and report["new_papers"] == 1, "the shared paper is not new again"
    published_once(site, ["GeMQuAD: Generating Data", "Only in text", "Only in JSON"])
    # The later sighting's upvotes are the paper's; each sighting keeps its own.
    assert upvotes(site, "GeMQuAD: Generating Data") == (second[1], [first[1], second[1]])


def test_one_run_takes_text_and_json_in_digest_date_order(site):
    # The JSON file's day (Nov 5) is before the text's (Nov 6): the text is the later
    # sighting, whatever the names, as between two text files.
    site.write(
        "z-listing.txt", digest_text("Nov 6", [("Shared Paper", "It works.")], meta=[text_meta(30)])
    )
    site.write("a.json", listing(api_item("Shared paper", 12, "2026-11-05")))
    code, report = run(site)
    assert code == 0 and report["new_papers"] == 1
    assert upvotes(site, "Shared Paper") == (30, [12, 30])


def test_two_days_of_json_publish_a_paper_once_with_its_latest_upvotes(site):
    site.drop(HF / "list-2025-11-06.json", "hf-2025-11-06.json")
    site.drop(HF / "list-2025-11-05.json", "hf-2025-11-05.json")
    code, report = run(site)
    assert code == 0 and report["new_papers"] == 8 + 4, "2511.01234 is in both"
    title = "Sparse Lookahead Decoding: Lossless Acceleration of LLM Inference Without Draft Models"
    published_once(site, [title])
    assert upvotes(site, title) == (211, [142, 211])


def test_json_papers_take_sections_and_scripts_are_escaped(site):
    with site.config.open("a", encoding="utf-8") as config:
        config.write(
            '[[sections]]\nname = "Northlake"\nmatch = ["Northlake AI Lab"]\n'
            'fields = ["organization"]\n'
        )
    site.drop(HF / "list-2025-11-05.json", "hf-2025-11-05.json")
    code, report = run(site)
    assert code == 0 and report["new_papers"] == 8
    section = site.rows(
        "SELECT section FROM papers WHERE key = ?",
        (
            title_key(
                "Sparse Lookahead Decoding: Lossless Acceleration of LLM "
                "Inference Without Draft Models"
            ),
        ),
    )
    assert section == [("Northlake",)]
    (page,) = (site.out / "issues").glob("*.html")
    html = page.read_text(encoding="utf-8")
    assert "<script>" not in html and "onerror=" not in html.replace("onerror=alert", "")
    assert "Escaping the Sandbox: &lt;script&gt;alert(1)&lt;/script&gt;" in html


def fingerprint(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_rejected_json_files_stay_unchanged_and_the_others_are_published(site):
    good = listing(api_item("A good JSON paper", 3, "2026-11-05"))
    site.write("hf-2026-11-05.json", good)
    site.write("listing.txt", digest_text("Nov 5", [("A good text paper", "It works.")]))
    site.write("broken.json", good[:-10])
    site.drop(HF / "error-html-200.html", "hf-2026-11-06.json")
    site.drop(HF / "error-429.json", "hf-2026-11-07.json")
    site.drop(HF / "list-empty.json", "hf-2026-11-08.json")
    site.write("deep.json", "[" * 100_000)
    before = fingerprint(site.inbox)
    code, report = run(site)
    assert code == 1
    reasons = {Path(item["file"]).name: item["reason"] for item in report["files"]["rejected"]}
    assert sorted(reasons) == [
        "broken.json",
        "deep.json",
        "hf-2026-11-06.json",
        "hf-2026-11-07.json",
        "hf-2026-11-08.json",
    ]
    assert "not valid JSON" in reasons["broken.json"]
    assert "HTML page" in reasons["hf-2026-11-06.json"]
    assert "Too many requests" in reasons["hf-2026-11-07.json"]
    assert "empty list" in reasons["hf-2026-11-08.json"]
    assert report["new_papers"] == 2
    published_once(site, ["A good JSON paper", "A good text paper"])
    assert fingerprint(site.inbox) == before, "no input file was altered"
    again, _ = run(site)
    assert again == 1, "a rejected file is reported on every run until it is fixed"


def test_digest_parse_shows_what_the_json_says(tmp_path):
    path = tmp_path / "hf-2025-11-05.json"
    path.write_bytes((HF / "list-2025-11-05.json").read_bytes())
    result = digest_process("parse", path, "--json")
    assert result.returncode == 0, result.stderr
    (document,) = json.loads(result.stdout)
    assert document["digest_date"] == "2025-11-05" and len(document["papers"]) == 8
    first = document["papers"][0]
    assert first["digest_date"] == "2025-11-05" and first["authors"] == 5
    assert first["details"]["arxiv_id"] == "2511.01234"
    assert first["details"]["author_names"][0] == "Jonas Lindqvist"
    assert first["details"]["github_stars"] == 318
    broken = tmp_path / "broken.json"
    broken.write_text("[{", encoding="utf-8")
    result = digest_process("parse", broken)
    assert result.returncode == 1 and "not valid JSON" in result.stdout
