"""The shared lease bookkeeping: a lock on a connection of its own, lost with the connection."""

from __future__ import annotations

import asyncio

import pytest

from evtsrc import StoreUnavailable
from evtsrc.backends._support.lease import ConnectionLease
from evtsrc.backends._support.outage import Outage


class Lost(Exception):
    """The connection is gone."""


class Connection:
    def __init__(self) -> None:
        self.state = "open"


class FakeLock:
    """A lock the test frees, steals or hangs; every connection's fate is recorded."""

    def __init__(self) -> None:
        self.holder: Connection | None = None
        self.connections: list[Connection] = []
        self.check_fails: Exception | None = None
        self.check_hangs = False

    async def connect(self) -> Connection:
        connection = Connection()
        self.connections.append(connection)
        return connection

    async def try_lock(self, connection: Connection) -> bool:
        if self.holder is None:
            self.holder = connection
        return self.holder is connection

    async def holds(self, connection: Connection) -> bool:
        if self.check_hangs:
            await asyncio.sleep(10)
        if self.check_fails is not None:
            raise self.check_fails
        return self.holder is connection

    async def give_back(self, connection: Connection) -> None:
        if self.holder is connection:
            self.holder = None
        connection.state = "given back"

    async def discard(self, connection: Connection) -> None:
        if self.holder is connection:
            self.holder = None
        connection.state = "discarded"

    def lost(self, error: Exception) -> bool:
        return isinstance(error, Lost)


OUTAGE = Outage("Fake", (ConnectionRefusedError,))


def _lease(lock: FakeLock, timeout: float = 1.0) -> ConnectionLease[Connection]:
    return ConnectionLease(lock, outage=OUTAGE, action="taking a lease", timeout=timeout)


async def test_one_holder_at_a_time_and_release_gives_the_connection_back() -> None:
    lock = FakeLock()
    first, second = _lease(lock), _lease(lock)
    assert await first.acquire() and await first.acquire()  # taken once, kept
    assert not await second.acquire()
    assert [c.state for c in lock.connections] == ["open", "given back"]
    assert await first.check() and not await second.check()
    await first.release()
    assert not await first.check()
    assert await second.acquire()
    assert [c.state for c in lock.connections] == ["given back", "given back", "open"]


@pytest.mark.parametrize("failure", ["lost", "stolen", "hangs"])
async def test_a_lost_connection_loses_the_lease(failure: str) -> None:
    lock = FakeLock()
    lease = _lease(lock, timeout=0.1)
    assert await lease.acquire()
    if failure == "lost":
        lock.check_fails = Lost()
    elif failure == "stolen":
        lock.holder = None
    else:
        lock.check_hangs = True
    assert not await lease.check()
    assert lock.connections[0].state == "discarded"
    assert not await lease.check()  # and stays lost until taken again
    lock.check_fails, lock.check_hangs = None, False
    assert await lease.acquire()


async def test_other_errors_of_a_check_are_raised_and_keep_the_lease() -> None:
    lock = FakeLock()
    lease = _lease(lock)
    assert await lease.acquire()
    lock.check_fails = ValueError("a bug")
    with pytest.raises(ValueError, match="a bug"):
        await lease.check()
    lock.check_fails = None
    assert await lease.check()


async def test_an_unreachable_server_raises_store_unavailable() -> None:
    lock = FakeLock()

    async def refused() -> Connection:
        raise ConnectionRefusedError("refused")

    lock.connect = refused  # type: ignore[method-assign]
    with pytest.raises(StoreUnavailable, match="taking a lease"):
        await _lease(lock).acquire()


async def test_a_lock_statement_that_fails_discards_its_connection() -> None:
    lock = FakeLock()

    async def fails(connection: Connection) -> bool:
        raise Lost()

    lock.try_lock = fails  # type: ignore[method-assign]
    with pytest.raises(Lost):
        await _lease(lock).acquire()
    assert lock.connections[0].state == "discarded"
