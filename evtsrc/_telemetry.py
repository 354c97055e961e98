"""OpenTelemetry spans and metrics of commands and handler batches, once enabled.

Off until `enable()`: `active` is None and each hook of the repository and of the
handlers' batches is one check of it, so a process that never enables telemetry pays
nothing, whether or not OpenTelemetry is installed (it is not even imported). Once
enabled, a command, an append and a handler batch each make one span and a few
measurements; nothing is done per event of a load or a catch-up.

`enable()` records to the providers it is given, else to the global ones. Until an SDK
has set the global ones (the API's defaults record nothing), it looks again at most
once a second and records nothing meanwhile: the API's no-op calls would cost a
command on the in-memory backend about a tenth of its time.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import inspect
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from ._errors import (
    AlreadyProcessed,
    CommandError,
    HandlerError,
    MetadataNotRead,
    VersionConflict,
)

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.metrics import (
        CallbackOptions,
        Counter,
        Histogram,
        Meter,
        MeterProvider,
        Observation,
    )
    from opentelemetry.trace import Span, Status, Tracer, TracerProvider
    from opentelemetry.util.types import AttributeValue

    from ._meta import EventMeta
    from .backends.base import Bucket, EventRecord, NewEvent

SCOPE: Final = "evtsrc"
"""The instrumentation scope of evtsrc's tracer and meter."""

# Span and metric attributes (OpenTelemetry naming: lowercase, dotted, namespaced).
AGGREGATE_TYPE: Final = "evtsrc.aggregate.type"
AGGREGATE_ID: Final = "evtsrc.aggregate.id"
AGGREGATE_VERSION: Final = "evtsrc.aggregate.version"
STREAM: Final = "evtsrc.stream"
COMMAND_NAME: Final = "evtsrc.command.name"
COMMAND_OUTCOME: Final = "evtsrc.command.outcome"
COMMAND_RETRIES: Final = "evtsrc.command.retries"
COMMAND_ERROR_CODE: Final = "evtsrc.command.error_code"
CORRELATION_ID: Final = "evtsrc.correlation_id"
EXPECTED_VERSION: Final = "evtsrc.append.expected_version"
ALREADY_PROCESSED: Final = "evtsrc.append.already_processed"
EVENT_COUNT: Final = "evtsrc.event.count"
POSITION: Final = "evtsrc.position"
FIRST_POSITION: Final = "evtsrc.position.first"
LAST_POSITION: Final = "evtsrc.position.last"
HANDLER_NAME: Final = "evtsrc.handler.name"
HANDLER_BUCKET: Final = "evtsrc.handler.bucket"
HANDLER_BUCKETS: Final = "evtsrc.handler.buckets"
HANDLER_HANDLED: Final = "evtsrc.handler.handled"
HANDLER_FAILED: Final = "evtsrc.handler.failed"
HANDLER_OUTCOME: Final = "evtsrc.handler.outcome"
INBOX_NAME: Final = "evtsrc.inbox.name"
MESSAGE_ID: Final = "messaging.message.id"  # OpenTelemetry's own, for messages
ERROR_TYPE: Final = "error.type"  # OpenTelemetry's own, for failures

OK: Final = "ok"
REFUSED: Final = "refused"
CONFLICT: Final = "conflict"
ERROR: Final = "error"
CANCELLED: Final = "cancelled"

