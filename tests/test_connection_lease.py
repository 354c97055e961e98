"""The shared lease bookkeeping: locks of one session, shared by leases, lost with it."""

from __future__ import annotations

import asyncio

import pytest

from evtsrc import StoreUnavailable
from evtsrc.backends._support.expiring import ExpiringLease
from evtsrc.backends._support.lease import SessionLease, SharedSession
from evtsrc.backends._support.outage import Outage


class Lost(Exception):
    """The connection is gone."""


class Connection:
    def __init__(self) -> None:
        self.state = "open"


class FakeLocks:
    """Locks the test frees, steals or hangs; every connection's fate is recorded."""

    def __init__(self) -> None:
        self.holders: dict[str, Connection] = {}
        self.connections: list[Connection] = []
        self.check_fails: Exception | None = None
        self.check_hangs = False
        self.unlock_hangs = False

    async def connect(self) -> Connection:
        connection = Connection()
        self.connections.append(connection)
        return connection

    async def try_lock(self, connection: Connection, key: str) -> bool:
        holder = self.holders.setdefault(key, connection)
        return holder is connection

    async def holds(self, connection: Connection, key: str) -> bool:
        if self.check_hangs:
            await asyncio.sleep(10)
        if self.check_fails is not None:
            raise self.check_fails
        return self.holders.get(key) is connection

    async def unlock(self, connection: Connection, key: str) -> None:
        if self.unlock_hangs:
            await asyncio.sleep(10)
        if self.holders.get(key) is connection:
            del self.holders[key]

    def _free_all(self, connection: Connection) -> None:
        for key in [k for k, c in self.holders.items() if c is connection]:
            del self.holders[key]

    async def give_back(self, connection: Connection) -> None:
        self._free_all(connection)
        connection.state = "given back"

    async def discard(self, connection: Connection) -> None:
        self._free_all(connection)
        connection.state = "discarded"

    def lost(self, error: Exception) -> bool:
        return isinstance(error, Lost)


OUTAGE = Outage("Fake", (ConnectionRefusedError,))


def _session(locks: FakeLocks, timeout: float = 1.0) -> SharedSession[Connection, str]:
    return SharedSession(locks, outage=OUTAGE, timeout=timeout)


def _lease(session: SharedSession[Connection, str], key: str) -> SessionLease[Connection, str]:
    return session.lease(key, "taking a lease")


async def test_one_holder_of_a_key_at_a_time_across_sessions_and_within_one() -> None:
    locks = FakeLocks()
    mine, theirs = _session(locks), _session(locks)
    first, again, other = _lease(mine, "a"), _lease(mine, "a"), _lease(theirs, "a")
    assert await first.acquire() and await first.acquire()  # taken once, kept
    assert not await again.acquire()  # the session could take it again: refused here
    assert not await other.acquire()
    assert [c.state for c in locks.connections] == ["open", "given back"]
    assert await first.check() and not await again.check() and not await other.check()
    await first.release()
    assert not await first.check()
    assert await other.acquire()
    assert [c.state for c in locks.connections] == ["given back", "given back", "open"]


async def test_the_leases_of_a_session_share_one_connection_until_the_last_is_freed() -> None:
    locks = FakeLocks()
    session = _session(locks)
    leases = [_lease(session, f"bucket-{n}") for n in range(12)]
    for lease in leases:
        assert await lease.acquire()
    assert len(locks.connections) == 1
    for lease in leases[:-1]:
        await lease.release()
        assert locks.connections[0].state == "open"
    assert set(locks.holders) == {"bucket-11"}
    await leases[-1].release()
    assert locks.connections[0].state == "given back"
    assert locks.holders == {}


@pytest.mark.parametrize("failure", ["lost", "hangs"])
async def test_a_lost_connection_loses_every_lease_on_it(failure: str) -> None:
    locks = FakeLocks()
    session = _session(locks, timeout=0.1)
    first, second = _lease(session, "a"), _lease(session, "b")
    assert await first.acquire() and await second.acquire()
    if failure == "lost":
        locks.check_fails = Lost()
    else:
        locks.check_hangs = True
    assert not await first.check()
    assert locks.connections[0].state == "discarded"
    locks.check_fails, locks.check_hangs = None, False
    assert not await second.check()  # lost with the session, without asking
    assert not await first.check()  # and stays lost until taken again
    assert await first.acquire()
    assert locks.connections[1].state == "open"


async def test_a_lock_taken_from_the_session_loses_that_lease_only() -> None:
    locks = FakeLocks()
    session = _session(locks)
    first, second = _lease(session, "a"), _lease(session, "b")
    assert await first.acquire() and await second.acquire()
    locks.holders["a"] = Connection()  # stolen
    assert not await first.check()
    assert await second.check()
    assert locks.connections[0].state == "open"
    await second.release()
    assert locks.connections[0].state == "given back"


async def test_other_errors_of_a_check_are_raised_and_keep_the_lease() -> None:
    locks = FakeLocks()
    lease = _lease(_session(locks), "a")
    assert await lease.acquire()
    locks.check_fails = ValueError("a bug")
    with pytest.raises(ValueError, match="a bug"):
        await lease.check()
    locks.check_fails = None
    assert await lease.check()


async def test_an_unreachable_server_raises_store_unavailable() -> None:
    locks = FakeLocks()

    async def refused() -> Connection:
        raise ConnectionRefusedError("refused")

    locks.connect = refused  # type: ignore[method-assign]
    with pytest.raises(StoreUnavailable, match="taking a lease"):
        await _lease(_session(locks), "a").acquire()


async def test_a_lock_statement_that_fails_discards_its_connection() -> None:
    locks = FakeLocks()

    async def fails(connection: Connection, key: str) -> bool:
        raise Lost()

    locks.try_lock = fails  # type: ignore[method-assign]
    with pytest.raises(Lost):
        await _lease(_session(locks), "a").acquire()
    assert locks.connections[0].state == "discarded"


class SlowRecords:
    """Lease records whose taking never answers, as during a server restart."""

    async def take(self, name: str, holder: str, ttl: float) -> bool:
        await asyncio.sleep(10)
        return True

    async def renew(self, name: str, holder: str, ttl: float) -> bool:
        return True

    async def free(self, name: str, holder: str) -> None:
        pass


async def test_an_expiring_lease_that_cannot_be_taken_in_time_is_an_outage() -> None:
    lease = ExpiringLease(SlowRecords(), "h", ttl=0.2, outage=OUTAGE, action="taking a lease")
    with pytest.raises(StoreUnavailable, match="taking a lease failed.*TimeoutError"):
        await lease.acquire()
    assert not await lease.check()


@pytest.mark.parametrize("statement", ["check", "release"])
async def test_a_statement_cancelled_half_way_ends_the_session(statement: str) -> None:
    # Cancelled mid-statement, the connection's state is unknown (asyncpg refuses the next
    # statement while the cancelled one is in flight), and a cancelled unlock would leave
    # its lock held with no lease to free it: the session ends, the server frees its locks.
    locks = FakeLocks()
    session = _session(locks)
    first, second = _lease(session, "a"), _lease(session, "b")
    assert await first.acquire() and await second.acquire()
    locks.check_hangs = locks.unlock_hangs = True
    call = asyncio.create_task(first.check() if statement == "check" else first.release())
    await asyncio.sleep(0.01)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert locks.connections[0].state == "discarded"
    assert locks.holders == {}
    locks.check_hangs = locks.unlock_hangs = False
    assert not await second.check()
    assert await _lease(_session(locks), "a").acquire()
