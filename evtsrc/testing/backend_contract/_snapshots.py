"""Aggregate persistence (evtstore case 11) and the snapshot store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from evtsrc import Domain, Snapshots
from evtsrc.backends import Backend, SnapshotRecord

from ._base import ContractBase
from ._model import Counter, SnapshotCounter


class SnapshotContract(ContractBase):
    """The snapshot store, and aggregates loaded from it."""

    @pytest.fixture
    def snap_domain(self, backend: Backend) -> Domain:
        # No cache: every load and command goes through the snapshot store.
        return Domain(backend, aggregates=[Counter, SnapshotCounter], cache_size=0)

    @pytest.fixture
    def restore_policy(self) -> Iterator[None]:
        saved = SnapshotCounter.__snapshots__
        yield
        SnapshotCounter.__snapshots__ = saved

    async def test_no_snapshot_is_stored_when_off(self, snap_domain: Domain) -> None:
        await snap_domain.repository(Counter).execute("c", Counter.do_one)
        assert await snap_domain.backend.get_snapshot("counters", "c") is None

    async def test_the_state_is_stored_when_on(self, snap_domain: Domain) -> None:
        repo = snap_domain.repository(SnapshotCounter)
        await repo.execute("s", SnapshotCounter.do_one)
        await repo.execute("s", SnapshotCounter.do_multi)
        snapshot = await snap_domain.backend.get_snapshot("snap-counters", "s")
        assert snapshot is not None
        assert snapshot.version == 3
        assert snapshot.state["one"] == 1 and snapshot.state["multi"] == 2
        assert len(snapshot.key) == 16

    async def test_a_load_uses_the_snapshot(self, snap_domain: Domain) -> None:
        repo = snap_domain.repository(SnapshotCounter)
        await repo.execute("s", SnapshotCounter.do_one)
        await repo.execute("s", SnapshotCounter.do_multi)
        stored = await snap_domain.backend.get_snapshot("snap-counters", "s")
        assert stored is not None and stored.version == 3
        # A doctored snapshot shows whether a load reads it instead of folding every event.
        doctored = SnapshotRecord("snap-counters", "s", 3, stored.key, dict(stored.state, one=41))
        await snap_domain.backend.put_snapshot(doctored)
        loaded = await repo.load("s")
        assert (loaded.version, loaded.one, loaded.multi) == (3, 41, 2)
        after = await repo.execute("s", SnapshotCounter.do_two)
        assert (after.version, after.one, after.two) == (4, 41, 1)

    async def test_a_changed_key_folds_afresh_then_stores_under_the_new_key(
        self, snap_domain: Domain, backend: Backend, restore_policy: None
    ) -> None:
        repo = snap_domain.repository(SnapshotCounter)
        await repo.execute("s", SnapshotCounter.do_one)
        old = await backend.get_snapshot("snap-counters", "s")
        assert old is not None
        await backend.put_snapshot(
            SnapshotRecord("snap-counters", "s", 1, old.key, dict(old.state, one=99))
        )
        SnapshotCounter.__snapshots__ = Snapshots(every=1, key="v2")
        renewed = Domain(backend, aggregates=[SnapshotCounter], cache_size=0).repository(
            SnapshotCounter
        )
        assert (await renewed.load("s")).one == 1
        after = await renewed.execute("s", SnapshotCounter.do_two)
        assert (after.version, after.one, after.two) == (2, 1, 1)
        new = await backend.get_snapshot("snap-counters", "s")
        assert new is not None and (new.key, new.version) == ("v2", 2)

    async def test_snapshots_every_n_events(self, backend: Backend, restore_policy: None) -> None:
        SnapshotCounter.__snapshots__ = Snapshots(every=3)
        repo = Domain(backend, aggregates=[SnapshotCounter], cache_size=0).repository(
            SnapshotCounter
        )
        await repo.execute("s", SnapshotCounter.do_one)
        await repo.execute("s", SnapshotCounter.do_one)
        assert await backend.get_snapshot("snap-counters", "s") is None
        await repo.execute("s", SnapshotCounter.do_multi)
        snapshot = await backend.get_snapshot("snap-counters", "s")
        assert snapshot is not None and snapshot.version == 4
        assert (await repo.load("s")).multi == 2

    async def test_a_snapshot_never_moves_backwards_under_one_key(self, backend: Backend) -> None:
        await backend.put_snapshot(SnapshotRecord("st", "a", 5, "k", {"n": 5}))
        await backend.put_snapshot(SnapshotRecord("st", "a", 3, "k", {"n": 3}))
        kept = await backend.get_snapshot("st", "a")
        assert kept is not None and kept.state == {"n": 5}
        await backend.put_snapshot(SnapshotRecord("st", "a", 2, "other", {"n": 2}))
        replaced = await backend.get_snapshot("st", "a")
        assert replaced is not None and (replaced.key, replaced.version) == ("other", 2)
        assert await backend.get_snapshot("st", "b") is None
