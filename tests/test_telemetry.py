"""OpenTelemetry spans, metrics and log ids of commands and handler batches.

Recorded through the SDK's in-memory span exporter and metric reader, given to
`evtsrc.telemetry.enable()` as providers; the global providers are only set in
subprocesses, since OpenTelemetry lets a process set them once.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import SpanKind, StatusCode

import evtsrc.telemetry
from evtsrc import (
    Aggregate,
    CommandError,
    Domain,
    Event,
    EventHandler,
    EventMeta,
    HandlerError,
    RetryPolicy,
    Snapshots,
    VersionConflict,
    command,
    folds,
    on_event,
)
from evtsrc.backends import Backend, InMemoryBackend, InMemoryBookmarks, SqliteBackend

ROOT = Path(__file__).resolve().parents[1]


class Deposited(Event, type_name="tel.deposited"):
    amount: int


class Account(Aggregate, stream="tel-accounts"):
    balance: int = 0

    @folds
    def _deposited(self, event: Deposited) -> None:
        self.balance += event.amount

    @command
    def deposit(self, amount: int) -> Deposited:
        if amount <= 0:
            raise CommandError("Amount must be positive", code="BAD_AMOUNT")
        if amount == 666:
            raise ValueError("a bug in the command")
        return Deposited(amount=amount)

    @command
    async def deposit_after(self, gate: asyncio.Event, amount: int) -> Deposited:
        await gate.wait()
        return Deposited(amount=amount)


class Noted(Event, type_name="tel.noted"):
    text: str


class Audit(Aggregate, stream="tel-audits"):
    notes: int = 0

    @folds
    def _noted(self, event: Noted) -> None:
        self.notes += 1

    @command
    def note(self, text: str) -> Noted:
        return Noted(text=text)


class Balances(EventHandler, name="tel-balances"):
    """Sums deposits; fails on an amount of 13, and on every amount in `failing`."""

    def __init__(self, failing: frozenset[int] = frozenset({13})) -> None:
        self.total = 0
        self.failing = failing

    @on_event
    def deposited(self, event: Deposited, meta: EventMeta) -> None:
        if event.amount in self.failing:
            raise ValueError(f"unlucky {event.amount}")
        self.total += event.amount


class Auditor(EventHandler, name="tel-auditor"):
    """A process manager: notes each deposit on the audit trail."""

    def __init__(self, domain: Domain) -> None:
        self.audits = domain.repository(Audit)

    @on_event
    async def deposited(self, event: Deposited, meta: EventMeta) -> None:
        await self.audits.execute(meta.aggregate_id, Audit.note, text=f"+{event.amount}")


@attrs.frozen
class Recorded:
    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader

    def spans(self, prefix: str = "") -> list[ReadableSpan]:
        return [s for s in self.exporter.get_finished_spans() if s.name.startswith(prefix)]

    def span(self, name: str) -> ReadableSpan:
        found = self.spans(name)
        assert len(found) == 1, [s.name for s in self.exporter.get_finished_spans()]
        return found[0]

    def points(self, metric: str) -> list[tuple[dict[str, Any], Any]]:
        """(attributes, value) of each data point of `metric` (a histogram's: its point)."""
        data = self.reader.get_metrics_data()
        found: list[tuple[dict[str, Any], Any]] = []
        if data is None:
            return found
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for m in scope.metrics:
                    if m.name != metric:
                        continue
                    for point in m.data.data_points:
                        value = point if isinstance(point, HistogramDataPoint) else point.value
                        found.append((dict(point.attributes or {}), value))
        return found

    def value(self, metric: str, **attributes: Any) -> Any:
        """The value of the one point of `metric` whose attributes include `attributes`."""
        wanted = {f"evtsrc.{k.replace('__', '.')}": v for k, v in attributes.items()}
        matching = [
            value
            for found, value in self.points(metric)
            if all(found.get(k) == v for k, v in wanted.items())
        ]
        assert len(matching) == 1, (metric, wanted, self.points(metric))
        return matching[0]


def _attributes(span: ReadableSpan) -> Mapping[str, Any]:
    return span.attributes or {}


@pytest.fixture
def otel() -> Iterator[Recorded]:
    exporter = InMemorySpanExporter()
    tracers = TracerProvider()
    tracers.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])
    evtsrc.telemetry.enable(tracer_provider=tracers, meter_provider=meters)
    try:
        yield Recorded(exporter, reader)
    finally:
        evtsrc.telemetry.disable()
        tracers.shutdown()
        meters.shutdown()


