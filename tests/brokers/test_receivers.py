"""Relay to inbox through each broker: every event handled once, in its aggregate's order."""

from __future__ import annotations

import asyncio

import pytest

from evtsrc import Domain, EventMeta, on_event
from evtsrc.backends import InMemoryBackend
from evtsrc.messaging import (
    AGGREGATE_ID,
    AGGREGATE_VERSION,
    Inbox,
    InboxHandler,
    Received,
    Receiver,
    Relay,
    on_message,
)
from tests.conformance.model import Counter, Ledger, One

from .targets import BROKERS, destination

AGGREGATES = 40
ROUNDS = 10


class Out(Relay, name="out"):
    @on_event
    def one(self, event: One, meta: EventMeta) -> None:
        self.forward(event, meta)


class Mirror(InboxHandler, name="mirror"):
    """Records each counter's event as an entry on a ledger of the same id."""

    def __init__(self, domain: Domain) -> None:
        self.ledgers = domain.repository(Ledger)

    @on_message
    async def one(self, message: One, received: Received) -> None:
        version = received.headers[AGGREGATE_VERSION]
        await self.ledgers.execute(
            received.headers[AGGREGATE_ID], Ledger.record, street=f"v{version}"
        )


async def _until(receiver: Receiver, seen: int, seconds: float = 60) -> None:
    async with asyncio.timeout(seconds):
        while receiver.handled + receiver.skipped + receiver.rejected < seen:
            await asyncio.sleep(0.05)


@pytest.mark.parametrize("broker", BROKERS)
async def test_each_event_is_handled_once_in_order_though_delivered_twice(broker: str) -> None:
    sender = Domain(InMemoryBackend(), aggregates=[Counter, Ledger])
    for _ in range(ROUNDS):
        for n in range(AGGREGATES):
            await sender.repository(Counter).execute(f"c{n}", Counter.do_one)
    receiving = Domain(InMemoryBackend(), aggregates=[Counter, Ledger])
    total = AGGREGATES * ROUNDS
    async with destination(broker) as target:
        relay = Out(target.publisher())
        runner = sender.handler(relay, batch_size=150)
        try:
            await runner.run_once()
            await runner.set_position(0)  # and every message once more
            await runner.run_once()
        finally:
            await relay.close()
        receiver = target.receiver()
        await receiver.start(Inbox(Mirror(receiving), receiving))
        try:
            twice = total if broker != "nats" else 0  # JetStream dropped the repeats itself
            await _until(receiver, total + twice)
        finally:
            await receiver.stop()
    assert (receiver.handled, receiver.skipped, receiver.rejected) == (total, twice, 0)
    for n in range(AGGREGATES):
        records = await receiving.backend.read_aggregate("ledgers", f"c{n}")
        assert [r.data["street"] for r in records] == [f"v{v}" for v in range(1, ROUNDS + 1)]


@pytest.mark.parametrize("broker", BROKERS)
async def test_a_message_without_a_relays_headers_is_rejected_and_the_rest_flows(
    broker: str,
) -> None:
    sender = Domain(InMemoryBackend(), aggregates=[Counter, Ledger])
    await sender.repository(Counter).execute("c1", Counter.do_one)
    receiving = Domain(InMemoryBackend(), aggregates=[Counter, Ledger])
    async with destination(broker) as target:
        await target.send_raw(b"{}", {"something": "else"})
        relay = Out(target.publisher())
        try:
            await sender.handler(relay).run_once()
        finally:
            await relay.close()
        receiver = target.receiver()
        await receiver.start(Inbox(Mirror(receiving), receiving))
        try:
            await _until(receiver, 2)
        finally:
            await receiver.stop()
    assert (receiver.handled, receiver.rejected) == (1, 1)
    assert len(await receiving.backend.read_aggregate("ledgers", "c1")) == 1


@pytest.mark.parametrize("broker", BROKERS)
async def test_a_failing_message_is_tried_again_and_holds_the_next_back(broker: str) -> None:
    sender = Domain(InMemoryBackend(), aggregates=[Counter, Ledger])
    for _ in range(3):
        await sender.repository(Counter).execute("c1", Counter.do_one)
    receiving = Domain(InMemoryBackend(), aggregates=[Counter, Ledger])

    class Flaky(Mirror, name="flaky"):
        failures = 3

        @on_message
        async def one(self, message: One, received: Received) -> None:
            if received.headers[AGGREGATE_VERSION] == "2" and self.failures:
                self.failures -= 1
                raise RuntimeError("not yet")
            await super().one(message, received)

    async with destination(broker) as target:
        relay = Out(target.publisher())
        try:
            await sender.handler(relay).run_once()
        finally:
            await relay.close()
        receiver = target.receiver()
        await receiver.start(Inbox(Flaky(receiving), receiving))
        try:
            await _until(receiver, 3)
        finally:
            await receiver.stop()
    records = await receiving.backend.read_aggregate("ledgers", "c1")
    assert [r.data["street"] for r in records] == ["v1", "v2", "v3"]
    assert isinstance(receiver.last_error, RuntimeError)
