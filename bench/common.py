"""What the scenarios share: sizes, the result of one measured run, and the clock."""

from __future__ import annotations

import resource
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

SCENARIOS = ("S1", "S2", "S3")
UNITS = {"S1": "commands/s", "S2": "events/s", "S3": "events/s"}


@dataclass(frozen=True)
class Sizes:
    """How big each scenario is."""

    s1_accounts: int = 500  # each opened, then 9 deposits
    s2_events: int = 10_000  # events of the one account loaded
    s2_loads: int = 5  # loads timed; the median counts
    s3_accounts: int = 5_000  # each with 10 events

    @classmethod
    def quick(cls) -> Sizes:
        """Tiny sizes, so the harness runs in seconds."""
        return cls(s1_accounts=10, s2_events=200, s2_loads=3, s3_accounts=50)

    def as_dict(self) -> dict[str, Any]:
        """The sizes as JSON."""
        return asdict(self)


@dataclass(frozen=True)
class Measured:
    """One scenario run: `count` operations in `seconds`."""

    count: int
    seconds: float

    @property
    def rate(self) -> float:
        """Operations per second."""
        return self.count / self.seconds if self.seconds > 0 else float("inf")


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
