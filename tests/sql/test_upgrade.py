"""A store made before event ids and metadata, upgraded by `create_schema()`, on every SQL backend.

Also stores of later layouts, each without what came after it (bucket keys, processed messages).

`pre_metadata/` holds the tables as the release before them created them (and the
statement the PostgreSQL backends appended with). Each test makes those tables, writes
events into them with plain SQL as that release's backends did, then lets today's
backend upgrade the store: the old events read back with no id, event version 1 and
no metadata (so `EventMeta` derives their ids), and new events keep theirs.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import attrs
import msgspec
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from evtsrc import AlreadyProcessed, Domain, EventHandler, EventMeta, on_event
from evtsrc._jsontypes import JSONObject
from evtsrc._meta import legacy_event_id, meta_of
from evtsrc.backends import (
    Backend,
    Bucket,
    EventRecord,
    GroupMembers,
    InMemoryBackend,
    NewEvent,
    Once,
    ParkedAggregate,
    ParkedEvents,
    ProcessedMessages,
    TableNames,
    bucket_key,
)
from evtsrc.backends.base import new_event_id
from evtsrc.backends.postgres import PostgresBackend
from evtsrc.backends.sql._identifiers import quote
from evtsrc.backends.sqlalchemy import SqlAlchemyBackend
from evtsrc.backends.sqlite import SqliteBackend
from tests.backends import (
    MARIADB_ENV,
    POSTGRES_ENV,
    server_location,
    sqlalchemy_url,
    unique_prefix,
)
from tests.conformance.model import Address, Counter, Ledger, Multi, One, Two

PRE_METADATA = Path(__file__).parent / "pre_metadata"

METADATA: JSONObject = {
    "correlation_id": "req-ü",
    "tenant": "Zoë ✓ 東京",
    "trace": {"hops": [1, None, 2.5, {"deep": [True, False]}], "empty": {}},
    "quote": 'a "b" \\ c\n',
}


def _script(name: str, prefix: str) -> str:
    return (PRE_METADATA / name).read_text().replace("evtsrc_", prefix)


def _statements(name: str, prefix: str) -> list[str]:
    return [s.strip() for s in _script(name, prefix).split(";\n") if s.strip()]


def _json(data: object) -> str:
    """JSON text as the old backends wrote it: compact, non-ASCII kept."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _naive_utc(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(tzinfo=None)


async def _old_events() -> list[EventRecord]:
    """Events as the domain writes them, in position order: counters x, ledgers l."""
    domain = Domain(InMemoryBackend(), aggregates=[Counter, Ledger])
    counters = domain.repository(Counter)
    await counters.execute("x", Counter.do_one)
    await domain.repository(Ledger).execute("l", Ledger.record, "Elm ü")
    await counters.execute("x", Counter.do_multi)
    await counters.execute("x", Counter.do_two)
    return list(await domain.backend.read_streams(["counters", "ledgers"]))


# -- each backend, on a store the old release made ------------------------------------------


@attrs.frozen
class Old:
    """How one backend meets an old store: make the tables and rows, open the backend."""

    name: str
    env: str | None
    make: Callable[[str, str, Sequence[EventRecord]], Awaitable[None]]
    """(location, prefix, events): the old tables with these events in them."""
    open: Callable[[str, str], Awaitable[Backend]]


async def _make_sqlite(path: str, prefix: str, events: Sequence[EventRecord]) -> None:
    with closing(sqlite3.connect(path, isolation_level=None)) as connection:
        for statement in _statements("sqlite.sql", prefix):
            connection.execute(statement)
        # As SqliteBackend and SqlAlchemyBackend wrote them: JSON text, naive UTC text.
        connection.executemany(
            f"INSERT INTO {prefix}events (stream, aggregate_id, version, type, data, timestamp) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                (
                    e.stream,
                    e.aggregate_id,
                    e.version,
                    e.type,
                    _json(e.data),
                    _naive_utc(e.timestamp).isoformat(" ", "microseconds"),
                )
                for e in events
            ],
        )


