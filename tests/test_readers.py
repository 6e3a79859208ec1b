"""What readers see, checked with the tools their software uses (issue 15): the examples'
pages and email through the W3C Nu Html Checker and axe-core in Chromium, the Markdown
through GitHub's, CommonMark's and python-markdown's renderers, the email on a phone and
in 72 columns, the feeds' ids and links. The tools are found as tests/readers.py says."""

from __future__ import annotations

import email
import email.policy
import html
import json
import re
import shutil
from urllib.parse import quote

import pytest
from conftest import NOW, ROOT, digest_process, digest_text, whole_issue
from lxml import etree
from readers import (
    EXAMPLE_CONFIG,
    Browser,
    Published,
    axe_version,
    folded,
    hrefs,
    markdown_renderers,
    tree_of,
    vnu_errors,
    vnu_version,
)

from digest.errors import OutputError
from digest.links import extract_links, href
from digest.publish.safety import check

SITE_URL = "http://localhost:8000/"
UNSUBSCRIBE = "https://example.org/unsubscribe?list=paper-digest"  # the example's
ATOM = "{http://www.w3.org/2005/Atom}"
# The example abstracts with TeX leftovers, and the one link each of them meant.
TEX_LEFTOVERS = {
    "url{http://github.com/czg1225/SlimSAM}": "http://github.com/czg1225/SlimSAM",
    "https://github.com/HypherX/Evolution-Analysis{https://github.com/HypherX/Evolution-"
    "Analysis}": "https://github.com/HypherX/Evolution-Analysis",
    "https://github.com/SKDDJ/LoLDU{https://github.com/SKDDJ/LoLDU}": (
        "https://github.com/SKDDJ/LoLDU"
    ),
}
# RFC 3986's characters (unreserved, reserved, and "%" of an escape).
URL_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")


def search_link(title: str) -> str:
    return f"https://arxiv.org/search/?query={quote(title, safe='')}&searchtype=title"


def outside_links(links: list[str]) -> list[str]:
    """The links that lead away from the site and are not a paper's own link."""
    return [
        url
        for url in links
        if url.startswith("http")
        and not url.startswith(SITE_URL)
        and url != UNSUBSCRIBE
        and not url.startswith(("https://arxiv.org/search/", "https://arxiv.org/abs/"))
    ]


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Published:
    return Published(tmp_path_factory.mktemp("readers"))


@pytest.fixture(scope="module")
def browser():
    with Browser() as chromium:
        yield chromium


# -- 1. links: what the abstract meant -----------------------------------------------------


def test_tex_leftovers_end_a_link_and_a_duplicate_is_one():
    text = (
        "Code at url{http://a.org/x}. Also \\href{https://b.org/y}{https://b.org/y}, and "
        "https://c.org/z{https://c.org/z} or <https://d.org/w> and a|b https://e.org/v|w^x`y."
    )
    assert extract_links(text) == (
        "http://a.org/x", "https://b.org/y", "https://c.org/z", "https://d.org/w",
        "https://e.org/v",
    )  # fmt: skip


def test_a_link_before_a_curly_quote_publishes_at_once(site):
    """A URL followed by a character outside RFC 3986 (a curly quote, a dash, CJK) once
    sent the href check into exponential backtracking: the run never ended, holding the
    lock. The timeout guards against that hang; it is not a measure of speed."""
    url = "https://github.com/LZY-the-boys/Twin-Merging-and-some-more-of-its-long-name"
    site.write("a.txt", digest_text("Nov 24", [("Twin merging", f"Code at \u201c{url}\u201d.")]))
    done = digest_process("run", "--config", site.config, "--now", NOW, timeout=120)
    assert done.returncode == 0, done.stderr
    page = (site.out / "issues" / "2026-11-24.html").read_text(encoding="utf-8")
    assert f'<a href="{url}"' in page
    markdown = (site.out / "issues" / "2026-11-24.md").read_text(encoding="utf-8")
    assert f"<{url}>" in markdown


