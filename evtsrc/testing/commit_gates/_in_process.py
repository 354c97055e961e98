"""A commit gate for backends whose appends commit from this process's event loop.

The backend's gate wraps a private method of the backend instance that runs once an
append has its positions and before it commits (or, where positions are taken at
commit, before it takes them), and makes the wrapper await `InProcessGate.pause`.
The wrapper is an attribute of the instance, shadowing the method of the class;
closing the gate deletes it.
"""

from __future__ import annotations

import asyncio
import random

import attrs

from . import WAIT_HELD_TIMEOUT, CommitGate

HOLD_LIMIT = 60.0
"""Seconds an append waits in a hold before it fails with `TimeoutError`."""


@attrs.define
class _Hold:
    arrived: asyncio.Event = attrs.Factory(asyncio.Event)
    released: asyncio.Event = attrs.Factory(asyncio.Event)


class InProcessGate(CommitGate):
    """Holds and delays kept in this process, for wrappers that await `pause`."""

    def __init__(self) -> None:
        self._holds: dict[str, _Hold] = {}
        self._max_delay = 0.0
        self._random = random.Random()
        self._installed: list[tuple[dict[str, object], str]] = []

    def install(self, owner: object, name: str, replacement: object) -> None:
        """Set attribute `name` of the instance `owner` until the gate closes."""
        attributes = vars(owner)
        if name in attributes:
            raise RuntimeError(f"{type(owner).__qualname__}.{name} is already gated or patched")
        attributes[name] = replacement
        self._installed.append((attributes, name))

    async def pause(self, aggregate_id: str) -> None:
        """Wait as the gate says: a random delay, then until a hold is released."""
        if self._max_delay > 0:
            await asyncio.sleep(self._random.uniform(0, self._max_delay))
        hold = self._holds.get(aggregate_id)
        if hold is not None:
            hold.arrived.set()
            async with asyncio.timeout(HOLD_LIMIT):
                await hold.released.wait()

    async def hold(self, aggregate_id: str) -> None:
        """From now on, appends to `aggregate_id` wait before they commit."""
        self._holds.setdefault(aggregate_id, _Hold())

    async def wait_held(self, aggregate_id: str) -> None:
        """Return once an append to `aggregate_id` waits in its hold."""
        hold = self._holds.get(aggregate_id)
        if hold is None:
            raise RuntimeError(f"{aggregate_id!r} is not held")
        async with asyncio.timeout(WAIT_HELD_TIMEOUT):
            await hold.arrived.wait()

    async def release(self, aggregate_id: str) -> None:
        """Let the held appends to `aggregate_id` commit, and hold no more."""
        hold = self._holds.pop(aggregate_id, None)
        if hold is not None:
            hold.released.set()

    async def jitter(self, max_delay: float) -> None:
        """From now on, every append waits up to `max_delay` seconds."""
        self._max_delay = max_delay

    async def close(self) -> None:
        """Release every hold, end the delays and delete the wrappers."""
        self._max_delay = 0.0
        for aggregate_id in list(self._holds):
            await self.release(aggregate_id)
        while self._installed:
            attributes, name = self._installed.pop()
            attributes.pop(name, None)
