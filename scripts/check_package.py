"""Build evtsrc's wheel and sdist, check what they contain, and install them as users would.

Usage: python scripts/check_package.py [--jobs N] [--keep]   (``nox -s package`` runs it)

1. ``python -m build`` makes the sdist and, from it, the wheel (needs ``pip install build``).
2. The wheel must hold the ``evtsrc`` package (with ``py.typed``) and its metadata only,
   every file of the package that git tracks, the license file, the version, extras and
   project URLs of pyproject.toml. The sdist must hold every file git tracks under its
   include list, the license and the changelog, and nothing git does not track.
3. For the core package, for each extra users install (every optional-dependency but the
   development ones) and for the documented pairing ``sqlalchemy,postgres``, a fresh
   virtual environment gets the wheel with that extra. In each, ``pip check`` must pass;
   evtsrc must import from the environment (not from this checkout) with the built
   version and ``py.typed``; the modules the extra enables must import, with its drivers
   and no other extra's; and a small program runs where no server is needed (a domain on
   SQLite, an engine for MariaDB or PostgreSQL that is never connected).
4. The sdist is installed once too, in a fresh environment, building its own wheel.

The environments use this interpreter's version and pip (``pip --python``), and pip's
cache. Exits 1 if anything failed, after trying everything; ``--keep`` keeps the work
folder (the built files and the environments) and prints where it is.
"""

from __future__ import annotations

import argparse
import email
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
import venv
import zipfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEVELOPMENT_EXTRAS = {"test", "lint", "docs", "dev", "examples"}
"""Extras for working on evtsrc (examples included: the wheel holds none), not for its users."""

DRIVERS: dict[str, tuple[str, ...]] = {
    "sqlalchemy": ("sqlalchemy", "aiosqlite"),
    "mariadb": ("sqlalchemy", "aiosqlite", "asyncmy"),
    "postgres": ("asyncpg",),
    "mongo": ("pymongo",),
    "neo4j": ("neo4j",),
    "kafka": ("aiokafka",),
    "nats": ("nats",),
    "rabbitmq": ("aio_pika", "aiormq"),
    "testing": ("hypothesis", "pytest", "pytest_asyncio"),
    "cli": ("click", "rich"),
    "otel": ("opentelemetry",),
}
"""The top-level modules each extra installs: present with it, absent without it."""

CORE_MODULES = (
    "evtsrc",
    "evtsrc.backends",
    "evtsrc.backends.memory",
    "evtsrc.backends.sqlite",
    "evtsrc.backends.sql_schema",
    "evtsrc.messaging",
    "evtsrc.messaging.memory",
    "evtsrc.testing",
    "evtsrc.testing.upcasting",
    "evtsrc.testing.commit_gates",
)
MODULES: dict[str, tuple[str, ...]] = {
    "sqlalchemy": ("evtsrc.backends.sqlalchemy",),
    "mariadb": ("evtsrc.backends.sqlalchemy",),
    "postgres": ("evtsrc.backends.postgres",),
    "mongo": ("evtsrc.backends.mongo",),
    "neo4j": ("evtsrc.backends.neo4j",),
    "kafka": ("evtsrc.messaging.kafka",),
    "nats": ("evtsrc.messaging.nats",),
    "rabbitmq": ("evtsrc.messaging.rabbitmq",),
    "testing": ("evtsrc.testing.strategies", "evtsrc.testing.backend_contract"),
    "cli": ("evtsrc.cli._root",),
    "otel": ("evtsrc.telemetry",),
}
"""The modules of evtsrc that each extra enables (the core ones import everywhere)."""

PAIRS = ("sqlalchemy,postgres",)
"""Extras the README tells users to combine, installed together as one more target."""

SMOKE: dict[str, str] = {
    "core": "core",
    "sqlalchemy": "sqlalchemy",
    "mariadb": "mariadb",
    "sqlalchemy,postgres": "sqlalchemy-postgres",
    "cli": "cli",
}
"""Which program of PROBE runs with which target, besides the imports."""

