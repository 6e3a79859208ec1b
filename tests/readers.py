"""The tools readers' software uses, run on our output: the W3C Nu Html Checker, axe-core
in headless Chromium, and three Markdown renderers (GitHub's cmark-gfm, CommonMark's
markdown-it, python-markdown).

Where the tools are (``.ci/reader-tools`` installs them from the npm registry into
``tests/.tools/``; each can be pointed elsewhere):

    DIGEST_READER_TOOLS  the folder holding node_modules/ (default: tests/.tools)
    DIGEST_VNU_JAR       the Nu checker's jar (default: .../vnu-jar/build/dist/vnu.jar)
    DIGEST_AXE_JS        axe-core's axe.min.js (default: .../axe-core/axe.min.js)
    DIGEST_LIGHTHOUSE    Lighthouse's command line (default: .../lighthouse/cli/index.js)
    DIGEST_JAVA          the Java runtime for the checker (default: `java` on PATH)
    Chromium             Debian's chromium on PATH (see tests/browser.py)

A tool that is missing skips its tests with the reason; in CI all of them are present.

Chromium is driven over the DevTools protocol through a pipe (``--remote-debugging-pipe``:
JSON messages separated by NUL bytes on file descriptors 3 and 4), so no websocket client
or browser download is needed: the browser is Debian's, the protocol is Chromium's own.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import html5lib
import pytest
from browser import FLAGS, chromium
from conftest import NOW, ROOT, digest_process, issue_pages, whole_issue

HERE = Path(__file__).resolve().parent
TOOLS = Path(os.environ.get("DIGEST_READER_TOOLS") or HERE / ".tools")
VNU_JAR = Path(
    os.environ.get("DIGEST_VNU_JAR") or TOOLS / "node_modules/vnu-jar/build/dist/vnu.jar"
)
AXE_JS = Path(os.environ.get("DIGEST_AXE_JS") or TOOLS / "node_modules/axe-core/axe.min.js")
LIGHTHOUSE = Path(
    os.environ.get("DIGEST_LIGHTHOUSE") or TOOLS / "node_modules/lighthouse/cli/index.js"
)
INSTALL_HINT = "run .ci/reader-tools (npm installs it into tests/.tools/)"
EXAMPLE_CONFIG = ROOT / "examples" / "digest.toml"


# -- the examples, as a reader gets them ----------------------------------------------------


class Published:
    """The examples, published as a user would (``digest run``), and what the loader read
    from them (``digest parse --json``): what each output must show."""

    def __init__(self, work: Path) -> None:
        self.out = work / "out"
        done = digest_process(
            "run", "--config", EXAMPLE_CONFIG, "--out", self.out, "--state", work / "state.db",
            "--now", NOW, "--settle", "0",
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        parsed = digest_process("parse", "--json", *sorted((ROOT / "examples/digests").iterdir()))
        assert parsed.returncode == 0, parsed.stderr
        papers = {}
        for file in json.loads(parsed.stdout):
            for paper in file["papers"]:
                papers.setdefault(paper["id"], paper)
        self.papers = list(papers.values())
        (self.issue,) = sorted((self.out / "issues").glob("*.html"))
        # The examples' issue is longer than a page (papers_per_page): ``page`` is the
        # text of all its pages, ``pages`` each page, ``later_page`` its second.
        self.pages = issue_pages(self.out, self.issue.stem)
        assert len(self.pages) > 1, "the examples' issue is paged"
        self.later_page = self.pages[1]
        self.page = whole_issue(self.out, self.issue.stem)
        self.markdown = self.issue.with_suffix(".md").read_text(encoding="utf-8")
        self.message = email.message_from_bytes(
            self.issue.with_suffix(".eml").read_bytes(), policy=email.policy.default
        )
        self.email_html = self.message.get_body(("html",)).get_content()
        self.email_text = self.message.get_body(("plain",)).get_content().replace("\r\n", "\n")
        self.email_file = work / "email.html"
        self.email_file.write_text(self.email_html, encoding="utf-8")

    def links_meant(self) -> set[str]:
        return {url for paper in self.papers for url in paper["links"]}


def folded(text: str) -> str:
    return " ".join(text.split())


def tree_of(markup: str):
    return html5lib.parse(markup, namespaceHTMLElements=False)


def hrefs(markup: str) -> list[str]:
    return [a.get("href") for a in tree_of(markup).iter("a") if a.get("href")]


# -- the W3C Nu Html Checker ----------------------------------------------------------------


def java() -> str:
    wanted = os.environ.get("DIGEST_JAVA") or "java"
    found = shutil.which(wanted)
    if not found:
        pytest.skip(f"no Java runtime ({wanted}) for the Nu Html Checker: .ci/reader-tools "
                    "installs Debian's default-jre-headless")  # fmt: skip
    return found


def vnu_version() -> str:
    if not VNU_JAR.is_file():
        pytest.skip(f"the Nu Html Checker is not installed at {VNU_JAR}: {INSTALL_HINT}")
    done = subprocess.run(
        [java(), "-jar", str(VNU_JAR), "--version"], capture_output=True, text=True, timeout=120
    )
    return done.stdout.strip()


def vnu_errors(paths: list[Path]) -> dict[str, list[dict[str, Any]]]:
    """The checker's errors for each file, by file name; one run for them all (the Java
    runtime takes seconds to start)."""
    vnu_version()
    done = subprocess.run(
        [java(), "-jar", str(VNU_JAR), "--errors-only", "--format", "json", "--stdout",
         "--exit-zero-always", *map(str, paths)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    errors: dict[str, list[dict[str, Any]]] = {path.name: [] for path in paths}
    for message in json.loads(done.stdout)["messages"]:
        errors[Path(message.get("url", "?")).name].append(message)
    return errors


# -- Chromium over the DevTools protocol ----------------------------------------------------


class DevToolsError(RuntimeError):
    pass


class Browser:
    """Headless Chromium, a fresh profile, spoken to over its DevTools pipe."""

    def __init__(self, timeout: float = 60) -> None:
        self.timeout = timeout
        self.profile = tempfile.TemporaryDirectory(prefix="digest-chromium-")
        to_browser_read, self._to_browser = os.pipe()
        self._from_browser, from_browser_write = os.pipe()
        # The browser reads commands on fd 3 and writes answers on fd 4; bash puts the
        # pipe ends there (Popen's pass_fds keeps their numbers, which are not 3 and 4).
        command = [chromium(), *FLAGS, f"--user-data-dir={self.profile.name}",
                   "--remote-debugging-pipe", "about:blank"]  # fmt: skip
        self.process = subprocess.Popen(
            ["bash", "-c", f'exec "$@" 3<&{to_browser_read} 4>&{from_browser_write}', "bash",
             *command],
            pass_fds=(to_browser_read, from_browser_write),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        os.close(to_browser_read)
        os.close(from_browser_write)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []
        self.version = self.send("Browser.getVersion")["product"]

    def close(self) -> None:
        with contextlib.suppress(DevToolsError, OSError):
            self.send("Browser.close")
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for fd in (self._to_browser, self._from_browser):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.profile.cleanup()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> Any:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            answer = self._read()
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise DevToolsError(f"{method}: {answer['error']}")
                return answer.get("result", {})
            self._events.append(answer)

    def wait_for(self, event: str, session: str) -> dict[str, Any]:
        for index, seen in enumerate(self._events):
            if seen.get("method") == event and seen.get("sessionId") == session:
                return self._events.pop(index)
        while True:
            seen = self._read()
            if seen.get("method") == event and seen.get("sessionId") == session:
                return seen
            self._events.append(seen)

    def _read(self) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise DevToolsError(f"Chromium did not answer within {self.timeout} s")
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise DevToolsError(f"Chromium closed the pipe (exit {self.process.poll()})")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def open(
        self, path: Path | str, width: int = 375, height: int = 800, mobile: bool = True
    ) -> Tab:
        """A new tab showing ``path`` (a file, or a URL) laid out for a screen of that size
        (a phone by default: mobile emulation honours the page's viewport meta)."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        tab = Tab(self, target, session)
        tab.send("Page.enable")
        tab.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
        )
        url = path if isinstance(path, str) else path.resolve().as_uri()
        tab.send("Page.navigate", {"url": url})
        self.wait_for("Page.loadEventFired", session)
        return tab