async def _make_postgres(dsn: str, prefix: str, events: Sequence[EventRecord]) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(_script("postgresql.sql", prefix))
        append = _script("postgresql_append.sql", prefix)
        for e in events:  # one append per event, each in its own transaction
            await connection.fetch(
                append,
                e.stream,
                e.aggregate_id,
                e.version - 1,
                [e.type],
                [_json(e.data)],
                [e.timestamp],
            )
    finally:
        await connection.close()


async def _make_mariadb(url: str, prefix: str, events: Sequence[EventRecord]) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            for statement in _statements("mariadb.sql", prefix):
                await connection.exec_driver_sql(statement)
            for e in events:
                await connection.exec_driver_sql(
                    f"INSERT INTO {prefix}events (stream, aggregate_id, version, type, data, "
                    "timestamp) VALUES (%s, %s, %s, %s, %s, %s)",
                    (
                        e.stream,
                        e.aggregate_id,
                        e.version,
                        e.type,
                        _json(e.data),
                        _naive_utc(e.timestamp),
                    ),
                )
    finally:
        await engine.dispose()


async def _open_sqlite3(path: str, prefix: str) -> Backend:
    return SqliteBackend(path, tables=TableNames(prefix))


async def _open_alchemy_sqlite(path: str, prefix: str) -> Backend:
    return SqlAlchemyBackend(f"sqlite+aiosqlite:///{path}", tables=TableNames(prefix))


async def _open_asyncpg(dsn: str, prefix: str) -> Backend:
    return await PostgresBackend.connect(dsn, tables=TableNames(prefix))


async def _open_alchemy(location: str, prefix: str) -> Backend:
    return SqlAlchemyBackend(sqlalchemy_url(location), tables=TableNames(prefix))


OLD = [
    Old("sqlite3", None, _make_sqlite, _open_sqlite3),
    Old("sqlalchemy-sqlite", None, _make_sqlite, _open_alchemy_sqlite),
    Old("asyncpg", POSTGRES_ENV, _make_postgres, _open_asyncpg),
    Old("sqlalchemy-postgres", POSTGRES_ENV, _make_postgres, _open_alchemy),
    Old("sqlalchemy-mariadb", MARIADB_ENV, _make_mariadb, _open_alchemy),
]


@attrs.frozen
class Upgraded:
    backend: Backend
    old: list[EventRecord]
    """The events written before the upgrade, as the in-memory backend numbered them."""


@pytest.fixture(params=OLD, ids=lambda old: old.name)
async def upgraded(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Upgraded]:
    """An old store with events in it, opened by today's backend (not yet upgraded)."""
    old: Old = request.param
    if old.env is None:
        location = str(tmp_path / "old.sqlite")
    else:
        location = server_location(old.env, "upgrading an old store")
    prefix = unique_prefix()
    events = await _old_events()
    await old.make(location, prefix, events)
    backend = await old.open(location, prefix)
    try:
        yield Upgraded(backend, events)
    finally:
        await backend.drop_schema()
        await backend.close()


# -- the tests -------------------------------------------------------------------------------


