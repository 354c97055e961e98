"""Parked aggregates: a poison event sets its aggregate aside, and the rest flows on."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from evtsrc import Domain, EventHandler, EventMeta, HandlerError, on_event
from evtsrc.backends import Backend, ParkedAggregate, ParkedEvents

from ._base import ContractBase
from ._model import Counter, One


def _parking(backend: Backend) -> ParkedEvents:
    if not isinstance(backend, ParkedEvents):
        pytest.skip(f"{type(backend).__name__} is not ParkedEvents: handlers cannot park")
    return backend


class Picky(EventHandler, name="picky"):
    """Records (aggregate id, version) of each event; fails on the aggregates in `poison`."""

    def __init__(self, poison: set[str]) -> None:
        self.poison = poison
        self.seen: list[tuple[str, int]] = []

    @on_event
    def one(self, event: One, meta: EventMeta) -> None:
        if meta.aggregate_id in self.poison:
            raise ValueError(f"{meta.aggregate_id} is poison")
        self.seen.append((meta.aggregate_id, meta.version))


async def _ones(domain: Domain, *ids: str) -> None:
    for aggregate_id in ids:
        await domain.repository(Counter).execute(aggregate_id, Counter.do_one)


class ParkingContract(ContractBase):
    """`ParkedEvents`, and handlers that park a failed event's aggregate (`park=True`)."""

    async def test_parked_aggregates_are_stored_listed_replaced_and_forgotten(
        self, backend: Backend
    ) -> None:
        store = _parking(backend)
        at = datetime(2026, 12, 1, 20, 30, 5, 123456, tzinfo=UTC)
        later = ParkedAggregate("counters", "b", 2, 40, "ValueError: ünïcode\nline 2", at)
        earlier = ParkedAggregate("counters", "a", 1, 7, "RuntimeError: x", at)
        await store.park("h", later)
        await store.park("h", earlier)
        await store.park("other", later)
        assert await store.parked("h") == [earlier, later]
        moved = ParkedAggregate("counters", "a", 3, 50, "RuntimeError: again", at)
        await store.park("h", moved)  # the same aggregate: replaced
        assert await store.parked("h") == [later, moved]
        await store.unpark("h", "counters", "b")
        await store.unpark("h", "counters", "never-parked")
        assert await store.parked("h") == [moved]
        assert await store.parked("other") == [later]
        assert await store.parked("nobody") == []

    async def test_a_poison_event_parks_its_aggregate_and_the_others_flow_on(
        self, domain: Domain
    ) -> None:
        _parking(domain.backend)
        await _ones(domain, "a", "b", "a", "b", "c")
        runner = domain.handler(Picky({"b"}), park=True)
        assert await runner.run_once() == 3
        assert runner.handler.seen == [("a", 1), ("a", 2), ("c", 1)]
        [parked] = await runner.parked()
        assert (parked.stream, parked.aggregate_id, parked.version) == ("counters", "b", 1)
        assert parked.error == "ValueError: b is poison"
        assert parked.parked_at.tzinfo is not None
        end = await domain.backend.last_position(["counters"])
        assert await runner.position() == end  # past the parked events too
        await _ones(domain, "b", "a")
        assert await runner.run_once() == 1  # b's later events wait with the rest of b
        assert runner.handler.seen[-1] == ("a", 3)
        # Another runner (another process, say) knows what is parked from the store.
        other = domain.handler(Picky(set()), park=True)
        await other.set_position(0)
        assert await other.run_once() == 4
        assert ("b", 1) not in other.handler.seen

    async def test_a_retried_aggregate_is_handled_in_order_and_leaves_the_store(
        self, domain: Domain
    ) -> None:
        _parking(domain.backend)
        await _ones(domain, "a", "b", "b", "a")
        runner = domain.handler(Picky({"b"}), park=True)
        assert await runner.run_once() == 2
        with pytest.raises(HandlerError, match="b is poison"):  # not fixed yet
            await runner.retry_parked("counters", "b")
        assert [p.version for p in await runner.parked()] == [1]
        runner.handler.poison.clear()  # the handler is fixed
        assert await runner.retry_parked("counters", "b") == 2
        assert runner.handler.seen == [("a", 1), ("a", 2), ("b", 1), ("b", 2)]
        assert await runner.parked() == []
        await _ones(domain, "b")
        assert await runner.run_once() == 1
        assert runner.handler.seen[-1] == ("b", 3)
        with pytest.raises(LookupError, match="nothing of counters/b parked"):
            await runner.retry_parked("counters", "b")

    async def test_a_retry_that_fails_later_keeps_the_rest_parked_from_there(
        self, domain: Domain
    ) -> None:
        _parking(domain.backend)
        await _ones(domain, "b", "b", "b")
        handler = Picky({"b"})
        runner = domain.handler(handler, park=True)
        assert await runner.run_once() == 0
        handler.poison.clear()

        def fail_on_version_2(event: One, meta: EventMeta) -> None:
            if meta.version == 2:
                raise ValueError("version 2 still fails")
            handler.seen.append((meta.aggregate_id, meta.version))

        handler.one = fail_on_version_2  # type: ignore[method-assign]
        runner = domain.handler(handler, park=True)
        with pytest.raises(HandlerError, match="version 2 still fails"):
            await runner.retry_parked("counters", "b")
        [parked] = await runner.parked()
        assert (parked.version, parked.error) == (2, "ValueError: version 2 still fails")
        assert handler.seen == [("b", 1)]

    async def test_a_discarded_aggregate_flows_on_without_its_parked_events(
        self, domain: Domain
    ) -> None:
        _parking(domain.backend)
        await _ones(domain, "b", "a")
        runner = domain.handler(Picky({"b"}), park=True)
        assert await runner.run_once() == 1
        runner.handler.poison.clear()
        await runner.discard_parked("counters", "b")
        assert await runner.parked() == []
        await _ones(domain, "b")
        assert await runner.run_once() == 1
        assert runner.handler.seen == [("a", 1), ("b", 2)]
        with pytest.raises(LookupError):
            await runner.discard_parked("counters", "b")
