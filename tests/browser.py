"""Headless Chromium: what a page looks like to a person, checked and photographed."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]

# Appended to a copy of the page: measures each element matching a selector, after layout.
PROBE = """
<script>
window.addEventListener("load", () => {
  const out = {width: innerWidth, scrollWidth: document.documentElement.scrollWidth, items: []};
  for (const el of document.querySelectorAll(%s)) {
    const box = el.getBoundingClientRect(), style = getComputedStyle(el);
    out.items.push({text: el.textContent.trim(), width: box.width, height: box.height,
                    left: box.left, right: box.right,
                    shown: style.display !== "none" && style.visibility !== "hidden"
                           && parseFloat(style.opacity) > 0 && parseFloat(style.fontSize) >= 10});
  }
  const pre = document.createElement("pre"); pre.id = "probe-result";
  pre.textContent = JSON.stringify(out); document.body.appendChild(pre);
});
</script>
"""


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip(
        "headless Chromium is not installed (Debian package 'chromium'; .ci/run installs it)"
    )


def _run(args: list[str], width: int, height: int) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [
                chromium(),
                *FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={width},{height}",
                "--virtual-time-budget=5000",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )


def measure(html: str, selector: str, width: int = 700, height: int = 1000) -> dict:
    """Lay the page out in Chromium and measure the elements matching ``selector``."""
    with tempfile.TemporaryDirectory() as folder:
        page = Path(folder) / "page.html"
        page.write_text(
            html.replace("</body>", PROBE % json.dumps(selector) + "</body>"), encoding="utf-8"
        )
        process = _run(["--dump-dom", page.as_uri()], width, height)
    match = re.search(r'<pre id="probe-result">(.*?)</pre>', process.stdout, re.S)
    assert match, process.stderr[-2000:]
    return json.loads(
        match.group(1)
        .replace("&quot;", '"')
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
    )


def screenshot(html: str, target: Path, width: int = 700, height: int = 1400) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        page = Path(folder) / "page.html"
        page.write_text(html, encoding="utf-8")
        _run([f"--screenshot={target}", page.as_uri()], width, height)
    assert target.exists() and target.stat().st_size > 5000, "Chromium wrote no screenshot"
    return target