class Tab:
    def __init__(self, browser: Browser, target: str, session: str) -> None:
        self.browser, self.target, self.session = browser, target, session

    def send(self, method: str, params: dict | None = None) -> Any:
        return self.browser.send(method, params, self.session)

    def evaluate(self, expression: str, *, wait: bool = False) -> Any:
        """The value of a JavaScript expression in the page (``wait``: a promise's)."""
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": wait, "returnByValue": True},
        )
        if "exceptionDetails" in result:
            raise DevToolsError(json.dumps(result["exceptionDetails"])[:2000])
        return result["result"].get("value")

    def axe(self) -> list[dict[str, Any]]:
        """axe-core's violations on the page as laid out now (WCAG 2.x A/AA rules and best
        practices, axe's defaults, and WCAG 2.2's target size as Lighthouse checks it), each
        with its impact and the first nodes it names."""
        if not AXE_JS.is_file():
            pytest.skip(f"axe-core is not installed at {AXE_JS}: {INSTALL_HINT}")
        self.evaluate(AXE_JS.read_text(encoding="utf-8"))
        return self.evaluate(
            """axe.run(document, {resultTypes: ["violations"],
                                  rules: {"target-size": {enabled: true}}})
               .then(r => r.violations.map(v => ({
                 id: v.id, impact: v.impact, help: v.help,
                 nodes: v.nodes.slice(0, 5).map(n => [n.html.slice(0, 160), n.failureSummary])
               })))""",
            wait=True,
        )

    def close(self) -> None:
        self.browser.send("Target.closeTarget", {"targetId": self.target})


