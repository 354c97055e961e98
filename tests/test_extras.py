"""Each optional extra is enough for its backend: no module needs another extra's driver.

Each check runs in a fresh interpreter where importing the drivers of the other extras
fails, as it does where they are not installed.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

DRIVERS = {
    "sqlalchemy": ("sqlalchemy", "aiosqlite"),
    "mariadb": ("sqlalchemy", "aiosqlite", "asyncmy"),
    "postgres": ("asyncpg",),
    "mongo": ("pymongo", "bson"),
    "neo4j": ("neo4j",),
    "kafka": ("aiokafka",),
    "nats": ("nats",),
    "rabbitmq": ("aio_pika", "aiormq", "pamqp"),
    "otel": ("opentelemetry",),
    "core": (),
}
ALL = sorted({name for names in DRIVERS.values() for name in names} | {"hypothesis"})


def _run_without_others(extra: str, code: str) -> subprocess.CompletedProcess[str]:
    blocked = [name for name in ALL if name not in DRIVERS[extra]]
    guard = textwrap.dedent(
        f"""
        import importlib.abc, sys

        class Missing(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.partition(".")[0] in {blocked!r}:
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
                return None

        sys.meta_path.insert(0, Missing())
        """
    )
    return subprocess.run(
        [sys.executable, "-c", guard + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("extra", "module", "name"),
    [
        ("core", "evtsrc.backends", "SqliteBackend"),
        ("core", "evtsrc.backends.sqlite", "SqliteBackend"),
        ("sqlalchemy", "evtsrc.backends.sqlalchemy", "SqlAlchemyBackend"),
        ("postgres", "evtsrc.backends.postgres", "PostgresBackend"),
        ("mongo", "evtsrc.backends.mongo", "MongoBackend"),
        ("neo4j", "evtsrc.backends.neo4j", "Neo4jBackend"),
        ("core", "evtsrc.telemetry", "enabled"),
    ],
)
def test_a_backend_imports_with_its_own_extra_only(extra: str, module: str, name: str) -> None:
    done = _run_without_others(extra, f"import {module}\nprint({module}.{name}.__name__)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == name


def test_the_guard_refuses_another_extras_driver() -> None:
    done = _run_without_others("mongo", "import evtsrc.backends.sqlalchemy")
    assert done.returncode != 0
    assert "No module named 'sqlalchemy'" in done.stderr


@pytest.mark.parametrize("dialect", ["postgresql", "sqlite", "mariadb"])
def test_the_schema_prints_without_sqlalchemy(dialect: str) -> None:
    done = _run_without_others(
        "postgres",
        f"""
        import sys
        from evtsrc.backends import sql_schema
        sys.argv = ["sql_schema", "{dialect}", "shop_"]
        sql_schema.main()
        """,
    )
    assert done.returncode == 0, done.stderr
    assert "CREATE TABLE shop_events" in done.stdout


def test_without_the_otel_extra_enabling_telemetry_says_what_to_install() -> None:
    done = _run_without_others(
        "core",
        """
        import evtsrc.telemetry
        try:
            evtsrc.telemetry.enable()
        except ImportError as error:
            print(error)
        print(evtsrc.telemetry.enabled())
        """,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "evtsrc.telemetry.enable() needs the OpenTelemetry API: pip install 'evtsrc[otel]'",
        "False",
    ]