@pytest.fixture
async def domain() -> AsyncIterator[Domain]:
    async with Domain(InMemoryBackend(), aggregates=[Account, Audit]) as built:
        yield built


# -- commands -------------------------------------------------------------------------------


async def test_a_command_has_a_span_with_its_ids_and_an_append_span_inside(
    otel: Recorded, domain: Domain
) -> None:
    accounts = domain.repository(Account)
    await accounts.execute("acc-1", Account.deposit, amount=5)
    account = await accounts.execute("acc-1", Account.deposit, amount=7)

    spans = otel.spans("command ")
    assert [s.name for s in spans] == ["command Account.deposit"] * 2
    span = spans[1]
    stored = (await accounts.history("acc-1"))[-1].meta
    assert span.kind == SpanKind.INTERNAL
    assert span.status.status_code == StatusCode.UNSET
    assert dict(_attributes(span)) == {
        "evtsrc.aggregate.type": "Account",
        "evtsrc.stream": "tel-accounts",
        "evtsrc.aggregate.id": "acc-1",
        "evtsrc.command.name": "deposit",
        "evtsrc.command.outcome": "ok",
        "evtsrc.command.retries": 0,
        "evtsrc.aggregate.version": 2,
        "evtsrc.event.count": 1,
        "evtsrc.position.first": account.last_position,
        "evtsrc.position.last": account.last_position,
        "evtsrc.correlation_id": stored.correlation_id,
    }
    appends = otel.spans("append ")
    assert [s.name for s in appends] == ["append tel-accounts"] * 2
    append = appends[1]
    assert append.parent is not None and append.parent.span_id == span.context.span_id
    assert append.context.trace_id == span.context.trace_id
    assert dict(_attributes(append)) == {
        "evtsrc.stream": "tel-accounts",
        "evtsrc.aggregate.id": "acc-1",
        "evtsrc.append.expected_version": 1,
        "evtsrc.event.count": 1,
        "evtsrc.position.first": 2,
        "evtsrc.position.last": 2,
        "evtsrc.correlation_id": stored.correlation_id,
    }

    assert otel.value("evtsrc.commands", command__outcome="ok") == 2
    assert otel.value("evtsrc.events.appended", aggregate__type="Account") == 2
    duration = otel.value("evtsrc.command.duration", command__outcome="ok")
    assert duration.count == 2 and 0 < duration.sum < 5
    assert otel.points("evtsrc.version_conflicts") == []
    assert otel.points("evtsrc.command.retries") == []


async def test_a_command_in_a_context_carries_its_correlation_id_from_the_start(
    otel: Recorded, domain: Domain
) -> None:
    async with evtsrc.context(correlation_id="request-42"):
        with pytest.raises(CommandError):
            await domain.repository(Account).execute("acc-1", Account.deposit, amount=0)
    assert _attributes(otel.span("command "))["evtsrc.correlation_id"] == "request-42"


async def test_a_refused_command_is_not_an_error_but_says_its_code(
    otel: Recorded, domain: Domain
) -> None:
    with pytest.raises(CommandError):
        await domain.repository(Account).execute("acc-1", Account.deposit, amount=0)

    span = otel.span("command Account.deposit")
    assert span.status.status_code == StatusCode.UNSET
    assert span.events == ()  # a refusal is an answer, not an exception to look into
    attributes = _attributes(span)
    assert attributes["evtsrc.command.outcome"] == "refused"
    assert attributes["evtsrc.command.error_code"] == "BAD_AMOUNT"
    assert "evtsrc.aggregate.version" not in attributes
    assert "error.type" not in attributes
    assert otel.spans("append ") == []
    assert otel.value("evtsrc.commands", command__outcome="refused") == 1
    refused = otel.points("evtsrc.commands")[0][0]
    assert refused["evtsrc.command.error_code"] == "BAD_AMOUNT"
    assert otel.points("evtsrc.events.appended") == []