class Metas(EventHandler, name="metas"):
    """Records each counter event's meta as a handler sees it."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, str, int, str, dict[str, Any]]] = []

    @on_event
    def counted(self, event: One | Two | Multi, meta: EventMeta) -> None:
        self.seen.append(
            (meta.version, meta.event_id, meta.event_version, meta.correlation_id, meta.metadata)
        )

    @on_event
    def addressed(self, event: Address, meta: EventMeta) -> None:
        self.seen.append((meta.version, meta.event_id, meta.event_version, "", meta.metadata))


def _legacy(record: EventRecord) -> tuple[int, str, int, str, dict[str, Any]]:
    derived = legacy_event_id(record.stream, record.aggregate_id, record.version)
    correlation = derived if record.stream == "counters" else ""
    return (record.version, derived, 1, correlation, {})


def _stored(records: Sequence[EventRecord]) -> list[tuple[object, ...]]:
    """All but the positions: stream to data, then event id, event version, metadata."""
    fields = [msgspec.structs.astuple(r) for r in records]
    return [(*f[:3], *f[4:]) for f in fields]


async def test_old_events_read_back_with_no_id_version_1_and_no_metadata(
    upgraded: Upgraded,
) -> None:
    backend, old = upgraded.backend, upgraded.old
    await backend.create_schema()
    await backend.create_schema()  # finds the columns there
    expected = [
        (e.stream, e.aggregate_id, e.version, e.timestamp, e.type, e.data, None, 1, None)
        for e in old
    ]
    read = await backend.read_streams(["counters", "ledgers"])
    assert _stored(read) == expected
    assert [r.position for r in read] == sorted({r.position for r in read})
    counters = [row for row in expected if row[0] == "counters"]
    assert _stored(await backend.read_aggregate("counters", "x")) == counters
    assert _stored(await backend.read_aggregate("counters", "x", after_version=2)) == counters[2:]


async def test_create_schema_adds_the_table_of_parked_aggregates(upgraded: Upgraded) -> None:
    backend = upgraded.backend
    assert isinstance(backend, ParkedEvents)
    await backend.create_schema()
    at = datetime(2026, 12, 1, 21, 0, 0, 654321, tzinfo=UTC)
    entry = ParkedAggregate("counters", "x", 2, 2, "ValueError: poison", at)
    await backend.park("h", entry)
    assert await backend.parked("h") == [entry]
    domain = Domain(backend, aggregates=[Counter, Ledger])
    assert await domain.handler(Metas(), park=True).parked() == []


async def test_create_schema_adds_the_table_of_group_members(upgraded: Upgraded) -> None:
    backend = upgraded.backend
    assert isinstance(backend, GroupMembers)
    await backend.create_schema()
    await backend.create_schema()  # finds it there
    assert await backend.beat("group", "b", 30) == ["b"]
    assert await backend.beat("group", "a", 30) == ["a", "b"]
    await backend.leave("group", "b")
    assert await backend.beat("group", "a", 30) == ["a"]


async def _check_processed_messages(backend: Backend) -> None:
    """Appends with `once` and `mark_processed` work, as on a new store."""
    assert isinstance(backend, ProcessedMessages)
    event = NewEvent("one", {}, datetime.now(UTC))
    once = Once("inbox", "m1#0")
    [appended] = await backend.append("counters", "y", 0, [event], once=once)
    with pytest.raises(AlreadyProcessed):
        await backend.append("counters", "y", 1, [event], once=once)
    assert list(await backend.read_aggregate("counters", "y")) == [appended]
    await backend.mark_processed("inbox", "m2")
    await backend.mark_processed("inbox", "m2")
    assert await backend.processed("inbox", "m1#0")
    assert await backend.processed("inbox", "m2")
    assert not await backend.processed("inbox", "M2")


async def test_create_schema_adds_the_table_of_processed_messages(upgraded: Upgraded) -> None:
    backend = upgraded.backend
    await backend.create_schema()
    await backend.create_schema()  # finds it there
    await _check_processed_messages(backend)


@pytest.mark.parametrize("old", OLD, ids=lambda old: old.name)
async def test_a_store_of_the_layout_before_processed_messages_gets_their_table(
    old: Old, tmp_path: Path
) -> None:
    """The release before `ProcessedMessages` made the store: all tables but `processed`."""
    async with _new_store(old, tmp_path) as backend:
        await backend.create_schema()
        event = NewEvent("one", {}, datetime.now(UTC))
        [before] = await backend.append("counters", "x", 0, [event])
        names: TableNames = getattr(backend, "names")  # noqa: B009
        await _sql(backend, f"DROP TABLE {quote(names.processed, _mark(backend))}")
        await backend.create_schema()
        assert list(await backend.read_aggregate("counters", "x")) == [before]
        await _check_processed_messages(backend)


async def test_a_domain_loads_and_a_handler_catches_up_on_old_events_then_new_ones(
    upgraded: Upgraded,
) -> None:
    backend, old = upgraded.backend, upgraded.old
    await backend.create_schema()
    domain = Domain(backend, aggregates=[Counter, Ledger])
    counters = domain.repository(Counter)
    counter = await counters.load("x")
    assert (counter.version, counter.one, counter.multi, counter.two) == (4, 1, 2, 1)
    history = await counters.history("x")
    assert [
        (s.meta.version, s.meta.event_id, s.meta.event_version, s.meta.metadata) for s in history
    ] == [
        (e.version, legacy_event_id("counters", "x", e.version), 1, {})
        for e in old
        if e.stream == "counters"
    ]
    runner = domain.handler(Metas())
    await runner.run_once()
    assert runner.handler.seen == [_legacy(e) for e in old]

    # New events, after the upgrade: through the domain, and with every field given.
    await counters.execute("x", Counter.do_one)
    one = next(e for e in old if e.type == "one")
    assert isinstance(one.data, dict)
    given = NewEvent(one.type, one.data, datetime.now(UTC), new_event_id(), 1, METADATA)
    appended = await backend.append("counters", "x", 5, [given])
    [fifth, sixth] = await backend.read_aggregate("counters", "x", after_version=4)
    assert [sixth] == list(appended)
    assert (sixth.event_id, sixth.event_version) == (given.event_id, 1)
    assert json.loads(str(sixth.metadata)) == METADATA  # stored as given, nested and non-ASCII
    assert fifth.event_id is not None and len(fifth.event_id) == 36
    assert (fifth.event_version, meta_of(fifth).metadata) == (1, {})

    assert (await counters.load("x")).one == 3
    await runner.run_once()
    user = {k: v for k, v in METADATA.items() if k != "correlation_id"}
    assert runner.handler.seen[len(old) :] == [
        (5, fifth.event_id, 1, meta_of(fifth).correlation_id, {}),
        (6, given.event_id, 1, "req-ü", user),
    ]

    await backend.create_schema()  # again, with old and new events in the store
    assert len(await backend.read_streams(["counters", "ledgers"])) == len(old) + 2


# -- awkward table names ---------------------------------------------------------------------

ODD = 'Odd "50%" `x`:1 '


@asynccontextmanager
async def _new_store(old: Old, tmp_path: Path) -> AsyncIterator[Backend]:
    """Today's backend on a new store (tables not made yet) whose names need quoting."""
    location = str(tmp_path / "new.sqlite")
    if old.env is not None:
        location = server_location(old.env, "upgrading an old store")
    backend = await old.open(location, ODD + unique_prefix())
    try:
        yield backend
    finally:
        await backend.drop_schema()
        await backend.close()


