"""A broker restarted under a running relay: the relay carries on by itself, losing nothing."""

from __future__ import annotations

import asyncio

import pytest

from evtsrc import Domain
from evtsrc.backends import InMemoryBackend
from tests.conformance.model import Counter, Ledger
from tests.faults.servers import Servers

from .targets import BROKERS, check_order, destination
from .test_receivers import Out

AGGREGATES = 100
PER_AGGREGATE = 20
RESTART_AT = 400
"""The relay's bookmark past which the broker is restarted."""


async def _append(domain: Domain) -> int:
    last = 0
    for _ in range(PER_AGGREGATE):
        for n in range(AGGREGATES):
            last = (await domain.repository(Counter).execute(f"c{n}", Counter.do_one)).last_position
        await asyncio.sleep(0.02)  # the relay keeps pace, so the restart falls mid-run
    return last


@pytest.mark.parametrize("broker", BROKERS)
async def test_the_relay_recovers_from_a_broker_restart_without_a_restart_of_its_own(
    broker: str, private_brokers: Servers
) -> None:
    server = private_brokers.get(broker)
    domain = Domain(InMemoryBackend(), aggregates=[Counter, Ledger])
    async with asyncio.timeout(240), destination(broker, server.url) as target:
        relay = Out(target.publisher(timeout=5))
        runner = domain.handler(relay, batch_size=50, poll_interval=0.05)
        await runner.start()
        try:
            appending = asyncio.create_task(_append(domain))
            while await runner.position() < RESTART_AT:
                await asyncio.sleep(0.01)
            await server.restart()
            last = await appending
            await runner.wait_for(last, timeout=180)
        finally:
            await runner.stop()
            await relay.close()
        delivered = await target.read(AGGREGATES * PER_AGGREGATE, quiet=2.0)
    repeats = check_order(delivered, AGGREGATES, PER_AGGREGATE)
    print(
        f"\nRESTART {broker}: relay went on by itself; {len(delivered)} delivered "
        f"({repeats} repeats); the restart cost it: {runner.last_error!r}"
    )
    assert server.restarts == 1
