"""The one fault scenario every server backend runs: writers and a handler through faults.

Writers execute commands on aggregates of their own, each call bounded. A call that
returned is acknowledged. `StoreUnavailable` with `outcome_unknown=False` means
nothing was written: the writer runs the same command again. With
`outcome_unknown=True` the writer counts an unknown outcome and goes on; the end
check allows each one to have been stored or not. A started handler records every
event it sees. Meanwhile `fault` strikes (kill every connection, or restart the
server). Then everything quiesces and `Figures.problems()` lists what went wrong.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections import Counter as Tally
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import attrs

from evtsrc import (
    Aggregate,
    Domain,
    Event,
    EventHandler,
    EventMeta,
    StoreUnavailable,
    VersionConflict,
    command,
    folds,
    on_event,
)
from evtsrc.backends import Backend

T = TypeVar("T")

CALL_BOUND = 20.0
"""Seconds any one awaited call may take before the scenario calls it hung."""
WRITERS = 4
ATTEMPTS = 40
"""Bound on tries of one read after the faults."""
RETRY_WINDOW = 60.0
"""Seconds a writer keeps trying one command through an outage (each failed try was
certainly not applied): a bound in time, since a restart lasts as long as the server
takes to start, however few or many tries fit in it."""


class Tick(Event, type_name="tick"):
    after: int
    """The version the command saw: each event of an aggregate says which it was."""


class Ticker(Aggregate, stream="faults-tickers"):
    ticks: int = 0

    @folds
    def _tick(self, event: Tick) -> None:
        self.ticks += 1

    @command
    def tick(self) -> Tick:
        return Tick(after=self.version)


class Watcher(EventHandler, name="faults-watcher"):
    """Records every event it is given."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int]] = []
        self.arrived: dict[tuple[str, int], float] = {}

    @on_event
    def ticked(self, event: Tick, meta: EventMeta) -> None:
        key = (meta.aggregate_id, meta.version)
        self.seen.append(key)
        self.arrived.setdefault(key, time.monotonic())


@attrs.define
class Figures:
    """What one scenario run did, and what it found."""

    target: str
    fault: str
    faults: int = 0
    acknowledged: int = 0
    stored: int = 0
    seen: int = 0
    duplicates: int = 0
    unknown: int = 0
    unknown_stored: int = 0
    retried: int = 0
    late_conflicts: int = 0
    """VersionConflicts right after an unknown outcome of the same writer: its write had
    not landed when the next command loaded, and landed before that one appended."""
    longest_call: float = 0.0
    push_latency: float | None = None
    connections: str = ""
    errors: list[str] = attrs.field(factory=list)
    """Failures: hung calls, unexpected exceptions, lost or unseen events."""

    def line(self) -> str:
        push = "" if self.push_latency is None else f" push={self.push_latency * 1000:.0f}ms"
        return (
            f"{self.target} {self.fault} x{self.faults}: acknowledged={self.acknowledged} "
            f"stored={self.stored} seen={self.seen} duplicates={self.duplicates} "
            f"unknown={self.unknown} (stored {self.unknown_stored}) retried={self.retried} "
            f"late conflicts={self.late_conflicts} "
            f"longest call={self.longest_call:.2f}s{push} connections: {self.connections}"
        )

    def record(self, folder: Path) -> None:
        """Keep the figures for `report.py` and the session summary."""
        text = json.dumps(attrs.asdict(self))
        (folder / "figures.json").write_text(text)
        shared = os.environ.get("EVTSRC_FAULTS_REPORT")
        if shared:
            with open(shared, "a") as out:
                out.write(text + "\n")
        FIGURES.append(self)


FIGURES: list[Figures] = []
"""Every run of this session, printed in pytest's terminal summary."""


class Bounded:
    """Awaits with a bound, keeping the longest call."""

    def __init__(self, figures: Figures) -> None:
        self.figures = figures

    async def __call__(self, awaitable: Awaitable[T], what: str, bound: float = CALL_BOUND) -> T:
        started = time.monotonic()
        try:
            return await asyncio.wait_for(awaitable, bound)
        except TimeoutError:
            self.figures.errors.append(f"{what} hung: no answer within {bound} s")
            raise
        finally:
            elapsed = time.monotonic() - started
            self.figures.longest_call = max(self.figures.longest_call, elapsed)


Fault = Callable[[int], Awaitable[None]]
"""Strike fault number n (from 0)."""
Count = Callable[[], Awaitable[int]]
"""A connection count that must come back to its value before the faults."""