async def _drop_added(backend: Backend) -> None:
    """Make a new store look old: drop the added columns (what an upgrade must quote)."""
    names: TableNames = getattr(backend, "names")  # noqa: B009
    drops = [
        "DROP COLUMN event_id",
        "DROP COLUMN event_version",
        "DROP COLUMN metadata",
        "DROP COLUMN bucket_key",
    ]
    if isinstance(backend, SqliteBackend):
        with closing(sqlite3.connect(backend.path, isolation_level=None)) as connection:
            for drop in drops:
                connection.execute(f"ALTER TABLE {quote(names.events)} {drop}")
    elif isinstance(backend, PostgresBackend):
        async with backend.pool.acquire() as connection:
            await connection.execute(f"ALTER TABLE {quote(names.events)} {', '.join(drops)}")
    else:
        assert isinstance(backend, SqlAlchemyBackend)
        mark = "`" if backend.dialect in ("mysql", "mariadb") else '"'
        table = quote(names.events, mark)
        statement = f"ALTER TABLE {table} {', '.join(drops)}"
        if backend.engine.dialect.paramstyle in ("format", "pyformat"):
            statement = statement.replace("%", "%%")
        async with backend.engine.begin() as connection:
            if backend.dialect == "sqlite":
                for drop in drops:
                    await connection.exec_driver_sql(f"ALTER TABLE {table} {drop}")
            else:
                await connection.exec_driver_sql(statement)


