"""Sections, filters, ranking and the reason each paper is in an issue."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import re

import feedparser
import html5lib
import pytest
from conftest import NOW, digest_text, example_run_args, whole_issue

from digest.classify import Classifier, Filters, Rule, Section, slug
from digest.model import Organization, Paper

TODAY = dt.date(2026, 11, 24)


def paper(title: str, abstract: str = "Text.", **fields) -> Paper:
    return Paper(title=title, abstract=abstract, **fields)


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        ("Visual SLAM in the wild", True),
        ("slam-based mapping", True),
        ("ＳＬＡＭ with full-width letters", True),
        ("Structural Linguistic Activation Marking", False),
        ("Islamic art history", False),
        ("SLAMs everywhere", False),
        ("A SLAM.", True),
    ],
)
def test_phrases_match_on_word_boundaries_in_any_case(text, matches):
    assert (Rule(("SLAM",)).match(paper(text)) is not None) is matches


def test_multi_word_phrases_allow_any_spacing_and_report_what_matched():
    rule = Rule(("language model",))
    assert rule.match(paper("Large Language\u00a0 Models", "A language  model.")) == (
        'matched "language  model" in abstract'
    )
    assert rule.match(paper("x", "languagemodel")) is None


def test_excludes_veto_and_fields_limit_where_to_look():
    rule = Rule(("diffusion",), fields=("title",), exclude=("survey",))
    assert rule.match(paper("Diffusion for audio")) == 'matched "Diffusion" in title'
    assert rule.match(paper("A survey of diffusion")) is None
    assert rule.match(paper("Audio", "Diffusion in the abstract only.")) is None
    by_org = Rule(("naver",), fields=("organization",))
    assert by_org.match(paper("t", organization=Organization("naver-ai", "NAVER AI Lab")))


def test_a_paper_goes_in_the_first_matching_section_the_rest_in_other():
    classifier = Classifier(
        (Section("Vision", Rule(("image",))), Section("Diffusion", Rule(("diffusion",)))),
        other="Everything else",
    )
    both = classifier.place(paper("Image diffusion"), TODAY)
    assert (both.section, both.section_rank) == ("Vision", 0)
    assert both.reason.startswith('matched "Image" in title')
    assert classifier.place(paper("Pure diffusion"), TODAY).section == "Diffusion"
    rest = classifier.place(paper("Graphs"), TODAY)
    assert (rest.section, rest.section_rank) == ("Everything else", 2)


def test_filters_say_why():
    classifier = Classifier(
        filters=Filters(
            include=Rule(("learning",)), exclude=Rule(("survey",)), min_upvotes=3, max_age_days=30
        )
    )
    fresh = dict(upvotes=5, published=TODAY)
    assert classifier.place(paper("A survey of learning", **fresh), TODAY).filtered == (
        'excluded: matched "survey" in title'
    )
    assert classifier.place(paper("Graphs", **fresh), TODAY).filtered == (
        "not included: matches no include rule"
    )
    assert classifier.place(paper("Deep learning", upvotes=1, published=TODAY), TODAY).filtered == (
        "fewer than 3 upvotes"
    )
    old = paper("Deep learning", upvotes=9, published=TODAY - dt.timedelta(days=31))
    assert classifier.place(old, TODAY).filtered == "published more than 30 days ago"
    assert classifier.place(paper("Deep learning", **fresh), TODAY).filtered is None


def test_slugs_are_stable_and_safe():
    assert slug("Diffusion & Flows") == "diffusion-flows"
    assert slug("Vision / Video: 3D!") == "vision-video-3d"
    assert slug("Élan vital") == "elan-vital"
    assert slug("../../etc") == "etc"
    # Names whose letters have no ASCII form get a short hash of themselves, so two such
    # sections never share a feed folder.
    assert slug("漢字") != slug("言語") and slug("漢字") == slug("漢字")
    assert re.fullmatch(r"[0-9a-f]{8}", slug("漢字"))
    assert slug("Modelle für Sprache") == "modelle-fur-sprache"
    assert slug("Языковые модели") != slug("Компьютерное зрение")
    assert slug("") == "section"


CONFIG = """
[[sections]]
name = "Diffusion"
match = ["diffusion"]

