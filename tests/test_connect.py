"""`evtsrc.connect(url)`: one way to a backend for every store, and `async with` lifecycles."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import evtsrc
from evtsrc import Domain, EventHandler, HandlerGroup, HandlerRunner, on_event
from evtsrc.backends import (
    Backend,
    InMemoryBackend,
    InMemoryBookmarks,
    NewEvent,
    SqliteBackend,
    TableNames,
    connect,
)
from evtsrc.backends.urls import redacted
from evtsrc.testing.backend_contract._model import Counter, Ledger, One

from .backends import (
    MARIADB_ENV,
    MONGO_ENV,
    NEO4J44_ENV,
    NEO4J_ENV,
    POSTGRES_ENV,
    server_location,
    sqlalchemy_url,
    unique_prefix,
)


def _class(module: str, name: str) -> Callable[[], type[Backend]]:
    def load() -> type[Backend]:
        found: type[Backend] = getattr(__import__(module, fromlist=[name]), name)
        return found

    return load


ServerUrl = tuple[str, Callable[[str], str], Callable[[], type[Backend]]]
"""The variable naming a server, how a URL is made from its value, the backend expected."""

SERVER_URLS: dict[str, ServerUrl] = {
    "postgresql": (POSTGRES_ENV, str, _class("evtsrc.backends.postgres", "PostgresBackend")),
    "postgres": (
        POSTGRES_ENV,
        lambda url: "postgres://" + url.removeprefix("postgresql://"),
        _class("evtsrc.backends.postgres", "PostgresBackend"),
    ),
    "postgresql+asyncpg": (
        POSTGRES_ENV,
        sqlalchemy_url,
        _class("evtsrc.backends.sqlalchemy", "SqlAlchemyBackend"),
    ),
    "mysql+asyncmy": (MARIADB_ENV, str, _class("evtsrc.backends.sqlalchemy", "SqlAlchemyBackend")),
    "mariadb": (
        MARIADB_ENV,
        lambda url: "mariadb://" + url.split("://", 1)[1],
        _class("evtsrc.backends.sqlalchemy", "SqlAlchemyBackend"),
    ),
    "mongodb": (MONGO_ENV, str, _class("evtsrc.backends.mongo", "MongoBackend")),
    "neo4j 5": (NEO4J_ENV, str, _class("evtsrc.backends.neo4j", "Neo4jBackend")),
    "neo4j 4.4": (NEO4J44_ENV, str, _class("evtsrc.backends.neo4j", "Neo4jBackend")),
}


async def _stores_and_reads(backend: Backend) -> None:
    """An event appended through `backend` reads back; the schema goes again after."""
    await backend.create_schema()
    try:
        now = datetime.now(UTC)
        await backend.append("counters", "c1", 0, [NewEvent("one", {"n": 1}, now)])
        (record,) = await backend.read_aggregate("counters", "c1")
        assert (record.type, record.data, record.version) == ("one", {"n": 1}, 1)
    finally:
        await backend.drop_schema()


@pytest.mark.parametrize("name", SERVER_URLS)
async def test_a_server_url_gives_its_backend_which_stores_and_closes(name: str) -> None:
    variable, make, expected = SERVER_URLS[name]
    url = make(server_location(variable, name))
    async with await connect(url, tables=TableNames(prefix=unique_prefix())) as backend:
        assert type(backend) is expected()
        await _stores_and_reads(backend)


async def test_memory_url() -> None:
    async with await connect("memory://") as backend:
        assert type(backend) is InMemoryBackend
        await _stores_and_reads(backend)


async def test_sqlite_urls_take_relative_and_absolute_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    async with await connect("sqlite:///relative.db") as relative:
        assert isinstance(relative, SqliteBackend)
        await relative.create_schema()
    assert (tmp_path / "relative.db").exists()
    absolute = tmp_path / "sub dir" / "absolute.db"
    absolute.parent.mkdir()
    url = f"sqlite:///{str(absolute).replace(' ', '%20')}"
    assert url.startswith("sqlite:////")
    async with await connect(url, tables=TableNames(prefix="app_")) as backend:
        assert isinstance(backend, SqliteBackend)
        assert backend.path == absolute
        assert backend.names.events == "app_events"
        await _stores_and_reads(backend)


async def test_sqlalchemy_sqlite_url(tmp_path: Path) -> None:
    from evtsrc.backends.sqlalchemy import SqlAlchemyBackend

    async with await connect(f"sqlite+aiosqlite:///{tmp_path / 'events.db'}") as backend:
        assert isinstance(backend, SqlAlchemyBackend)
        assert backend.dialect == "sqlite"
        await _stores_and_reads(backend)


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("sqlite:///:memory:", "needs a database file"),
        ("sqlite://", "sqlite:///relative/path.db"),
        ("sqlite://host/events.db", "sqlite:///relative/path.db"),
        ("oracle://scott:tiger@db/orcl", "no evtsrc backend for the store URL"),
        ("events.db", "no evtsrc backend for the store URL 'events.db'"),
    ],
)
async def test_a_url_no_backend_takes_is_refused_by_name(url: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=re.escape(complaint)) as raised:
        await connect(url)
    assert "tiger" not in str(raised.value)  # no password in messages


async def test_the_refusal_lists_the_schemes_it_knows() -> None:
    with pytest.raises(ValueError, match="known: memory://, sqlite://, postgresql://"):
        await connect("cassandra://db")


async def test_a_missing_extra_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "asyncpg", None)  # as if the extra were not installed
    monkeypatch.delitem(sys.modules, "evtsrc.backends.postgres", raising=False)
    monkeypatch.delitem(sys.modules, "evtsrc.backends.postgres._backend", raising=False)
    with pytest.raises(ImportError, match=r"pip install 'evtsrc\[postgres\]'") as raised:
        await connect("postgresql://app:secret@127.0.0.1:1/app")
    assert "secret" not in str(raised.value)
    assert "postgresql://app:***@127.0.0.1:1/app" in str(raised.value)


def test_redacted_hides_only_the_password() -> None:
    assert redacted("neo4j://neo4j:pw@host:7687/db") == "neo4j://neo4j:***@host:7687/db"
    assert redacted("postgresql://app@host/db") == "postgresql://app@host/db"
    assert redacted("memory://") == "memory://"


async def test_arguments_of_the_wrong_type_are_refused() -> None:
    with pytest.raises(TypeError, match="a store URL is a str, not PosixPath"):
        await connect(Path("events.db"))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="tables must be a TableNames, not str"):
        await connect("memory://", tables="app_")  # type: ignore[arg-type]


def test_connect_is_on_the_package() -> None:
    assert evtsrc.connect is connect


# -- lifecycles ---------------------------------------------------------------------------------


class _Closing(InMemoryBackend):
    def __init__(self) -> None:
        super().__init__()
        self.closed = 0

    async def close(self) -> None:
        self.closed += 1
        await super().close()


class _Seen(EventHandler, name="seen"):
    def __init__(self) -> None:
        self.seen: list[int] = []

    @on_event
    def one(self, event: One) -> None:
        self.seen.append(1)


def _running(bound: HandlerRunner[Any] | HandlerGroup[Any]) -> bool:
    """Whether `bound` runs, read anew (a checker keeps what an earlier assert narrowed)."""
    return bound.running


async def test_a_domain_block_stops_its_runners_then_closes_the_backend() -> None:
    backend = _Closing()
    async with Domain(backend, aggregates=[Counter, Ledger]) as domain:
        runner = domain.handler(_Seen(), poll_interval=0.05)
        group = domain.handler_group(_Seen(), buckets=2)
        idle = domain.handler(_Seen())  # never started: left alone
        await runner.start()
        await group.start()
        await domain.repository(Counter).execute("c1", Counter.do_one)
        await runner.wait_for(await backend.last_position(["counters"]), timeout=5)
        assert runner.running and group.running
    assert not any(_running(bound) for bound in (runner, group, idle))
    assert backend.closed == 1


async def test_a_domain_block_closes_the_backend_even_if_a_runner_fails_to_stop() -> None:
    backend = _Closing()
    domain = Domain(backend, aggregates=[Counter, Ledger])

    class Broken(EventHandler, name="broken"):
        @on_event
        def one(self, event: One) -> None:
            raise RuntimeError("no")

    runner = domain.handler(Broken(), poll_interval=0.05)
    await runner.start()
    await domain.repository(Counter).execute("c1", Counter.do_one)
    await domain.close()
    assert backend.closed == 1
    assert not runner.running


async def test_a_domain_stops_every_runner_when_stopping_one_raises() -> None:
    backend = _Closing()
    domain = Domain(backend, aggregates=[Counter, Ledger])
    first, second = domain.handler(_Seen()), domain.handler(_Seen(), bookmarks=InMemoryBookmarks())
    await first.start()
    await second.start()
    stop = first.stop

    async def failing_stop() -> None:
        await stop()
        raise RuntimeError("its loop had ended with an error")

    first.stop = failing_stop  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="ended with an error"):
        await domain.close()
    assert not first.running and not second.running
    assert backend.closed == 1


async def test_a_runner_block_starts_and_stops_it() -> None:
    domain = Domain(InMemoryBackend(), aggregates=[Counter, Ledger])
    handler = _Seen()
    async with domain.handler(handler, poll_interval=0.05) as runner:
        assert runner.running
        await domain.repository(Counter).execute("c1", Counter.do_one)
        await runner.wait_for(1, timeout=5)
    assert not _running(runner)
    assert handler.seen == [1]


async def test_a_group_block_starts_and_stops_it() -> None:
    domain = Domain(InMemoryBackend(), aggregates=[Counter, Ledger])
    async with domain.handler_group(_Seen(), buckets=2) as group:
        assert group.running
    assert not group.running


async def test_a_backend_block_closes_it() -> None:
    async with _Closing() as backend:
        assert backend.closed == 0
    assert backend.closed == 1
