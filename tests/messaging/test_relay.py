"""The relay: which messages it makes of stored events, and when its bookmark moves."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Sequence
from datetime import datetime

import pytest

from evtsrc import Domain, Event, EventMeta, RetryPolicy, context, on_event
from evtsrc.backends import InMemoryBackend
from evtsrc.messaging import (
    AGGREGATE_ID,
    AGGREGATE_VERSION,
    CAUSATION_ID,
    CORRELATION_ID,
    EVENT_ID,
    POSITION,
    STREAM,
    TIMESTAMP,
    TYPE,
    TYPE_VERSION,
    InMemoryPublisher,
    Message,
    PublishFailed,
    Relay,
)
from tests.conformance.model import Address, Counter, Ledger, One


class Everything(Relay, name="everything"):
    """Forwards every event of the domain as it is."""

    @on_event
    def any(self, event: One | Address, meta: EventMeta) -> None:
        self.forward(event, meta)


class Moved(Event, type_name="ledger.moved", version=2):
    """An integration message: the public contract of a ledger entry."""

    ledger: str
    street: str


class Public(Relay, name="public"):
    """Publishes ledger entries as integration messages, two for each (one elsewhere)."""

    def __init__(self, publisher: InMemoryPublisher, flaky: int = 0) -> None:
        super().__init__(publisher)
        self.flaky = flaky

    @on_event
    def entry(self, event: Address, meta: EventMeta) -> None:
        self.publish(Moved(ledger=meta.aggregate_id, street=event.street), meta)
        self.publish(Moved(ledger=meta.aggregate_id, street=event.street), meta, to="audit")
        if self.flaky:
            self.flaky -= 1
            raise RuntimeError("failed after publishing")


class Failing(InMemoryPublisher):
    """Refuses the next `failures` batches."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.refused: list[Message] = []

    async def send(self, messages: Sequence[Message]) -> None:
        if self.failures:
            self.failures -= 1
            self.refused.extend(messages)
            raise PublishFailed("the broker is away")
        await super().send(messages)


class RefusedLater(InMemoryPublisher):
    """Takes every batch, but the broker refuses the acknowledgements of the first one."""

    def __init__(self) -> None:
        super().__init__()
        self.batches = 0

    async def send(self, messages: Sequence[Message]) -> Awaitable[None]:
        await super().send(messages)
        self.batches += 1
        acknowledged: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.batches == 1:
            acknowledged.set_exception(PublishFailed("the broker lost them"))
        else:
            acknowledged.set_result(None)
        return acknowledged


@pytest.fixture
def domain() -> Domain:
    return Domain(InMemoryBackend(), aggregates=[Counter, Ledger])


async def test_a_forwarded_event_is_its_stored_json_with_its_meta_as_headers(
    domain: Domain,
) -> None:
    with context(correlation_id="request-1"):
        await domain.repository(Counter).execute("c1", Counter.do_one)
    await domain.repository(Ledger).execute("l1", Ledger.record, street="Main St")
    publisher = InMemoryPublisher()
    assert await domain.handler(Everything(publisher)).run_once() == 2
    one, address = publisher.messages
    stored = await domain.backend.read_streams(["counters", "ledgers"], after_position=0)
    assert one.message_id == f"everything:{stored[0].event_id}"
    assert (one.key, one.type, one.destination) == ("c1", "one", None)
    assert json.loads(one.payload) == stored[0].data
    assert one.headers == {
        TYPE: "one",
        TYPE_VERSION: "1",
        EVENT_ID: stored[0].event_id,
        CORRELATION_ID: "request-1",
        STREAM: "counters",
        AGGREGATE_ID: "c1",
        AGGREGATE_VERSION: "1",
        POSITION: str(stored[0].position),
        TIMESTAMP: one.headers[TIMESTAMP],
    }
    # RFC 3339, in UTC
    assert one.headers[TIMESTAMP].endswith("Z")
    assert datetime.fromisoformat(one.headers[TIMESTAMP]) == stored[0].timestamp
    assert CAUSATION_ID not in one.headers
    assert (
        json.loads(address.payload)
        == stored[1].data
        == {"street": "Main St", "city": "Springfield"}
    )
    assert address.headers[POSITION] == str(stored[1].position)


async def test_integration_messages_have_their_own_type_and_the_event_as_cause(
    domain: Domain,
) -> None:
    ledger = await domain.repository(Ledger).execute("l1", Ledger.record, street="Main St")
    publisher = InMemoryPublisher()
    await domain.handler(Public(publisher)).run_once()
    first, second = publisher.messages
    [stored] = await domain.backend.read_streams(["ledgers"], after_position=0)
    assert first.message_id == f"public:{stored.event_id}"
    assert second.message_id == f"public:{stored.event_id}:1"
    assert (first.destination, second.destination) == (None, "audit")
    assert first.type == "ledger.moved"
    assert json.loads(first.payload) == {"ledger": "l1", "street": "Main St"}
    assert first.headers[TYPE_VERSION] == "2"
    assert first.headers[CAUSATION_ID] == stored.event_id
    assert first.headers[AGGREGATE_VERSION] == str(ledger.version)


