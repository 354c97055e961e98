"""Development sessions: ``nox`` runs lint, types and tests; ``nox -s docs`` builds the docs.

``nox -s package`` builds the wheel and sdist and installs them, with each extra, in fresh
environments (scripts/check_package.py).

Extra arguments after ``--`` go to pytest: ``nox -s tests -- -k handlers -x``.
Every extra of pyproject.toml that is not a tool set (backend drivers, message broker
clients and the OpenTelemetry API, as they are added) is installed for ``tests`` and
``types``, so every backend and telemetry are tested and type-checked.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["lint", "types", "tests"]
nox.options.error_on_missing_interpreters = True

PYTHON = "3.11"
PROJECT = nox.project.load_toml("pyproject.toml")
EXTRAS: dict[str, list[str]] = PROJECT["project"]["optional-dependencies"]
TOOL_EXTRAS = {"testing", "test", "lint", "docs", "dev", "examples"}
BACKEND_EXTRAS = sorted(set(EXTRAS) - TOOL_EXTRAS)


def _install_with(session: nox.Session, *extras: str) -> None:
    """Install the project (not editable, as users get it) with ``extras``."""
    session.install(f".[{','.join([*extras, *BACKEND_EXTRAS])}]")


SERVER_VARIABLES = (
    "EVTSRC_TEST_POSTGRES_DSN",
    "EVTSRC_TEST_MARIADB_URL",
    "EVTSRC_TEST_MONGO_URI",
    "EVTSRC_TEST_NEO4J_URI",
    "EVTSRC_TEST_NEO4J44_URI",
    "EVTSRC_TEST_KAFKA_BOOTSTRAP",
    "EVTSRC_TEST_NATS_URL",
    "EVTSRC_TEST_RABBITMQ_URL",
)
TEST_SERVERS = ["SecantusDB==0.7.0b3"]
"""Servers installed from PyPI into the tests session (a MongoDB-wire server)."""


@contextmanager
def database_servers(session: nox.Session) -> Iterator[dict[str, str]]:
    """Throwaway servers from scripts/dbservers, unless the environment names servers."""
    if any(os.environ.get(name) for name in SERVER_VARIABLES):
        yield {}
        return
    # Their Debian packages: installed as root on Debian, else named, and the run stops.
    if subprocess.run(["bash", "scripts/server-packages"], check=False).returncode != 0:
        session.error("the test servers' packages are missing: see the line above")
    # A state folder of this run's own, so that servers a developer started with
    # scripts/dbservers (in its default folder) are neither reused nor stopped.
    state = tempfile.mkdtemp(prefix="evtsrc-servers-")
    os.chmod(state, 0o755)  # the servers run as users of their own (postgres, mysql)
    path = os.pathsep.join([session.bin, os.environ.get("PATH", "")])
    environment = {**os.environ, "PATH": path, "EVTSRC_SERVERS_DIR": state}
    started = subprocess.run(
        ["bash", "scripts/dbservers", "start"],
        capture_output=True,
        text=True,
        check=False,
        env=environment,
    )
    session.log(started.stderr.strip())
    found = {}
    for line in started.stdout.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        if name in SERVER_VARIABLES:
            found[name] = value
    try:
        yield found
    finally:
        stop = ["bash", "scripts/dbservers", "stop"]
        subprocess.run(stop, capture_output=True, check=False, env=environment)
        shutil.rmtree(state, ignore_errors=True)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run the whole test suite, with throwaway database servers if none are configured."""
    _install_with(session, "test")
    session.install(*TEST_SERVERS)
    with database_servers(session) as servers:
        session.run("pytest", *session.posargs, env=servers)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Run the benchmark harness at tiny sizes, so that it cannot rot.

    Fails only when the harness breaks (a run crashes, a check fails, or under CI a
    server is missing), never on timings. PostgreSQL and MariaDB are started by the
    harness at default durability; MongoDB and Neo4j are those of ``database_servers``.
    The peer evtstore needs node and npm (the harness runs ``npm ci`` in bench/evtstore).
    Extra arguments go to ``python -m bench.run``: ``nox -s bench -- --targets memory``.
    """
    _install_with(session)
    session.install("-r", "bench/requirements.txt", *TEST_SERVERS)
    with database_servers(session) as servers:
        session.run("python", "-m", "bench.run", "--quick", *session.posargs, env=servers)
    # The two-commit comparison and the instruction count too, on stores needing no server.
    session.run(
        "python", "-m", "bench.compare", "HEAD", "HEAD", "--quick", "--reps", "1",
        "--targets", "memory,sqlite-stdlib",
    )  # fmt: skip
    session.run(
        "python", "-m", "bench.instructions", "HEAD", "--targets", "memory,sqlite-stdlib",
        "--accounts", "5,10",
    )  # fmt: skip


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Check style and formatting with ruff, and the import layers with import-linter."""
    session.install(*EXTRAS["lint"])
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("lint-imports")


@nox.session(python=PYTHON)
def types(session: nox.Session) -> None:
    """Type-check the library, the examples and tests/typing/pass with mypy and pyright."""
    _install_with(session, "test")
    session.run("mypy", "--strict", "evtsrc", "examples", "tests/typing/pass")
    python = session.run("python", "-c", "import sys; print(sys.executable)", silent=True)
    assert isinstance(python, str)
    session.run("pyright", "--pythonpath", python.strip())


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Build the documentation, failing on any warning, and check it in headless Chromium.

    scripts/screenshot_docs.py drives the system's ``chromium`` (Debian's package; no
    browser is downloaded) and leaves screenshots in site-screenshots/. Without a browser
    it skips, except under CI=true, where it fails.
    """
    session.install(".[docs]")
    session.run("mkdocs", "build", "--strict", *session.posargs)
    session.run("python", "scripts/check_site.py", "site")
    session.run("python", "scripts/screenshot_docs.py", "site", "site-screenshots")


@nox.session(python=PYTHON)
def package(session: nox.Session) -> None:
    """Build the wheel and sdist, check their files, install each extra in a fresh venv.

    Extra arguments go to scripts/check_package.py: ``nox -s package -- --jobs 2 --keep``.
    """
    session.install("build>=1.2")
    session.run("python", "scripts/check_package.py", *session.posargs)
