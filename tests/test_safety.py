"""The final check refuses unsafe HTML, however it is spelled, and passes our own pages."""

from __future__ import annotations

import pytest

from digest.errors import OutputError
from digest.publish.safety import check, checked

UNSAFE = [
    "<script>alert(1)</script>",
    '<SCRIPT SRC="https://x/y.js"></SCRIPT>',
    '<p onclick="x">',
    "<a title=x onmouseover=y>",
    "<a/onclick=x>",
    '<a href="javascript:alert(1)">',
    '<a href=" jav&#x61;script:x">',
    '<a href="&#106;avascript:x">',
    "<a href='vbscript:x'>",
    "<img src=data:image/png;base64,xx>",
    '<p style="background:url(https://tracker/)">',
    '<iframe src="https://example.org/"></iframe>',
    '<svg><animate attributeName="href" to="javascript:alert(1)"/></svg>',
    '<svg><use href="https://evil.example/sprite.svg#x"/></svg>',
    '<svg onload="alert(1)"></svg>',
    '<form action="https://x/"><input></form>',
    '<base href="https://evil/">',
    '<a title="a>b" onclick=x>',
    # One step away from the plain tags the scan passes over without a closer look:
    '<a href="https://example.org/" onclick="x">',
    '<p class="abstract" style="background:url(https://tracker/)">',
    '<a href="https:/&#10;/x" class="y"><a href="java&#x73;cript:x">',
    '<a href=" javascript:x" class="y">',
    '<span class="kind"><script>x</script></span>',
    '<li id="x"><a href="#y">y</a><a href=javascript:x>z</a></li>',
    # A colon spelled as a character reference: browsers decode it, and run the script.
    '<a href="javascript&#58;alert(document.domain)">Click for the PDF</a>',
    '<a href="javascript&#x3a;alert(1)">x</a>',
    '<a href="javascript&#0000058alert(1)">x</a>',
    '<a href="javascript&colon;alert(1)">x</a>',
    '<a href="java&Tab;script&colon;alert(1)">x</a>',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<META HTTP-EQUIV=Refresh CONTENT="0; URL=https://evil.example/">',
    '<portal src="https://evil.example/"></portal>',
    '<a href="https://example.org/" ping="javascript:x">x</a>',
    # A quote that is no value's: a browser reads it as part of the value, and runs it.
    '<img src=x onerror=document.body.id=location.protocol.length//">',
    "<a href=javascript:alert(1)//'>x</a>",
    "<a x' href=javascript:alert(1)>x</a>",
    # A "<" inside a value, with the real tag before it (chunks cut at that "<").
    '<a title="x<y" href="javascript:alert(1)">hello</a>',
    '<a title="a><b" href="javascript:alert(1)">x</a>',
]

SAFE = [
    '<a href="https://example.org/a?b=1&amp;c=2">link</a>',
    '<a href="#p-1">anchor</a> <a href="../index.html">up</a> <a href="2026-01-01.md">md</a>',
    '<a href="mailto:someone@example.org">mail</a>',
    "<p>&lt;script&gt;alert(1)&lt;/script&gt; onclick=alert(2) javascript:x</p>",
    '<p style="color: #333; font-size: 15px">styled</p>',
    '<svg viewBox="0 0 10 10"><rect x="1" y="2" width="3" height="4"><title>t</title></rect></svg>',
    '<a href="java   script:x">a relative link, as a browser reads it</a>',
    '<a href="https://[::1]:8080/p?a=1&amp;b=2">an IP literal</a>',
]


@pytest.mark.parametrize("markup", UNSAFE)
def test_unsafe_markup_is_refused(markup):
    with pytest.raises(OutputError, match=r"refusing to write page\.html"):
        check("page.html", f"<html><body>{markup}</body></html>")


@pytest.mark.parametrize("markup", UNSAFE)
def test_unsafe_markup_is_refused_even_when_split_across_chunks(markup):
    page = f"<html><body><p>{'x' * 50}</p>{markup}</body></html>"
    for size in (1, 3, 7, 12, 13, 14):
        chunks = [page[i : i + size] for i in range(0, len(page), size)]
        with pytest.raises(OutputError):
            list(checked("page.html", chunks))