async def test_the_bookmark_stays_until_the_broker_acknowledged_and_ids_repeat(
    domain: Domain,
) -> None:
    for n in range(3):
        await domain.repository(Counter).execute(f"c{n}", Counter.do_one)
    publisher = Failing(failures=1)
    runner = domain.handler(Everything(publisher), poll_interval=0.01)
    with pytest.raises(PublishFailed):
        await runner.run_once()
    assert await runner.position() == 0
    assert await runner.run_once() == 3
    assert await runner.position() == 3
    assert [m.message_id for m in publisher.messages] == [m.message_id for m in publisher.refused]


async def test_a_batch_whose_acknowledgements_fail_is_sent_again_with_the_same_ids(
    domain: Domain,
) -> None:
    for n in range(6):
        await domain.repository(Counter).execute(f"c{n}", Counter.do_one)
    publisher = RefusedLater()
    runner = domain.handler(Everything(publisher), batch_size=2)
    with pytest.raises(PublishFailed, match="lost them"):
        await runner.run_once()
    assert await runner.position() == 0
    assert await runner.run_once() == 6
    assert await runner.position() == 6
    ids = [m.message_id for m in publisher.messages]
    assert len(ids) == 8
    assert ids[:2] == ids[2:4]  # the refused batch, again with the same ids
    assert len(set(ids[2:])) == 6


async def test_a_failing_callback_sends_what_came_before_it_and_stops_there(
    domain: Domain,
) -> None:
    for street in ("a", "b", "c"):
        await domain.repository(Ledger).execute(f"l-{street}", Ledger.record, street=street)
    publisher = InMemoryPublisher()
    relay = Public(publisher)
    runner = domain.handler(relay)
    await runner.run_once()
    relay.flaky = 1
    await domain.repository(Ledger).execute("l-d", Ledger.record, street="d")
    with pytest.raises(Exception, match="failed after publishing"):
        await runner.run_once()
    assert await runner.position() == 3
    assert await runner.run_once() == 1
    streets = [json.loads(m.payload)["street"] for m in publisher.messages]
    assert streets.count("d") >= 2  # published, then published again with the same ids
    assert streets[:6] == ["a", "a", "b", "b", "c", "c"]


async def test_a_callback_tried_again_does_not_publish_twice(domain: Domain) -> None:
    await domain.repository(Ledger).execute("l1", Ledger.record, street="Main St")
    publisher = InMemoryPublisher()
    retry = RetryPolicy(attempts=2, backoff=0.0, max_delay=0.0)
    await domain.handler(Public(publisher, flaky=1), retry=retry).run_once()
    assert [m.message_id.count(":") for m in publisher.messages] == [1, 2]


async def test_forward_outside_a_batch_is_an_error(domain: Domain) -> None:
    counter = await domain.repository(Counter).execute("c1", Counter.do_one)
    relay = Everything(InMemoryPublisher())
    meta = EventMeta("counters", "c1", 1, counter.last_position, _now(), "one")
    with pytest.raises(RuntimeError, match="while a batch runs"):
        relay.forward(One(), meta)


async def test_buckets_handled_at_once_keep_their_messages_apart() -> None:
    domain = Domain(InMemoryBackend(), aggregates=[Counter, Ledger])
    for _ in range(3):
        for n in range(12):
            await domain.repository(Counter).execute(f"c{n}", Counter.do_one)
    publisher = SlowPublisher()
    group = domain.handler_group(
        Everything(publisher), buckets=4, concurrency=4, member_ttl=0.3, batch_size=2
    )
    await group.start()
    try:
        await group.wait_for(36, timeout=10)
    finally:
        await group.stop()
    assert publisher.most_at_once > 1
    keys = [message.key for message in publisher.messages]
    assert sorted(keys) == sorted(f"c{n}" for n in range(12) for _ in range(3))
    for n in range(12):
        versions = [m.headers[AGGREGATE_VERSION] for m in publisher.messages if m.key == f"c{n}"]
        assert versions == ["1", "2", "3"]


class SlowPublisher(InMemoryPublisher):
    """Takes a moment for each batch, and counts how many batches it had at once."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0
        self.most_at_once = 0

    async def send(self, messages: Sequence[Message]) -> None:
        self.now += 1
        self.most_at_once = max(self.most_at_once, self.now)
        await asyncio.sleep(0.01)
        self.now -= 1
        await super().send(messages)


def _now() -> object:
    from datetime import UTC, datetime

    return datetime.now(UTC)
