"""The relay through each broker's publisher: every event arrives, in its aggregate's order."""

from __future__ import annotations

import json

import pytest

from evtsrc import Domain, EventMeta, on_event
from evtsrc.backends import InMemoryBackend
from evtsrc.messaging import AGGREGATE_VERSION, EVENT_ID, TYPE, PublishFailed, Relay
from tests.conformance.model import Address, Counter, Ledger, One

from .targets import BROKERS, destination

AGGREGATES = 40
ROUNDS = 25


class Out(Relay, name="out"):
    @on_event
    def any(self, event: One | Address, meta: EventMeta) -> None:
        self.forward(event, meta)


@pytest.mark.parametrize("broker", BROKERS)
async def test_every_event_arrives_in_its_aggregates_order_with_its_id(broker: str) -> None:
    domain = Domain(InMemoryBackend(), aggregates=[Counter, Ledger])
    for _ in range(ROUNDS):
        for n in range(AGGREGATES):
            await domain.repository(Counter).execute(f"c{n}", Counter.do_one)
    stored = await domain.backend.read_streams(["counters"], after_position=0, limit=10_000)
    async with destination(broker) as target:
        relay = Out(target.publisher())
        try:
            runner = domain.handler(relay, batch_size=200)
            assert await runner.run_once() == AGGREGATES * ROUNDS
        finally:
            await relay.close()
        delivered = await target.read(AGGREGATES * ROUNDS)
    assert len(delivered) == AGGREGATES * ROUNDS
    assert {d.message_id for d in delivered} == {f"out:{r.event_id}" for r in stored}
    for n in range(AGGREGATES):
        versions = [int(d.headers[AGGREGATE_VERSION]) for d in delivered if d.key == f"c{n}"]
        assert versions == list(range(1, ROUNDS + 1)), f"c{n}"
    by_id = {r.event_id: r for r in stored}
    for message in delivered:
        record = by_id[message.headers[EVENT_ID]]
        assert json.loads(message.payload) == record.data
        assert message.type == message.headers[TYPE] == "one"


@pytest.mark.parametrize("broker", BROKERS)
async def test_a_batch_sent_again_keeps_its_ids(broker: str) -> None:
    domain = Domain(InMemoryBackend(), aggregates=[Counter, Ledger])
    for n in range(5):
        await domain.repository(Counter).execute(f"c{n}", Counter.do_one)
    async with destination(broker) as target:
        publisher = target.publisher()
        relay = Out(publisher)
        runner = domain.handler(relay)
        try:
            await runner.run_once()
            await runner.set_position(0)
            await runner.run_once()
        finally:
            await relay.close()
        delivered = await target.read(5)
        if broker == "nats":  # JetStream drops the repeats by their Nats-Msg-Id
            assert len(delivered) == 5
        else:  # the others deliver them again, under the same ids
            assert len(delivered) == 10
        assert len({d.message_id for d in delivered}) == 5


@pytest.mark.parametrize("broker", ["nats", "rabbitmq"])
async def test_a_message_no_stream_or_queue_takes_is_a_failure_not_a_loss(broker: str) -> None:
    domain = Domain(InMemoryBackend(), aggregates=[Counter, Ledger])
    await domain.repository(Counter).execute("c1", Counter.do_one)

    class Astray(Relay, name="astray"):
        @on_event
        def one(self, event: One, meta: EventMeta) -> None:
            self.forward(event, meta, to="nowhere-evtsrc-test")

    async with destination(broker) as target:
        relay = Astray(target.publisher(timeout=5))
        runner = domain.handler(relay)
        try:
            with pytest.raises(PublishFailed):
                await runner.run_once()
        finally:
            await relay.close()
        assert await runner.position() == 0
