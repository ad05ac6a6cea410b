"""Debian's headless Chromium (/usr/bin/chromium) on a page written to disk, for the browser tests.

- ``measured(chromium, tmp_path, page)``: a measuring copy of the page (the same page, its
  Content-Security-Policy widened for one script with a nonce, which measures and writes what it
  found into the DOM) is dumped with --dump-dom: the page's height, images, scripts and text, and for
  each <section id> its <svg> elements, each with its rendered size and its drawn marks (polyline,
  path, circle, filled rect) of non-zero extent. It returns that, and the browser's log.
- ``browse(chromium, tmp_path, page, *flags)``: the page as it is, with the console logged
  (--enable-logging=stderr), e.g. with --screenshot=... into SCREENSHOTS.

The ``chromium`` fixture (tests/browser/conftest.py) skips without chromium, except in CI (CI=true),
where it fails: .ci/run installs it.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import struct
import subprocess
from pathlib import Path

from tests.support.infra import ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = ROOT / "build" / "screenshots"
WIDTH = 1200
# a closed network: no background requests, no first-run or sync traffic (see /work/.library/env)
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
         "--enable-logging=stderr", "--v=0")
CSP = 'content="default-src \'none\'; style-src \'unsafe-inline\'"'  # evergreen.card_html.CSP, as the pages carry it
MEASURED = "measured the page"  # the measuring script's console line
MEASURE = """
const found = {height: document.documentElement.scrollHeight, images: document.images.length,
  scripts: document.scripts.length, text: document.body.textContent, sections: {}};
for (const section of document.querySelectorAll("section")) {
  found.sections[section.id] = [...section.querySelectorAll("svg")].map(svg => {
    const box = svg.getBoundingClientRect();
    const marks = [...svg.querySelectorAll("polyline, path, circle, rect:not([fill=none])")].map(mark => {
      const b = mark.getBBox();
      return {tag: mark.tagName, width: b.width, height: b.height};
    });
    return {width: box.width, height: box.height, marks: marks.filter(m => m.width > 0 || m.height > 0)};
  });
}
const out = document.createElement("pre");
out.id = "measured";
out.textContent = JSON.stringify(found);
document.body.appendChild(out);
console.log("%s");
""" % MEASURED


def browse(chromium: str, tmp_path: Path, page: Path, *flags: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{len(list(tmp_path.iterdir()))}"
    return subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}", *flags, page.as_uri()],
                          capture_output=True, text=True, timeout=120, check=True)


def measured(chromium: str, tmp_path: Path, page: str, name: str = "measuring.html") -> tuple[dict, str]:
    """What the measuring copy of `page` found, and the browser's log. `name`: the copy's file name (in
    `tmp_path`, where the page's relative links point)."""
    assert page.count(CSP) == 1 and page.count("</body>") == 1
    copy = (page.replace(CSP, CSP[:-1] + '; script-src \'nonce-measure\'"')
            .replace("</body>", f'<script nonce="measure">{MEASURE}</script></body>'))
    path = tmp_path / name
    path.write_text(copy)
    done = browse(chromium, tmp_path, path, "--dump-dom", f"--window-size={WIDTH},1000")
    [text] = re.findall(r'<pre id="measured">(.*?)</pre>', done.stdout, flags=re.DOTALL)
    return json.loads(html.unescape(text)), done.stderr


def drawn(svg: dict, tag: str) -> list[dict]:
    return [m for m in svg["marks"] if m["tag"] == tag]


def console_lines(log: str) -> list[str]:
    """The page's console messages in chromium's log."""
    return [line for line in log.splitlines() if ":CONSOLE" in line]


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])
