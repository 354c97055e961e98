"""MkDocs hook: write the Pygments style sheet into the built site.

Code blocks are highlighted when the site is built (pymdownx.highlight with Pygments), so
the pages need only this local style sheet, never a script or style from a CDN.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pygments.formatters import HtmlFormatter

STYLE = "friendly"
PATH = "css/pygments.css"


def on_post_build(config: Any, **_: Any) -> None:
    """Write the style sheet `extra_css` links to."""
    target = Path(config["site_dir"]) / PATH
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(HtmlFormatter(style=STYLE).get_style_defs(".highlight"), encoding="utf-8")
