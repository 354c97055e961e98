"""Misused telemetry: providers given positionally or swapped, and the error's ids as str."""

from __future__ import annotations

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider

import evtsrc.telemetry
from evtsrc import HandlerError


def enabling(tracers: TracerProvider, meters: MeterProvider) -> None:
    evtsrc.telemetry.enable(tracers)  # expect-error: call-arg CallIssue
    evtsrc.telemetry.enable(tracer_provider=meters)  # expect-error: arg-type ArgumentType
    evtsrc.telemetry.enable(meter_provider=tracers)  # expect-error: arg-type ArgumentType
    evtsrc.telemetry.enable(tracer=tracers)  # expect-error: call-arg CallIssue
    evtsrc.telemetry.enabled(True)  # expect-error: call-arg CallIssue


def failed(error: HandlerError) -> str:
    return error.aggregate_id.upper()  # expect-error: union-attr OptionalMemberAccess