async def test_a_command_that_raises_is_an_error_with_its_exception(
    otel: Recorded, domain: Domain
) -> None:
    with pytest.raises(ValueError, match="a bug"):
        await domain.repository(Account).execute("acc-1", Account.deposit, amount=666)

    span = otel.span("command Account.deposit")
    assert span.status.status_code == StatusCode.ERROR
    assert span.status.description == "ValueError: a bug in the command"
    assert _attributes(span)["evtsrc.command.outcome"] == "error"
    assert _attributes(span)["error.type"] == "ValueError"
    assert [e.name for e in span.events] == ["exception"]
    assert (span.events[0].attributes or {})["exception.message"] == "a bug in the command"
    assert otel.value("evtsrc.commands", command__outcome="error") == 1


async def test_a_version_conflict_retried_shows_the_failed_append_and_counts_the_retry(
    otel: Recorded,
) -> None:
    domain = Domain(InMemoryBackend(), aggregates=[Account], cache_size=0)
    accounts = domain.repository(Account).with_retry(RetryPolicy(attempts=3, backoff=0.0))
    gate = asyncio.Event()
    slow = asyncio.create_task(accounts.execute("acc-1", Account.deposit_after, gate, amount=1))
    await asyncio.sleep(0.01)  # it loaded version 0 and waits at the gate
    await accounts.execute("acc-1", Account.deposit, amount=2)  # another writer gets there first
    gate.set()
    account = await slow

    assert account.version == 2 and account.balance == 3
    span = next(s for s in otel.spans("command ") if s.name.endswith("deposit_after"))
    attributes = _attributes(span)
    assert span.status.status_code == StatusCode.UNSET
    assert attributes["evtsrc.command.outcome"] == "ok"
    assert attributes["evtsrc.command.retries"] == 1
    assert attributes["evtsrc.aggregate.version"] == 2
    appends = [
        s for s in otel.spans("append ") if s.parent and s.parent.span_id == span.context.span_id
    ]
    assert [s.status.status_code for s in appends] == [StatusCode.ERROR, StatusCode.UNSET]
    assert _attributes(appends[0])["error.type"] == "evtsrc.VersionConflict"
    assert _attributes(appends[0])["evtsrc.append.expected_version"] == 0
    assert _attributes(appends[1])["evtsrc.append.expected_version"] == 1
    assert otel.value("evtsrc.version_conflicts", command__name="deposit_after") == 1
    assert otel.value("evtsrc.command.retries", command__name="deposit_after") == 1
    assert otel.value("evtsrc.commands", command__name="deposit_after") == 1


async def test_a_conflict_on_a_cached_state_is_counted_and_retried(otel: Recorded) -> None:
    backend = InMemoryBackend()
    mine = Domain(backend, aggregates=[Account])
    other = Domain(backend, aggregates=[Account])
    await mine.repository(Account).execute("acc-1", Account.deposit, amount=1)  # cached here
    await other.repository(Account).execute("acc-1", Account.deposit, amount=1)
    account = await mine.repository(Account).execute("acc-1", Account.deposit, amount=1)

    assert account.version == 3
    assert _attributes(otel.spans("command ")[-1])["evtsrc.command.retries"] == 1
    assert otel.value("evtsrc.version_conflicts", aggregate__type="Account") == 1
    assert otel.value("evtsrc.command.retries", aggregate__type="Account") == 1


