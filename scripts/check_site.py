"""Check a built documentation site: it must work offline and hide the test markers.

Usage: python scripts/check_site.py SITE_DIR. Fails when

* a page loads a script, style sheet, image or frame from another host, or a style sheet
  imports one (links for the reader to follow are fine);
* a python code block carries no Pygments classes (it was not highlighted at build
  time), or no local style sheet colours them;
* a page, or the search index, shows a ``# runnable`` or ``# continued`` marker of
  tests/test_docs.py (scripts/mkdocs_markers.py drops them);
* the search index is missing, or indexes no page.

The pages' behaviour in a browser is checked by scripts/screenshot_docs.py.
"""

from __future__ import annotations

import html
import json
import re
import sys
from pathlib import Path

MARKERS = ("# runnable", "# continued")
REMOTE = re.compile(
    r"<(?:script|link|img|iframe|source|embed|object|video|audio)\b[^>]*?"
    r'\b(?:src|href|srcset|data)="(?:https?:)?//[^"]+"'
)
REMOTE_CSS = re.compile(r'(?:url\(\s*["\']?|@import\s+["\'])(?:https?:)?//[^)"\']+')
PYTHON_BLOCK = re.compile(r'<div class="language-python highlight">(.*?)</code></pre>', re.S)
TOKEN = re.compile(r'<span class="(?:k|kn|kd|nf|nc|n|s[12]?|mi|o|p|c1)">')
TAG = re.compile(r"<[^>]+>")


def _text(page: str) -> str:
    """What a reader can read of an HTML page: its text without tags, scripts or styles."""
    page = re.sub(r"<(script|style)\b.*?</\1>", "", page, flags=re.S)
    return html.unescape(TAG.sub("", page))


def problems(site: Path) -> list[str]:
    """What is wrong with the site in `site`, one line each."""
    found: list[str] = []
    pages = sorted(site.rglob("*.html"))
    if not pages:
        return [f"{site}: no HTML page"]
    python_blocks = 0
    for page in pages:
        name = page.relative_to(site).as_posix()
        content = page.read_text(encoding="utf-8")
        for match in REMOTE.finditer(content):
            found.append(f"{name}: loads {match.group(0)}")
        text = _text(content)
        found.extend(f"{name}: shows {marker!r}" for marker in MARKERS if marker in text)
        for index, block in enumerate(PYTHON_BLOCK.findall(content), 1):
            python_blocks += 1
            if TOKEN.search(block) is None:
                found.append(f"{name}: python block {index} is not highlighted")
    if python_blocks == 0:
        found.append("no page has a python block (div.language-python.highlight)")
    styles = sorted(site.rglob("*.css"))
    for style in styles:
        for match in REMOTE_CSS.finditer(style.read_text(encoding="utf-8")):
            found.append(f"{style.relative_to(site).as_posix()}: loads {match.group(0)}")
    if not any(".highlight .k" in style.read_text(encoding="utf-8") for style in styles):
        found.append("no style sheet colours the Pygments classes (.highlight .k)")
    found.extend(_search_problems(site, len(pages)))
    return found


def _search_problems(site: Path, pages: int) -> list[str]:
    index = site / "search" / "search_index.json"
    if not index.is_file():
        return ["search/search_index.json is missing: the search would find nothing"]
    docs = json.loads(index.read_text(encoding="utf-8")).get("docs", [])
    found: list[str] = []
    locations = {doc["location"].split("#")[0] for doc in docs}
    if len(locations) < pages - 1:  # every page but 404.html
        found.append(f"the search index has {len(locations)} pages of {pages - 1}")
    for doc in docs:
        text = html.unescape(TAG.sub("", f"{doc.get('title', '')} {doc.get('text', '')}"))
        found.extend(
            f"search index, {doc['location']}: shows {marker!r}"
            for marker in MARKERS
            if marker in text
        )
    return found


if __name__ == "__main__":
    listed = problems(Path(sys.argv[1]))
    print("\n".join(listed) or "site: offline, highlighted, no test markers, search index")
    sys.exit(1 if listed else 0)
