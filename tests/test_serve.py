"""``digest serve`` (issue 25): the examples' site on 127.0.0.1, asked over real HTTP and
read by Debian's headless Chromium: the right types, compressed (its precompressed
siblings, or gzip on the fly), nothing from outside the output folder, the URL printed."""

from __future__ import annotations

import contextlib
import gzip
import http.client
import select
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import brotli
import pytest
from conftest import NOW, digest_process
from readers import EXAMPLE_CONFIG, Browser


@dataclass
class Served:
    process: subprocess.Popen[str]
    url: str
    port: int
    out: Path

    def get(self, path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
        return self.ask("GET", path, headers)

    def ask(self, method: str, path: str, headers: dict[str, str]) -> tuple[int, dict, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.putrequest(method, path, skip_accept_encoding=True)
            for name, value in headers.items():
                connection.putheader(name.replace("_", "-"), value)
            connection.endheaders()
            answer = connection.getresponse()
            return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
        finally:
            connection.close()


@contextlib.contextmanager
def serving(*args: str | Path) -> Iterator[Served]:
    process = subprocess.Popen(
        [sys.executable, "-m", "digest", "serve", "--port", "0", *map(str, args)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 60)
        assert ready, "digest serve printed nothing"
        line = process.stdout.readline()
        assert line.startswith("serving "), (line, process.stderr.read() if process.poll() else "")
        url = line.split(" at ", 1)[1].split()[0]
        out = Path(line.split(" at ", 1)[0].removeprefix("serving "))
        yield Served(process, url, int(url.rsplit(":", 1)[1].rstrip("/")), out)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


@pytest.fixture(scope="module")
def site_out(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("serve")
    done = digest_process("run", "--config", EXAMPLE_CONFIG, "--out", work / "out",
                          "--state", work / "state.db", "--now", NOW, "--settle", "0")  # fmt: skip
    assert done.returncode == 0, done.stderr
    (work / "secret.txt").write_text("not for readers")
    return work / "out"


@pytest.fixture(scope="module")
def served(site_out) -> Iterator[Served]:
    with serving("--config", EXAMPLE_CONFIG, "--out", site_out) as server:
        yield server


def test_it_prints_where_it_listens_on_this_machine_only(served, site_out):
    assert served.url.startswith("http://127.0.0.1:") and served.out == site_out.resolve()
    status, headers, body = served.get("/")
    assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"
    assert body == (site_out / "index.html").read_bytes()


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/index.html", "text/html; charset=utf-8"),
        ("/atom.xml", "application/atom+xml; charset=utf-8"),
        ("/issues.xml", "application/atom+xml; charset=utf-8"),
        ("/rss.xml", "application/rss+xml; charset=utf-8"),
        ("/feed.json", "application/feed+json; charset=utf-8"),
        ("/sections/vision/rss.xml", "application/rss+xml; charset=utf-8"),
        ("/issues/2026-11-24.md", "text/markdown; charset=utf-8"),
        ("/issues/2026-11-24.eml", "message/rfc822"),
    ],
)
def test_each_file_goes_with_its_type(served, path, kind):
    status, headers, _ = served.get(path)
    assert (status, headers["content-type"]) == (200, kind)


def test_precompressed_siblings_go_to_who_accepts_them(served, site_out):
    page = (site_out / "issues" / "2026-11-24.html").read_bytes()
    status, headers, body = served.get("/issues/2026-11-24.html", accept_encoding="gzip, br")
    assert status == 200 and headers["content-encoding"] == "br"
    assert body == (site_out / "issues" / "2026-11-24.html.br").read_bytes()
    assert brotli.decompress(body) == page and headers["vary"] == "Accept-Encoding"
    status, headers, body = served.get("/issues/2026-11-24.html", accept_encoding="br;q=0, gzip")
    assert headers["content-encoding"] == "gzip" and gzip.decompress(body) == page
    status, headers, body = served.get("/issues/2026-11-24.html")
    assert "content-encoding" not in headers and body == page


def test_text_without_a_sibling_is_gzipped_on_the_fly(served, site_out):
    markdown = (site_out / "issues" / "2026-11-24.md").read_bytes()
    status, headers, body = served.get("/issues/2026-11-24.md", accept_encoding="gzip")
    assert status == 200 and headers["content-encoding"] == "gzip"
    assert headers["transfer-encoding"] == "chunked" and gzip.decompress(body) == markdown


def test_an_unchanged_file_is_not_sent_again(served):
    _, headers, _ = served.get("/atom.xml", accept_encoding="br")
    status, _, body = served.get("/atom.xml", accept_encoding="br", if_none_match=headers["etag"])
    assert (status, body) == (304, b"")
    status, headers, body = served.ask("HEAD", "/atom.xml", {})
    assert status == 200 and body == b"" and int(headers["content-length"]) > 1000


def test_a_folder_is_its_index_and_needs_its_slash(site_out, served):
    (site_out / "archive" / "index.html").write_text("<p>years</p>")
    try:
        status, headers, _ = served.get("/archive")
        assert status == 301 and headers["location"] == "/archive/"
        assert served.get("/archive/")[2] == b"<p>years</p>"
    finally:
        (site_out / "archive" / "index.html").unlink()
    assert served.get("/issues/")[0] == 404  # no listing of the folder


@pytest.mark.parametrize(
    "path",
    ["/../secret.txt", "/%2e%2e/secret.txt", "/issues/..%2f..%2fsecret.txt", "/.digest-owner",
     "/issues/%00.html", "/leak.txt", "/leak-dir/secret.txt", "/..\\secret.txt"],
)  # fmt: skip
def test_nothing_outside_the_output_folder_is_sent(site_out, served, path):
    with contextlib.suppress(FileExistsError):
        (site_out / "leak.txt").symlink_to(site_out.parent / "secret.txt")
        (site_out / "leak-dir").symlink_to(site_out.parent, target_is_directory=True)
    status, _, body = served.get(path)
    assert status == 404 and b"not for readers" not in body


def test_a_link_inside_the_folder_is_followed(site_out, served):
    with contextlib.suppress(FileExistsError):
        (site_out / "latest.html").symlink_to(site_out / "issues" / "2026-11-24.html")
    assert served.get("/latest.html")[0] == 200


def test_a_port_in_use_or_no_site_is_a_clear_error(tmp_path, served):
    done = digest_process("serve", "--port", str(served.port), "--out", tmp_path, timeout=60)
    assert done.returncode == 2 and "cannot serve on 127.0.0.1:" in done.stderr
    assert "hint: choose another --port" in done.stderr
    done = digest_process("serve", "--out", tmp_path / "none", timeout=60)
    assert done.returncode == 2 and "does not exist" in done.stderr
    assert "run 'digest run' first" in done.stderr


def test_it_stops_cleanly_on_sigterm(site_out):
    with serving("--out", site_out) as server:
        assert server.get("/")[0] == 200
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=30) == 0
    with socket.socket() as probe:  # the port is free again
        probe.bind(("127.0.0.1", server.port))


def test_the_default_port_and_address(tmp_path):
    done = digest_process("serve", "--help")
    assert "default 8000" in done.stdout and "default 127.0.0.1" in done.stdout


@pytest.mark.browser
def test_a_browser_reads_the_site_compressed_from_digest_serve(served, site_out):
    with Browser() as browser:
        tab = browser.open(served.url + "issues/2026-11-24.html", width=1280, mobile=False)
        seen = tab.evaluate(
            """(() => { const n = performance.getEntriesByType('navigation')[0];
                 return {title: document.title,
                         articles: document.querySelectorAll("article").length,
                         sent: n.encodedBodySize, size: n.decodedBodySize,
                         type: document.contentType, charset: document.characterSet}; })()"""
        )
        tab.close()
    page = (site_out / "issues" / "2026-11-24.html").read_bytes()
    assert seen["title"].startswith("Paper digest (example)") and seen["articles"] == 50
    assert (seen["type"], seen["charset"]) == ("text/html", "UTF-8")
    assert seen["size"] == len(page) and seen["sent"] < len(page) / 3, seen