def test_hosts_are_written_as_a_browser_asks_for_them():
    assert href("http://[::1]:8080/p") == "http://[::1]:8080/p"
    # Not an IP literal: encoded like any other character (it once crashed every run).
    assert href("https://[1:2]/x?a=1&b=2") == "https://%5B1:2%5D/x?a=1&b=2"
    # A host in another script is encoded; the browser applies today's IDNA rules to it.
    assert href("https://straße.de/d") == "https://stra%C3%9Fe.de/d"
    assert href("https://x.org/a\u201c" + "b" * 60) == "https://x.org/a%E2%80%9C" + "b" * 60


def test_links_end_where_the_text_meant_in_every_script():
    text = (
        "See https://en.wikipedia.org/wiki/Kullback–Leibler_divergence, "
        "https://ja.wikipedia.org/wiki/東京（とうきょう） and （https://x.org/y）, "
        "“https://github.com/a/b” or «https://c.org/d» 「https://z.jp/q」。 https://v.org/a…"
    )
    assert extract_links(text) == (
        "https://en.wikipedia.org/wiki/Kullback–Leibler_divergence",
        "https://ja.wikipedia.org/wiki/東京（とうきょう）", "https://x.org/y",
        "https://github.com/a/b", "https://c.org/d", "https://z.jp/q", "https://v.org/a",
    )  # fmt: skip


@pytest.mark.parametrize("abstract", ["s3://x " + "a://" * 200_000,
                                      "https://a.com/" + ")" * 200_000])  # fmt: skip
def test_an_abstract_full_of_near_links_is_read_in_linear_time(tmp_path, abstract):
    """Quadratic link reading took 20 s for a 120 KB file; these would take many minutes.
    The timeout guards against that hang; it is not a measure of speed."""
    path = tmp_path / "d.txt"
    path.write_text(digest_text("Nov 24", [("A paper", abstract)]), encoding="utf-8")
    done = digest_process("parse", path, timeout=60)
    assert done.returncode == 0, done.stderr


def test_every_link_in_every_output_is_a_url_the_abstract_meant(published):
    abstracts = [paper["abstract"] for paper in published.papers]
    for leftover, meant in TEX_LEFTOVERS.items():
        assert any(leftover in abstract for abstract in abstracts), leftover
        assert meant in published.links_meant()
    meant = published.links_meant()
    assert not any("{" in url or "}" in url for url in meant)
    outputs: dict[str, list[str]] = {
        "page": hrefs(published.page),
        "email html": hrefs(published.email_html),
        "email text": re.findall(
            r"(?m)^   (?:code|project page):\s+(https?://\S+)$", published.email_text
        ),
        "markdown": [h for render in markdown_renderers().values()
                     for h in hrefs(render(published.markdown))],
    }  # fmt: skip
    for name in ("atom.xml", "rss.xml"):
        root = etree.fromstring((published.out / name).read_bytes())
        bodies = [el.text or "" for el in root.iter(f"{ATOM}content", "description")]
        outputs[name] = [h for body in bodies for h in hrefs(body)]
    items = json.loads((published.out / "feed.json").read_bytes())["items"]
    outputs["feed.json"] = [h for item in items for h in hrefs(item["content_html"])]
    for name, links in outputs.items():
        away = outside_links(links)
        assert away, name
        for url in away:
            assert url in meant, (name, url)
            assert URL_CHARS.fullmatch(url), (name, url)
            assert any(url in abstract for abstract in abstracts), (name, url)
    for meant_url in TEX_LEFTOVERS.values():
        # (the feeds hold the newest 100 papers, the email may list these by title only)
        assert meant_url in outputs["page"] and meant_url in outputs["markdown"], meant_url


# -- 2. a way to the paper ----------------------------------------------------------------


def test_each_title_on_the_page_links_to_the_paper_and_the_anchor_stays(published):
    tree = tree_of(published.page)
    articles = list(tree.iter("article"))
    assert len(articles) == len(published.papers)
    for article in articles:
        link = article.find("h2/a")
        title = "".join(link.itertext())
        assert link.get("href") == search_link(title)  # no example abstract names an arXiv id
        assert f"#{article.get('id')}" in [a.get("href") for a in article.iter("a")]


