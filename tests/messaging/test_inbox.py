"""The inbox: each message's commands append once, however often the message is delivered."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from evtsrc import DefinitionError, Domain, Event, EventMeta, on_event, upcaster
from evtsrc.backends import Backend, InMemoryBackend
from evtsrc.messaging import (
    CORRELATION_ID,
    EVENT_ID,
    MESSAGE_ID,
    TYPE,
    TYPE_VERSION,
    Inbox,
    InboxHandler,
    InMemoryPublisher,
    MessageDecodeError,
    Received,
    Relay,
    on_message,
)
from tests.backends import TARGETS, BackendTarget, opened
from tests.conformance.model import Address, Counter, Ledger


class Visit(Event, type_name="visit", version=2):
    """A message of another service's contract: version 1 had no `city`."""

    ledger: str
    street: str
    city: str


@upcaster(Visit, from_version=1)
def _city(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "city": "unknown"}


class Ping(Event, type_name="ping"):
    counter: str


class Visits(InboxHandler, name="visits"):
    """Records each visit on its ledger; `fail_after` makes the next calls fail after it."""

    def __init__(self, domain: Domain) -> None:
        self.ledgers = domain.repository(Ledger)
        self.counters = domain.repository(Counter)
        self.calls = 0
        self.fail_after: int | None = None
        self.versions: list[int] = []
        self.unknown: list[str] = []

    @on_message
    async def visit(self, message: Visit, received: Received) -> None:
        self.calls += 1
        ledger = await self.ledgers.execute(message.ledger, Ledger.record, street=message.street)
        self.versions.append(ledger.version)
        if self.fail_after == 1:
            raise RuntimeError("crashed after the first command")
        await self.counters.execute(message.ledger, Counter.do_one)
        if self.fail_after == 2:
            raise RuntimeError("crashed after both commands")

    @on_message
    def ping(self, message: Ping) -> None:
        self.calls += 1

    async def on_unknown(self, received: Received) -> None:
        self.unknown.append(received.type)


@pytest.fixture(params=TARGETS, ids=lambda target: target.name)
async def domain(request: pytest.FixtureRequest) -> AsyncIterator[Domain]:
    target: BackendTarget = request.param
    async with opened(target) as backend:
        yield Domain(backend, aggregates=[Counter, Ledger])


def _visit(n: int, *, version: int = 2, **headers: str) -> Received:
    data: dict[str, str] = {"ledger": f"l{n}", "street": f"{n} Main St"}
    if version == 2:
        data["city"] = "Springfield"
    return Received(f"msg-{n}", "visit", json.dumps(data).encode(), headers, version)


async def _stored(domain: Domain, stream: str, aggregate_id: str) -> int:
    return len(await domain.backend.read_aggregate(stream, aggregate_id))


async def test_every_message_delivered_twice_runs_once(domain: Domain) -> None:
    handler = Visits(domain)
    inbox = Inbox(handler, domain)
    for n in range(10):
        assert await inbox.receive(_visit(n))
    for n in range(10):
        assert not await inbox.receive(_visit(n))
    assert handler.calls == 10
    for n in range(10):
        assert await _stored(domain, "ledgers", f"l{n}") == 1
        assert await _stored(domain, "counters", f"l{n}") == 1


@pytest.mark.parametrize("fail_after", [1, 2])
async def test_a_message_that_failed_midway_appends_only_what_is_missing(
    domain: Domain, fail_after: int
) -> None:
    handler = Visits(domain)
    inbox = Inbox(handler, domain)
    handler.fail_after = fail_after
    with pytest.raises(RuntimeError, match="crashed"):
        await inbox.receive(_visit(1))
    handler.fail_after = None
    assert await inbox.receive(_visit(1))  # delivered again: it was not recorded as done
    assert await _stored(domain, "ledgers", "l1") == 1
    assert await _stored(domain, "counters", "l1") == 1
    assert handler.versions == [1, 1]  # the repeated command returned the stored state
    assert handler.calls == 2
    assert not await inbox.receive(_visit(1))
    assert handler.calls == 2


async def test_the_appended_events_carry_the_messages_correlation_and_cause(
    domain: Domain,
) -> None:
    inbox = Inbox(Visits(domain), domain)
    await inbox.receive(_visit(1, **{CORRELATION_ID: "order-7", EVENT_ID: "their-event"}))
    await inbox.receive(_visit(2))
    found = []
    for ledger in ("l1", "l2"):
        [record] = await domain.backend.read_aggregate("ledgers", ledger)
        found.append(_ids(record.metadata))
    first, second = found
    assert first == ("order-7", "their-event")
    assert second[1] == "msg-2"  # no source event: the message itself is the cause


def _ids(metadata: object) -> tuple[object, object]:
    data = json.loads(metadata) if isinstance(metadata, str) else metadata
    assert isinstance(data, dict)
    return data.get("correlation_id"), data.get("causation_id")


async def test_an_older_version_of_a_message_is_upcast() -> None:
    domain = Domain(InMemoryBackend(), aggregates=[Counter, Ledger])
    handler = Visits(domain)
    inbox = Inbox(handler, domain)
    assert await inbox.receive(_visit(1, version=1))
    [record] = await domain.backend.read_aggregate("ledgers", "l1")
    assert record.data["street"] == "1 Main St"