DURATION_BUCKETS: Final = (
    *(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025),
    *(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
"""Seconds: the bucket boundaries evtsrc advises for its duration histograms (the SDK's
default ones are made for milliseconds). Advised where the API takes advice (1.30 on)."""

LOOK_INTERVAL: Final = 1.0
"""Seconds between looks for an SDK's global providers, while none has set them."""

active: Recorder | None = None
"""What records now; None while telemetry is off (every hook then does nothing)."""

_RECORDERS: dict[tuple[object, object], Recorder] = {}
"""One recorder per pair of providers given, so enabling again makes no second set of
instruments (a provider hands back the first set, with the first callbacks)."""


def enable(
    *,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
) -> None:
    """Record spans and metrics of commands, appends and handler batches from now on.

    They go to `tracer_provider` and `meter_provider` where given, else to
    OpenTelemetry's global providers once an SDK has set them: until then evtsrc
    looks for them again at most once a second, and records nothing meanwhile. Set
    the SDK's providers first, then enable. Enabling again with other providers
    records to those instead; with the same ones, it changes nothing.

    Raises `ImportError` when the OpenTelemetry API is not installed
    (`pip install 'evtsrc[otel]'`). What is recorded: the documentation's
    "Telemetry" page.
    """
    global active
    try:
        for module in ("opentelemetry.trace", "opentelemetry.metrics", "opentelemetry.context"):
            importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            "evtsrc.telemetry.enable() needs the OpenTelemetry API: pip install 'evtsrc[otel]'"
        ) from error
    key = (tracer_provider, meter_provider)
    recorder = _RECORDERS.get(key)
    if recorder is None:
        recorder = _RECORDERS[key] = Recorder(tracer_provider, meter_provider)
    active = recorder


def disable() -> None:
    """Stop recording: every hook of evtsrc does nothing again, as before `enable()`."""
    global active
    active = None


def enabled() -> bool:
    """Whether telemetry is on (`enable()` was called, and no `disable()` since)."""
    return active is not None


def error_type(error: BaseException) -> str:
    """The exception's class as OpenTelemetry's `error.type` names it: module and name.

    evtsrc's own errors are named as `evtsrc` exports them (`evtsrc.VersionConflict`).
    """
    cls = type(error)
    module = cls.__module__
    if module == "builtins":
        return cls.__qualname__
    if module.startswith("evtsrc._"):
        module = "evtsrc"
    return f"{module}.{cls.__qualname__}"


def command_outcome(error: BaseException | None) -> tuple[str, str | None]:
    """A command's outcome, and the error code of one refused or in conflict."""
    if error is None:
        return OK, None
    if isinstance(error, VersionConflict):
        return CONFLICT, error.code
    if isinstance(error, CommandError):
        return REFUSED, error.code
    if isinstance(error, Exception):
        return ERROR, None
    return CANCELLED, None


def _api_default(provider: object) -> bool:
    """Whether `provider` is one of the API's own (a proxy or a no-op): no SDK set it."""
    return type(provider).__module__.startswith(("opentelemetry.trace", "opentelemetry.metrics"))


def _no_op(provider: object) -> bool:
    """Whether `provider` is the API's no-op one: it never records, so nothing is sent to it."""
    from opentelemetry import metrics, trace

    return isinstance(provider, trace.NoOpTracerProvider | metrics.NoOpMeterProvider)


def _version() -> str:
    try:
        return importlib.metadata.version("evtsrc")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


class _Instruments:
    """evtsrc's metric instruments on one meter."""

    def __init__(
        self, meter: Meter, observe_lag: Callable[[CallbackOptions], Iterable[Observation]]
    ) -> None:
        self.commands: Counter = meter.create_counter(
            "evtsrc.commands", unit="{command}", description="Commands executed, by outcome"
        )
        self.command_duration: Histogram = _histogram(
            meter, "evtsrc.command.duration", "Time a command took, retries included"
        )
        self.events_appended: Counter = meter.create_counter(
            "evtsrc.events.appended", unit="{event}", description="Events commands appended"
        )
        self.conflicts: Counter = meter.create_counter(
            "evtsrc.version_conflicts",
            unit="{conflict}",
            description="Appends refused because another writer appended first",
        )
        self.retries: Counter = meter.create_counter(
            "evtsrc.command.retries",
            unit="{retry}",
            description="Commands run again after a version conflict",
        )
        self.batch_duration: Histogram = _histogram(
            meter, "evtsrc.handler.batch.duration", "Time a handler took over one batch"
        )
        self.handled: Counter = meter.create_counter(
            "evtsrc.handler.events",
            unit="{event}",
            description="Events a handler's callback handled without raising",
        )
        self.failures: Counter = meter.create_counter(
            "evtsrc.handler.failures",
            unit="{event}",
            description="Events whose callback failed (reported, parked or stopping the handler)",
        )
        meter.create_observable_gauge(
            "evtsrc.handler.lag",
            callbacks=[observe_lag],
            unit="{position}",
            description="How far a handler's bookmark is behind the last position of its streams",
        )


def _histogram(meter: Meter, name: str, description: str) -> Histogram:
    create: Callable[..., Histogram] = meter.create_histogram
    if "explicit_bucket_boundaries_advisory" in inspect.signature(create).parameters:
        return create(
            name,
            unit="s",
            description=description,
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS),
        )
    return create(name, unit="s", description=description)