# (title, abstract, the paper's link) with paper_link set to Semantic Scholar's search
ARXIV = [
    ("Named by id", "We extend arXiv:2401.01234v2 to more. It works.",
     "https://arxiv.org/abs/2401.01234v2"),
    ("Linked to arXiv", "See https://arxiv.org/abs/hep-th/9901001 for the proof.",
     "https://arxiv.org/abs/hep-th/9901001"),
    ("A bare versioned id", "The full version, 2312.12345v3, has the appendix.",
     "https://arxiv.org/abs/2312.12345v3"),
    ("No id & a <title>", "Nothing here but 2401.01234 without a version.",
     "https://www.semanticscholar.org/search?q=No%20id%20%26%20a%20%3Ctitle%3E"),
]  # fmt: skip
ARXIV_EXPECTED = {title: link for title, _, link in ARXIV}


@pytest.fixture
def with_arxiv(site, run_cli):
    scholar = 'paper_link = "https://www.semanticscholar.org/search?q={title}"\n[email]'
    site.config.write_text(site.config.read_text().replace("[email]", scholar))
    site.write("a.txt", digest_text("Nov 23", [(title, text) for title, text, _ in ARXIV]))
    assert run_cli("run", "--config", site.config, "--now", NOW).code == 0
    return site


def test_the_paper_link_is_on_the_page_in_the_email_the_markdown_and_the_feeds(with_arxiv):
    out = with_arxiv.out
    page = tree_of((out / "issues" / "2026-11-24.html").read_text(encoding="utf-8"))
    shown = {"".join(a.find("h2/a").itertext()): a.find("h2/a").get("href")
             for a in page.iter("article")}  # fmt: skip
    assert shown == ARXIV_EXPECTED
    message = email.message_from_bytes(
        (out / "issues" / "2026-11-24.eml").read_bytes(), policy=email.policy.default
    )
    text = message.get_body(("plain",)).get_content()
    mail_links = hrefs(message.get_body(("html",)).get_content())
    markdown = (out / "issues" / "2026-11-24.md").read_text(encoding="utf-8")
    for render in markdown_renderers().values():
        assert set(ARXIV_EXPECTED.values()) <= set(hrefs(render(markdown)))
    atom = etree.fromstring((out / "atom.xml").read_bytes())
    related = {}
    for entry in atom.iter(f"{ATOM}entry"):
        links = {link.get("rel"): link.get("href") for link in entry.iter(f"{ATOM}link")}
        assert links["alternate"].startswith("https://example.org/digest/issues/2026-11-24.html#p-")
        title = entry.find(f"{ATOM}title")
        shown = html.unescape(title.text) if title.get("type") == "html" else title.text
        related[shown] = links["related"]
        assert links["related"] in hrefs(entry.findtext(f"{ATOM}content"))
    assert related == ARXIV_EXPECTED
    assert b"<comments>" not in (out / "rss.xml").read_bytes()
    items = json.loads((out / "feed.json").read_bytes())["items"]
    assert {item["title"]: item["external_url"] for item in items} == ARXIV_EXPECTED
    for url in ARXIV_EXPECTED.values():
        assert url in mail_links and url in text


def test_a_paper_link_that_is_no_http_url_template_is_a_config_error(site, run_cli):
    config = site.config.read_text()
    good = "https://scholar.example.org/search?q={title}&sort=date"
    site.config.write_text(config.replace("[email]", f'paper_link = "{good}"\n[email]'))
    assert run_cli("status", "--config", site.config).code == 0
    for bad in ("javascript:alert({title})", "https://example.org/search", "https://x/{id}",
                "https://x.org/{title} y", "ftp://x.org/{title}"):  # fmt: skip
        site.config.write_text(config.replace("[email]", f'paper_link = "{bad}"\n[email]'))
        result = run_cli("run", "--config", site.config)
        assert result.code == 2, (bad, result.err)
        assert "is not an http(s) URL template with {title}" in result.err, (bad, result.err)