async def test_a_message_that_does_not_fit_is_an_error_naming_it_and_is_not_recorded() -> None:
    domain = Domain(InMemoryBackend(), aggregates=[Counter, Ledger])
    handler = Visits(domain)
    inbox = Inbox(handler, domain)
    bad = Received("msg-bad", "visit", b'{"ledger": 5}', {}, 2)
    with pytest.raises(MessageDecodeError, match="message 'msg-bad' of type 'visit'"):
        await inbox.receive(bad)
    with pytest.raises(MessageDecodeError, match="not JSON"):
        await inbox.receive(Received("msg-text", "visit", b"hello", {}, 2))
    with pytest.raises(MessageDecodeError, match="not a JSON object"):
        await inbox.receive(Received("msg-list", "visit", b"[1]", {}, 2))
    with pytest.raises(MessageDecodeError, match="newer"):
        await inbox.receive(Received("msg-new", "visit", b"{}", {}, 3))
    assert handler.calls == 0
    assert not await domain.backend.processed("visits", "msg-bad")  # type: ignore[attr-defined]


async def test_unknown_types_go_to_on_unknown_and_plain_callbacks_work() -> None:
    domain = Domain(InMemoryBackend(), aggregates=[Counter, Ledger])
    handler = Visits(domain)
    inbox = Inbox(handler, domain)
    assert not await inbox.receive(Received("m1", "someone-elses", b"{}"))
    assert handler.unknown == ["someone-elses"]
    assert await inbox.receive(Received("m2", "ping", b'{"counter": "c"}'))
    assert not await inbox.receive(Received("m2", "ping", b'{"counter": "c"}'))
    assert handler.calls == 1


async def test_a_long_message_id_is_recorded_by_its_digest() -> None:
    domain = Domain(InMemoryBackend(), aggregates=[Counter, Ledger])
    handler = Visits(domain)
    inbox = Inbox(handler, domain)
    long_id = "x" * 500
    payload = b'{"ledger": "l1", "street": "s", "city": "c"}'
    assert await inbox.receive(Received(long_id, "visit", payload, {}, 2))
    assert not await inbox.receive(Received(long_id, "visit", payload, {}, 2))
    assert await inbox.receive(Received(long_id + "y", "visit", payload, {}, 2))
    assert handler.calls == 2


async def test_what_a_relay_publishes_an_inbox_receives_once() -> None:
    sender = Domain(InMemoryBackend(), aggregates=[Counter, Ledger])

    class Out(Relay, name="out"):
        @on_event
        def entry(self, event: Address, meta: EventMeta) -> None:
            self.publish(Visit(ledger=meta.aggregate_id, street=event.street, city="x"), meta)

    publisher = InMemoryPublisher()
    for n in range(3):
        await sender.repository(Ledger).execute(f"s{n}", Ledger.record, street=f"{n} High St")
    await sender.handler(Out(publisher)).run_once()
    receiver = Domain(InMemoryBackend(), aggregates=[Counter, Ledger])
    handler = Visits(receiver)
    inbox = Inbox(handler, receiver)
    for message in publisher.messages * 2:
        await inbox.receive(
            Received.of(message.payload, {**message.headers, MESSAGE_ID: message.message_id})
        )
    assert handler.calls == 3
    assert await _stored(receiver, "ledgers", "s1") == 1


def test_received_of_needs_the_relays_headers() -> None:
    with pytest.raises(MessageDecodeError, match="lacks the headers"):
        Received.of(b"{}", {TYPE: "visit"})
    made = Received.of(b"{}", {TYPE: "visit", TYPE_VERSION: "2", MESSAGE_ID: "m"}, key="k")
    assert (made.message_id, made.type, made.type_version, made.key) == ("m", "visit", 2, "k")


def test_bad_inbox_handlers_are_refused() -> None:
    domain = Domain(InMemoryBackend(), aggregates=[Counter, Ledger])

    class Empty(InboxHandler):
        pass

    with pytest.raises(DefinitionError, match="no @on_message methods"):
        Inbox(Empty(), domain)

    class Twice(InboxHandler):
        @on_message
        def a(self, message: Ping) -> None: ...

        @on_message
        def b(self, message: Ping) -> None: ...

    with pytest.raises(DefinitionError, match="two handlers for messages 'ping'"):
        Inbox(Twice(), domain)

    class WrongSecond(InboxHandler):
        @on_message
        def a(self, message: Ping, meta: EventMeta) -> None: ...

    with pytest.raises(DefinitionError, match="second parameter receives Received"):
        Inbox(WrongSecond(), domain)
    with pytest.raises(TypeError, match="not an InboxHandler"):
        Inbox(object(), domain)  # type: ignore[type-var]


def test_an_inbox_needs_a_backend_that_records_processed_messages() -> None:
    class Forgetful(InMemoryBackend):
        processed = None  # type: ignore[assignment]

    backend: Backend = Forgetful()
    domain = Domain(backend, aggregates=[Counter, Ledger])
    with pytest.raises(DefinitionError, match="ProcessedMessages"):
        Inbox(Visits(domain), domain)


@pytest.mark.parametrize("version", ["0", "-1", "²", "1.5", ""])
def test_received_of_refuses_a_version_that_is_not_a_whole_number_from_1(version: str) -> None:
    with pytest.raises(MessageDecodeError, match="lacks the headers"):
        Received.of(b"{}", {TYPE: "visit", TYPE_VERSION: version, MESSAGE_ID: "m"})
