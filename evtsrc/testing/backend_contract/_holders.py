"""Who holds a lease, and which members a group has: what an operator's tools ask a store.

`lease_holder(name)` names the holder's host and process (`process_label()`) where the
store can know them, and is None for a lease no runner holds; `members(group)` lists a
group's live members, sorted. Both refuse names no backend could read the same way.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from evtsrc import Domain
from evtsrc.backends import Backend, GroupMembers, LeaseHolders, ListableMembers
from evtsrc.backends.base import process_label

from ._base import ContractBase
from ._groups import LONG
from ._model import Seen
from ._waiting import until

BAD_NAMES: list[tuple[Any, type[Exception], str]] = [
    (7, TypeError, "is a str, not 7"),
    (None, TypeError, "is a str, not None"),
    (b"h", TypeError, "is a str, not b'h'"),
    ("h\x00", ValueError, "'h\\\\x00' contains the NUL character"),
    ("\ud800", ValueError, "'\\\\ud800' contains the lone surrogate"),
]
"""Names every backend refuses alike: the value, the error and the end of its message."""


def _holders(backend: Backend) -> LeaseHolders:
    assert isinstance(backend, LeaseHolders)  # every Backend is one
    return backend


def _listable(backend: Backend) -> ListableMembers:
    if not isinstance(backend, GroupMembers):
        pytest.skip(f"{type(backend).__name__} is not GroupMembers: it keeps no handler groups")
    assert isinstance(backend, ListableMembers)  # every Backend is one
    return backend


class LeaseHolderContract(ContractBase):
    """`lease_holder` and `members`: who holds a lease, who is in a group."""

    def check_holder(self, holder: str | None) -> None:
        """Assert that `holder` is what `lease_holder` says of a lease this process holds."""
        assert isinstance(holder, str)
        if self.lease_holder_shows is None:
            assert process_label() in holder, holder
        else:
            assert re.search(self.lease_holder_shows, holder), holder

    async def test_lease_holder_of_a_free_lease_is_none(self, backend: Backend) -> None:
        store = _holders(backend)
        assert await store.lease_holder("never-taken") is None
        assert await store.lease_holder("seen#0/4") is None
        lease = backend.lease("taken-and-freed")
        assert await lease.acquire()
        await lease.release()
        assert await store.lease_holder("taken-and-freed") is None

    async def test_lease_holder_names_the_holder_while_it_holds(self, backend: Backend) -> None:
        store = _holders(backend)
        lease, bucket = backend.lease("h"), backend.lease("h#1/4")
        assert await lease.acquire()
        try:
            self.check_holder(await store.lease_holder("h"))
            assert await store.lease_holder("h#0/4") is None
            assert await bucket.acquire()
            self.check_holder(await store.lease_holder("h#1/4"))
            assert await store.lease_holder("H") is None  # names match whole and exactly
            await bucket.release()
            assert await store.lease_holder("h#1/4") is None
            self.check_holder(await store.lease_holder("h"))  # the other lease holds on
        finally:
            await lease.release()
            await bucket.release()
        assert await store.lease_holder("h") is None

    async def test_lease_holder_of_odd_names(self, backend: Backend) -> None:
        store = _holders(backend)
        for name in ("Zoë #1/2", "東京", "x" * 200, 'a"b\\c', "'; --"):
            lease = backend.lease(name)
            assert await lease.acquire(), name
            try:
                self.check_holder(await store.lease_holder(name))
            finally:
                await lease.release()
            assert await store.lease_holder(name) is None, name

    @pytest.mark.parametrize(("name", "error", "message"), BAD_NAMES)
    async def test_lease_holder_refuses_what_no_backend_reads_alike(
        self, backend: Backend, name: Any, error: type[Exception], message: str
    ) -> None:
        with pytest.raises(error, match=f"^lease_holder\\(\\): name {message}"):
            await _holders(backend).lease_holder(name)

    async def test_members_lists_the_live_members_sorted(self, backend: Backend) -> None:
        store, beats = _listable(backend), _members_of(backend)
        assert await store.members("g") == []
        label = process_label()
        ids = [f"4:{label} b", "4:Zoë", f"4:{label} a", "B"]
        for member in ids:
            await beats.beat("g", member, LONG)
        await beats.beat("other", "x", LONG)
        assert await store.members("g") == sorted(ids)  # by code point
        assert await store.members("other") == ["x"]
        assert await store.members("G") == []
        assert await store.members("no-such-group") == []

    async def test_members_forgets_one_that_left(self, backend: Backend) -> None:
        store, beats = _listable(backend), _members_of(backend)
        await beats.beat("g", "a", LONG)
        await beats.beat("g", "b", LONG)
        await beats.leave("g", "a")
        assert await store.members("g") == ["b"]
        await beats.leave("g", "b")
        assert await store.members("g") == []

    async def test_members_drops_one_whose_time_ran_out(self, backend: Backend) -> None:
        store, beats = _listable(backend), _members_of(backend)
        await beats.beat("g", "steady", LONG)
        await beats.beat("g", "brief", 0.05)
        await asyncio.sleep(0.2)  # no beat since: its record may still be stored
        assert await store.members("g") == ["steady"]
        await beats.beat("g", "brief", LONG)  # back again
        assert await store.members("g") == ["brief", "steady"]

    @pytest.mark.parametrize(("name", "error", "message"), BAD_NAMES)
    async def test_members_refuses_what_no_backend_reads_alike(
        self, backend: Backend, name: Any, error: type[Exception], message: str
    ) -> None:
        store = _listable(backend)
        with pytest.raises(error, match=f"^members\\(\\): group {message}"):
            await store.members(name)

    async def test_a_running_group_is_listed_with_its_holder(
        self, backend: Backend, domain: Domain
    ) -> None:
        store, holders = _listable(backend), _holders(backend)
        group = domain.handler_group(Seen(), buckets=2, member_ttl=3.0, poll_interval=0.02)
        assert process_label() in group.member  # operators see where each member runs
        assert group.member.partition(":")[0] == "2"
        await group.start()
        try:
            await until(lambda: group.held == (0, 1))
            assert await store.members("seen") == [group.member]
            for index in (0, 1):
                self.check_holder(await holders.lease_holder(f"seen#{index}/2"))
        finally:
            await group.stop()
        assert await store.members("seen") == []
        assert await holders.lease_holder("seen#0/2") is None


def _members_of(backend: Backend) -> GroupMembers:
    assert isinstance(backend, GroupMembers)
    return backend