def axe_version() -> str:
    if not AXE_JS.is_file():
        pytest.skip(f"axe-core is not installed at {AXE_JS}: {INSTALL_HINT}")
    package = json.loads((AXE_JS.parent / "package.json").read_text(encoding="utf-8"))
    return str(package["version"])


# -- Markdown renderers ---------------------------------------------------------------------


def markdown_renderers() -> dict[str, Any]:
    """What GitHub shows (cmark-gfm, its own C library), CommonMark (markdown-it-py) and
    python-markdown; each takes Markdown and gives HTML."""
    cmarkgfm = pytest.importorskip("cmarkgfm", reason="pip install cmarkgfm (the test extra)")
    import markdown
    from markdown_it import MarkdownIt

    commonmark = MarkdownIt("commonmark")
    return {
        "gfm": cmarkgfm.github_flavored_markdown_to_html,
        "commonmark": commonmark.render,
        "python-markdown": markdown.markdown,
    }


def lighthouse(url: str, work: Path) -> dict[str, Any]:
    """Lighthouse's mobile performance audit of a page, run on Debian's Chromium (no
    network needed: the page is on this machine): its report as JSON."""
    node = shutil.which("node")
    if node is None or not LIGHTHOUSE.is_file():
        pytest.skip(f"Lighthouse (and node) are not installed at {LIGHTHOUSE}: {INSTALL_HINT}")
    report = work / "lighthouse.json"
    done = subprocess.run(
        [node, str(LIGHTHOUSE), url, "--only-categories=performance", "--form-factor=mobile",
         "--output=json", f"--output-path={report}", "--quiet",
         f"--chrome-flags=--headless --no-sandbox --user-data-dir={work / 'profile'}"],
        env={**os.environ, "CHROME_PATH": chromium()}, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, Any] = json.loads(report.read_text(encoding="utf-8"))
    return result