async def test_a_conflict_past_the_retries_fails_the_command_span(otel: Recorded) -> None:
    domain = Domain(InMemoryBackend(), aggregates=[Account], cache_size=0)
    accounts = domain.repository(Account)
    gate = asyncio.Event()
    slow = asyncio.create_task(accounts.execute("acc-1", Account.deposit_after, gate, amount=1))
    await asyncio.sleep(0.01)
    await accounts.execute("acc-1", Account.deposit, amount=2)
    gate.set()
    with pytest.raises(VersionConflict):
        await slow

    span = next(s for s in otel.spans("command ") if s.name.endswith("deposit_after"))
    attributes = _attributes(span)
    assert span.status.status_code == StatusCode.ERROR
    assert attributes["evtsrc.command.outcome"] == "conflict"
    assert attributes["evtsrc.command.error_code"] == "VERSION_CONFLICT"
    assert attributes["error.type"] == "evtsrc.VersionConflict"
    assert attributes["evtsrc.command.retries"] == 0
    assert [e.name for e in span.events] == ["exception"]
    assert otel.value("evtsrc.commands", command__outcome="conflict") == 1
    assert otel.value("evtsrc.version_conflicts", command__name="deposit_after") == 1
    assert otel.points("evtsrc.command.retries") == []


async def test_a_message_delivered_again_appends_nothing_and_is_not_an_error(
    otel: Recorded, domain: Domain
) -> None:
    from evtsrc._context import INBOX, InboxScope

    accounts = domain.repository(Account)
    for _ in range(2):  # as an inbox runs a command for one message delivered twice
        token = INBOX.set(InboxScope("payments", "message-1"))
        try:
            account = await accounts.execute("acc-1", Account.deposit, amount=5)
        finally:
            INBOX.reset(token)
    assert account.version == 1

    again = otel.spans("command ")[1]
    assert again.status.status_code == StatusCode.UNSET
    assert _attributes(again)["evtsrc.command.outcome"] == "ok"
    assert _attributes(again)["evtsrc.aggregate.version"] == 1
    append = otel.spans("append ")[1]
    assert append.status.status_code == StatusCode.UNSET
    assert _attributes(append)["evtsrc.append.already_processed"] is True
    assert otel.value("evtsrc.commands", command__outcome="ok") == 2
    assert otel.value("evtsrc.events.appended", aggregate__type="Account") == 1


async def test_a_sampled_out_command_records_no_span_but_its_metrics(domain: Domain) -> None:
    exporter = InMemorySpanExporter()
    tracers = TracerProvider(sampler=ALWAYS_OFF)
    tracers.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    evtsrc.telemetry.enable(
        tracer_provider=tracers, meter_provider=MeterProvider(metric_readers=[reader])
    )
    try:
        await domain.repository(Account).execute("acc-1", Account.deposit, amount=1)
    finally:
        evtsrc.telemetry.disable()
    recorded = Recorded(exporter, reader)
    assert recorded.spans() == []
    assert recorded.value("evtsrc.commands", command__outcome="ok") == 1


async def test_a_no_op_provider_given_turns_that_half_off_and_costs_nothing(
    domain: Domain,
) -> None:
    from opentelemetry.metrics import NoOpMeterProvider
    from opentelemetry.trace import NoOpTracerProvider

    reader = InMemoryMetricReader()
    evtsrc.telemetry.enable(
        tracer_provider=NoOpTracerProvider(), meter_provider=MeterProvider(metric_readers=[reader])
    )
    try:
        recorder = evtsrc._telemetry.active
        assert recorder is not None and recorder.ready() and recorder.tracer is None
        await domain.repository(Account).execute("acc-1", Account.deposit, amount=1)
        metrics_only = Recorded(InMemorySpanExporter(), reader)
        assert metrics_only.value("evtsrc.commands", command__outcome="ok") == 1

        exporter = InMemorySpanExporter()
        tracers = TracerProvider()
        tracers.add_span_processor(SimpleSpanProcessor(exporter))
        evtsrc.telemetry.enable(tracer_provider=tracers, meter_provider=NoOpMeterProvider())
        recorder = evtsrc._telemetry.active
        assert recorder is not None and recorder.ready() and recorder.instruments is None
        await domain.repository(Account).execute("acc-1", Account.deposit, amount=1)
        assert [s.name for s in exporter.get_finished_spans()] == [
            "append tel-accounts",
            "command Account.deposit",
        ]

        evtsrc.telemetry.enable(
            tracer_provider=NoOpTracerProvider(), meter_provider=NoOpMeterProvider()
        )
        recorder = evtsrc._telemetry.active
        assert recorder is not None and not recorder.ready()
        await domain.repository(Account).execute("acc-1", Account.deposit, amount=1)
    finally:
        evtsrc.telemetry.disable()
    assert metrics_only.value("evtsrc.commands", command__outcome="ok") == 1
    assert len(exporter.get_finished_spans()) == 2


