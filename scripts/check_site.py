"""Check a built documentation site: it must work offline.

Usage: python scripts/check_site.py SITE_DIR. Fails when a page loads a script or style
sheet from another host, or when code blocks are not highlighted at build time.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

REMOTE = re.compile(r'<(?:script|link)[^>]+(?:src|href)="(?:https?:)?//[^"]+"')


def problems(site: Path) -> list[str]:
    """What is wrong with the site in `site`, one line each."""
    found: list[str] = []
    pages = sorted(site.rglob("*.html"))
    for page in pages:
        for match in REMOTE.finditer(page.read_text(encoding="utf-8")):
            found.append(f"{page.relative_to(site)}: loads {match.group(0)}")
    styles = (style.read_text(encoding="utf-8") for style in site.rglob("*.css"))
    if not any(".highlight .k" in style for style in styles):
        found.append("no style sheet colours the Pygments classes (.highlight .k)")
    getting_started = site / "getting-started" / "index.html"
    if getting_started.is_file() and '<span class="k">' not in getting_started.read_text("utf-8"):
        found.append("getting-started/index.html: code blocks are not highlighted")
    return found


if __name__ == "__main__":
    listed = problems(Path(sys.argv[1]))
    print("\n".join(listed) or "site: offline, highlighted")
    sys.exit(1 if listed else 0)
