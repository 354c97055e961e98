"""Check the built documentation in headless Chromium, and keep screenshots of it.

Usage: python scripts/screenshot_docs.py [SITE_DIR [OUT_DIR]] (``site`` and
``site-screenshots`` by default; ``--browser PATH`` names the Chromium to drive, else
``chromium`` on the PATH, Debian's package). The site is served on 127.0.0.1 on a free
port and every request for another host is refused and reported, so the pages are seen
as offline. Every page must load without a console error, show no test marker
(``# runnable``, ``# continued``) and give each code block a copy button; on the pages
with python code a keyword must be coloured unlike the code around it. A copy button
must copy its block's code, the search must find pages, and the palette toggle must
switch to the dark scheme. Screenshots of the home
page, a concept page's code, the API reference, a search and the dark scheme go to
OUT_DIR. Without Playwright or a browser the check is skipped, except under ``CI=true``,
where that fails.
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Page, Route

MARKERS = ("# runnable", "# continued")
SEARCH = "snapshot"
"""A word the search must find pages for."""
TIMEOUT_MS = 15_000
COPY_BUTTON = "button.md-clipboard, button.md-code__button[data-md-type='copy']"
"""Material's copy button: the first before 9.7, the second since."""
KEYWORD = ".language-python.highlight code :is(.k, .kn)"
"""A Pygments keyword in a python block."""
COLOURS = "k => [getComputedStyle(k).color, getComputedStyle(k.closest('code')).color]"
BLOCKS_WITHOUT_COPY_BUTTON = """selector => [...document.querySelectorAll('.md-content pre > code')]
  .filter(code => code.parentElement.querySelector(selector) === null).length"""


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Log nothing: the check reports what matters."""


@contextmanager
def serve(site: Path) -> Iterator[str]:
    """Serve `site` on 127.0.0.1 on a free port; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def page_paths(site: Path) -> list[str]:
    """The URL path of each page of the site, the home page first."""
    paths = [page.parent.relative_to(site).as_posix() + "/" for page in site.rglob("index.html")]
    return sorted(path.removeprefix("./") for path in paths)


class Check:
    """One browser page over the served site, collecting what goes wrong."""

    def __init__(self, page: Page, base: str, out: Path) -> None:
        self.page = page
        self.base = base
        self.out = out
        self.failures: list[str] = []
        self.shots: list[Path] = []
        self._errors: list[str] = []
        page.on("console", lambda m: self._errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: self._errors.append(str(error)))
        page.context.route("**/*", self._route)

    def _route(self, route: Route) -> None:
        url = route.request.url
        if url.startswith(self.base):
            route.continue_()
        else:
            self._errors.append(f"requested {url} from another host")  # the site is offline
            route.abort()

    def fail(self, path: str, problem: str) -> None:
        """Record a failure of the page at `path`."""
        self.failures.append(f"/{path}: {problem}")

    def open(self, path: str) -> None:
        """Load the page at `path` and check what every page must do."""
        self._errors.clear()
        response = self.page.goto(self.base + path, wait_until="load")
        if response is None or not response.ok:
            self.fail(path, f"answered {response.status if response else 'nothing'}")
        code_blocks = self.page.locator(".md-content pre > code").count()
        if code_blocks:
            # Material adds the copy buttons once its script has run.
            self.page.locator(COPY_BUTTON).first.wait_for(state="attached")
            missing = self.page.evaluate(BLOCKS_WITHOUT_COPY_BUTTON, COPY_BUTTON)
            if missing:
                self.fail(path, f"{missing} of {code_blocks} code blocks have no copy button")
        text = self.page.inner_text("body")
        for marker in MARKERS:
            if marker in text:
                self.fail(path, f"shows {marker!r}")
        if self.page.locator(".language-python.highlight").count():
            keyword = self.page.locator(KEYWORD).first
            if not keyword.is_visible():
                self.fail(path, "its python code shows no Pygments keyword")
            else:
                colour, around = keyword.evaluate(COLOURS)
                if colour == around:
                    self.fail(path, f"python keywords are not coloured ({colour})")
        self.settle(path)

    def settle(self, path: str) -> None:
        """Fail `path` for the console errors and foreign requests seen since it loaded."""
        self.page.wait_for_load_state("networkidle")
        for error in self._errors:
            self.fail(path, error if error.startswith("requested ") else f"console: {error}")
        self._errors.clear()

    def shoot(self, name: str) -> None:
        """Save a screenshot of the viewport as OUT/`name`.png."""
        path = self.out / f"{name}.png"
        self.page.screenshot(path=str(path), animations="disabled")
        self.shots.append(path)

    def scroll_to(self, selector: str) -> None:
        """Scroll the first element matching `selector` to the top of the viewport."""
        self.page.locator(selector).first.evaluate(
            "element => { element.scrollIntoView(); window.scrollBy(0, -120); }"
        )