# -- handlers -------------------------------------------------------------------------------


async def _deposits(domain: Domain, *amounts: int) -> None:
    for n, amount in enumerate(amounts):
        await domain.repository(Account).execute(f"acc-{n % 2}", Account.deposit, amount=amount)


async def test_a_handler_batch_has_a_consumer_span_and_measurements(
    otel: Recorded, domain: Domain
) -> None:
    await _deposits(domain, 1, 2, 3)
    otel.exporter.clear()
    runner = domain.handler(Balances(), batch_size=2)
    assert await runner.run_once() == 3

    spans = otel.spans("handle ")
    assert [s.name for s in spans] == ["handle tel-balances"] * 2
    assert all(s.kind == SpanKind.CONSUMER for s in spans)
    assert all(s.status.status_code == StatusCode.UNSET for s in spans)
    assert [dict(_attributes(s)) for s in spans] == [
        {
            "evtsrc.handler.name": "tel-balances",
            "evtsrc.position.first": first,
            "evtsrc.position.last": last,
            "evtsrc.event.count": count,
            "evtsrc.handler.handled": count,
            "evtsrc.handler.failed": 0,
            "evtsrc.handler.outcome": "ok",
        }
        for first, last, count in ((1, 2, 2), (3, 3, 1))
    ]
    assert otel.value("evtsrc.handler.events", handler__name="tel-balances") == 3
    batches = otel.value("evtsrc.handler.batch.duration", handler__outcome="ok")
    assert batches.count == 2
    assert otel.value("evtsrc.handler.lag", handler__name="tel-balances") == 0
    assert otel.points("evtsrc.handler.failures") == []


async def test_a_failing_handler_fails_its_batch_span_and_shows_its_lag(
    otel: Recorded, domain: Domain
) -> None:
    await _deposits(domain, 1, 2, 13, 4, 5)
    runner = domain.handler(Balances(), batch_size=2)
    with pytest.raises(HandlerError):
        await runner.run_once()

    failed = otel.spans("handle ")[-1]
    attributes = _attributes(failed)
    assert failed.status.status_code == StatusCode.ERROR
    assert attributes["evtsrc.handler.outcome"] == "error"
    assert attributes["evtsrc.position"] == 3
    assert attributes["error.type"] == "ValueError"
    assert [e.name for e in failed.events] == ["exception"]
    assert "unlucky 13" in str((failed.events[0].attributes or {})["exception.message"])
    assert otel.value("evtsrc.handler.failures", handler__name="tel-balances") == 1
    assert otel.value("evtsrc.handler.events", handler__name="tel-balances") == 2
    assert otel.value("evtsrc.handler.batch.duration", handler__outcome="error").count == 1
    # The bookmark stays at 2, before the failing event; the streams end at 5.
    assert await runner.position() == 2
    assert otel.value("evtsrc.handler.lag", handler__name="tel-balances") == 3