PROBE = r"""
import asyncio
import importlib
import importlib.resources
import importlib.util
import json
import subprocess
import sys
import tempfile
from pathlib import Path

config = json.loads(sys.argv[1])
problems = []

import evtsrc

where = Path(evtsrc.__file__).resolve()
if not where.is_relative_to(Path(sys.prefix).resolve()):
    problems.append(f"evtsrc was imported from {where}, outside the environment")
if evtsrc.__version__ != config["version"]:
    problems.append(f"evtsrc.__version__ is {evtsrc.__version__!r}, not {config['version']!r}")
if not importlib.resources.files("evtsrc").joinpath("py.typed").is_file():
    problems.append("the installed evtsrc has no py.typed")
for name in config["modules"]:
    try:
        importlib.import_module(name)
    except Exception as error:
        problems.append(f"import {name}: {type(error).__name__}: {error}")
for name in config["present"]:
    if importlib.util.find_spec(name) is None:
        problems.append(f"{name} is not installed, though the extra should bring it")
for name in config["absent"]:
    if importlib.util.find_spec(name) is not None:
        problems.append(f"{name} is installed, though no extra installed here brings it")

from evtsrc import Aggregate, Domain, Event, EventHandler, EventMeta, command, folds, on_event


class Added(Event, type_name="check.added"):
    amount: int


class Counter(Aggregate, stream="counters"):
    total: int = 0

    @folds
    def _added(self, event: Added) -> None:
        self.total += event.amount

    @command
    def add(self, amount: int) -> Added:
        return Added(amount=amount)


class Totals(EventHandler, name="totals"):
    def __init__(self) -> None:
        self.total = 0

    @on_event
    def added(self, event: Added, meta: EventMeta) -> None:
        self.total += event.amount


async def counts(backend) -> None:
    await backend.create_schema()
    domain = Domain(backend, aggregates=[Counter])
    try:
        counters = domain.repository(Counter)
        await counters.execute("c", Counter.add, amount=2)
        counter = await counters.execute("c", Counter.add, amount=3)
        totals = domain.handler(Totals())
        handled = await totals.run_once()
        got = (counter.version, counter.total, handled, totals.handler.total)
        if got != (2, 5, 2, 5):
            problems.append(f"{type(backend).__name__}: (version, total, handled, read) {got}")
    finally:
        await domain.close()


async def engine(url: str, dialects: set[str]) -> None:
    from evtsrc.backends.sqlalchemy import SqlAlchemyBackend

    backend = SqlAlchemyBackend(url)  # makes the engine, loading the driver; connects to nothing
    try:
        if backend.dialect not in dialects:
            problems.append(f"{url}: dialect {backend.dialect}, not one of {sorted(dialects)}")
    finally:
        await backend.close()


def command(*args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "evtsrc"  # the console script pip installed
    return subprocess.run([str(script), *args], capture_output=True, text=True, timeout=60)


async def smoke(name: str, folder: Path) -> None:
    if name == "core":
        ran = command("--version")  # without the cli extra: what to install, exit 1
        if ran.returncode != 1 or "pip install 'evtsrc[cli]'" not in ran.stderr:
            problems.append(f"evtsrc without the cli extra: {ran.returncode} {ran.stderr!r}")
        from evtsrc.backends import InMemoryBackend, SqliteBackend
        from evtsrc.testing import given

        await counts(InMemoryBackend())
        await counts(SqliteBackend(folder / "events.sqlite"))
        outcome = await given(Counter, Added(amount=1)).when(Counter.add, amount=2)
        outcome.expect(Added(amount=2))
    elif name == "sqlalchemy":
        from evtsrc import connect
        from evtsrc.backends.sqlalchemy import SqlAlchemyBackend

        await counts(SqlAlchemyBackend(f"sqlite+aiosqlite:///{folder / 'events.sqlite'}"))
        try:  # asyncpg is not installed here: connect() names the extras to install
            await connect("postgresql+asyncpg://evtsrc@127.0.0.1:9/evtsrc")
            problems.append("connect('postgresql+asyncpg://...') without asyncpg: no error")
        except ImportError as error:
            if "pip install 'evtsrc[sqlalchemy,postgres]'" not in str(error):
                problems.append(f"connect('postgresql+asyncpg://...') without asyncpg: {error}")
    elif name == "mariadb":
        await engine("mysql+asyncmy://evtsrc:secret@127.0.0.1:9/evtsrc", {"mysql", "mariadb"})
    elif name == "sqlalchemy-postgres":
        await engine("postgresql+asyncpg://evtsrc@127.0.0.1:9/evtsrc", {"postgresql"})
    elif name == "cli":
        url = f"sqlite:///{folder / 'events.sqlite'}"
        created = command("--url", url, "schema", "create")
        ran = command("--url", url, "status", "--json")
        if created.returncode or ran.returncode or json.loads(ran.stdout)["handlers"] != []:
            problems.append(f"evtsrc status: {ran.returncode} {ran.stdout!r} {ran.stderr!r}")


if config["smoke"]:
    with tempfile.TemporaryDirectory() as folder:
        try:
            asyncio.run(smoke(config["smoke"], Path(folder)))
        except Exception as error:
            problems.append(f"{config['smoke']} program: {type(error).__name__}: {error}")
for problem in problems:
    print(problem)
sys.exit(1 if problems else 0)
"""