class Recorder:
    """A tracer and evtsrc's instruments, from given providers or the global ones."""

    def __init__(
        self, tracer_provider: TracerProvider | None, meter_provider: MeterProvider | None
    ) -> None:
        from opentelemetry import context, trace

        self._tracer_provider = tracer_provider
        self._meter_provider = meter_provider
        self._version = _version()
        self.attach: Callable[[Context], object] = context.attach
        self.detach: Callable[[Any], None] = context.detach
        self.in_context: Callable[[Span], Context] = trace.set_span_in_context
        self.error_status: Callable[[str], Status] = lambda description: trace.Status(
            trace.StatusCode.ERROR, description
        )
        self.consumer = trace.SpanKind.CONSUMER
        self.tracer: Tracer | None = None
        self.instruments: _Instruments | None = None
        self._tracing = self._metering = True
        """False once a no-op provider was given: no span (or measurement) is ever made."""
        self._complete = False
        self._next_look = 0.0
        self._lags: dict[tuple[str, int | None, int | None], int] = {}
        self._lags_lock = threading.Lock()  # read by the metric reader's thread
        self._look()

    def ready(self) -> bool:
        """Whether anything records: a tracer or a meter of an SDK (looked for once a second)."""
        if not self._complete:
            now = time.monotonic()
            if now >= self._next_look:
                self._next_look = now + LOOK_INTERVAL
                self._look()
        return self.tracer is not None or self.instruments is not None

    def _look(self) -> None:
        """Take a tracer and a meter from the providers given, or from an SDK's global ones.

        A no-op provider given stops that half for good; the API's proxy (given, or global
        before an SDK set one) is passed over until an SDK has set the global provider.
        """
        from opentelemetry import metrics, trace

        if self.tracer is None and self._tracing:
            tracers = self._tracer_provider
            if tracers is None or (_api_default(tracers) and not _no_op(tracers)):
                tracers = trace.get_tracer_provider()
            if _no_op(tracers):
                self._tracing = False
            elif not _api_default(tracers):
                self.tracer = tracers.get_tracer(SCOPE, self._version)
        if self.instruments is None and self._metering:
            meters = self._meter_provider
            if meters is None or (_api_default(meters) and not _no_op(meters)):
                meters = metrics.get_meter_provider()
            if _no_op(meters):
                self._metering = False
            elif not _api_default(meters):
                self.instruments = _Instruments(
                    meters.get_meter(SCOPE, self._version), self._observe_lags
                )
        self._complete = (self.tracer is not None or not self._tracing) and (
            self.instruments is not None or not self._metering
        )

    # -- commands ---------------------------------------------------------------------------

    def command(
        self,
        aggregate_type: str,
        stream: str,
        command: str,
        aggregate_id: str,
        correlation_id: str | None,
    ) -> CommandProbe:
        """A command starting now, its span current (once `ready()`)."""
        return CommandProbe(self, aggregate_type, stream, command, aggregate_id, correlation_id)

    # -- handlers ---------------------------------------------------------------------------

    def batch(
        self, handler: str, bucket: Bucket | None, records: Sequence[EventRecord]
    ) -> BatchProbe:
        """A handler's batch starting now, its span current (once `ready()`)."""
        return BatchProbe(self, handler, bucket, records)

    def lag(self, handler: str, bucket: Bucket | None, behind: int) -> None:
        """Remember how far the handler (or its bucket) is behind, for the lag gauge."""
        key = (handler, None, None) if bucket is None else (handler, bucket.index, bucket.count)
        with self._lags_lock:
            self._lags[key] = behind

    def forget_lag(self, handler: str, bucket: Bucket | None) -> None:
        """Report no lag for the handler (or bucket): this process no longer runs it."""
        key = (handler, None, None) if bucket is None else (handler, bucket.index, bucket.count)
        with self._lags_lock:
            self._lags.pop(key, None)

    def _observe_lags(self, options: CallbackOptions) -> Iterable[Observation]:
        from opentelemetry.metrics import Observation

        if active is not self:
            return []
        with self._lags_lock:
            lags = list(self._lags.items())
        found: list[Observation] = []
        for (handler, index, count), behind in lags:
            attributes: dict[str, AttributeValue] = {HANDLER_NAME: handler}
            if index is not None and count is not None:
                attributes[HANDLER_BUCKET] = index
                attributes[HANDLER_BUCKETS] = count
            found.append(Observation(behind, attributes))
        return found