# -- 3. Markdown that GitHub, CommonMark and python-markdown show alike --------------------


def test_markdown_gives_the_same_links_and_text_in_three_renderers(published):
    meant = published.links_meant()
    rendered = {name: render(published.markdown) for name, render in markdown_renderers().items()}
    found = {}
    for name, markup in rendered.items():
        links = outside_links(hrefs(markup))
        assert set(links) == meant, (name, sorted(set(links) ^ meant)[:5])
        assert not any("\\" in url for url in links), name
        found[name] = links
        tree = tree_of(markup)
        headings = {folded("".join(h.itertext())) for h in tree.iter("h3")}
        paragraphs = {folded("".join(p.itertext())) for p in tree.iter("p")}
        for paper in published.papers:
            assert folded(paper["title"]) in headings, (name, paper["title"])
            assert folded(paper["abstract"]) in paragraphs, (name, paper["title"])
    assert found["gfm"] == found["commonmark"] == found["python-markdown"]


# -- 4. the email on a phone, in 72 columns, and its headers ------------------------------


@pytest.mark.browser
def test_the_email_fits_a_phone(published, browser):
    tab = browser.open(published.email_file, width=375, height=800)
    width, scroll = tab.evaluate("[innerWidth, document.documentElement.scrollWidth]")
    assert width == 375 and scroll <= width, (width, scroll)
    sheet = tab.evaluate("document.querySelector('table.sheet').getBoundingClientRect().width")
    assert sheet <= 375
    tab.close()
    wide = browser.open(published.email_file, width=1200, height=800, mobile=False)
    assert (
        wide.evaluate("document.querySelector('table.sheet').getBoundingClientRect().width") == 600
    )
    wide.close()


def test_the_text_part_keeps_to_72_columns_and_signs_off_with_dash_dash_space(published):
    lines = published.email_text.splitlines()
    too_long = [
        line for line in lines if len(line) > 72 and not re.fullmatch(r"\s*https?://\S+", line)
    ]
    assert too_long == []
    assert any(len(line) > 72 for line in lines), "the examples have URLs longer than a line"
    assert lines.count("-- ") == 1
    assert not any(line == "--" for line in lines)
    numbered = [line for line in lines if re.match(r"\d\d\. ", line)]
    assert numbered, "two-digit numbers, wrapped as well"
    assert sum(line.startswith("   Why it's here: ") for line in lines) > 5


def test_shortened_abstracts_say_what_they_are(published):
    shown = folded("".join(tree_of(published.email_html).itertext()))
    for text in (shown, folded(published.email_text)):
        assert "TL;DR" not in text
        assert "First sentences:" in text and "shortened to their first sentences" in text


def test_the_email_is_under_the_lower_budget_and_can_be_left_in_one_click(published):
    from digest.config.settings import EmailConfig

    assert EmailConfig().max_html_bytes == 90_000
    assert len(published.email_html.encode("utf-8")) + published.email_html.count("\n") < 90_000
    assert published.message["List-Unsubscribe"] == f"<{UNSUBSCRIBE}>"
    assert published.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_a_mailto_unsubscribe_is_not_one_click(site, run_cli):
    site.config.write_text(site.config.read_text() + 'list_unsubscribe = "mailto:u@example.org"\n')
    site.write("a.txt", digest_text("Nov 23", [("Paper", "Text.")]))
    assert run_cli("run", "--config", site.config, "--now", NOW).code == 0
    message = email.message_from_bytes(
        (site.out / "issues" / "2026-11-24.eml").read_bytes(), policy=email.policy.default
    )
    assert message["List-Unsubscribe"] == "<mailto:u@example.org>"
    assert "List-Unsubscribe-Post" not in message