@dataclass
class Project:
    """What pyproject.toml says about the distribution."""

    name: str
    version: str
    license: str
    extras: list[str]
    """The extras users install, in pyproject's order."""
    urls: dict[str, str]
    sdist_include: list[str]
    entry_points: dict[str, dict[str, str]]
    """Groups of entry points (a pytest plugin's `pytest11`, the `console_scripts`), by name."""

    @classmethod
    def read(cls, root: Path) -> Project:
        """The project at ``root``."""
        pyproject = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
        project = pyproject["project"]
        extras = [e for e in project["optional-dependencies"] if e not in DEVELOPMENT_EXTRAS]
        sdist = pyproject["tool"]["hatch"]["build"]["targets"]["sdist"]
        return cls(
            name=project["name"],
            version=project["version"],
            license=project["license"],
            extras=extras,
            urls=project.get("urls", {}),
            sdist_include=[path.strip("/") for path in sdist["include"]],
            entry_points={
                **({"console_scripts": project["scripts"]} if "scripts" in project else {}),
                **project.get("entry-points", {}),
            },
        )


@dataclass
class Report:
    """What a step found wrong, and what it has to say when all went well."""

    name: str
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def run(command: Sequence[str | Path], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``command``, capturing its output."""
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


def tracked_files(root: Path) -> set[str] | None:
    """The files git tracks in ``root``, or None outside a git checkout."""
    if shutil.which("git") is None:
        return None
    done = run(["git", "-C", root, "ls-files", "-z"])
    if done.returncode != 0:
        return None
    return {name for name in done.stdout.split("\0") if name and (root / name).is_file()}


def tracked_under(tracked: set[str], folder: str) -> set[str]:
    """The tracked files in ``folder`` (or the file ``folder`` itself)."""
    return {name for name in tracked if name == folder or name.startswith(folder + "/")}


def build_output(names: set[str]) -> list[str]:
    """The names in ``names`` that only a build or a test run makes: caches, jars."""
    found = []
    for name in sorted(names):
        parts = name.split("/")
        if "__pycache__" in parts or "target" in parts[:-1] or name.endswith((".pyc", ".jar")):
            found.append(name)
    return found


def _entry_points(text: str) -> dict[str, dict[str, str]]:
    """The groups of an entry_points.txt: ``[group]`` lines, then ``name = object`` lines."""
    groups: dict[str, dict[str, str]] = {}
    group: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("[") and line.endswith("]"):
            group = groups.setdefault(line[1:-1], {})
        elif "=" in line:
            name, _, target = line.partition("=")
            group[name.strip()] = target.strip()
    return groups


def check_wheel(wheel: Path, project: Project, tracked: set[str] | None) -> Report:
    """The wheel holds the package, its metadata, the license; nothing else."""
    report = Report("wheel contents")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = f"{project.name}-{project.version}.dist-info"
        metadata = archive.read(f"{info}/METADATA").decode() if f"{info}/METADATA" in names else ""
        entry_points_file = f"{info}/entry_points.txt"
        entry_points = (
            archive.read(entry_points_file).decode() if entry_points_file in names else ""
        )
    package = {name for name in names if name.startswith("evtsrc/")}
    expected_info = {
        f"{info}/{name}" for name in ("METADATA", "WHEEL", "RECORD", "licenses/LICENSE")
    }
    if project.entry_points:
        expected_info.add(entry_points_file)
        if (found := _entry_points(entry_points)) != project.entry_points:
            report.problems.append(f"entry points {found}, not {project.entry_points}")
    if stray := sorted(names - package - expected_info):
        report.problems.append(f"files outside evtsrc/ and its metadata: {stray}")
    if missing := sorted(expected_info - names):
        report.problems.append(f"missing: {missing}")
    report.problems.extend(f"build output: {name}" for name in build_output(package))
    if "evtsrc/py.typed" not in names:
        report.problems.append("evtsrc/py.typed is missing: type checkers would ignore the types")
    if tracked is not None:
        source = tracked_under(tracked, "evtsrc")
        if missing := sorted(source - package):
            report.problems.append(f"tracked files of evtsrc/ missing: {missing}")
        if untracked := sorted(package - source):
            report.problems.append(f"files git does not track: {untracked}")
    headers = email.message_from_string(metadata)
    wanted = {
        "Version": [project.version],
        "License-Expression": [project.license],
        "License-File": ["LICENSE"],
    }
    for key, want in wanted.items():
        if (got := headers.get_all(key, [])) != want:
            report.problems.append(f"METADATA {key}: {got}, not {want}")
    if missing := sorted(set(project.extras) - set(headers.get_all("Provides-Extra", []))):
        report.problems.append(f"METADATA lacks the extras {missing}")
    urls = sorted(f"{label}, {url}" for label, url in project.urls.items())
    if (got := sorted(headers.get_all("Project-URL", []))) != urls:
        report.problems.append(f"METADATA Project-URL: {got}, not {urls}")
    elif not urls:
        report.problems.append("pyproject.toml has no [project.urls]")
    report.notes.append(
        f"{len(package)} files in evtsrc/ (py.typed among them); {info}/: "
        + ", ".join(sorted(name.removeprefix(info + "/") for name in names & expected_info))
    )
    return report


def check_sdist(sdist: Path, project: Project, tracked: set[str] | None) -> Report:
    """The sdist holds what its include list names and git tracks; nothing else."""
    report = Report("sdist contents")
    top = f"{project.name}-{project.version}/"
    with tarfile.open(sdist) as archive:
        names = {m.name.removeprefix(top) for m in archive.getmembers() if m.isfile()}
    generated = {"PKG-INFO"}
    always = {"pyproject.toml", "PKG-INFO", "LICENSE", "README.md", "CHANGELOG.md"}
    if missing := sorted(always - names):
        report.problems.append(f"missing: {missing}")
    report.problems.extend(f"build output: {name}" for name in build_output(names))
    if tracked is not None:
        if untracked := sorted(names - generated - tracked):
            shown = untracked[:10] + (["..."] if len(untracked) > 10 else [])
            report.problems.append(f"{len(untracked)} files git does not track: {shown}")
        for entry in project.sdist_include:
            if missing := sorted(tracked_under(tracked, entry) - names):
                report.problems.append(f"tracked files of {entry} missing: {missing}")
    folders: dict[str, int] = {}
    for name in names:
        head = name.split("/", 1)[0] + ("/" if "/" in name else "")
        folders[head] = folders.get(head, 0) + 1
    report.notes.append(
        ", ".join(
            f"{head} {count}" if head.endswith("/") else head
            for head, count in sorted(folders.items())
        )
    )
    return report


def make_environment(folder: Path) -> Path:
    """A fresh virtual environment without pip (this pip installs into it); its python."""
    venv.EnvBuilder(clear=True, with_pip=False, symlinks=True).create(folder)
    return folder / "bin" / "python"


def pip(python: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    """Run pip of this interpreter on the environment of ``python``."""
    return run([sys.executable, "-m", "pip", "--python", python, *arguments])


def install(name: str, requirement: str, extras: list[str], work: Path, project: Project) -> Report:
    """Install ``requirement`` in a fresh environment and probe what it brings."""
    report = Report(name)
    started = time.perf_counter()
    python = make_environment(work / "venvs" / name.replace(",", "+"))
    steps = [
        ("pip install", ["install", "--quiet", "--no-input", requirement]),
        ("pip check", ["check"]),
    ]
    for label, arguments in steps:
        done = pip(python, *arguments)
        if done.returncode != 0:
            report.problems.append(f"{label} failed:\n{done.stdout}{done.stderr}".rstrip())
            report.seconds = time.perf_counter() - started
            return report
    present = sorted({module for extra in extras for module in DRIVERS[extra]})
    absent = sorted({module for names in DRIVERS.values() for module in names} - set(present))
    modules = [*CORE_MODULES, *(module for extra in extras for module in MODULES[extra])]
    config = {
        "version": project.version,
        "modules": modules,
        "present": present,
        "absent": absent,
        "smoke": SMOKE.get(",".join(extras) or "core", ""),
    }
    probe = work / "probe.py"
    # -I: only the environment's own site-packages; the work folder is no checkout either.
    done = run([python, "-I", probe, json.dumps(config)], cwd=work)
    if done.returncode != 0:
        report.problems.append((done.stdout + done.stderr).rstrip() or f"exit {done.returncode}")
    enabled = modules[len(CORE_MODULES) :] or [f"{len(CORE_MODULES)} core modules"]
    report.notes.append(", ".join(enabled) + (f" ({', '.join(present)})" if present else ""))
    if config["smoke"]:
        report.notes.append(f"ran the {config['smoke']} program")
    report.seconds = time.perf_counter() - started
    return report


def build(work: Path) -> tuple[Path, Path]:
    """Build the sdist and the wheel into ``work/dist``; exit when that fails."""
    dist = work / "dist"
    done = run([sys.executable, "-m", "build", "--outdir", dist, ROOT])
    if done.returncode != 0:
        print(done.stdout + done.stderr, file=sys.stderr)
        sys.exit("python -m build failed (is `build` installed? pip install build)")
    wheels, sdists = sorted(dist.glob("*.whl")), sorted(dist.glob("*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        sys.exit(f"expected one wheel and one sdist in {dist}, found {wheels + sdists}")
    return wheels[0], sdists[0]


def show(report: Report) -> None:
    """Print a report: ok or FAILED, its time and notes, then its problems."""
    status = "FAILED" if report.problems else "ok"
    timing = f"{report.seconds:5.1f} s  " if report.seconds else ""
    print(f"{report.name:<27} {status:<6} {timing}{'; '.join(report.notes)}", flush=True)
    for problem in report.problems:
        print("    " + problem.replace("\n", "\n    "), flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run every check; 0 when all passed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1, help="environments installed at once")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    options = parser.parse_args(argv)
    started = time.perf_counter()
    project = Project.read(ROOT)
    unknown = sorted(set(project.extras) - (set(MODULES) & set(DRIVERS)))
    if unknown:
        sys.exit(f"say in {__file__} which modules and drivers the extras {unknown} bring")
    tracked = tracked_files(ROOT)
    if tracked is None:
        print("not a git checkout: the file lists are checked without git", flush=True)
    work = Path(tempfile.mkdtemp(prefix="evtsrc-package-"))
    try:
        (work / "probe.py").write_text(PROBE, encoding="utf-8")
        wheel, sdist = build(work)
        print(
            f"built {wheel.name} ({wheel.stat().st_size // 1024} KiB) and {sdist.name} "
            f"({sdist.stat().st_size // 1024} KiB) in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        reports = [check_wheel(wheel, project, tracked), check_sdist(sdist, project, tracked)]
        for report in reports:
            show(report)
        targets: list[tuple[str, str, list[str]]] = [("wheel", str(wheel), [])]
        for extra in [*project.extras, *PAIRS]:
            requirement = f"{project.name}[{extra}] @ {wheel.as_uri()}"
            targets.append((f"wheel[{extra}]", requirement, extra.split(",")))
        targets.append(("sdist", str(sdist), []))
        with ThreadPoolExecutor(max(1, options.jobs)) as pool:
            futures = [
                pool.submit(install, name, requirement, extras, work, project)
                for name, requirement, extras in targets
            ]
            for future in futures:
                report = future.result()
                show(report)
                reports.append(report)
    finally:
        if options.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    failed = [report.name for report in reports if report.problems]
    print(
        f"package check: {len(reports) - len(failed)} of {len(reports)} checks passed "
        f"in {time.perf_counter() - started:.0f} s"
        + (f"; FAILED: {', '.join(failed)}" if failed else ""),
        flush=True,
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
