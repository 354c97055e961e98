"""One measured run in its own process: prints one JSON line with the result.

python -m bench.child LIBRARY BACKEND SCENARIO TARGET SIZES_JSON

`EVTSRC_BENCH_TELEMETRY` turns evtsrc's telemetry on first, where the evtsrc under test
has it: `api` enables it with no SDK set (the OpenTelemetry API alone, recording
nothing), `sdk` with the SDK's providers, spans batched to an exporter that drops them
and metrics kept for a reader. Unset or `off`: telemetry stays off, as by default.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from bench.common import Measured, Sizes, peak_rss_mb


def measure(library: str, backend: str, scenario: str, target: str, sizes: Sizes) -> Measured:
    """Run the scenario with the library's module, imported only here."""
    if library in ("evtsrc", "evtsrc-nocache"):
        from bench import evtsrc_scenarios

        cache = library == "evtsrc"
        return asyncio.run(evtsrc_scenarios.run(backend, target, scenario, sizes, cache=cache))
    if library in ("eventsourcing", "eventsourcing-dbfn", "eventsourcing-cache"):
        from bench import es_scenarios

        return es_scenarios.run(
            backend,
            target,
            scenario,
            sizes,
            db_functions=library == "eventsourcing-dbfn",
            cache=library == "eventsourcing-cache",
        )
    if library in ("raw-asyncpg", "raw-asyncpg-read"):
        from bench import raw_asyncpg

        read = library == "raw-asyncpg-read"
        return asyncio.run(
            raw_asyncpg.run(backend, target, scenario, sizes, read_every_command=read)
        )
    raise ValueError(f"unknown library {library!r}")


def telemetry(mode: str) -> None:
    """Enable evtsrc's telemetry as `mode` says (`off`, `api`, `sdk`), if evtsrc has it."""
    if mode in ("", "off") or importlib.util.find_spec("evtsrc.telemetry") is None:
        return
    import evtsrc.telemetry

    if mode == "api":
        evtsrc.telemetry.enable()
        return
    if mode != "sdk":
        raise ValueError(f"EVTSRC_BENCH_TELEMETRY is off, api or sdk, not {mode!r}")
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Dropped(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    tracers = TracerProvider()
    tracers.add_span_processor(BatchSpanProcessor(Dropped()))
    meters = MeterProvider(metric_readers=[InMemoryMetricReader()])
    evtsrc.telemetry.enable(tracer_provider=tracers, meter_provider=meters)


def main(argv: list[str]) -> None:
    """Parse the arguments, run, print the result as JSON."""
    library, backend, scenario, target, sizes_json = argv
    telemetry(os.environ.get("EVTSRC_BENCH_TELEMETRY", ""))
    result = measure(library, backend, scenario, target, Sizes.from_dict(json.loads(sizes_json)))
    line = {
        "count": result.count,
        "seconds": result.seconds,
        "rate": result.rate,
        "rss_mb": peak_rss_mb(),
        "extra": result.extra,
    }
    print(json.dumps(line))


if __name__ == "__main__":
    main(sys.argv[1:])