def test_the_starter_and_the_example_configs_point_the_way(tmp_path):
    done = digest_process("init", tmp_path / "new")
    assert done.returncode == 0, done.stderr
    starter = (tmp_path / "new" / "digest.toml").read_text(encoding="utf-8")
    assert "https://github.com/" not in starter
    assert 'README.md, section "Configuration"' in starter
    assert "# list_unsubscribe = " in starter and "RFC 8058" in starter
    assert '# paper_link = "https://arxiv.org/search/?query={title}&searchtype=title"' in starter
    example = EXAMPLE_CONFIG.read_text(encoding="utf-8")
    assert re.search(r'(?m)^list_unsubscribe = "https://', example.split("[email]")[1])


# -- 5. the web pages ----------------------------------------------------------------------


def test_pages_describe_themselves_and_carry_their_icon(published):
    description = "New research papers from the Daily Papers listings, each once."
    pages = [published.out / "index.html", published.issue, published.later_page,
             published.out / "archive/2026.html"]  # fmt: skip
    for path in pages:
        head = tree_of(path.read_text(encoding="utf-8")).find("head")
        metas = {m.get("name"): m.get("content") for m in head.iter("meta") if m.get("name")}
        assert metas["description"] == description, path
        (icon,) = [link for link in head.iter("link") if link.get("rel") == "icon"]
        assert icon.get("href").startswith("data:image/svg+xml,")


@pytest.mark.browser
def test_the_icon_is_an_image_chromium_can_draw(published, browser):
    tab = browser.open(published.out / "index.html")
    size = tab.evaluate(
        """new Promise(done => { const image = new Image();
             image.onload = () => done([image.naturalWidth, image.naturalHeight]);
             image.onerror = () => done(null);
             image.src = document.querySelector('link[rel=icon]').href; })""",
        wait=True,
    )
    tab.close()
    assert size and size[0] > 0 and size[1] > 0


def test_the_site_name_is_said_once_on_the_index(published):
    body = tree_of((published.out / "index.html").read_text(encoding="utf-8")).find("body")
    assert "".join(body.itertext()).count("Paper digest (example)") == 1


@pytest.mark.browser
def test_the_index_chart_reads_with_two_issues_and_is_left_out_with_one(
    published, browser, site, run_cli
):
    one = tree_of((published.out / "index.html").read_text(encoding="utf-8"))
    assert not [f for f in one.iter("figure") if f.get("class") == "chart"], "no one-bar chart"
    site.write("a.txt", digest_text("Nov 22", [("First", "One.")]))
    assert run_cli("run", "--config", site.config, "--now", "2026-11-23T08:00:00Z").code == 0
    site.write("b.txt", digest_text("Nov 23", [("Second", "Two."), ("Third", "Three.")]))
    assert run_cli("run", "--config", site.config, "--now", NOW).code == 0
    for path, bars in [(site.out / "index.html", 2)]:
        tab = browser.open(path, width=375)
        found = tab.evaluate(  # where each bar and label ends, and the labels' font size
            """({bars: [...document.querySelectorAll('.chart rect')].map(e =>
                   e.getBoundingClientRect().right),
                 labels: [...document.querySelectorAll('.chart figcaption span')].map(e =>
                   [e.getBoundingClientRect().right, parseFloat(getComputedStyle(e).fontSize)])})"""
        )
        tab.close()
        assert len(found["bars"]) == bars
        assert abs(found["labels"][-1][0] - found["bars"][-1]) < 40, found  # the last date
        assert all(size >= 12 for _, size in found["labels"]), found


@pytest.mark.browser
def test_upvotes_never_split_across_lines(published, browser):
    tree = tree_of(published.page)
    for article in tree.iter("article"):
        for p in article.iter("p"):
            if "▲" in "".join(p.itertext()):
                votes = [s for s in p.iter("span") if s.get("class") == "votes"]
                assert votes and all("".join(v.itertext()).startswith("▲ ") for v in votes)
    tab = browser.open(published.issue, width=375)
    lines = tab.evaluate(
        """[...document.querySelectorAll('.votes')].map(e =>
             [getComputedStyle(e).whiteSpace, e.getClientRects().length])"""
    )
    tab.close()
    assert lines and all(line == ["nowrap", 1] for line in lines)