@pytest.mark.parametrize("old", OLD, ids=lambda old: old.name)
async def test_the_upgrade_quotes_awkward_table_names(old: Old, tmp_path: Path) -> None:
    """A new store whose added columns were dropped, on tables whose names need quoting."""
    location = str(tmp_path / "odd.sqlite")
    if old.env is not None:
        location = server_location(old.env, "upgrading an old store")
    backend = await old.open(location, ODD + unique_prefix())
    try:
        await backend.create_schema()
        [before] = await backend.append("s", "a", 0, [NewEvent("t", {}, datetime.now(UTC))])
        await _drop_added(backend)
        await backend.create_schema()
        await backend.create_schema()
        [stored] = await backend.read_aggregate("s", "a")
        assert (stored.position, stored.event_id, stored.event_version, stored.metadata) == (
            before.position,
            None,
            1,
            None,
        )
        given = NewEvent("t", {}, datetime.now(UTC), new_event_id(), 3, METADATA)
        [new] = await backend.append("s", "a", 1, [given])
        assert (await backend.read_streams(["s"]))[1:] == [new]
        assert meta_of(new).event_version == 3
        assert {key for _, _, _, key in await _stored_keys(backend)} == {bucket_key("a")}
        bucket = Bucket(bucket_key("a") % 3, 3)
        assert list(await backend.read_streams(["s"], bucket=bucket)) == [stored, new]
    finally:
        await backend.drop_schema()
        await backend.close()


# -- bucket keys -----------------------------------------------------------------------------


def _mark(backend: Backend) -> str:
    mysql = isinstance(backend, SqlAlchemyBackend) and backend.dialect in ("mysql", "mariadb")
    return "`" if mysql else '"'


def _events_table(backend: Backend) -> str:
    names: TableNames = getattr(backend, "names")  # noqa: B009
    return quote(names.events, _mark(backend))


async def _sql(backend: Backend, statement: str) -> list[tuple[Any, ...]]:
    """The rows of `statement`, run on the backend's database past the backend."""
    if isinstance(backend, SqliteBackend):
        with closing(sqlite3.connect(backend.path, isolation_level=None)) as connection:
            return [tuple(row) for row in connection.execute(statement).fetchall()]
    if isinstance(backend, PostgresBackend):
        async with backend.pool.acquire() as connection:
            return [tuple(row) for row in await connection.fetch(statement)]
    assert isinstance(backend, SqlAlchemyBackend)
    if backend.engine.dialect.paramstyle in ("format", "pyformat"):
        statement = statement.replace("%", "%%")
    async with backend.engine.begin() as connection:
        result = await connection.exec_driver_sql(statement)
        return [tuple(row) for row in result.all()] if result.returns_rows else []


async def _stored_keys(backend: Backend) -> list[tuple[int, str, str, int | None]]:
    """(position, stream, aggregate id, bucket key) of every stored event, by position."""
    position = _mark(backend).join(("", "position", ""))
    rows = await _sql(
        backend,
        f"SELECT {position}, stream, aggregate_id, bucket_key FROM {_events_table(backend)} "
        f"ORDER BY {position}",
    )
    return [(int(p), s, a, k) for p, s, a, k in rows]


async def _read_by_bucket(backend: Backend, streams: list[str], total: int) -> None:
    """Each bucket of 1, 2 and 3 reads exactly its events of `streams`, in pages too."""
    every = list(await backend.read_streams(streams, limit=10_000))
    assert len(every) == total
    for count in (1, 2, 3):
        for index in range(count):
            bucket = Bucket(index, count)
            expected = [r for r in every if bucket.holds(r.aggregate_id)]
            assert list(await backend.read_streams(streams, bucket=bucket)) == expected
            paged: list[EventRecord] = []
            while page := await backend.read_streams(
                streams,
                after_position=paged[-1].position if paged else 0,
                limit=2,
                metadata=False,
                bucket=bucket,
            ):
                paged += page
            assert [r.position for r in paged] == [r.position for r in expected]


