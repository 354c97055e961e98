"""The commands whose work does not depend on the store, on SQLite; errors; tail (subprocesses)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from evtsrc.backends import TableNames, connect
from evtsrc.backends._support.layouts import neo4j_schema
from evtsrc.backends.sql._ddl import schema_sql
from tests.cli import app
from tests.cli.command import ROOT, STORES, command, environment, evtsrc, one_line_error
from tests.cli.conftest import Seeded


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'events.db'}"
    facts = asyncio.run(app.seed(url, "evtsrc_"))
    return Seeded(STORES[0], url, "evtsrc_", facts)


def test_streams_and_aggregates_page_by_page(store: Seeded) -> None:
    streams = evtsrc("--url", store.url, "streams")
    assert (streams.returncode, streams.stdout) == (0, "accounts\nparcels\n")
    first = evtsrc("--url", store.url, "aggregates", "accounts", "--limit", "2")
    assert (first.returncode, first.stdout) == (0, "a1\na2\n")
    assert first.stderr == "next page: --after a2\n"
    last = evtsrc("--url", store.url, "aggregates", "accounts", "--after", "a2", "--limit", "2")
    assert (last.returncode, last.stdout, last.stderr) == (0, "a3\n", "")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--url", "nosuch://x", "status"), "no evtsrc backend for the store URL 'nosuch://x'"),
        (("--url", "sqlite://host/x.db", "status"), "a SQLite URL is sqlite:///"),
        (("--url", "postgresql://u:secret@127.0.0.1:1/db", "status"), "cannot reach the store"),
        (("--timeout", "2", "--url", "mongodb://127.0.0.1:1/db", "status"), "within 2 s"),
        (("--timeout", "5", "--url", "bolt://127.0.0.1:1", "status"), "could not be reached"),
        (("--timeout", "5", "--url", "neo4j://127.0.0.1:1", "status"), "routing information"),
        (("--url", "mysql://u:secret@127.0.0.1:1/db", "status"), "Can't connect to MySQL"),
        (("status",), "no store URL: pass --url URL or set EVTSRC_URL"),
    ],
    ids=[
        "scheme",
        "sqlite-url",
        "postgres-refused",
        "mongo-timeout",
        "neo4j-refused",
        "neo4j-routing-refused",
        "mariadb-refused",
        "no-url",
    ],
)
def test_a_store_it_cannot_use_is_one_line_and_exit_1(args: tuple[str, ...], expected: str) -> None:
    error = one_line_error(evtsrc(*args))
    assert expected in error
    assert "secret" not in error


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--app", "nosuch:make", "status"), "cannot import 'nosuch'"),
        (("--app", "tests.cli.app", "status"), "is not MODULE:FACTORY"),
        (("--app", "tests.cli.app:UNLUCKY", "status"), "must be a function"),
        (
            ("--app", app.__name__ + ":make_domain", "parked", "retry", "nope", "s", "a"),
            "no handler 'nope'",
        ),
        (
            ("--app", app.__name__ + ":make_domain", "parked", "list", "audit"),
            "'audit' does not park",
        ),
        (("parked", "list"), "needs the application: pass --app"),
        (("history", "accounts", "a1"), "needs the application"),
    ],
    ids=["module", "no-factory", "not-callable", "handler", "not-parking", "no-app", "history"],
)
def test_an_application_it_cannot_use_is_one_line_and_exit_1(
    store: Seeded, args: tuple[str, ...], expected: str
) -> None:
    assert expected in one_line_error(evtsrc("--url", store.url, *args))


def test_a_usage_error_exits_2() -> None:
    result = evtsrc("status", "--lag-cap", "0")
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_schema_print_needs_no_store_nor_driver() -> None:
    names = TableNames("p_")
    for dialect in ("postgresql", "mariadb", "sqlite"):
        printed = evtsrc("schema", "print", "--dialect", dialect, "--prefix", "p_")
        assert printed.stdout == schema_sql(names, dialect, if_not_exists=True)
    cypher = evtsrc("--url", "neo4j://nowhere:1", "--prefix", "p_", "schema", "print")
    assert cypher.stdout == "".join(f"{s};\n" for s in neo4j_schema(names))
    mongo = evtsrc("--url", "mongodb://nowhere:1/db", "--prefix", "p_", "schema", "print")
    lines = mongo.stdout.splitlines()
    assert lines[0] == 'db.createCollection("p_events");'
    assert (
        'db.getCollection("p_events").createIndex({"stream": 1, "aggregate_id": 1, "version": 1}, '
        '{"name": "p_events_version_uq", "unique": true});'
    ) in lines
    mysql = evtsrc("--url", "mysql+asyncmy://u@nowhere:1/db", "--prefix", "p_", "schema", "print")
    assert mysql.stdout == schema_sql(names, "mysql", if_not_exists=False)
    for url in ("memory://", "redis://nowhere:1"):
        none = evtsrc("--url", url, "schema", "print")
        assert none.returncode == 1
        assert none.stderr == f"Error: the store {url} has no schema to print (pass --dialect)\n"


async def write(url: str, *deposits: int) -> None:
    async with await connect(url) as backend:
        accounts = app.make_domain(backend).repository(app.Account)
        for amount in deposits:
            await accounts.execute("t1", app.Account.deposit, amount=amount)


@contextlib.contextmanager
def start_tail(*args: str) -> Iterator[subprocess.Popen[str]]:
    """`evtsrc ARGS` running; killed if the test ends before it does."""
    process = subprocess.Popen(
        command(*args),
        cwd=ROOT,
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()


def test_tail_prints_new_events_and_ends_after_count(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    asyncio.run(connect_and_create(url))  # no events: the end is 0
    with start_tail("--url", url, "tail", "accounts", "--count", "2", "--poll", "0.1") as tail:
        assert tail.stderr is not None
        assert tail.stderr.readline() == "following accounts after position 0\n"
        asyncio.run(write(url, 10, 20))
        out, err = tail.communicate(timeout=30)
        assert (tail.returncode, err) == (0, "")
        assert out.splitlines() == [
            '1 accounts/t1 v1 account.deposited {"amount":10}',
            '2 accounts/t1 v2 account.deposited {"amount":20}',
        ]


async def connect_and_create(url: str) -> None:
    async with await connect(url) as backend:
        await backend.create_schema()


def test_tail_ends_on_sigterm_with_exit_0(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    asyncio.run(connect_and_create(url))
    asyncio.run(write(url, 1))
    with start_tail(
        "--url", url, "--app", app.__name__ + ":make_domain", "tail", "--from-start"
    ) as tail:
        assert tail.stdout is not None and tail.stderr is not None
        assert tail.stderr.readline() == "following every stream after position 0\n"
        assert tail.stdout.readline() == "1 accounts/t1 v1 account.deposited Deposited(amount=1)\n"
        tail.send_signal(signal.SIGTERM)
        _, err = tail.communicate(timeout=30)
        assert (tail.returncode, err) == (0, "")
