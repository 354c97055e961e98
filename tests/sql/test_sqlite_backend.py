"""SqliteBackend (stdlib sqlite3): a file shared with SqlAlchemyBackend, its threads, its errors."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import AsyncIterator
from contextlib import closing
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from evtsrc import Domain, EventEncodeError, StoreUnavailable, VersionConflict
from evtsrc.backends import Backend, NewEvent, SnapshotRecord, TableNames, UndecodablePayload
from evtsrc.backends.sqlalchemy import SqlAlchemyBackend
from evtsrc.backends.sqlite import SqliteBackend
from tests.conformance.model import Address, Colour, Counter, Ledger, Rich

PREFIXES = ["evtsrc_", "", "Shop_", "my-app.", '9"odd ', "ünï_"]


def _at(seconds: int = 0) -> datetime:
    return datetime(2025, 3, 4, 5, 6, 7, 890123, tzinfo=UTC) + timedelta(seconds=seconds)


def _new(type_name: str, data: dict[str, Any], seconds: int = 0) -> NewEvent:
    return NewEvent(type_name, data, _at(seconds), event_id=str(UUID(int=seconds + 1)))


METADATA: dict[str, Any] = {"user": "Zoë", "trace": {"hops": [1, None, 2.5]}, "ok": True}


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "shared.sqlite"


@pytest.fixture
async def stdlib(database: Path) -> AsyncIterator[SqliteBackend]:
    backend = SqliteBackend(database)
    await backend.create_schema()
    yield backend
    await backend.close()


@pytest.fixture
async def alchemy(database: Path, stdlib: SqliteBackend) -> AsyncIterator[SqlAlchemyBackend]:
    backend = SqlAlchemyBackend(f"sqlite+aiosqlite:///{database}")
    await backend.create_schema()
    yield backend
    await backend.close()


def _master(path: Path) -> list[tuple[str, str, str, str | None]]:
    with closing(sqlite3.connect(path, isolation_level=None)) as connection:
        rows = connection.execute("SELECT type, name, tbl_name, sql FROM sqlite_master")
        return sorted(rows)


# -- one schema ------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", PREFIXES)
async def test_both_backends_create_the_same_schema(tmp_path: Path, prefix: str) -> None:
    names = TableNames(prefix)
    mine = SqliteBackend(tmp_path / "mine.sqlite", tables=names)
    theirs = SqlAlchemyBackend(f"sqlite+aiosqlite:///{tmp_path / 'theirs.sqlite'}", tables=names)
    try:
        assert mine.schema_sql() == theirs.schema_sql()
        await mine.create_schema()
        await theirs.create_schema()
        assert _master(tmp_path / "mine.sqlite") == _master(tmp_path / "theirs.sqlite")
        # Each creates nothing over the other's tables, and either drops them all.
        await theirs.create_schema()
        await mine.create_schema()
        assert _master(tmp_path / "mine.sqlite") == _master(tmp_path / "theirs.sqlite")
        await mine.drop_schema()
        assert [row[1] for row in _master(tmp_path / "mine.sqlite")] == ["sqlite_sequence"]
    finally:
        await mine.close()
        await theirs.close()


# -- one file, two backends ------------------------------------------------------------------


async def _written(writer: Backend) -> None:
    late = datetime(2025, 3, 4, 10, 36, 7, 890123, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    await writer.append("s", "a", 0, [_new("one", {"text": 'ünï \u2028 \\ "q"'})])
    await writer.append("s", "a", 1, [_new("two", {"n": 2**70, "x": 1.5}, 1), _new("t", {}, 2)])
    rich = NewEvent("late", {"nested": {"l": [None, True]}}, late, str(UUID(int=9)), 2, METADATA)
    await writer.append("other", "b", 0, [rich])
    await writer.put_snapshot(SnapshotRecord("s", "a", 3, "key-1", {"state": ["ü", 1]}))
    await writer.set_bookmark("handler", 3)


async def _read(reader: Backend) -> None:
    stored = await reader.read_aggregate("s", "a")
    assert [(r.version, r.position, r.type) for r in stored] == [
        (1, 1, "one"),
        (2, 2, "two"),
        (3, 3, "t"),
    ]
    assert stored[0].data == {"text": 'ünï \u2028 \\ "q"'}
    assert stored[1].data == {"n": 2**70, "x": 1.5}
    assert [r.timestamp for r in stored] == [_at(0), _at(1), _at(2)]
    assert all(r.timestamp.tzinfo is UTC for r in stored)
    [late] = await reader.read_streams(["other"])
    assert (late.position, late.timestamp, late.data) == (
        4,
        _at(0),
        {"nested": {"l": [None, True]}},
    )
    assert [(r.event_id, r.event_version, r.metadata) for r in [*stored, late]] == [
        (str(UUID(int=1)), 1, "{}"),
        (str(UUID(int=2)), 1, "{}"),
        (str(UUID(int=3)), 1, "{}"),
        (str(UUID(int=9)), 2, json.dumps(METADATA, ensure_ascii=False, separators=(",", ":"))),
    ]
    assert [r.position for r in await reader.read_streams(["s", "other"], after_position=2)] == [
        3,
        4,
    ]
    assert await reader.last_position(["s"]) == 3
    assert await reader.get_snapshot("s", "a") == SnapshotRecord(
        "s", "a", 3, "key-1", {"state": ["ü", 1]}
    )
    assert await reader.get_bookmark("handler") == 3
    with pytest.raises(VersionConflict):
        await reader.append("s", "a", 2, [_new("late", {})])
    [next_one] = await reader.append("s", "a", 3, [_new("four", {})])
    assert (next_one.version, next_one.position) == (4, 5)


async def test_sqlalchemy_reads_what_sqlite3_wrote(
    stdlib: SqliteBackend, alchemy: SqlAlchemyBackend
) -> None:
    await _written(stdlib)
    await _read(alchemy)


async def test_sqlite3_reads_what_sqlalchemy_wrote(
    stdlib: SqliteBackend, alchemy: SqlAlchemyBackend
) -> None:
    await _written(alchemy)
    await _read(stdlib)


async def test_the_two_backends_stored_the_same_rows(tmp_path: Path) -> None:
    rows = []
    for name, backend in [
        ("mine", SqliteBackend(tmp_path / "mine.sqlite")),
        ("theirs", SqlAlchemyBackend(f"sqlite+aiosqlite:///{tmp_path / 'theirs.sqlite'}")),
    ]:
        await backend.create_schema()
        await _written(backend)
        await backend.close()
        path = tmp_path / f"{name}.sqlite"
        with closing(sqlite3.connect(path, isolation_level=None)) as connection:
            rows.append(
                [
                    connection.execute(f"SELECT * FROM evtsrc_{table}").fetchall()
                    for table in ("events", "snapshots", "bookmarks")
                ]
            )
    assert rows[0] == rows[1]


async def test_a_domain_loads_through_either_backend(
    stdlib: SqliteBackend, alchemy: SqlAlchemyBackend
) -> None:
    rich = Rich(
        text='Ōsaka \u0001 \\ "escaped"',  # NUL is refused on every backend now
        number=-(2**63),
        ratio=0.1,
        flag=True,
        amount=Decimal("12.3400"),
        at=datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone(timedelta(hours=-3))),
        day=date(2024, 5, 6),
        key=UUID(int=7),
        colour=Colour.BLUE,
        tags=("a",),
        scores=[1],
        note=None,
        home=Address(street="s", city="c"),
    )
    mine = Domain(stdlib, aggregates=[Counter, Ledger])
    theirs = Domain(alchemy, aggregates=[Counter, Ledger])
    await mine.repository(Counter).execute("x", Counter.do_rich, rich)
    await theirs.repository(Counter).execute("x", Counter.do_multi)
    fresh = Domain(stdlib, aggregates=[Counter, Ledger])
    loaded = await fresh.repository(Counter).load("x")
    assert (loaded.version, loaded.rich, loaded.multi) == (3, rich, 2)
    first = (await theirs.repository(Counter).history("x"))[0]
    assert first.event == rich


async def test_a_lease_excludes_the_other_backend(
    stdlib: SqliteBackend, alchemy: SqlAlchemyBackend
) -> None:
    mine, theirs = stdlib.lease("h"), alchemy.lease("h")
    assert await mine.acquire()
    assert not await theirs.acquire()
    await mine.release()
    assert await theirs.acquire()
    assert not await mine.acquire()
    await theirs.release()


# -- writers, readers and the batch ----------------------------------------------------------


async def test_two_backends_on_one_file_serialise_their_writers(
    stdlib: SqliteBackend, database: Path
) -> None:
    other = SqliteBackend(database)
    try:

        async def write(backend: SqliteBackend, name: str) -> None:
            for version in range(0, 40, 2):
                await backend.append("s", name, version, [_new("e", {}), _new("e", {})])

        await asyncio.gather(
            *(write(b, f"{b is other}-{n}") for b in (stdlib, other) for n in range(3))
        )
        positions = [r.position for r in await stdlib.read_streams(["s"])]
        assert positions == list(range(1, 241))
        racing = [b.append("s", "same", 0, [_new("e", {})]) for b in (stdlib, other, stdlib)]
        outcomes = await asyncio.gather(*racing, return_exceptions=True)
        assert sorted(type(o).__name__ for o in outcomes) == [
            "VersionConflict",
            "VersionConflict",
            "list",
        ]
    finally:
        await other.close()


async def test_a_batch_holds_the_writer_and_reads_go_on(stdlib: SqliteBackend) -> None:
    await stdlib.append("s", "a", 0, [_new("e", {})])
    async with stdlib.batch_transaction() as transaction:
        assert transaction.connection.execute("PRAGMA synchronous").fetchone() == (1,)
        waiting = asyncio.create_task(stdlib.append("s", "a", 1, [_new("e", {})]))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        # This task holds the write lock: writing through the backend would deadlock.
        with pytest.raises(RuntimeError, match="holds the write lock"):
            await stdlib.set_bookmark("h", 1)
        assert len(await stdlib.read_aggregate("s", "a")) == 1
        await transaction.commit_bookmark("h", 0, 1)
    assert [r.version for r in await waiting] == [2]
    assert await stdlib.get_bookmark("h") == 1


async def test_a_failed_batch_leaves_the_writer_usable(stdlib: SqliteBackend) -> None:
    async def failing() -> None:
        async with stdlib.batch_transaction() as transaction:
            await transaction.commit_bookmark("h", 0, 5)
            raise ZeroDivisionError

    for _ in range(2):
        with pytest.raises(ZeroDivisionError):
            await failing()
    assert await stdlib.get_bookmark("h") == 0
    await stdlib.append("s", "a", 0, [_new("e", {})])


async def test_another_connections_write_lock_times_out_as_a_database_error(
    database: Path,
) -> None:
    backend = SqliteBackend(database, busy_timeout=0.1)
    await backend.create_schema()
    await backend.append("s", "a", 0, [_new("e", {})])
    blocker = sqlite3.connect(database, isolation_level=None)  # closed below
    try:
        blocker.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            await backend.append("s", "a", 1, [_new("e", {})])
        assert len(await backend.read_aggregate("s", "a")) == 1  # readers do not wait
        blocker.rollback()
        await backend.append("s", "a", 1, [_new("e", {})])
    finally:
        blocker.close()
        await backend.close()


@pytest.mark.parametrize("level", ["OFF", "NORMAL", "FULL", "EXTRA", "full"])
async def test_the_synchronous_level_is_set(database: Path, level: Any) -> None:
    backend = SqliteBackend(database, synchronous=level)
    try:
        async with backend.batch_transaction() as transaction:
            found = transaction.connection.execute("PRAGMA synchronous").fetchone()[0]
            mode = transaction.connection.execute("PRAGMA journal_mode").fetchone()[0]
        assert (found, mode) == (["OFF", "NORMAL", "FULL", "EXTRA"].index(level.upper()), "wal")
    finally:
        await backend.close()


# -- appends on the event loop's thread ------------------------------------------------------


def _writer_thread_started() -> bool:
    return any(t.name == "evtsrc-sqlite-writer" for t in threading.enumerate())


async def _fresh(database: Path, **options: Any) -> SqliteBackend:
    """A backend on `database` whose schema another backend created: no thread started."""
    creator = SqliteBackend(database)
    await creator.create_schema()
    await creator.close()
    await asyncio.sleep(0.05)  # the closed backend's threads end
    assert not _writer_thread_started()
    return SqliteBackend(database, **options)


@pytest.mark.parametrize(
    ("level", "on_the_loop"), [("OFF", True), ("NORMAL", True), ("FULL", False), ("EXTRA", False)]
)
async def test_small_appends_commit_on_the_loop_only_where_a_commit_does_not_sync(
    database: Path, level: Any, on_the_loop: bool
) -> None:
    backend = await _fresh(database, synchronous=level)
    try:
        for version in range(3):
            await backend.append("s", "a", version, [_new("e", {})])
        assert _writer_thread_started() is not on_the_loop
        many = [_new("e", {}, seconds) for seconds in range(33)]
        await backend.append("s", "a", 3, many)  # many events: on the writer thread
        assert _writer_thread_started()
        assert [r.version for r in await backend.read_aggregate("s", "a")] == list(range(1, 37))
    finally:
        await backend.close()


async def test_an_append_waits_for_another_connections_lock_off_the_loop(database: Path) -> None:
    backend = await _fresh(database)
    await backend.append("s", "a", 0, [_new("e", {})])
    blocker = sqlite3.connect(database, isolation_level=None)  # closed below
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        blocker.execute("BEGIN IMMEDIATE")
        waiting = asyncio.create_task(backend.append("s", "a", 1, [_new("e", {})]))
        await asyncio.sleep(0.3)
        assert not waiting.done()
        assert ticks >= 20  # the loop ran on while the append waited
        blocker.commit()
        async with asyncio.timeout(10):
            assert [r.version for r in await waiting] == [2]
        assert [r.version for r in await backend.append("s", "a", 2, [_new("e", {})])] == [3]
    finally:
        ticker.cancel()
        blocker.close()
        await backend.close()


async def test_the_log_is_checkpointed_while_appends_commit_on_the_loop(database: Path) -> None:
    backend = await _fresh(database)
    log = database.with_name(f"{database.name}-wal")
    try:
        largest = 0
        for number in range(1500):
            await backend.append("s", f"a{number}", 0, [_new("e", {"n": number})])
            if number % 50 == 0:
                await asyncio.sleep(0.001)  # let the writer thread's checkpoint run
                largest = max(largest, log.stat().st_size)
        # Without checkpoints, 1,500 commits of about three 4 kB pages each: over 15 MB.
        assert 0 < largest < 4_000_000
        assert len(await backend.read_streams(["s"], limit=2000)) == 1500
    finally:
        await backend.close()


async def test_appends_from_another_threads_event_loop_go_through_the_writer(
    database: Path,
) -> None:
    backend = await _fresh(database)

    async def write(prefix: str) -> None:
        for number in range(100):
            await backend.append("s", f"{prefix}{number}", 0, [_new("e", {})])

    try:
        await backend.append("s", "first", 0, [_new("e", {})])  # this loop's thread: inline
        await asyncio.gather(write("here-"), asyncio.to_thread(asyncio.run, write("there-")))
        records = await backend.read_streams(["s"], limit=500)
        assert [r.position for r in records] == list(range(1, 202))
        assert len({r.aggregate_id for r in records}) == 201
    finally:
        await backend.close()


# -- errors ----------------------------------------------------------------------------------


async def test_an_unencodable_string_is_refused_and_nothing_is_stored(
    stdlib: SqliteBackend,
) -> None:
    with pytest.raises(EventEncodeError, match="surrogates not allowed"):
        await stdlib.append("s", "a", 0, [_new("ok", {}), _new("bad", {"text": "\ud800"})])
    with pytest.raises(EventEncodeError, match="surrogates not allowed"):
        await stdlib.put_snapshot(SnapshotRecord("s", "a", 1, "k", {"\udfff": 1}))
    assert await stdlib.read_aggregate("s", "a") == []
    assert await stdlib.get_snapshot("s", "a") is None
    await stdlib.append("s", "a", 0, [_new("ok", {})])


@pytest.mark.parametrize(
    ("arguments", "error", "match"),
    [
        ({"path": ":memory:"}, ValueError, "needs a database file"),
        ({"path": ""}, ValueError, "needs a database file"),
        ({"path": b"events.db"}, TypeError, "path must be a str"),
        ({"path": 3}, TypeError, "path must be a str"),
        ({"synchronous": "SOMETIMES"}, ValueError, "synchronous must be one of"),
        ({"synchronous": 2}, ValueError, "synchronous must be one of"),
        ({"busy_timeout": -1}, ValueError, "busy_timeout must be finite"),
        ({"busy_timeout": float("inf")}, ValueError, "busy_timeout must be finite"),
        ({"busy_timeout": "30"}, TypeError, "busy_timeout must be a number"),
        ({"busy_timeout": True}, TypeError, "busy_timeout must be a number"),
        ({"tables": "shop_"}, TypeError, "tables must be a TableNames"),
    ],
)
def test_bad_arguments_are_refused(arguments: dict[str, Any], error: type, match: str) -> None:
    given: dict[str, Any] = {"path": "events.db", **arguments}
    with pytest.raises(error, match=match):
        SqliteBackend(**given)


async def test_a_closed_backend_says_so(database: Path) -> None:
    backend = SqliteBackend(database)
    await backend.create_schema()
    await backend.append("s", "a", 0, [_new("e", {})])
    await backend.close()
    await backend.close()
    for attempt in (
        backend.append("s", "a", 1, [_new("e", {})]),
        backend.read_aggregate("s", "a"),
        backend.get_bookmark("h"),
    ):
        with pytest.raises(RuntimeError, match=r"SqliteBackend\('.*shared.sqlite'\) is closed"):
            await attempt
    assert not database.with_name(f"{database.name}-wal").exists()  # checkpointed, removed
    with closing(sqlite3.connect(database, isolation_level=None)) as connection:
        assert connection.execute("SELECT count(*) FROM evtsrc_events").fetchone() == (1,)


@pytest.mark.parametrize("prefix", PREFIXES)
async def test_only_the_version_constraint_means_a_conflict(tmp_path: Path, prefix: str) -> None:
    """The constraint backstops the version check (say, for a writer without BEGIN IMMEDIATE)."""
    backend = SqliteBackend(tmp_path / "events.sqlite", tables=TableNames(prefix))
    await backend.create_schema()
    try:
        await backend.append("s", "a", 0, [_new("first", {})])
        backend._sql.version = "SELECT 0 WHERE ? IS NOT NULL AND ? IS NOT NULL"  # a stale check
        with pytest.raises(VersionConflict) as raised:
            await backend.append("s", "a", 0, [_new("second", {})])
        assert isinstance(raised.value.__cause__, sqlite3.IntegrityError)
        assert [r.type for r in await backend.read_aggregate("s", "a")] == ["first"]
    finally:
        await backend.close()


async def test_stored_json_is_parsed_per_row_unless_sqlite_vouches_for_every_text(
    stdlib: SqliteBackend, database: Path
) -> None:
    await stdlib.append("s", "a", 0, [_new("t", {"n": 1}), _new("t", {"n": 2})])
    assert [r.data for r in await stdlib.read_aggregate("s", "a")] == [{"n": 1}, {"n": 2}]
    # Two fragments that only join into valid JSON: read one by one, they fail as themselves.
    with closing(sqlite3.connect(database)) as connection, connection:
        connection.execute("UPDATE evtsrc_events SET data = '{\"a\":[{}' WHERE version = 1")
        connection.execute("UPDATE evtsrc_events SET data = '{}]}' WHERE version = 2")
    for records in (await stdlib.read_aggregate("s", "a"), await stdlib.read_streams(["s"])):
        bad = [r.data for r in records if isinstance(r.data, UndecodablePayload)]
        assert [(p.stored, type(p.error)) for p in bad] == [
            ('{"a":[{}', json.JSONDecodeError),
            ("{}]}", json.JSONDecodeError),
        ]


async def _aiosqlite_threads_ended() -> None:
    """Let aiosqlite's worker threads finish while this test's event loop still runs.

    After a failed connect, aiosqlite queues the stop of its thread without waiting
    for it; if the loop closed first, the thread would fail to report back to it.
    """
    for thread in threading.enumerate():
        if "_connection_worker_thread" in thread.name:
            await asyncio.to_thread(thread.join, 5)


@pytest.mark.parametrize("kind", ["sqlite3", "sqlalchemy"])
async def test_a_database_file_that_cannot_be_opened_is_an_outage(
    tmp_path: Path, kind: str
) -> None:
    missing = tmp_path / "no-such-folder" / "events.sqlite"
    backend: Backend = (
        SqliteBackend(missing)
        if kind == "sqlite3"
        else SqlAlchemyBackend(f"sqlite+aiosqlite:///{missing}")
    )
    try:
        with pytest.raises(StoreUnavailable) as reading:
            await backend.read_streams(["counters"])
        with pytest.raises(StoreUnavailable) as appending:
            await backend.append("counters", "c", 0, [NewEvent("one", {}, datetime.now(UTC))])
    finally:
        await backend.close()
        await _aiosqlite_threads_ended()
    for raised in (reading.value, appending.value):
        assert not raised.outcome_unknown  # the file never opened: nothing was written
        assert isinstance(raised.__cause__, sqlite3.OperationalError) or isinstance(
            getattr(raised.__cause__, "orig", None), sqlite3.OperationalError
        )
    assert "counters/c" in str(appending.value)
    assert not missing.parent.exists()
