"""The members of handler groups: each beats to stay listed, and is gone once its time runs out."""

from __future__ import annotations

import asyncio

import pytest

from evtsrc.backends import Backend, GroupMembers

from ._base import ContractBase

LONG = 30.0
"""A time to live no test outlasts."""


def _members(backend: Backend) -> GroupMembers:
    if not isinstance(backend, GroupMembers):
        pytest.skip(f"{type(backend).__name__} is not GroupMembers: it keeps no handler groups")
    return backend


class GroupMembersContract(ContractBase):
    """`GroupMembers`: beats, expiry and leaving, group by group."""

    async def test_groups_list_the_beating_member_itself(self, backend: Backend) -> None:
        store = _members(backend)
        assert await store.beat("g", "m1", LONG) == ["m1"]
        assert await store.beat("g", "m1", LONG) == ["m1"]

    async def test_groups_list_their_live_members_sorted_and_no_others(
        self, backend: Backend
    ) -> None:
        store = _members(backend)
        assert await store.beat("g", "b", LONG) == ["b"]
        assert await store.beat("g", "Zoë", LONG) == ["Zoë", "b"]
        assert await store.beat("g", "B", LONG) == ["B", "Zoë", "b"]  # by code point
        assert await store.beat("g2", "a", LONG) == ["a"]
        assert await store.beat('["g", "x"]', "a", LONG) == ["a"]
        assert await store.beat("g", "b", LONG) == ["B", "Zoë", "b"]
        assert await store.beat("g2", "c", LONG) == ["a", "c"]

    async def test_groups_forget_a_member_whose_time_ran_out(self, backend: Backend) -> None:
        store = _members(backend)
        await store.beat("other", "brief", LONG)
        await store.beat("g", "steady", LONG)
        assert await store.beat("g", "brief", 0.05) == ["brief", "steady"]
        await asyncio.sleep(0.2)
        assert await store.beat("g", "steady", LONG) == ["steady"]
        assert await store.beat("g", "steady", LONG) == ["steady"]
        assert await store.beat("other", "x", LONG) == ["brief", "x"]  # another group's
        assert await store.beat("g", "brief", LONG) == ["brief", "steady"]  # back again

    async def test_groups_keep_a_member_whose_beat_renewed_its_time(self, backend: Backend) -> None:
        store = _members(backend)
        await store.beat("g", "renewed", 0.3)
        await asyncio.sleep(0.2)
        await store.beat("g", "renewed", 0.3)
        await asyncio.sleep(0.2)  # 0.4 s after the first beat, 0.2 s after the second
        assert await store.beat("g", "other", LONG) == ["other", "renewed"]

    async def test_groups_forget_a_member_that_leaves_at_once(self, backend: Backend) -> None:
        store = _members(backend)
        await store.beat("g", "a", LONG)
        await store.beat("g", "b", LONG)
        await store.beat("g2", "a", LONG)
        await store.leave("g", "a")
        assert await store.beat("g", "b", LONG) == ["b"]
        assert await store.beat("g2", "c", LONG) == ["a", "c"]
        await store.leave("g", "a")  # gone already
        await store.leave("g", "never-there")
        await store.leave("no-such-group", "a")
        await store.leave("g", "b")
        assert await store.beat("g", "a", LONG) == ["a"]

    async def test_groups_list_members_beating_at_once(self, backend: Backend) -> None:
        store = _members(backend)
        for stale in range(4):
            await store.beat("g", f"stale{stale}", 0.05)
        members = [f"m{n}" for n in range(8)]
        for _ in range(3):
            await asyncio.gather(*(store.beat("g", m, 0.05) for m in members))
            await asyncio.sleep(0.2)
            # All late and all at once: each forgets the others' old beats, not their new ones.
            found = await asyncio.gather(*(store.beat("g", m, LONG) for m in members))
            for member, listed in zip(members, found, strict=True):
                assert member in listed
                assert set(listed) <= set(members)
                assert listed == sorted(listed)
            assert await store.beat("g", "m0", LONG) == members
