"""Telemetry is typed: enabling takes the SDK's providers by keyword, and says if it is on."""

from __future__ import annotations

from typing import assert_type

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider

import evtsrc.telemetry
from evtsrc import HandlerError


def enabling() -> None:
    assert_type(evtsrc.telemetry.enable(), None)  # the global providers
    evtsrc.telemetry.enable(tracer_provider=TracerProvider())
    evtsrc.telemetry.enable(meter_provider=MeterProvider(metric_readers=[InMemoryMetricReader()]))
    evtsrc.telemetry.enable(
        tracer_provider=trace.get_tracer_provider(), meter_provider=metrics.get_meter_provider()
    )
    evtsrc.telemetry.enable(tracer_provider=None, meter_provider=None)
    assert_type(evtsrc.telemetry.enabled(), bool)
    assert_type(evtsrc.telemetry.disable(), None)


def failed(error: HandlerError) -> str:
    assert_type(error.stream, str | None)
    assert_type(error.aggregate_id, str | None)
    return f"{error.handler} {error.position} {error.stream}/{error.aggregate_id}"


async def main() -> None:
    enabling()
    assert not evtsrc.telemetry.enabled()
    error = HandlerError("h", 3, "t.x", ValueError("no"), stream="s", aggregate_id="a")
    assert failed(error) == "h 3 s/a"