def check_search(check: Check) -> None:
    """Search from the home page, offline: some pages must be found."""
    page = check.page
    check.open("")
    field = page.locator("input.md-search__input")
    field.click()
    field.press_sequentially(SEARCH)  # keys, as a reader types: the search reads keyups
    found = page.locator(".md-search-result__item")
    found.first.wait_for()  # fails after TIMEOUT_MS if nothing is found
    check.settle("")
    print(f"searching for {SEARCH!r}: {page.inner_text('.md-search-result__meta')}")
    check.shoot("search")


def check_copy(check: Check, path: str) -> None:
    """Copy the first python block of `path`: the clipboard must hold its code, no marker."""
    page = check.page
    check.open(path)
    block = page.locator(".language-python.highlight").first
    block.locator(COPY_BUTTON).click()
    copied: str = page.evaluate("navigator.clipboard.readText()")
    if copied.strip() != block.locator("code").inner_text().strip():
        check.fail(path, f"the copy button copied {copied[:60]!r}...")
    for marker in MARKERS:
        if marker in copied:
            check.fail(path, f"the copy button copies {marker!r}")
    check.settle(path)


def check_dark_scheme(check: Check, path: str) -> None:
    """Switch the palette to dark on `path`: the page must follow."""
    page = check.page
    check.open(path)
    page.locator("label[for='__palette_1']").click()
    scheme = page.locator("body").get_attribute("data-md-color-scheme")
    if scheme != "slate":
        check.fail(path, f"the palette toggle left the scheme at {scheme!r}")
    check.scroll_to(".language-python.highlight")
    check.settle(path)
    check.shoot("dark-scheme")


STEPS: list[tuple[str, str, str | None]] = [
    # (screenshot, page, element scrolled to the top first)
    ("home", "", None),
    ("getting-started-code", "getting-started/", ".language-python.highlight"),
    ("concept-handlers", "concepts/handlers/", ".language-python.highlight .filename"),
    ("api-reference", "reference/", "[id='evtsrc.Aggregate']"),
]


def run(site: Path, out: Path, browser: str) -> list[str]:
    """Check every page of `site` in `browser`, screenshots in `out`; the failures."""
    from playwright.sync_api import Error, sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.png"):
        old.unlink()
    paths = page_paths(site)
    with serve(site) as base, sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=browser)
        try:
            context = chromium.new_context(
                viewport={"width": 1280, "height": 860}, color_scheme="light"
            )
            context.set_default_timeout(TIMEOUT_MS)
            context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base[:-1])
            check = Check(context.new_page(), base, out)
            steps: list[tuple[str, Callable[[], None]]] = [
                (f"/{path}", functools.partial(check.open, path)) for path in paths
            ]
            steps += [
                (name, functools.partial(_shoot_step, check, name, path, selector))
                for name, path, selector in STEPS
            ]
            steps.append(("copy", functools.partial(check_copy, check, "getting-started/")))
            steps.append(("search", functools.partial(check_search, check)))
            steps.append(("dark", functools.partial(check_dark_scheme, check, "getting-started/")))
            for name, step in steps:
                try:
                    step()
                except Error as error:  # a time-out, a page that would not load
                    check.failures.append(f"{name}: {error.message.splitlines()[0]}")
        finally:
            chromium.close()
    print(f"{len(paths)} pages checked in {browser}; screenshots:")
    for shot in check.shots:
        print(f"  {shot}")
    return check.failures


def _shoot_step(check: Check, name: str, path: str, selector: str | None) -> None:
    check.open(path)
    if selector is not None:
        check.scroll_to(selector)
    check.shoot(name)


def main() -> int:
    """Run the check from the command line; the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("site", nargs="?", default="site", type=Path)
    parser.add_argument("out", nargs="?", default="site-screenshots", type=Path)
    parser.add_argument("--browser", default=shutil.which("chromium"))
    args = parser.parse_args()
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing = "Playwright is not installed (pip install playwright)"
    else:
        missing = "" if args.browser else "no chromium on the PATH (apt-get install chromium)"
    if missing:
        print(f"{'failed' if _in_ci() else 'skipped'}: {missing}", file=sys.stderr)
        return 1 if _in_ci() else 0
    if not (args.site / "index.html").is_file():
        print(f"{args.site}/index.html is missing: build the site first", file=sys.stderr)
        return 1
    failures = run(args.site, args.out, args.browser)
    print("\n".join(failures) or "pages: loaded, highlighted, copy buttons, search, dark scheme")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