def _in_small_batches(monkeypatch: pytest.MonkeyPatch, backend: Backend, size: int) -> Any:
    """Make `create_schema()` fill in bucket keys `size` events at a time; the module."""
    module = sys.modules[type(backend).__module__]
    monkeypatch.setattr(module, "FILL_BATCH", size)
    return module


async def test_old_events_get_their_bucket_keys_and_read_by_bucket(
    upgraded: Upgraded, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend, old = upgraded.backend, upgraded.old
    _in_small_batches(monkeypatch, backend, 2)
    await backend.create_schema()
    assert [(s, a, k) for _, s, a, k in await _stored_keys(backend)] == [
        (e.stream, e.aggregate_id, bucket_key(e.aggregate_id)) for e in old
    ]
    await _read_by_bucket(backend, ["counters", "ledgers"], len(old))
    domain = Domain(backend, aggregates=[Counter, Ledger])
    await domain.repository(Counter).execute("x", Counter.do_one)
    await backend.create_schema()
    assert {(a, k) for _, _, a, k in await _stored_keys(backend)} == {
        ("x", bucket_key("x")),
        ("l", bucket_key("l")),
    }
    await _read_by_bucket(backend, ["counters", "ledgers"], len(old) + 1)


@pytest.mark.parametrize("old", OLD, ids=lambda old: old.name)
async def test_a_store_made_before_bucket_keys_gets_them_batch_by_batch(
    old: Old, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The release before bucket keys made the store; a fill stopped half way goes on."""
    location = str(tmp_path / "keys.sqlite")
    if old.env is not None:
        location = server_location(old.env, "upgrading an old store")
    backend = await old.open(location, ODD + unique_prefix())
    try:
        await backend.create_schema()
        now = datetime.now(UTC)
        aggregates = [f"a{n}" for n in range(12)]
        for version in range(2):
            for n, aggregate in enumerate(aggregates):
                events = [NewEvent("t", {"n": n}, now)] * (1 + n % 2)
                await backend.append(f"s{n % 2}", aggregate, version * (1 + n % 2), events)
        total = 2 * sum(1 + n % 2 for n in range(12))
        await _sql(backend, f"ALTER TABLE {_events_table(backend)} DROP COLUMN bucket_key")

        module = _in_small_batches(monkeypatch, backend, 5)
        filled = module.fill_values
        batches: list[int] = []

        def stopping(rows: Any) -> Any:
            batches.append(len(rows))
            if len(batches) == 3:
                raise RuntimeError("stopped half way")
            return filled(rows)

        monkeypatch.setattr(module, "fill_values", stopping)
        with pytest.raises(RuntimeError, match="stopped half way"):
            await backend.create_schema()
        keys = [k for _, _, _, k in await _stored_keys(backend)]
        # Filled from the newest down, two batches' worth: none below, all above.
        missing = keys.count(None)
        assert 0 < missing < total - 5 and keys[:missing] == [None] * missing
        assert None not in keys[missing:]

        monkeypatch.setattr(module, "fill_values", filled)
        [late] = await backend.append("s0", "late", 0, [NewEvent("t", {}, now)])
        await backend.create_schema()
        stored = await _stored_keys(backend)
        assert [k for _, _, a, k in stored] == [bucket_key(a) for _, _, a, _ in stored]
        assert stored[-1][0] == late.position
        await _read_by_bucket(backend, ["s0", "s1"], total + 1)

        # Events an older evtsrc appends meanwhile have no key: bucket reads keep them.
        await _sql(
            backend,
            f"UPDATE {_events_table(backend)} SET bucket_key = NULL "
            "WHERE aggregate_id IN ('a3', 'a4', 'a8')",
        )
        await _read_by_bucket(backend, ["s0", "s1"], total + 1)
        await backend.create_schema()
        await _read_by_bucket(backend, ["s0", "s1"], total + 1)
    finally:
        await backend.drop_schema()
        await backend.close()
