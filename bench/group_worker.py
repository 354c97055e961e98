"""A worker process of scenario S6: python -m bench.group_worker BACKEND TARGET NAME BUCKETS.

It builds its domain, prints "ready", and on a line on stdin joins the handler group
`NAME` (`IOTotal`, 1 ms of simulated I/O per event, concurrency 1) until stdin closes.
"""

from __future__ import annotations

import asyncio
import sys

from bench.evtsrc_backends import make_backend
from bench.evtsrc_model import Account, IOTotal, io_total
from evtsrc import Domain

MEMBER_TTL = 1.5
"""Seconds a member lasts without beating: it beats every 0.5 s."""
BATCH = 100
"""Events per batch: a member over its share lets go of a bucket after its current batch."""


async def main(backend_kind: str, target: str, name: str, buckets: str) -> None:
    domain = Domain(await make_backend(backend_kind, target), aggregates=[Account])
    group = domain.handler_group(
        io_total(name), buckets=int(buckets), member_ttl=MEMBER_TTL, batch_size=BATCH
    )
    assert isinstance(group.handler, IOTotal)
    loop = asyncio.get_running_loop()
    print("ready", flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)
    await group.start()
    await loop.run_in_executor(None, sys.stdin.readline)  # "" once the parent closes it
    await group.stop()
    await domain.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