def _fail(recorder: Recorder, span: Span, error: BaseException, kind: str) -> None:
    """Mark `span` failed: the exception recorded, the status an error."""
    span.record_exception(error)
    span.set_attribute(ERROR_TYPE, kind)
    span.set_status(recorder.error_status(f"{kind}: {error}"))


class CommandProbe:
    """One command's span and measurements; its span is current until it ends."""

    __slots__ = (
        "_attributes",
        "_correlation",
        "_recorder",
        "_span",
        "_started",
        "_token",
        "appended",
        "first",
        "last",
        "retries",
    )

    def __init__(
        self,
        recorder: Recorder,
        aggregate_type: str,
        stream: str,
        command: str,
        aggregate_id: str,
        correlation_id: str | None,
    ) -> None:
        self._recorder = recorder
        self._attributes: dict[str, AttributeValue] = {
            AGGREGATE_TYPE: aggregate_type,
            COMMAND_NAME: command,
        }
        self._correlation = correlation_id
        self.retries = 0
        self.appended = 0
        self.first = self.last = 0
        self._span: Span | None = None
        self._token: object = None
        tracer = recorder.tracer
        if tracer is not None:
            attributes: dict[str, AttributeValue] = {
                AGGREGATE_TYPE: aggregate_type,
                STREAM: stream,
                AGGREGATE_ID: aggregate_id,
                COMMAND_NAME: command,
            }
            if correlation_id is not None:
                attributes[CORRELATION_ID] = correlation_id
            span = tracer.start_span(f"command {aggregate_type}.{command}", attributes=attributes)
            self._span = span
            if span.get_span_context().is_valid:  # also one sampled out: children follow it
                self._token = recorder.attach(recorder.in_context(span))
        self._started = time.perf_counter()

    async def append(
        self,
        pending: Awaitable[Sequence[EventRecord]],
        stream: str,
        aggregate_id: str,
        expected: int,
        events: Sequence[NewEvent],
    ) -> Sequence[EventRecord]:
        """Await the append `pending` in a span of its own."""
        recorder = self._recorder
        metadata = events[0].metadata if events else None
        found = metadata.get("correlation_id") if metadata else None
        if isinstance(found, str):
            self._correlation = found
        tracer = recorder.tracer
        if tracer is None or self._token is None:
            records = await pending
        else:
            attributes: dict[str, AttributeValue] = {
                STREAM: stream,
                AGGREGATE_ID: aggregate_id,
                EXPECTED_VERSION: expected,
                EVENT_COUNT: len(events),
            }
            if self._correlation is not None:
                attributes[CORRELATION_ID] = self._correlation
            span = tracer.start_span(f"append {stream}", attributes=attributes)
            token = recorder.attach(recorder.in_context(span))
            try:
                records = await pending
            except AlreadyProcessed:  # an inbox's message again: appended the first time
                span.set_attribute(ALREADY_PROCESSED, True)
                raise
            except BaseException as error:
                _fail(recorder, span, error, error_type(error))
                raise
            else:
                if records:
                    span.set_attributes(
                        {
                            FIRST_POSITION: records[0].position,
                            LAST_POSITION: records[-1].position,
                        }
                    )
            finally:
                recorder.detach(token)
                span.end()
        self.appended = len(records)
        if records:
            self.first, self.last = records[0].position, records[-1].position
        return records

    def conflicted(self, retrying: bool) -> None:
        """An append of this command conflicted; `retrying`: the command runs again."""
        instruments = self._recorder.instruments
        if instruments is not None:
            instruments.conflicts.add(1, self._attributes)
            if retrying:
                instruments.retries.add(1, self._attributes)
        if retrying:
            self.retries += 1

    def end(self, error: BaseException | None, version: int = 0) -> None:
        """The command ended: returned an aggregate at `version`, or raised `error`."""
        duration = time.perf_counter() - self._started
        recorder = self._recorder
        outcome, code = command_outcome(error)
        attributes = {**self._attributes, COMMAND_OUTCOME: outcome}
        if code is not None:
            attributes[COMMAND_ERROR_CODE] = code
        instruments = recorder.instruments
        if instruments is not None:
            instruments.commands.add(1, attributes)
            instruments.command_duration.record(duration, attributes)
            if self.appended:
                instruments.events_appended.add(self.appended, self._attributes)
        span = self._span
        if span is None:
            return
        try:
            if span.is_recording():
                attributes[COMMAND_RETRIES] = self.retries
                if error is None:
                    attributes[AGGREGATE_VERSION] = version
                    attributes[EVENT_COUNT] = self.appended
                    if self.appended:
                        attributes[FIRST_POSITION] = self.first
                        attributes[LAST_POSITION] = self.last
                if self._correlation is not None:
                    attributes[CORRELATION_ID] = self._correlation
                span.set_attributes(attributes)
                if error is not None and outcome in (CONFLICT, ERROR):
                    _fail(recorder, span, error, error_type(error))
        finally:
            if self._token is not None:
                recorder.detach(self._token)
            span.end()


