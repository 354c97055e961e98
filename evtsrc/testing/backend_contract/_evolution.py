"""Events that live for years: correlation and causation, context, versions and aliases."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import evtsrc
from evtsrc import (
    Aggregate,
    Domain,
    Event,
    EventDecodeError,
    EventHandler,
    EventMeta,
    HandlerError,
    MetadataNotRead,
    command,
    folds,
    on_event,
    upcaster,
)
from evtsrc._jsontypes import JSONObject
from evtsrc.backends import Backend, NewEvent

from ._base import ContractBase
from ._model import Address, Counter, Ledger, One


class Priced(Event, type_name="contract.priced", version=3, aliases=("contract.cost",)):
    """Version 1 was `contract.cost` {"amount": "12.5"}; 2 added the currency; 3 cents."""

    cents: int
    currency: str


@upcaster(Priced, from_version=1)
def _amount_as_number(data: JSONObject) -> JSONObject:
    amount = data.pop("amount")
    assert isinstance(amount, str)
    return {**data, "amount": float(amount), "currency": "EUR"}


@upcaster(Priced, from_version=2)
def _amount_in_cents(data: JSONObject) -> JSONObject:
    amount = data.pop("amount")
    assert isinstance(amount, int | float)
    return {**data, "cents": round(amount * 100)}


class Shop(Aggregate, stream="contract-shops"):
    total: int = 0
    seen: tuple[tuple[int, str], ...] = ()

    @folds
    def _priced(self, event: Priced, meta: EventMeta) -> None:
        self.total += event.cents
        self.seen = (*self.seen, (meta.event_version, meta.type_name))

    @command
    def price(self, cents: int) -> Priced:
        return Priced(cents=cents, currency="EUR")


class _Chain(EventHandler, name="contract-chain"):
    """A process manager: One on a counter → an address on its ledger → Two on the counter."""

    def __init__(self, domain: Domain) -> None:
        self.counters = domain.repository(Counter)
        self.ledgers = domain.repository(Ledger)

    @on_event
    async def one(self, event: One, meta: EventMeta) -> None:
        await self.ledgers.execute(f"ledger-of-{meta.aggregate_id}", Ledger.record, street="x")

    @on_event
    async def address(self, event: Address, meta: EventMeta) -> None:
        counter = meta.aggregate_id.removeprefix("ledger-of-")
        await self.counters.execute(counter, Counter.do_two)


class _PositionsOnly(EventHandler, name="contract-positions-only", reads_metadata=False):
    """A read model that asks no event for its id or metadata, and says so."""

    def __init__(self) -> None:
        self.seen: list[tuple[object, ...]] = []
        self.refused: list[tuple[str, str]] = []

    @on_event
    def one(self, event: One, meta: EventMeta) -> None:
        self.seen.append(_where(meta))
        for name in ("event_id", "correlation_id", "causation_id", "metadata"):
            try:
                getattr(meta, name)
            except MetadataNotRead as error:
                self.refused.append((name, str(error)))


class _LeanChain(EventHandler, name="contract-lean-chain", reads_metadata=False):
    """A process manager wrongly declared as reading no metadata: it cannot name a cause."""

    def __init__(self, domain: Domain) -> None:
        self.ledgers = domain.repository(Ledger)

    @on_event
    async def one(self, event: One) -> None:
        await self.ledgers.execute("l", Ledger.record, street="x")


def _where(meta: EventMeta) -> tuple[object, ...]:
    return (
        meta.stream, meta.aggregate_id, meta.version, meta.position, meta.timestamp,
        meta.type_name, meta.event_version,
    )  # fmt: skip


class EvolutionContract(ContractBase):
    """Metadata recorded by commands and handlers; old event versions read through upcasters."""

    async def test_each_command_starts_a_correlation_of_its_own(self, domain: Domain) -> None:
        counters = domain.repository(Counter)
        await counters.execute("c", Counter.do_multi)
        await counters.execute("c", Counter.do_one)
        first, second, third = [s.meta for s in await counters.history("c")]
        assert first.correlation_id == second.correlation_id == first.event_id
        assert third.correlation_id == third.event_id != first.correlation_id
        assert {first.causation_id, third.causation_id, *first.metadata} == {None}

    async def test_a_context_is_recorded_by_every_append_inside_it(self, domain: Domain) -> None:
        counters = domain.repository(Counter)
        async with evtsrc.context(correlation_id="req-1", user="Zoë", roles=["ops"]):
            await counters.execute("c", Counter.do_one)
            with evtsrc.context(attempt=2):
                await domain.repository(Ledger).execute("l", Ledger.record, street="x")
        await counters.execute("c", Counter.do_one)
        [one, other] = [s.meta for s in await counters.history("c")]
        [address] = [s.meta for s in await domain.repository(Ledger).history("l")]
        assert (one.correlation_id, one.metadata) == ("req-1", {"user": "Zoë", "roles": ["ops"]})
        assert (address.correlation_id, address.metadata) == (
            "req-1",
            {"user": "Zoë", "roles": ["ops"], "attempt": 2},
        )
        assert (other.correlation_id, other.metadata) == (other.event_id, {})

    async def test_a_handler_passes_correlation_on_and_names_the_cause(
        self, domain: Domain
    ) -> None:
        counters = domain.repository(Counter)
        async with evtsrc.context(correlation_id="order-9"):
            await counters.execute("c", Counter.do_one)
        runner = domain.handler(_Chain(domain))
        for _ in range(3):  # the chain appends as it goes: catch up until it is done
            await runner.run_once()
        one, two = [s.meta for s in await counters.history("c")]
        [address] = [s.meta for s in await domain.repository(Ledger).history("ledger-of-c")]
        assert one.type_name == "one" and two.type_name == "two"
        assert (one.correlation_id, one.causation_id) == ("order-9", None)
        assert (address.correlation_id, address.causation_id) == ("order-9", one.event_id)
        assert (two.correlation_id, two.causation_id) == ("order-9", address.event_id)
        assert len({one.event_id, address.event_id, two.event_id}) == 3

    async def test_a_handler_that_reads_no_metadata_gets_the_rest_and_refuses_it(
        self, domain: Domain
    ) -> None:
        counters = domain.repository(Counter)
        async with evtsrc.context(correlation_id="req-3", user="Zoë"):
            await counters.execute("c", Counter.do_one)
            await counters.execute("c", Counter.do_one)
        runner = domain.handler(_PositionsOnly())
        assert await runner.run_once() == 2
        history = [_where(s.meta) for s in await counters.history("c")]
        assert runner.handler.seen == history
        names = ["event_id", "correlation_id", "causation_id", "metadata"]
        refused = runner.handler.refused
        assert [name for name, _ in refused] == names * 2
        for (_, message), where in zip(refused, [w for w in history for _ in names], strict=True):
            assert f"at position {where[3]} " in message and "reads_metadata=False" in message

    async def test_a_handler_that_reads_no_metadata_cannot_run_commands(
        self, domain: Domain
    ) -> None:
        await domain.repository(Counter).execute("c", Counter.do_one)
        runner = domain.handler(_LeanChain(domain))
        with pytest.raises(HandlerError) as raised:
            await runner.run_once()
        assert isinstance(raised.value.__cause__, MetadataNotRead)
        assert "reads_metadata=False" in str(raised.value.__cause__)
        assert await domain.repository(Ledger).history("l") == []
        assert await runner.position() == 0

    async def test_old_versions_and_old_names_read_as_the_current_class(
        self, backend: Backend
    ) -> None:
        domain = Domain(backend, aggregates=[Shop])
        now = datetime.now(UTC)
        await backend.append(
            "contract-shops",
            "s",
            0,
            [
                NewEvent("contract.cost", {"amount": "12.5"}, now, event_version=1),
                NewEvent("contract.priced", {"amount": 2, "currency": "EUR"}, now, event_version=2),
            ],
        )
        shops = domain.repository(Shop)
        await shops.execute("s", Shop.price, cents=5)
        shop = await shops.load("s")
        assert shop.total == 1250 + 200 + 5
        assert shop.seen == ((1, "contract.cost"), (2, "contract.priced"), (3, "contract.priced"))
        assert [s.event for s in await shops.history("s")] == [
            Priced(cents=1250, currency="EUR"),
            Priced(cents=200, currency="EUR"),
            Priced(cents=5, currency="EUR"),
        ]
        [stored] = await backend.read_aggregate("contract-shops", "s", after_version=2)
        assert (stored.type, stored.event_version) == ("contract.priced", 3)

    async def test_an_event_newer_than_its_class_is_refused_by_name(self, backend: Backend) -> None:
        domain = Domain(backend, aggregates=[Shop])
        now = datetime.now(UTC)
        data: JSONObject = {"cents": 1, "currency": "EUR"}
        await backend.append(
            "contract-shops", "s", 0, [NewEvent("contract.priced", data, now, event_version=3)]
        )
        await backend.append(
            "contract-shops", "s", 1, [NewEvent("contract.priced", data, now, event_version=4)]
        )
        with pytest.raises(EventDecodeError, match="at version 4, newer than Priced") as raised:
            await domain.repository(Shop).load("s")
        assert (raised.value.aggregate_id, raised.value.version) == ("s", 2)
        assert raised.value.position is not None