async def test_events_that_fail_and_are_reported_are_counted_on_an_ok_batch(
    otel: Recorded, domain: Domain
) -> None:
    await _deposits(domain, 1, 13, 3)
    runner = domain.handler(Balances(), continue_on_error=True)
    assert await runner.run_once() == 2

    span = otel.span("handle tel-balances")
    assert span.status.status_code == StatusCode.UNSET
    assert _attributes(span)["evtsrc.handler.failed"] == 1
    assert _attributes(span)["evtsrc.handler.handled"] == 2
    [exception] = span.events
    assert (exception.attributes or {})["evtsrc.position"] == 2
    assert (exception.attributes or {})["evtsrc.aggregate.id"] == "acc-1"
    assert (exception.attributes or {})["exception.type"] == "ValueError"
    assert otel.value("evtsrc.handler.failures", handler__name="tel-balances") == 1


async def test_a_parked_event_is_counted_as_a_failure_on_an_ok_batch(
    otel: Recorded, domain: Domain
) -> None:
    await _deposits(domain, 13, 2, 3)
    runner = domain.handler(Balances(), park=True)
    assert await runner.run_once() == 1  # acc-0's events wait behind the parked one

    span = otel.span("handle tel-balances")
    assert span.status.status_code == StatusCode.UNSET
    assert _attributes(span)["evtsrc.handler.failed"] == 1
    assert [(e.attributes or {})["evtsrc.position"] for e in span.events] == [1]
    assert otel.value("evtsrc.handler.failures", handler__name="tel-balances") == 1
    assert otel.value("evtsrc.handler.events", handler__name="tel-balances") == 1


async def test_a_command_run_by_a_handler_is_a_child_of_its_batch(
    otel: Recorded, domain: Domain
) -> None:
    await _deposits(domain, 1)
    otel.exporter.clear()
    await domain.handler(Auditor(domain)).run_once()

    batch = otel.span("handle tel-auditor")
    note = otel.span("command Audit.note")
    assert note.parent is not None and note.parent.span_id == batch.context.span_id
    deposit = (await domain.repository(Account).history("acc-0"))[0].meta
    assert _attributes(note)["evtsrc.correlation_id"] == deposit.correlation_id


async def test_the_lag_counts_positions_behind_while_a_backlog_is_handled(
    otel: Recorded, domain: Domain
) -> None:
    await _deposits(domain, 1, 2, 3, 4, 5)
    lags: list[int] = []

    class Watching(Balances, name="tel-balances"):
        @on_event
        def deposited(self, event: Deposited, meta: EventMeta) -> None:
            if meta.position in (3, 5):  # the first event of the second and third batches
                lags.append(otel.value("evtsrc.handler.lag", handler__name="tel-balances"))

    await domain.handler(Watching(), batch_size=2).run_once()
    assert lags == [3, 1]
    assert otel.value("evtsrc.handler.lag", handler__name="tel-balances") == 0


async def test_a_stopped_runner_reports_no_lag(otel: Recorded, domain: Domain) -> None:
    await _deposits(domain, 1)
    runner = domain.handler(Balances())
    await runner.start()
    for _ in range(200):
        if runner.handler.total:
            break
        await asyncio.sleep(0.01)
    assert otel.value("evtsrc.handler.lag", handler__name="tel-balances") == 0
    await runner.stop()
    assert otel.points("evtsrc.handler.lag") == []


async def test_a_group_bucket_batch_names_its_bucket(otel: Recorded, domain: Domain) -> None:
    # One account in each bucket: bucket_key("acc-0") % 2 is 1, bucket_key("acc-4") % 2 is 0.
    for name, amount in (("acc-0", 1), ("acc-4", 2)):
        await domain.repository(Account).execute(name, Account.deposit, amount=amount)
    group = domain.handler_group(Balances(), buckets=2, member_ttl=0.3, poll_interval=0.05)
    async with group:
        for _ in range(300):
            if group.handler.total == 3:
                break
            await asyncio.sleep(0.01)
    assert group.handler.total == 3
    spans = otel.spans("handle tel-balances")
    buckets = sorted(_attributes(s)["evtsrc.handler.bucket"] for s in spans)
    assert buckets == [0, 1]
    assert {_attributes(s)["evtsrc.handler.buckets"] for s in spans} == {2}
    assert otel.points("evtsrc.handler.lag") == []  # each bucket was let go of as it stopped


