"""MkDocs hook: hide the test markers of the docs' programs from readers.

``tests/test_docs.py`` runs every python block whose first line is ``# runnable`` (a
program) or ``# continued`` (more of the program above it). The markers stay in the
Markdown so that the programs stay tested; before a page is rendered, this hook drops the
marker line and gives the block a title instead, so that readers still see which blocks
are whole programs. Fences are found as the test finds them: up to three spaces of
indentation, a closing fence of the same character at least as long as the opening one.
"""

from __future__ import annotations

import re
from typing import Any

TITLES = {
    "# runnable": "Complete program",
    "# continued": "Continues the program above",
}
"""Each marker, and the title its block gets instead."""

_OPENING = re.compile(r"^[ ]{0,3}(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)(?P<rest>.*)$")


def _closes(line: str, fence: str) -> bool:
    stripped = line.strip()
    return stripped.startswith(fence) and set(stripped) == {fence[0]}


def hide_markers(markdown: str) -> str:
    """`markdown` with each program's marker line replaced by a title on its fence."""
    lines = markdown.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        opening = _OPENING.match(lines[i])
        if opening is None:
            out.append(lines[i])
            i += 1
            continue
        fence = opening["fence"]
        end = i + 1
        while end < len(lines) and not _closes(lines[end], fence):
            end += 1
        body = lines[i + 1 : end]
        title = TITLES.get(body[0].strip()) if body else None
        if opening["lang"].lower() == "python" and title is not None:
            given = "title=" in opening["rest"]  # a title of the author's own stays
            out.append(lines[i] if given else f'{lines[i].rstrip()} title="{title}"')
            body = body[1:]
        else:
            out.append(lines[i])
        out.extend(body)
        out.extend(lines[end : end + 1])  # the closing fence, unless the page ends first
        i = end + 1
    return "\n".join(out)


def on_page_markdown(markdown: str, **_: Any) -> str:
    """Hide the markers of the page's programs (mkdocs calls this for every page)."""
    return hide_markers(markdown)
