"""A relay process SIGKILLed twice mid-run: every event arrives, in order, once via an inbox.

10,000 events of 200 aggregates sit in a SQLite file; relay processes publish them to
each broker, the first two killed part of the way through. What arrived is read back:
every event at least once, each aggregate's messages in order (a batch sent again repeats
a run of them), and fed through a receiver to an inbox whose commands append each event
exactly once.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from pathlib import Path

import pytest

from evtsrc import Domain
from evtsrc.backends import SqliteBackend
from evtsrc.messaging import Inbox
from tests.conformance.model import Counter, Ledger

from .targets import BROKERS, check_order, destination
from .test_receivers import Mirror

ROOT = Path(__file__).resolve().parents[2]
AGGREGATES = 200
PER_AGGREGATE = 50
TOTAL = AGGREGATES * PER_AGGREGATE
KILL_AT = (2_500, 6_000)
"""Bookmark positions past which the first and the second relay process are killed."""
BOUND = 300.0


async def _fill(path: Path) -> None:
    backend = SqliteBackend(str(path))
    await backend.create_schema()
    domain = Domain(backend, aggregates=[Counter, Ledger])
    counters = domain.repository(Counter)
    for _ in range(PER_AGGREGATE):
        for n in range(AGGREGATES):
            await counters.execute(f"c{n}", Counter.do_one)
    await backend.close()


async def _spawn(broker: str, location: str, name: str, path: Path) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.relay_worker",
        broker,
        location,
        name,
        str(path),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 30)
    assert line.strip() == b"started"
    return process


async def _bookmark(path: Path) -> int:
    backend = SqliteBackend(str(path))
    try:
        return await backend.get_bookmark("out")
    finally:
        await backend.close()


async def _relay_with_kills(broker: str, location: str, name: str, path: Path) -> list[int]:
    """Run relay processes until all is published; the bookmarks at which two were killed."""
    killed: list[int] = []
    process = await _spawn(broker, location, name, path)
    try:
        for mark in KILL_AT:
            while (reached := await _bookmark(path)) < mark:
                await asyncio.sleep(0.01)
            process.send_signal(signal.SIGKILL)
            await process.wait()
            killed.append(reached)
            process = await _spawn(broker, location, name, path)
        while await _bookmark(path) < TOTAL:
            await asyncio.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return killed


@pytest.mark.parametrize("broker", BROKERS)
async def test_a_relay_killed_twice_loses_nothing_and_an_inbox_applies_each_event_once(
    broker: str, tmp_path: Path
) -> None:
    path = tmp_path / "events.sqlite"
    await _fill(path)
    inbox_store = SqliteBackend(str(tmp_path / "inbox.sqlite"))
    await inbox_store.create_schema()
    receiving = Domain(inbox_store, aggregates=[Counter, Ledger])
    async with asyncio.timeout(BOUND), destination(broker) as target:
        started = time.monotonic()
        killed = await _relay_with_kills(broker, target.location, target.name, path)
        relayed = time.monotonic() - started
        delivered = await target.read(TOTAL, quiet=2.0, bound=BOUND)
        repeats = check_order(delivered, AGGREGATES, PER_AGGREGATE)
        assert {m.message_id for m in delivered} == {
            f"out:{r.event_id}"
            for r in await SqliteBackend(str(path)).read_streams(
                ["counters"], after_position=0, limit=TOTAL
            )
        }
        receiver = target.receiver("relay-kills")
        await receiver.start(Inbox(Mirror(receiving), receiving))
        try:
            while receiver.handled + receiver.skipped < len(delivered):
                await asyncio.sleep(0.05)
        finally:
            await receiver.stop()
    print(
        f"\nRELAY {broker}: {TOTAL} events relayed in {relayed:.1f} s by 3 processes, "
        f"killed at {killed}; {len(delivered)} delivered ({repeats} repeats); "
        f"inbox handled {receiver.handled}, skipped {receiver.skipped}"
    )
    assert receiver.handled == TOTAL
    assert receiver.skipped == len(delivered) - TOTAL
    for n in range(AGGREGATES):
        records = await receiving.backend.read_aggregate("ledgers", f"c{n}")
        assert [r.data["street"] for r in records] == [
            f"v{v}" for v in range(1, PER_AGGREGATE + 1)
        ], f"c{n}"
    await receiving.close()
