"""What the scenarios share: sizes, the result of one measured run, and the clock."""

from __future__ import annotations

import math
import resource
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

SCENARIOS = ("S1", "S2", "S2snap", "S2grow", "S3", "S3grow", "S4", "S5", "S6")
UNITS = {
    "S1": "commands/s",
    "S2": "events/s",
    "S2snap": "loads/s (largest)",
    "S2grow": "events/s (largest)",
    "S3": "events/s",
    "S3grow": "events/s (largest)",
    "S4": "commands/s",
    "S5": "events/s (appends)",
    "S6": "events/s (4 workers)",
}
COUNTING = "EVTSRC_BENCH_COUNTING"
"""Set by `bench.instructions` for a run whose instructions it counts: "setup" stops a
catch-up scenario before its catch-up, "catch-up" runs it with the collector off."""
SNAPSHOT_EVERY = 100
"""S2snap's snapshot interval (both libraries): seeded in appends of 1000, so the last
snapshot is at the aggregate's last version."""


@dataclass(frozen=True)
class Sizes:
    """How big each scenario is."""

    s1_accounts: int = 500  # each opened, then 9 deposits
    s2_events: int = 10_000  # events of the one account loaded
    s2_loads: int = 5  # loads timed; the median counts (S2 and S2snap)
    s2snap_events: tuple[int, ...] = (10, 10_000, 1_000_000)  # one aggregate per size
    s2grow_events: tuple[int, ...] = (1_000, 10_000, 100_000)  # one aggregate per size
    s3_accounts: int = 5_000  # each with 10 events
    s3grow_events: tuple[int, ...] = (5_000, 50_000, 200_000)  # store sizes, accounts of 10
    grow_peer_max_events: int = 100_000  # the peers' growth runs skip larger sizes
    s4_writers: int = 8  # concurrent writers, each on its own account
    s4_deposits: int = 500  # deposits per writer
    s5_appends: int = 200  # appends timed from commit to handler delivery
    s5_gap_ms: tuple[float, float] = (5.0, 10.0)  # pause between appends, uniform
    s6_events: int = 50_000  # caught up on by a handler waiting 1 ms per event
    s6_buckets: int = 16  # the handler group's buckets
    s6_concurrency: int = 8  # buckets handled at once in the one-process run

    @classmethod
    def quick(cls) -> Sizes:
        """Tiny sizes, so the harness runs in seconds."""
        return cls(
            s1_accounts=10,
            s2_events=200,
            s2_loads=3,
            s2snap_events=(10, 100, 2_000),
            s2grow_events=(100, 300, 1_000),
            s3_accounts=50,
            s3grow_events=(100, 300, 1_000),
            grow_peer_max_events=300,
            s4_deposits=5,
            s5_appends=20,
            s6_events=500,
        )

    def as_dict(self) -> dict[str, Any]:
        """The sizes as JSON."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Sizes:
        """The sizes from JSON (lists become tuples)."""
        converted: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in values.items()
        }
        return cls(**converted)

    def with_overrides(self, pairs: list[str]) -> Sizes:
        """These sizes with `name=value` pairs applied (tuples as comma-separated numbers)."""
        current = self.as_dict()
        kinds: dict[str, type[Any]] = {f.name: type(current[f.name]) for f in fields(self)}
        for pair in pairs:
            name, _, text = pair.partition("=")
            if name not in kinds or not text:
                raise SystemExit(f"--size {pair!r}: expected NAME=VALUE, NAME one of {list(kinds)}")
            if kinds[name] is tuple:
                numbers = [float(x) if "." in x else int(x) for x in text.split(",")]
                current[name] = tuple(numbers)
            else:
                current[name] = int(text)
        return Sizes.from_dict(current)


@dataclass(frozen=True)
class Measured:
    """One scenario run: `count` operations in `seconds`, plus scenario-specific figures."""

    count: int
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict[str, Any])

    @property
    def rate(self) -> float:
        """Operations per second."""
        return self.count / self.seconds if self.seconds > 0 else float("inf")


def growth(seconds: dict[int, float], seeding: dict[int, float]) -> Measured:
    """A growth run's result from the time taken at each size (in events) and its seeding.

    The rate is the largest size's; `extra` has the time per event in µs at each size.
    """
    largest = max(seconds)
    return Measured(
        largest,
        seconds[largest],
        {
            "us_per_event": {str(n): seconds[n] / n * 1e6 for n in sorted(seconds)},
            "seed_s": {str(n): seeding[n] for n in sorted(seeding)},
        },
    )


def peer_sizes(sizes: tuple[int, ...], largest: int) -> tuple[int, ...]:
    """The growth sizes a peer runs: those up to `largest`, at least the smallest."""
    kept = tuple(n for n in sizes if n <= largest)
    return kept or (min(sizes),)


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of `values` (fraction 0.5 is the median, 0.99 the p99)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]


def push_latencies(
    committed: dict[int, float], arrived: dict[int, float], elapsed: float
) -> Measured:
    """S5's result: commit-to-delivery latencies of the appended versions, in ms.

    A delivery seen before `execute()` returned counts as 0 ms, and is counted apart.
    """
    latencies = [max(0.0, arrived[v] - t) * 1000 for v, t in committed.items()]
    return Measured(
        len(latencies),
        elapsed,
        {
            "p50_ms": percentile(latencies, 0.5),
            "p99_ms": percentile(latencies, 0.99),
            "max_ms": max(latencies),
            "before_execute_returned": sum(arrived[v] < t for v, t in committed.items()),
        },
    )


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MB.

    On Linux `ru_maxrss` keeps the parent's size from before `exec`, so a small child of
    a big parent reports the parent's; VmHWM belongs to the process's own memory map.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


clock = time.perf_counter