async def run(
    backend: Backend,
    figures: Figures,
    fault: Fault,
    *,
    rounds: int,
    gap: float,
    connections: dict[str, Count] | None = None,
    push: bool = False,
) -> Figures:
    """Writers and a started handler on `backend` while `fault` strikes `rounds` times."""
    domain = Domain(backend, [Ticker], cache_size=0)
    repository = domain.repository(Ticker)
    bounded = Bounded(figures)
    watcher = Watcher()
    # With push the handler must not need its poll to see events: poll rarely.
    runner = domain.handler(watcher, poll_interval=5.0 if push else 0.2)
    acknowledged: dict[str, int] = {}
    stop = asyncio.Event()

    async def writer(aggregate: str) -> None:
        loop = asyncio.get_running_loop()
        unsure = False  # the last write's outcome was unknown: it may still land
        while not stop.is_set():
            deadline = loop.time() + RETRY_WINDOW
            while loop.time() < deadline:
                try:
                    state = await bounded(repository.execute(aggregate, Ticker.tick), "execute")
                except StoreUnavailable as error:
                    if error.outcome_unknown:
                        figures.unknown += 1
                        unsure = True
                        break
                    figures.retried += 1
                    await asyncio.sleep(0.05)
                    continue
                except TimeoutError:
                    return  # recorded as hung
                except VersionConflict as error:
                    # The only other writer of this aggregate is this one's unknown write,
                    # still committing on the server when the next command loaded.
                    if not unsure:
                        figures.errors.append(f"execute raised {error!r}")
                    figures.late_conflicts += unsure
                    await asyncio.sleep(0.05)
                    continue
                except Exception as error:  # anything else is a finding
                    code = getattr(error, "code", None)  # a driver's error code, if any
                    figures.errors.append(f"execute raised {error!r} (code {code}): {error}")
                    await asyncio.sleep(0.05)
                    continue
                acknowledged[aggregate] = max(acknowledged.get(aggregate, 0), state.version)
                figures.acknowledged += 1
                unsure = False
                break
            else:
                figures.errors.append(f"{aggregate}: still failing after {RETRY_WINDOW:.0f} s")
                return
            await asyncio.sleep(0.01)

    aggregates = [f"w{n}" for n in range(WRITERS)]
    counts: dict[str, int] = {}
    try:
        await bounded(runner.start(), "start the handler")
        # Warm up: every writer acknowledged once, the handler caught up.
        tasks = [asyncio.create_task(writer(a)) for a in aggregates]
        await _until(lambda: all(a in acknowledged for a in aggregates), 30, "warm-up", figures)
        stop.set()
        await bounded(asyncio.gather(*tasks), "writers stop")
        await _until(
            lambda: len(set(watcher.seen)) >= figures.acknowledged, 30, "catch up", figures
        )
        for name, count in (connections or {}).items():
            counts[name] = await bounded(count(), f"count {name}")

        stop.clear()
        tasks = [asyncio.create_task(writer(a)) for a in aggregates]
        for n in range(rounds):
            await asyncio.sleep(gap)
            await bounded(fault(n), f"fault {n}", bound=120)
            figures.faults += 1
        await asyncio.sleep(gap)
        stop.set()
        await bounded(asyncio.gather(*tasks), "writers stop", bound=RETRY_WINDOW + CALL_BOUND)

        stored = await _stored(backend, aggregates, bounded, figures)
        figures.stored = sum(len(v) for v in stored.values())
        for aggregate in aggregates:
            versions = stored[aggregate]
            if versions != list(range(1, len(versions) + 1)):
                figures.errors.append(f"{aggregate}: versions not consecutive: {versions}")
            if acknowledged.get(aggregate, 0) > len(versions):
                figures.errors.append(
                    f"{aggregate}: version {acknowledged[aggregate]} was acknowledged but only "
                    f"{len(versions)} are stored"
                )
        figures.unknown_stored = figures.stored - figures.acknowledged
        if not 0 <= figures.unknown_stored <= figures.unknown:
            figures.errors.append(
                f"{figures.stored} events stored for {figures.acknowledged} acknowledged "
                f"commands and {figures.unknown} of unknown outcome"
            )
        wanted = {(a, v) for a, versions in stored.items() for v in versions}
        await _until(lambda: wanted <= set(watcher.seen), 60, "handler sees every event", figures)
        figures.seen = len(set(watcher.seen) & wanted)
        figures.duplicates = sum(n - 1 for n in Tally(watcher.seen).values() if n > 1)
        if wanted - set(watcher.seen):
            missing = sorted(wanted - set(watcher.seen))[:10]
            figures.errors.append(f"the handler never saw {missing} (and maybe more)")
        if runner.last_error is not None and not isinstance(runner.last_error, StoreUnavailable):
            figures.errors.append(f"the handler failed with {runner.last_error!r}")

        if push:
            state = await bounded(repository.execute("late", Ticker.tick), "execute after faults")
            sent = time.monotonic()
            key = ("late", state.version)
            await _until(lambda: key in watcher.arrived, 10, "push after faults", figures)
            if key in watcher.arrived:
                figures.push_latency = watcher.arrived[key] - sent
                if figures.push_latency > 1.0:
                    figures.errors.append(
                        f"a new event reached the started handler after "
                        f"{figures.push_latency:.2f} s: push was not restored"
                    )

        found: list[str] = []
        for name, count in (connections or {}).items():
            after = counts[name]
            for _ in range(50):  # a connection may take a moment to go back
                after = await bounded(count(), f"count {name}")
                if after <= counts[name]:
                    break
                await asyncio.sleep(0.1)
            found.append(f"{name} {counts[name]} before, {after} after")
            if after > counts[name]:
                figures.errors.append(f"{name}: {after} after the faults, {counts[name]} idle")
        figures.connections = "; ".join(found)
    except TimeoutError:
        figures.errors.append("the scenario stopped there: a call hung (see above)")
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(runner.stop(), CALL_BOUND)
    return figures


async def _stored(
    backend: Backend, aggregates: list[str], bounded: Bounded, figures: Figures
) -> dict[str, list[int]]:
    """Each aggregate's stored versions, read once the store answers again."""
    found: dict[str, list[int]] = {}
    for aggregate in aggregates:
        for _ in range(ATTEMPTS):
            try:
                records = await bounded(
                    backend.read_aggregate(Ticker.__stream__, aggregate, limit=100_000),
                    "read_aggregate",
                )
            except StoreUnavailable:
                await asyncio.sleep(0.2)
                continue
            found[aggregate] = [r.version for r in records]
            break
        else:
            figures.errors.append(f"{aggregate}: could not be read after the faults")
            found[aggregate] = []
    return found


async def _until(check: Callable[[], bool], bound: float, what: str, figures: Figures) -> None:
    deadline = time.monotonic() + bound
    while not check():
        if time.monotonic() > deadline:
            figures.errors.append(f"{what}: not done within {bound} s")
            return
        await asyncio.sleep(0.05)


def tally(items: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in items.items())