[[sections]]
name = "Language models"
match = ["language model", "LLM"]
exclude = ["vision"]

[filters]
exclude = ["survey"]
min_upvotes = 2
"""

META = "  • 3 authors\n·\nNov 20, 2026 {}"


@pytest.fixture
def sectioned(site, run_cli):
    site.config.write_text(site.config.read_text().replace("[email]", CONFIG + "\n[email]"))
    pairs = [
        ("LLM agents", "Tools.", 5),
        ("A diffusion model", "Images.", 3),
        ("Better diffusion", "Faster.", 9),
        ("A survey of LLM use", "Everything.", 50),
        ("Vision language model", "Pictures.", 4),
        ("Graph networks", "Nodes.", 7),
        ("Low-vote LLM", "Quiet.", 1),
        ("Tied diffusion", "Same votes.", 3),
    ]
    site.write(
        "a.txt",
        digest_text(
            "Nov 23", [(t, a) for t, a, _ in pairs], meta=[META.format(v) for _, _, v in pairs]
        ),
    )
    result = run_cli("run", "--config", site.config, "--now", NOW, "--json")
    assert result.code == 0, result.err
    return site, json.loads(result.out)


def test_issue_groups_ranks_and_explains(sectioned):
    site, report = sectioned
    assert report["new_papers"] == 6
    assert report["filtered"] == {"excluded": 1, "min_upvotes": 1}
    tree = html5lib.parse(
        (site.out / "issues" / "2026-11-24.html").read_text(encoding="utf-8"),
        namespaceHTMLElements=False,
    )
    order = []
    for element in tree.iter():
        if element.tag == "h2" and element.get("class") == "section":
            order.append(("section", "".join(element.itertext())))
        elif element.tag == "article":
            order.append(("paper", "".join(element.find("h2").itertext())))
    assert order == [
        ("section", "Diffusion"),
        ("paper", "Better diffusion"),
        ("paper", "A diffusion model"),
        ("paper", "Tied diffusion"),
        ("section", "Language models"),
        ("paper", "LLM agents"),
        ("section", "Other"),
        ("paper", "Graph networks"),
        ("paper", "Vision language model"),
    ]
    why = {
        "".join(a.find("h2").itertext()): "".join(a.find("p[@class='why']").itertext())
        for a in tree.iter("article")
    }
    assert why["LLM agents"] == (
        'Why it\'s here: matched "LLM" in title · first listed in the digest of Nov 23, 2026'
    )
    assert why["Graph networks"] == "Why it's here: first listed in the digest of Nov 23, 2026"


def test_markdown_and_email_group_and_explain_too(sectioned):
    site, _ = sectioned
    source = (site.out / "issues" / "2026-11-24.md").read_text(encoding="utf-8")
    assert (
        source.index("## Diffusion")
        < source.index("### Better diffusion")
        < source.index("## Language models")
        < source.index("### LLM agents")
        < source.index("## Other")
    )
    assert 'Why it\'s here: matched "LLM" in title' in source
    message = email.message_from_bytes(
        (site.out / "issues" / "2026-11-24.eml").read_bytes(), policy=email.policy.default
    )
    text = message.get_body(("plain",)).get_content()
    assert (
        text.index("== Diffusion ==")
        < text.index("== Language models ==")
        < text.index("== Other ==")
    )
    assert "Why it's here:" in message.get_body(("html",)).get_content()


def test_each_section_has_its_own_feeds(sectioned):
    site, _ = sectioned
    for name, titles in (
        ("diffusion", ["Better diffusion", "A diffusion model", "Tied diffusion"]),
        ("language-models", ["LLM agents"]),
        ("other", ["Graph networks", "Vision language model"]),
    ):
        folder = site.out / "sections" / name
        for feed_name in ("rss.xml", "atom.xml"):
            feed = feedparser.parse((folder / feed_name).read_bytes())
            assert not feed.bozo and [e.title for e in feed.entries] == titles
        document = json.loads((folder / "feed.json").read_text(encoding="utf-8"))
        assert [item["title"] for item in document["items"]] == titles
        assert document["feed_url"] == f"https://example.org/digest/sections/{name}/feed.json"
    atom = feedparser.parse((site.out / "sections" / "diffusion" / "atom.xml").read_bytes())
    main = feedparser.parse((site.out / "atom.xml").read_bytes())
    same = {e.title: e.id for e in main.entries}
    assert all(same[e.title] == e.id for e in atom.entries)


def test_text_summary_counts_filtered_papers_by_reason(site, run_cli):
    site.config.write_text(site.config.read_text().replace("[email]", CONFIG + "\n[email]"))
    site.write(
        "a.txt",
        digest_text(
            "Nov 23",
            [("A survey", "x."), ("Quiet LLM", "y."), ("Loud", "z.")],
            meta=[META.format(v) for v in (9, 1, 9)],
        ),
    )
    result = run_cli("run", "--config", site.config, "--now", NOW)
    assert (
        "2 new papers filtered out (excluded: 1, min_upvotes: 1); remembered as seen." in result.out
    )


def test_filtered_papers_are_remembered_and_never_new_later(sectioned, run_cli):
    site, _ = sectioned
    site.config.write_text(site.config.read_text().replace("min_upvotes = 2", "min_upvotes = 0"))
    site.write("b.txt", digest_text("Nov 24", [("Low-vote LLM", "Quiet."), ("Fresh one", "New.")]))
    report = json.loads(
        run_cli("run", "--config", site.config, "--json", "--now", "2026-11-25T08:00:00Z").out
    )
    assert report["new_papers"] == 1 and report["filtered"] == {}


def test_page_order_keeps_the_digest_order(site, run_cli):
    site.config.write_text(
        site.config.read_text().replace("[email]", '[ranking]\norder = "page"\n[email]')
    )
    pairs = [("First", "a."), ("Second", "b."), ("Third", "c.")]
    site.write("a.txt", digest_text("Nov 23", pairs, meta=[META.format(v) for v in (1, 9, 5)]))
    run_cli("run", "--config", site.config, "--now", NOW)
    feed = feedparser.parse((site.out / "atom.xml").read_bytes())
    assert [e.title for e in feed.entries] == ["First", "Second", "Third"]
    site.config.write_text(site.config.read_text().replace('order = "page"', 'order = "upvotes"'))
    site.write(
        "b.txt",
        digest_text(
            "Nov 24",
            [("Fourth", "d."), ("Fifth", "e.")],
            meta=[META.format(v) for v in (2, 8)],
        ),
    )
    run_cli("run", "--config", site.config, "--now", "2026-11-25T08:00:00Z")
    feed = feedparser.parse((site.out / "atom.xml").read_bytes())
    assert [e.title for e in feed.entries][:2] == ["Fifth", "Fourth"]


def test_group_by_organization(site, run_cli):
    site.config.write_text(
        site.config.read_text().replace("[email]", '[ranking]\ngroup_by = "organization"\n[email]')
    )
    metas = [
        "zeta-ai Zeta AI\n·\nNov 20, 2026",
        "  • 2 authors\n·\nNov 20, 2026",
        "acme Acme Labs\n·\nNov 20, 2026",
    ]
    site.write(
        "a.txt",
        digest_text(
            "Nov 23", [("Z paper", "z."), ("Anon paper", "n."), ("A paper", "a.")], meta=metas
        ),
    )
    run_cli("run", "--config", site.config, "--now", NOW)
    source = (site.out / "issues" / "2026-11-24.md").read_text(encoding="utf-8")
    assert source.index("## Acme Labs") < source.index("## Zeta AI") < source.index("## Other")


def test_example_config_groups_the_example_papers(tmp_path, run_cli):
    result = run_cli(*example_run_args(tmp_path))
    assert result.code == 0
    page = whole_issue(tmp_path / "out", "2026-11-24")  # its pages, in order
    tree = html5lib.parse(page, namespaceHTMLElements=False)
    sections = ["".join(h.itertext()) for h in tree.iter("h2")
                if h.get("class") == "section" and not h.text.endswith("(continued)")]  # fmt: skip
    assert sections == ["Language models", "Vision", "Diffusion", "Other"]
    assert all(a.find("p[@class='why']") is not None for a in tree.iter("article"))
    links = {link.get("href") for link in tree.iter("link") if link.get("rel") == "alternate"}
    for name in ("language-models", "vision", "diffusion", "other"):
        assert (tmp_path / "out" / "sections" / name / "atom.xml").exists()
        assert f"http://localhost:8000/sections/{name}/atom.xml" in links


RISING = "[rising]\nmin_gain = 10\n"


def test_a_paper_whose_upvotes_grow_rises_once_and_never_returns_as_new(site, run_cli):
    from conftest import WITH_META

    site.config.write_text(site.config.read_text().replace("[email]", RISING + "[email]"))
    site.drop(WITH_META)
    first = json.loads(
        run_cli("run", "--config", site.config, "--json", "--now", "2026-11-23T08:00:00Z").out
    )
    assert first["rising"] == 0
    # The same listing a day later: "Densing Law of LLMs" went from 2 to 40 upvotes,
    # and one new paper arrived.
    edited = WITH_META.read_text(encoding="utf-8").replace("Dec 5, 2024 2\n", "Dec 5, 2024 40\n", 1)
    edited += "\n\nA brand new paper\n\nIt is new.\n"
    site.write("later.txt", edited)
    second = json.loads(
        run_cli("run", "--config", site.config, "--json", "--now", "2026-11-24T08:00:00Z").out
    )
    assert (second["new_papers"], second["rising"]) == (1, 1)
    page = (site.out / "issues" / "2026-11-24.html").read_text(encoding="utf-8")
    tree = html5lib.parse(page, namespaceHTMLElements=False)
    (section,) = [s for s in tree.iter("section") if s.get("class") == "rising"]
    (item,) = list(section.iter("li"))
    text = " ".join("".join(item.itertext()).split())
    assert text == "Densing Law of LLMs ▲ 2 → 40 since the issue of 2026-11-23"
    assert (
        item.find("a")
        .get("href")
        .startswith("../issues/2026-11-23.html#p-")  # relative: the site opens from disk
    )
    assert [" ".join("".join(a.find("h2").itertext()).split()) for a in tree.iter("article")] == [
        "A brand new paper"
    ]
    source = (site.out / "issues" / "2026-11-24.md").read_text(encoding="utf-8")
    assert "## Rising" in source and "▲ 2 → 40" in source
    message = email.message_from_bytes(
        (site.out / "issues" / "2026-11-24.eml").read_bytes(), policy=email.policy.default
    )
    assert "Densing Law of LLMs" in message.get_body(("plain",)).get_content()
    atom = feedparser.parse((site.out / "atom.xml").read_bytes())
    titles = [entry.title for entry in atom.entries]
    assert titles.count("Densing Law of LLMs") == 1 and titles[0] == "A brand new paper"

    # Later still: more upvotes, another new paper. Not rising again, never new.
    site.write(
        "even-later.txt",
        edited.replace("Dec 5, 2024 40", "Dec 5, 2024 90") + "\n\nAnother new paper\n\nAlso new.\n",
    )
    third = json.loads(
        run_cli("run", "--config", site.config, "--json", "--now", "2026-11-25T08:00:00Z").out
    )
    assert (third["new_papers"], third["rising"]) == (1, 0)
    page = (site.out / "issues" / "2026-11-25.html").read_text(encoding="utf-8")
    assert "Densing Law" not in page