class BatchProbe:
    """One handler batch's span and measurements; its span is current until it ends."""

    __slots__ = ("_attributes", "_failed", "_recorder", "_span", "_started", "_token")

    def __init__(
        self,
        recorder: Recorder,
        handler: str,
        bucket: Bucket | None,
        records: Sequence[EventRecord],
    ) -> None:
        self._recorder = recorder
        self._attributes: Mapping[str, AttributeValue] = {HANDLER_NAME: handler}
        self._failed = 0
        self._span: Span | None = None
        self._token: object = None
        tracer = recorder.tracer
        if tracer is not None:
            attributes: dict[str, AttributeValue] = {
                HANDLER_NAME: handler,
                FIRST_POSITION: records[0].position,
                LAST_POSITION: records[-1].position,
                EVENT_COUNT: len(records),
            }
            if bucket is not None:
                attributes[HANDLER_BUCKET] = bucket.index
                attributes[HANDLER_BUCKETS] = bucket.count
            span = tracer.start_span(
                f"handle {handler}", kind=recorder.consumer, attributes=attributes
            )
            self._span = span
            if span.get_span_context().is_valid:
                self._token = recorder.attach(recorder.in_context(span))
        self._started = time.perf_counter()

    def failure(self, record: EventRecord, error: BaseException) -> None:
        """One event of the batch failed, and was reported or parked: the batch goes on."""
        self._failed += 1
        span = self._span
        if span is not None and span.is_recording():
            cause = error.__cause__ if error.__cause__ is not None else error
            span.record_exception(
                cause,
                {
                    POSITION: record.position,
                    STREAM: record.stream,
                    AGGREGATE_ID: record.aggregate_id,
                    ERROR_TYPE: error_type(cause),
                },
            )

    def end(self, handled: int, error: BaseException | None) -> None:
        """The batch ended: `handled` events handled, or the run stopped with `error`."""
        duration = time.perf_counter() - self._started
        recorder = self._recorder
        outcome = OK if error is None else ERROR if isinstance(error, Exception) else CANCELLED
        instruments = recorder.instruments
        if instruments is not None:
            instruments.batch_duration.record(
                duration, {**self._attributes, HANDLER_OUTCOME: outcome}
            )
            if handled:
                instruments.handled.add(handled, self._attributes)
            failed = self._failed + (1 if isinstance(error, HandlerError) else 0)
            if failed:
                instruments.failures.add(failed, self._attributes)
        span = self._span
        if span is None:
            return
        try:
            if span.is_recording():
                span.set_attributes(
                    {
                        HANDLER_HANDLED: handled,
                        HANDLER_FAILED: self._failed,
                        HANDLER_OUTCOME: outcome,
                    }
                )
                if error is not None and outcome == ERROR:
                    cause = error.__cause__ if error.__cause__ is not None else error
                    position = getattr(error, "position", None)
                    if isinstance(position, int):
                        span.set_attribute(POSITION, position)
                    _fail(recorder, span, error, error_type(cause))
        finally:
            if self._token is not None:
                recorder.detach(self._token)
            span.end()