@pytest.mark.browser
def test_a_long_issue_can_be_skimmed_without_javascript(published, browser):
    tree = tree_of(published.page)
    articles, folds = list(tree.iter("article")), tree.findall(".//details[@class='fold']")
    assert not list(tree.iter("script")) and len(folds) > len(articles) / 2
    for article in articles:
        title = "".join(article.find("h2/a").itertext())
        abstract = next(p for p in published.papers if p["title"] == title)["abstract"]
        assert "".join(article.find(".//p[@class='abstract']").itertext()) == abstract
        fold = article.find("details")
        if fold is not None:
            assert fold.get("open") is None
            short = "".join(fold.find("summary/span").itertext()).removesuffix(" …")
            assert abstract.startswith(short) and len(short) < len(abstract)
    # A paged issue lists its pages (not every title) at the top and the foot of each:
    # from the first, every page is a click away.
    first = tree_of(published.pages[0].read_text(encoding="utf-8"))
    for pager in [n for n in first.iter("nav") if n.get("class") == "pager"]:
        hrefs_there = {a.get("href") for a in pager.iter("a")}
        for later in published.pages[1:]:
            assert f"../issues/{published.issue.stem}/{later.name}" in hrefs_there
    wanted = "Code is available at url{http://github.com/czg1225"
    (holder,) = [p for p in published.pages if wanted in p.read_text(encoding="utf-8")]
    tab = browser.open(holder, width=375)
    unskipped = "<style>article { content-visibility: visible }</style>"  # all laid out
    tab.evaluate(f"document.head.insertAdjacentHTML('beforeend', '{unskipped}')")
    folded_height = tab.evaluate("document.documentElement.scrollHeight")
    tab.evaluate("document.querySelectorAll('details.fold').forEach(d => d.open = true)")
    open_height = tab.evaluate("document.documentElement.scrollHeight")
    found = tab.evaluate(f"window.find('{wanted}')")
    tab.close()
    assert folded_height < 0.6 * open_height, (folded_height, open_height)
    assert found, "the whole abstract is in the page"


# -- 6. feeds ------------------------------------------------------------------------------


def test_every_feed_has_an_id_of_its_own(published):
    sections = published.out.glob("sections/*/atom.xml")
    names = ["atom.xml", "issues.xml", *sorted(str(p.relative_to(published.out)) for p in sections)]
    ids = {name: etree.fromstring((published.out / name).read_bytes()).findtext(f"{ATOM}id")
           for name in names}  # fmt: skip
    assert len(set(ids.values())) == len(ids) >= 6, ids
    assert ids["atom.xml"] == SITE_URL, "the paper feed keeps the id it always had"
    assert ids["issues.xml"] == SITE_URL + "issues.xml"


# -- the tools ------------------------------------------------------------------------------


def test_the_nu_html_checker_finds_no_errors(published):
    files = [published.out / "index.html", published.issue, published.later_page,
             published.out / "archive" / "2026.html", published.email_file]  # fmt: skip
    errors = vnu_errors(files)
    assert errors == {path.name: [] for path in files}, vnu_version()


@pytest.mark.browser
@pytest.mark.parametrize("width", [375, 1280])
@pytest.mark.parametrize("page", ["index", "issue", "later page", "email"])
def test_axe_finds_nothing_serious(published, browser, page, width):
    path = {"index": published.out / "index.html", "issue": published.issue,
            "later page": published.later_page, "email": published.email_file}[page]  # fmt: skip
    tab = browser.open(path, width=width, mobile=width < 600)
    violations = tab.axe()
    tab.close()
    serious = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert serious == [], (axe_version(), browser.version, serious)
    if page != "email":  # an email sits inside the mail client's own landmarks
        assert [v["id"] for v in violations] == [], violations