async def test_on_sqlite_the_spans_carry_the_stored_positions(
    otel: Recorded, tmp_path: Path
) -> None:
    backend = SqliteBackend(tmp_path / "events.db")
    await backend.create_schema()
    async with Domain(backend, aggregates=[Account]) as domain:
        await _deposits(domain, 1, 2, 13, 4)
        runner = domain.handler(Balances(), batch_size=2, bookmarks=InMemoryBookmarks())
        with pytest.raises(HandlerError):
            await runner.run_once()
        appends = otel.spans("append ")
        assert [_attributes(s)["evtsrc.position.last"] for s in appends] == [1, 2, 3, 4]
        failed = otel.spans("handle ")[-1]
        assert _attributes(failed)["evtsrc.position"] == 3
        assert otel.value("evtsrc.handler.lag", handler__name="tel-balances") == 2


# -- off, absent, global providers ----------------------------------------------------------


async def test_nothing_is_recorded_once_disabled(otel: Recorded, domain: Domain) -> None:
    evtsrc.telemetry.disable()
    assert not evtsrc.telemetry.enabled()
    await _deposits(domain, 1, 13)
    with pytest.raises(CommandError):
        await domain.repository(Account).execute("acc-1", Account.deposit, amount=0)
    with pytest.raises(HandlerError):
        await domain.handler(Balances()).run_once()
    assert otel.spans() == []
    assert otel.points("evtsrc.commands") == []
    assert otel.points("evtsrc.handler.events") == []
    assert otel.points("evtsrc.handler.lag") == []


async def test_enabling_again_with_the_same_providers_counts_once(
    otel: Recorded, domain: Domain
) -> None:
    recorder = evtsrc.telemetry.enabled() and evtsrc._telemetry.active
    assert recorder
    evtsrc.telemetry.enable(
        tracer_provider=recorder._tracer_provider,  # pyright: ignore[reportPrivateUsage]
        meter_provider=recorder._meter_provider,  # pyright: ignore[reportPrivateUsage]
    )
    assert evtsrc._telemetry.active is recorder
    await _deposits(domain, 1)
    assert otel.value("evtsrc.commands", command__outcome="ok") == 1


async def test_without_opentelemetry_enabling_says_what_to_install_and_evtsrc_runs(
    monkeypatch: pytest.MonkeyPatch, domain: Domain
) -> None:
    for name in [m for m in sys.modules if m.partition(".")[0] == "opentelemetry"]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    with pytest.raises(ImportError, match=r"evtsrc\[otel\]"):
        evtsrc.telemetry.enable()
    assert not evtsrc.telemetry.enabled()
    await _deposits(domain, 1, 2)
    assert await domain.handler(Balances()).run_once() == 2


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )


PROGRAM = """
    import asyncio
    from evtsrc import Aggregate, Domain, Event, EventHandler, command, folds, on_event
    from evtsrc.backends import InMemoryBackend

    class Deposited(Event, type_name="tel.deposited"):
        amount: int

    class Account(Aggregate, stream="tel-accounts"):
        balance: int = 0

        @folds
        def _deposited(self, event: Deposited) -> None:
            self.balance += event.amount

        @command
        def deposit(self, amount: int) -> Deposited:
            return Deposited(amount=amount)

    class Balances(EventHandler, name="tel-balances"):
        @on_event
        def deposited(self, event: Deposited) -> None:
            pass

    async def work():
        domain = Domain(InMemoryBackend(), aggregates=[Account])
        await domain.repository(Account).execute("acc-1", Account.deposit, amount=5)
        return await domain.handler(Balances()).run_once()
"""


