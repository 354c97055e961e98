"""The README and the docs run as written.

* The python blocks of the README's "Quickstart" section are one program: it is run
  in a fresh interpreter, and its output must equal the ``text`` block that follows.
* ``python -m examples.blog`` runs and prints what the example promises, on its
  default SQLite file and on each database server the tests have.
* In ``docs/``, a python block whose first line is ``# runnable`` starts a program
  and a block whose first line is ``# continued`` adds to the program above it on
  the same page. Each program runs in a fresh interpreter. A ``text`` block right
  after one of its blocks (nothing but blank lines between) is that block's
  expected output; the program's output must equal those blocks joined in order.
  The markers stay in the Markdown: ``scripts/mkdocs_markers.py`` drops them from the
  rendered pages and titles the blocks instead.
* Every docs page is in the mkdocs nav, the API reference lists every public name of
  ``evtsrc`` and ``evtsrc.backends``, and the README names every backend extra.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import attrs
import pytest

from tests import backends

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
RUNNABLE = "# runnable"
CONTINUED = "# continued"
_FENCE = re.compile(r"^(?P<indent>[ ]{0,3})(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)")


@attrs.frozen
class Block:
    lang: str
    code: str
    start: int
    """1-based line of the opening fence."""
    end: int
    """1-based line of the closing fence."""


@attrs.define
class Program:
    name: str
    code: list[str] = attrs.Factory(list)
    output: list[str] = attrs.Factory(list)
    checks_output: bool = False


def fenced_blocks(text: str) -> list[Block]:
    """The top-level fenced code blocks of a Markdown text, in order."""
    blocks: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        fence = opening["fence"]
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not (
            lines[j].strip().startswith(fence) and set(lines[j].strip()) == {fence[0]}
        ):
            body.append(lines[j])
            j += 1
        if j == len(lines):
            raise ValueError(f"unclosed code fence at line {i + 1}")
        blocks.append(Block(opening["lang"].lower(), "\n".join(body) + "\n", i + 1, j + 1))
        i = j + 1
    return blocks


def _follows(text: str, before: Block, after: Block) -> bool:
    between = text.splitlines()[before.end : after.start - 1]
    return all(not line.strip() for line in between)


def _section(text: str, heading: str) -> str:
    match = re.search(rf"^## {re.escape(heading)}\s*$(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match is not None, f"README has no '## {heading}' section"
    return match.group(1)


def readme_quickstart() -> Program:
    text = _section(README.read_text(encoding="utf-8"), "Quickstart")
    program = Program("README quickstart")
    blocks = fenced_blocks(text)
    for index, block in enumerate(blocks):
        if block.lang != "python":
            continue
        program.code.append(block.code)
        following = blocks[index + 1] if index + 1 < len(blocks) else None
        if following is not None and following.lang == "text":
            program.output.append(following.code)
            program.checks_output = True
    return program


def docs_programs() -> list[Program]:
    programs: list[Program] = []
    for path in sorted(DOCS.rglob("*.md")):
        text = path.read_text(encoding="utf-8")
        page = path.relative_to(ROOT).as_posix()
        blocks = fenced_blocks(text)
        current: Program | None = None
        for index, block in enumerate(blocks):
            if block.lang != "python":
                continue
            first = block.code.split("\n", 1)[0].strip()
            if first == RUNNABLE:
                current = Program(f"{page}:{block.start}")
                programs.append(current)
            elif first == CONTINUED:
                if current is None:
                    raise ValueError(f"{page}:{block.start}: '# continued' with no program above")
            else:
                continue
            current.code.append(block.code)
            following = blocks[index + 1] if index + 1 < len(blocks) else None
            if (
                following is not None
                and following.lang == "text"
                and _follows(text, block, following)
            ):
                current.output.append(following.code)
                current.checks_output = True
    return programs


def run_python(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONWARNINGS"] = "error"
    return subprocess.run(
        [sys.executable, *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def run_program(program: Program, tmp_path: Path) -> str:
    script = tmp_path / "program.py"
    script.write_text("\n".join(program.code), encoding="utf-8")
    result = run_python([str(script)], tmp_path)
    assert result.returncode == 0, (
        f"{program.name} failed with exit code {result.returncode}:\n{result.stderr}"
    )
    return result.stdout


def test_readme_starts_with_the_two_commands() -> None:
    head = README.read_text(encoding="utf-8")[:600]
    assert "python -m examples.blog" in head
    assert "nox -s tests" in head


def test_readme_quickstart_runs_and_prints_what_it_shows(tmp_path: Path) -> None:
    program = readme_quickstart()
    assert program.code, "the README's Quickstart section has no python block"
    assert program.checks_output, "the README's Quickstart shows no output to compare"
    assert run_program(program, tmp_path) == "".join(program.output)


def test_the_blog_example_runs_on_a_sqlite_file_and_again_on_the_same_file(
    tmp_path: Path,
) -> None:
    env_url = os.environ.pop("BLOG_DATABASE_URL", None)
    try:
        runs = [run_python(["-m", "examples.blog"], tmp_path) for _ in range(2)]
    finally:
        if env_url is not None:
            os.environ["BLOG_DATABASE_URL"] = env_url
    assert (tmp_path / "blog.sqlite").exists()
    for handled, result in zip((2, 4), runs, strict=True):
        assert result.returncode == 0, result.stderr
        out = result.stdout
        assert "storing events in sqlite:///blog.sqlite" in out
        assert "refused: Unauthorized (UNAUTHORIZED)" in out
        assert "refused: Not allowed (NOT_ALLOWED)" in out
        [row] = [line for line in out.splitlines() if line.startswith("read model")]
        assert f"read model handled {handled} events" in row
        assert re.search(r"post_id='hello-\w+', user_id='alice-\w+'", row), row
        assert "archived=True" in row


SERVER_VARIABLES = sorted({t.env for t in backends.TARGETS if t.env is not None})


@pytest.mark.parametrize("variable", SERVER_VARIABLES)
def test_the_blog_example_runs_on_each_server_and_again_on_the_same_store(
    tmp_path: Path, variable: str
) -> None:
    url = backends.server_location(variable, "the blog example")
    env_url = os.environ.get("BLOG_DATABASE_URL")
    os.environ["BLOG_DATABASE_URL"] = url
    try:
        runs = [run_python(["-m", "examples.blog"], tmp_path) for _ in range(2)]
    finally:
        if env_url is None:
            del os.environ["BLOG_DATABASE_URL"]
        else:
            os.environ["BLOG_DATABASE_URL"] = env_url
    handled = []
    for result in runs:
        assert result.returncode == 0, result.stderr
        out = result.stdout
        assert f"storing events in {url}" in out
        assert "refused: Unauthorized (UNAUTHORIZED)" in out
        assert "refused: Not allowed (NOT_ALLOWED)" in out
        assert re.search(r"^  v1 @\d+ PostCreated\(", out, re.MULTILINE), out
        assert re.search(r"^  v2 @\d+ PostArchived\(", out, re.MULTILINE), out
        [count] = re.findall(r"^read model handled (\d+) events", out, re.MULTILINE)
        handled.append(int(count))
    # The store may hold earlier runs' posts; the second run adds its own two events.
    assert handled[0] >= 2
    assert handled[1] >= handled[0] + 2


def _check_read_your_writes(result: subprocess.CompletedProcess[str], url: str) -> None:
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"storing events in {url}"
    todo = re.fullmatch(r"POST /todos/(todo-\w+) -> 201 .*", lines[1])
    assert todo is not None, lines[1]
    row = f"{{'id': '{todo[1]}', 'title': 'Write the docs', 'done': %s}}"
    assert lines[1:] == [
        f"POST /todos/{todo[1]} -> 201 {row % False}",
        f"POST /todos/{todo[1]} -> 409 {{'error': 'This todo exists already'}}",
        f"POST /todos/{todo[1]}/done -> 200 {row % True}",
        f"GET /todos/{todo[1]} -> 200 {row % True}",
        "read model stopped: POST -> 202 ['accepted', 'position']",
    ]


def test_the_read_your_writes_example_answers_from_its_read_model_on_sqlite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TODOS_DATABASE_URL", raising=False)
    for _ in range(2):
        result = run_python(["-m", "examples.read_your_writes"], tmp_path)
        _check_read_your_writes(result, "sqlite:///todos.sqlite")
    assert (tmp_path / "todos.sqlite").exists()


@pytest.mark.parametrize("variable", SERVER_VARIABLES)
def test_the_read_your_writes_example_answers_from_its_read_model_on_each_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    url = backends.server_location(variable, "the read-your-writes example")
    monkeypatch.setenv("TODOS_DATABASE_URL", url)
    for _ in range(2):
        _check_read_your_writes(run_python(["-m", "examples.read_your_writes"], tmp_path), url)


PROGRAMS = docs_programs()


def test_the_docs_have_runnable_programs() -> None:
    pages = {program.name.split(":")[0] for program in PROGRAMS}
    assert "docs/getting-started.md" in pages


@pytest.mark.parametrize("program", PROGRAMS, ids=[p.name for p in PROGRAMS])
def test_docs_program_runs(program: Program, tmp_path: Path) -> None:
    out = run_program(program, tmp_path)
    if program.checks_output:
        assert out == "".join(program.output)


def test_the_reference_lists_every_public_name() -> None:
    import evtsrc
    import evtsrc.backends

    reference = (DOCS / "reference.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^::: ([\w.]+)", reference, re.M))
    public = {f"{m.__name__}.{name}" for m in (evtsrc, evtsrc.backends) for name in m.__all__}
    assert sorted(public - listed) == []


def test_the_readme_names_every_backend_extra() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    tools = {"testing", "test", "lint", "docs", "dev", "examples"}
    extras = set(project["optional-dependencies"]) - tools
    readme = README.read_text(encoding="utf-8")
    assert sorted(e for e in extras if f"evtsrc[{e}]" not in readme) == []


def test_every_docs_page_is_in_the_nav() -> None:
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\s*-\s*(?:[^:\n]+:\s*)?([\w./-]+\.md)\s*$", config, re.M))
    pages = {path.relative_to(DOCS).as_posix() for path in DOCS.rglob("*.md")}
    assert pages == listed


TWO_SERVICES_TAIL = [
    "ann owes 27.00",
    "bob owes 42.00",
]


def _check_two_services(result: subprocess.CompletedProcess[str], skipped: int) -> None:
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1:] == [
        f"billing charged 3 orders and skipped {skipped} repeats",
        *TWO_SERVICES_TAIL,
    ]


def test_the_two_services_example_charges_each_order_once_in_process(tmp_path: Path) -> None:
    result = run_python(["-m", "examples.two_services"], tmp_path)
    _check_two_services(result, 3)
    assert result.stdout.startswith("published 3 orders twice, in process")


@pytest.mark.parametrize(
    ("variable", "scheme", "skipped"),
    [
        ("EVTSRC_TEST_NATS_URL", "", 0),  # JetStream drops the repeats by their ids
        ("EVTSRC_TEST_KAFKA_BOOTSTRAP", "kafka://", 3),
        ("EVTSRC_TEST_RABBITMQ_URL", "", 3),
    ],
)
def test_the_two_services_example_charges_each_order_once_through_each_broker(
    tmp_path: Path, variable: str, scheme: str, skipped: int
) -> None:
    location = backends.server_location(variable, "the two-services example")
    _check_two_services(
        run_python(["-m", "examples.two_services", scheme + location], tmp_path), skipped
    )