class Lag:
    """Where a handler's streams end, as last learnt, to tell its lag after each batch.

    A batch read short of full ends at the end of the streams (as they were read); after
    a full one the end is read from the store, once, unless a batch already passed it.
    """

    def __init__(self, last_position: Callable[[], Awaitable[int]], batch_size: int) -> None:
        self._last_position = last_position
        self._batch_size = batch_size
        self._end = 0

    async def behind(self, records: Sequence[EventRecord], reached: int) -> int | None:
        """How far `reached` is behind the end, after a batch of `records`; None if unknown."""
        last = records[-1].position
        if len(records) < self._batch_size:
            self._end = max(self._end, last)
        elif self._end <= last:
            try:
                self._end = max(await self._last_position(), last)
            except Exception:  # telemetry never fails a handler: the lag is just not told
                return None
        return max(self._end - reached, 0)


# -- the ids on log records -----------------------------------------------------------------
# The records evtsrc's loggers emit carry these `extra` fields, under the attribute names of
# the spans, so a formatter or OpenTelemetry's logging handler can show and index them.


def handler_ids(
    handler: str, *, bucket: int | None = None, error: BaseException | None = None
) -> dict[str, object]:
    """The `extra` of a log record about a handler (its bucket), and the event that failed."""
    ids: dict[str, object] = {HANDLER_NAME: handler}
    if bucket is not None:
        ids[HANDLER_BUCKET] = bucket
    if isinstance(error, HandlerError):
        ids[POSITION] = error.position
        if error.stream is not None:
            ids[STREAM] = error.stream
        if error.aggregate_id is not None:
            ids[AGGREGATE_ID] = error.aggregate_id
    return ids


def aggregate_ids(
    stream: str, aggregate_id: str, *, version: int | None = None, correlation_id: object = None
) -> dict[str, object]:
    """The `extra` of a log record about an aggregate (and the command's correlation)."""
    ids: dict[str, object] = {STREAM: stream, AGGREGATE_ID: aggregate_id}
    if version is not None:
        ids[AGGREGATE_VERSION] = version
    if isinstance(correlation_id, str):
        ids[CORRELATION_ID] = correlation_id
    return ids


def event_ids(handler: str, meta: EventMeta) -> dict[str, object]:
    """The `extra` of a log record about a handler's event: where it is and its correlation."""
    ids: dict[str, object] = {
        HANDLER_NAME: handler,
        STREAM: meta.stream,
        AGGREGATE_ID: meta.aggregate_id,
        POSITION: meta.position,
    }
    with contextlib.suppress(MetadataNotRead):  # (a handler that reads no metadata)
        ids[CORRELATION_ID] = meta.correlation_id
    return ids


def inbox_ids(inbox: str, message_id: str | None = None) -> dict[str, object]:
    """The `extra` of a log record about an inbox, and the message it received."""
    ids: dict[str, object] = {INBOX_NAME: inbox}
    if message_id is not None:
        ids[MESSAGE_ID] = message_id
    return ids