def test_the_final_check_allows_an_inline_icon_and_nothing_else_data():
    icon = '<link rel="icon" href="data:image/svg+xml,%3Csvg%3E%3C/svg%3E">'
    assert check("page.html", icon) == icon
    for markup in (
        '<a href="data:image/svg+xml,%3Csvg%3E">x</a>',
        '<link rel="stylesheet" href="data:image/svg+xml,x">',
        '<link rel="icon" href="data:text/html,%3Cscript%3E">',
        '<link rel="icon" href="data:image/svg+xml,x" onload="alert(1)">',
        '<img src="data:image/svg+xml,x">',
    ):
        with pytest.raises(OutputError):
            check("page.html", markup)


def test_an_issue_template_written_before_item_templates_renders_as_it_did(tmp_path):
    """A user's issue.html and email.html from before the item templates (papers drawn
    inline with filters) keep working: the page as the built-in one, byte for byte
    (templates get views, which answer for every field of the paper), the email with the
    papers the built-in one shows."""
    own = tmp_path / "own"
    own.mkdir()
    shutil.copyfile(ROOT / "tests" / "data" / "issue-before-item-templates.html",
                    own / "issue.html")  # fmt: skip
    shutil.copyfile(ROOT / "tests" / "data" / "email-before-item-templates.html",
                    own / "email.html")  # fmt: skip
    outputs = {}
    for name, _extra in (("built-in", []), ("own", ["--state", tmp_path / "own.db"])):
        work = tmp_path / name
        config = tmp_path / f"{name}.toml"
        text = EXAMPLE_CONFIG.read_text(encoding="utf-8")
        text = text.replace('inbox = "digests"', f'inbox = "{ROOT / "examples" / "digests"}"')
        # Its own reads no ``page``: every issue on one page, as it was; the built-in
        # would page the examples' issue (papers_per_page), so here it does not.
        own_or_one_page = f'templates = "{own}"\n' if name == "own" else "papers_per_page = 0\n"
        text = own_or_one_page + text
        config.write_text(text, encoding="utf-8")
        done = digest_process("run", "--config", config, "--out", work, "--now", NOW,
                              "--state", tmp_path / f"{name}.db")  # fmt: skip
        assert done.returncode == 0, done.stderr
        issue = next((work / "issues").glob("*.html"))
        outputs[name] = (issue.read_bytes(), issue.with_suffix(".eml").read_bytes())
    # Its own links are its own: absolute to the config's url, where the built-in page's
    # are relative (so the folder opens from disk); nothing else differs.
    own_page = outputs["own"][0].replace(
        b'href="http://localhost:8000/index.html">All', b'href="../index.html">All'
    )
    assert own_page == outputs["built-in"][0]
    # The email of an old email.html: the papers the built-in one shows in detail are
    # there too (from its flat ``items``), though not section by section.
    old, new = (
        email.message_from_bytes(outputs[name][1], policy=email.policy.default)
        for name in ("own", "built-in")
    )
    new_html = new.get_body(("html",)).get_content()
    old_html = old.get_body(("html",)).get_content()
    titles = re.findall(r'<p class="title"[^>]*><a [^>]*>([^<]+)</a>', new_html)
    assert titles and all(title in old_html for title in titles)


def test_a_users_paper_html_alone_changes_every_article(tmp_path):
    own = tmp_path / "own"
    own.mkdir()
    (own / "paper.html").write_text(
        '<article id="{{ paper.anchor }}"><h2>{{ paper.title }}</h2>'
        '<p class="mine">{{ paper.short }}</p></article>\n',
        encoding="utf-8",
    )
    config = tmp_path / "digest.toml"
    config.write_text(
        f'templates = "{own}"\ninbox = "{ROOT / "examples" / "digests"}"\nsettle = 0\n',
        encoding="utf-8",
    )
    done = digest_process("run", "--config", config, "--out", tmp_path / "out", "--now", NOW,
                          "--state", tmp_path / "s.db")  # fmt: skip
    assert done.returncode == 0, done.stderr
    page = whole_issue(tmp_path / "out", next((tmp_path / "out" / "issues").glob("*.html")).stem)
    assert page.count('<p class="mine">') == page.count("<article ") > 200
    assert 'class="fold"' not in page  # every article is the user's