@pytest.mark.parametrize("markup", SAFE)
def test_safe_markup_passes(markup):
    page = f"<html><body>{markup}</body></html>"
    assert check("page.html", page) == page


def test_a_malformed_url_is_judged_never_raised():
    """urlsplit raises on a bad IP literal; the check must answer, not crash the run."""
    for url in ("https://[1:2]/x?a=1&amp;b=2", "https://[1.2.3.4]/x?a&amp;b", "https://[::1&amp;"):
        page = f'<a href="{url}">x</a>'
        assert check("page.html", page) == page


def test_a_tag_that_never_ends_is_refused_not_carried_for_ever():
    chunks = ['<p class="a" title="', *(["x" * 65536] * 20), '">']
    with pytest.raises(OutputError, match="an unfinished tag"):
        list(checked("page.html", chunks))


# -- the search page's one script ------------------------------------------------------------

BUNDLE_SCRIPT = '<script src="pagefind/pagefind-component-ui.js"></script>'


def test_the_search_page_may_load_its_own_pagefind_bundle():
    page = f"<html><body><main><h1>Search</h1></main>{BUNDLE_SCRIPT}</body></html>"
    assert check("search.html", page) == page
    for size in (1, 5, 9, 17, 40):  # the script cut anywhere between chunks
        chunks = [page[i : i + size] for i in range(0, len(page), size)]
        assert "".join(checked("search.html", chunks)) == page


@pytest.mark.parametrize(
    "markup",
    [
        '<script src="pagefind/pagefind-component-ui.js">alert(1)</script>',
        '<script src="pagefind/pagefind-component-ui.js"> </script>',
        '<script src="pagefind/pagefind-ui.js"></script>',
        '<script src="https://evil.example/pagefind/pagefind-component-ui.js"></script>',
        '<script src="pagefind/pagefind-component-ui.js" onload="x"></script>',
        '<script type="module" src="pagefind/pagefind-component-ui.js"></script>',
        '<script src="pagefind/pagefind-component-ui.js?x"></script>',
        '<SCRIPT src="pagefind/pagefind-component-ui.js"></SCRIPT>',
        f"{BUNDLE_SCRIPT}<script>alert(1)</script>",
        "<script>alert(1)</script>",
    ],
)
def test_no_other_script_on_the_search_page(markup):
    with pytest.raises(OutputError, match=r"refusing to write search\.html"):
        check("search.html", f"<html><body>{markup}</body></html>")


@pytest.mark.parametrize("name", ["index.html", "issues/2026-11-24.html", "archive/2026.html",
                                  "search.html.bak", "pagefind/search.html"])  # fmt: skip
def test_the_bundle_script_is_refused_on_every_other_page(name):
    with pytest.raises(OutputError, match="a <script> element"):
        check(name, f"<html><body>{BUNDLE_SCRIPT}</body></html>")


def test_scraped_text_cannot_add_the_search_script_to_a_page(site):
    """A title holding the search page's own script tag is text on the issue page, and a
    template that let it through unescaped would be refused (there it is no exception)."""
    from conftest import NOW, digest_process, digest_text

    site.write("a.txt", digest_text("Nov 23", [(BUNDLE_SCRIPT, f"Abstract {BUNDLE_SCRIPT}.")]))
    assert digest_process("run", "--config", site.config, "--now", NOW).returncode == 0
    page = (site.out / "issues" / "2026-11-24.html").read_text(encoding="utf-8")
    assert "<script" not in page and "&lt;script src=" in page
    mine = site.root / "mine"
    mine.mkdir()
    (mine / "feed_entry.html").write_text("{{ paper.title | safe }}")
    (mine / "issue.html").write_text("{% for p in papers %}{{ p.title | safe }}{% endfor %}")
    site.config.write_text('templates = "mine"\n' + site.config.read_text())
    done = digest_process("rebuild", "--config", site.config)
    assert done.returncode == 3 and "a <script> element" in done.stderr