def test_the_global_providers_are_used_once_an_sdk_sets_them() -> None:
    done = _python(
        PROGRAM
        + """
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    import evtsrc._telemetry
    import evtsrc.telemetry

    evtsrc._telemetry.LOOK_INTERVAL = 0.0
    evtsrc.telemetry.enable()  # before any SDK: records nothing, looks again later
    asyncio.run(work())
    exporter = InMemorySpanExporter()
    tracers = TracerProvider()
    tracers.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(tracers)
    reader = InMemoryMetricReader()
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    print(len(exporter.get_finished_spans()))
    asyncio.run(work())
    print(sorted({s.name for s in exporter.get_finished_spans()}))
    names = [m.name for r in reader.get_metrics_data().resource_metrics
             for s in r.scope_metrics for m in s.metrics]
    print("evtsrc.commands" in names, "evtsrc.handler.lag" in names)
    """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "0",
        "['append tel-accounts', 'command Account.deposit', 'handle tel-balances']",
        "True True",
    ]


def test_evtsrc_never_imports_opentelemetry_unless_enabled() -> None:
    done = _python(
        PROGRAM
        + """
    import sys
    print(asyncio.run(work()), [m for m in sys.modules if m.startswith("opentelemetry")])
    """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1 []"


# -- log records ----------------------------------------------------------------------------


async def test_a_reported_failure_is_logged_with_the_events_ids(
    domain: Domain, caplog: pytest.LogCaptureFixture
) -> None:
    await _deposits(domain, 13)
    stored = (await domain.repository(Account).history("acc-0"))[0].meta
    with caplog.at_level(logging.ERROR, logger="evtsrc.handlers"):
        await domain.handler(Balances(), continue_on_error=True).run_once()
    [record] = caplog.records
    assert vars(record)["evtsrc.handler.name"] == "tel-balances"
    assert vars(record)["evtsrc.stream"] == "tel-accounts"
    assert vars(record)["evtsrc.aggregate.id"] == "acc-0"
    assert vars(record)["evtsrc.position"] == 1
    assert vars(record)["evtsrc.correlation_id"] == stored.correlation_id


async def test_a_started_runner_that_fails_logs_the_failing_events_ids(
    domain: Domain, caplog: pytest.LogCaptureFixture
) -> None:
    await _deposits(domain, 1, 13)
    runner = domain.handler(Balances(), poll_interval=5.0)
    with caplog.at_level(logging.ERROR, logger="evtsrc.handlers"):
        await runner.start()
        for _ in range(200):
            if runner.last_error is not None:
                break
            await asyncio.sleep(0.01)
        await runner.stop()
    [record] = [r for r in caplog.records if "failed; retrying" in r.getMessage()]
    assert vars(record)["evtsrc.handler.name"] == "tel-balances"
    assert vars(record)["evtsrc.position"] == 2
    assert vars(record)["evtsrc.stream"] == "tel-accounts"
    assert vars(record)["evtsrc.aggregate.id"] == "acc-1"


async def test_a_snapshot_not_stored_is_logged_with_the_commands_ids(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken(InMemoryBackend):
        async def put_snapshot(self, snapshot: Any) -> None:
            raise OSError("disk full")

    class Snapped(Aggregate, stream="tel-snapped", snapshots=Snapshots(every=1)):
        notes: int = 0

        @folds
        def _noted(self, event: Noted) -> None:
            self.notes += 1

        @command
        def note(self, text: str) -> Noted:
            return Noted(text=text)

    backend: Backend = Broken()
    domain = Domain(backend, aggregates=[Snapped])
    with caplog.at_level(logging.WARNING, logger="evtsrc"):
        async with evtsrc.context(correlation_id="request-7"):
            await domain.repository(Snapped).execute("s-1", Snapped.note, text="x")
    [record] = caplog.records
    assert vars(record)["evtsrc.stream"] == "tel-snapped"
    assert vars(record)["evtsrc.aggregate.id"] == "s-1"
    assert vars(record)["evtsrc.aggregate.version"] == 1
    assert vars(record)["evtsrc.correlation_id"] == "request-7"
