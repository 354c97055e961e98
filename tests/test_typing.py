"""mypy and pyright accept tests/typing/pass and reject exactly the marked lines in typing/fail.

Markers, at the end of the line a checker reports on (tests/typing/fail only):

``# expect-error: CODES``
    Both checkers reject the line, each with at least the codes listed:
    lowercase codes are mypy's (``arg-type``); capitalised ones are pyright
    rules without their ``report`` prefix (``ArgumentType``).
``# false-positive: CODES``
    Valid code that a checker rejects today with the codes listed; a checker
    with no code listed must accept it.
``# gap: WHY``
    A mistake that neither checker catches yet: both must stay silent.
``# partial-gap: CODES``
    A mistake that only some checkers catch: those with codes listed report
    at least them, the others must stay silent (say why in a comment above).

Every other line in tests/typing must type-check clean, so both a check that
stops catching a mistake and one that starts rejecting good code fail here.
Each checker runs once over the whole of tests/typing; the two run in parallel.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import subprocess
import sys
import tokenize
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
TYPING = ROOT / "tests" / "typing"
PASS = TYPING / "pass"
FAIL = TYPING / "fail"
CHECKERS = ("mypy", "pyright")
TIMEOUT = 600

MARKER = re.compile(r"#\s*(?P<kind>expect-error|false-positive|partial-gap|gap):(?P<rest>.*)$")
IGNORE = re.compile(r"#\s*(type|pyright):\s*ignore")


@dataclass(frozen=True)
class Diagnostic:
    checker: str
    path: Path
    line: int
    code: str
    message: str

    def __str__(self) -> str:
        where = self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path
        return f"{where}:{self.line}: {self.checker} [{self.code}] {self.message}"


@dataclass(frozen=True)
class Marker:
    kind: str
    codes: dict[str, frozenset[str]]
    """Expected codes by checker (empty for gaps)."""


def python_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


def _parse_codes(text: str) -> dict[str, frozenset[str]]:
    codes: dict[str, set[str]] = {checker: set() for checker in CHECKERS}
    for token in text.split():
        if token[0].isupper():
            codes["pyright"].add(f"report{token}")
        elif token.startswith("report"):
            codes["pyright"].add(token)
        else:
            codes["mypy"].add(token)
    return {checker: frozenset(found) for checker, found in codes.items()}


def comments(path: Path) -> Iterator[tuple[int, str]]:
    """The comments of ``path`` (not docstrings) with their line numbers."""
    with path.open("rb") as source:
        for token in tokenize.tokenize(source.readline):
            if token.type == tokenize.COMMENT:
                yield token.start[0], token.string


def markers(path: Path) -> dict[int, Marker]:
    """The markers of ``path`` by line number."""
    found: dict[int, Marker] = {}
    for number, comment in comments(path):
        match = MARKER.match(comment)
        if match is None:
            continue
        kind, rest = match["kind"], match["rest"]
        codes = {c: frozenset[str]() for c in CHECKERS} if kind == "gap" else _parse_codes(rest)
        found[number] = Marker(kind, codes)
    return found


# -- running the checkers ---------------------------------------------------------------------


def _command(checker: str) -> list[str]:
    if importlib.util.find_spec(checker) is None:
        pytest.fail(f"{checker} is not installed here: pip install -e '.[test]'")
    if checker == "mypy":
        return [
            *(sys.executable, "-m", "mypy", "--strict", "--config-file", "pyproject.toml"),
            *("--output", "json", "--no-color-output", str(TYPING.relative_to(ROOT))),
        ]
    return [
        *(sys.executable, "-m", "pyright", "--outputjson"),
        *("--pythonpath", sys.executable, str(TYPING.relative_to(ROOT))),
    ]


def _mypy_diagnostics(stdout: str) -> list[Diagnostic]:
    found = []
    for line in stdout.splitlines():
        if not line.startswith("{"):
            continue
        item = json.loads(line)
        if item["severity"] == "error":
            path = (ROOT / item["file"]).resolve()
            found.append(Diagnostic("mypy", path, item["line"], item["code"], item["message"]))
    return found


def _pyright_diagnostics(stdout: str) -> list[Diagnostic]:
    start = stdout.find("{\n")
    report: dict[str, Any] = json.loads(stdout[start:] if start >= 0 else stdout)
    analyzed = report["summary"]["filesAnalyzed"]
    expected = len(python_files(TYPING))
    assert analyzed >= expected, f"pyright analyzed {analyzed} files, not the {expected} here"
    return [
        Diagnostic(
            "pyright",
            Path(item["file"]).resolve(),
            item["range"]["start"]["line"] + 1,
            item.get("rule", ""),
            item["message"].splitlines()[0],
        )
        for item in report["generalDiagnostics"]
        if item["severity"] in ("error", "warning")
    ]


@pytest.fixture(scope="session")
def diagnostics() -> dict[str, list[Diagnostic]]:
    """Every error both checkers report on tests/typing, by checker."""
    commands = {checker: _command(checker) for checker in CHECKERS}
    running = {
        checker: subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for checker, command in commands.items()
    }
    results: dict[str, list[Diagnostic]] = {}
    try:
        for checker, process in running.items():
            stdout, stderr = process.communicate(timeout=TIMEOUT)
            if process.returncode not in (0, 1):
                pytest.fail(
                    f"{' '.join(commands[checker])} exited with {process.returncode}:\n"
                    f"{stdout}\n{stderr}"
                )
            parse = _mypy_diagnostics if checker == "mypy" else _pyright_diagnostics
            results[checker] = parse(stdout)
    finally:
        for process in running.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    return results


# -- the checks ------------------------------------------------------------------------------


@pytest.mark.typecheck
@pytest.mark.parametrize("checker", CHECKERS)
def test_everything_outside_the_fail_folder_is_clean(
    diagnostics: dict[str, list[Diagnostic]], checker: str
) -> None:
    errors = [d for d in diagnostics[checker] if not d.path.is_relative_to(FAIL)]
    assert not errors, f"{checker} rejects code that must type-check:\n" + "\n".join(
        map(str, errors)
    )


@pytest.mark.typecheck
@pytest.mark.parametrize("checker", CHECKERS)
def test_the_fail_folder_is_rejected_exactly_where_marked(
    diagnostics: dict[str, list[Diagnostic]], checker: str
) -> None:
    reported: dict[tuple[Path, int], list[Diagnostic]] = defaultdict(list)
    for diagnostic in diagnostics[checker]:
        if diagnostic.path.is_relative_to(FAIL):
            reported[diagnostic.path, diagnostic.line].append(diagnostic)
    problems: list[str] = []
    for path in python_files(FAIL):
        expected = markers(path)
        for number, marker in expected.items():
            where = f"{path.relative_to(ROOT)}:{number}"
            got = {d.code for d in reported.pop((path, number), [])}
            want = marker.codes[checker]
            if marker.kind in ("gap", "partial-gap") and not want and got:
                problems.append(
                    f"{where}: {marker.kind} now caught with {sorted(got)}: expect the error"
                )
            elif not want and got:
                problems.append(f"{where}: {marker.kind} now rejected with {sorted(got)}")
            elif want - got:
                problems.append(
                    f"{where}: {marker.kind} expects {sorted(want)}, {checker} reports "
                    f"{sorted(got) or 'nothing'}"
                )
    for unmarked in reported.values():
        problems.extend(f"unmarked error: {d}" for d in unmarked)
    assert not problems, f"{checker} disagrees with the markers:\n" + "\n".join(problems)


def test_markers_are_well_formed() -> None:
    fail_files = python_files(FAIL)
    assert fail_files, f"no typing checks in {FAIL}"
    for path in fail_files:
        found = markers(path)
        assert found, f"{path.name} has no marked line"
        for number, marker in found.items():
            where = f"{path.name}:{number}"
            if marker.kind == "expect-error":
                missing = [c for c in CHECKERS if not marker.codes[c]]
                assert not missing, f"{where}: name the code {' and '.join(missing)} reports"
            elif marker.kind == "false-positive":
                assert any(marker.codes.values()), f"{where}: name the codes reported"
            elif marker.kind == "partial-gap":
                caught = [c for c in CHECKERS if marker.codes[c]]
                assert caught, f"{where}: name the codes of the checker that catches it"
                assert len(caught) < len(CHECKERS), f"{where}: caught by all: use expect-error"
    for path in python_files(TYPING):
        ignores = [n for n, comment in comments(path) if IGNORE.search(comment)]
        assert not ignores, f"{path.name}:{ignores}: no ignore comments in typing checks"
        if not path.is_relative_to(FAIL):
            assert not markers(path), f"{path.name}: markers belong in {FAIL.name}/"


@pytest.mark.parametrize("path", python_files(PASS), ids=lambda path: path.stem)
async def test_pass_code_runs(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The code the checkers accept also works: each pass module's main() runs clean."""
    monkeypatch.syspath_prepend(str(ROOT))
    module = importlib.import_module(f"tests.typing.pass.{path.stem}")
    await module.main()
