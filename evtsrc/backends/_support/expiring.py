"""Handler leases kept as a record with an expiry, for stores without session locks.

A MongoDB server frees nothing when a client dies, so there the lease is a record
naming its holder until a time the holder keeps pushing forward. A runner that dies,
even by SIGKILL, gives the lease up when its last renewal runs out: `ttl` seconds at
most. `ExpiringLease` keeps that bookkeeping; a `LeaseRecords` says how one database
takes, renews and frees the record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from ..base import new_event_id, process_label
from .outage import Outage, unavailable

log = logging.getLogger("evtsrc.handlers")
HOLD = 0.9
"""The share of the record's time to live the holder counts on: the rest is for clocks
that disagree."""


def new_holder() -> str:
    """A lease holder's id: this process's label and a random part, `"<host> pid <pid> <uuid>"`.

    What `lease_holder` reports of a record; the random part tells apart two leases of
    one process. Records written before holders named their process hold a bare uuid.
    """
    return f"{process_label()} {new_event_id()}"


class LeaseRecords(Protocol):
    """One database's lease records, each naming a holder and when its hold ends."""

    async def take(self, name: str, holder: str, ttl: float) -> bool:
        """Make `holder` hold `name` for `ttl` seconds if no other holds it; whether it does."""
        ...

    async def renew(self, name: str, holder: str, ttl: float) -> bool:
        """Hold `name` `ttl` seconds more if `holder` still holds it; whether it does."""
        ...

    async def free(self, name: str, holder: str) -> None:
        """Give `name` up if `holder` holds it."""
        ...


class ExpiringLease:
    """A `Lease` kept as a record that expires unless renewed, every third of `ttl`.

    The holder counts its hold from before each request that took or renewed it and
    ends it a tenth of `ttl` early, so it gives the lease up before the record
    expires for any other runner whose clock is less than that apart. A renewal that
    fails or runs out of time is tried again while the hold lasts. `outage` turns
    the errors of an unreachable server met while taking it into `StoreUnavailable`
    for `action`.
    """

    def __init__(
        self, records: LeaseRecords, name: str, *, ttl: float, outage: Outage, action: str
    ) -> None:
        self._records = records
        self._name = name
        self._ttl = ttl
        self._outage = outage
        self._action = action
        self._holder = new_holder()
        self._until: float | None = None
        """The loop time the hold ends at, unless renewed; None when not held."""
        self._renewing: asyncio.Task[None] | None = None

    async def acquire(self) -> bool:
        """Take the lease if no other holder's hold lasts."""
        if await self.check():
            return True
        loop = asyncio.get_running_loop()
        started = loop.time()
        with self._outage.during(self._action):
            try:
                async with asyncio.timeout(self._ttl * HOLD):  # longer, and the hold is over
                    taken = await self._records.take(self._name, self._holder, self._ttl)
            except TimeoutError as error:  # a record it may have written runs out by itself
                raise unavailable(self._outage.store, self._action, error) from error
        if not taken:
            return False
        self._until = started + self._ttl * HOLD
        self._renewing = loop.create_task(self._renew(), name=f"evtsrc lease {self._name}")
        return True

    async def check(self) -> bool:
        """Whether the hold lasts; once it ran out, the lease is lost."""
        if self._until is None:
            return False
        if asyncio.get_running_loop().time() < self._until:
            return True
        await self._stop_renewing()
        self._until = None
        return False

    async def release(self) -> None:
        """Give the lease up."""
        await self._stop_renewing()
        held, self._until = self._until is not None, None
        if held:
            try:
                async with asyncio.timeout(self._ttl * HOLD):
                    await self._records.free(self._name, self._holder)
            except Exception as error:  # the record runs out by itself
                log.warning("lease %s: could not free it: %r", self._name, error)

    async def _renew(self) -> None:
        loop = asyncio.get_running_loop()
        while (until := self._until) is not None:
            await asyncio.sleep(self._ttl / 3)
            started = loop.time()
            try:
                async with asyncio.timeout_at(until):  # the hold lasts till then
                    held = await self._records.renew(self._name, self._holder, self._ttl)
            except Exception as error:  # try again while the hold lasts
                log.warning("lease %s: could not renew it: %r", self._name, error)
                if loop.time() >= until:
                    self._until = None
                continue
            self._until = started + self._ttl * HOLD if held else None

    async def _stop_renewing(self) -> None:
        task, self._renewing = self._renewing, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
