"""The backends the shared conformance suite runs against.

Each target names the environment variable that points it at a server (None
for embedded backends). A target whose variable is unset is skipped locally
and fails the run under ``CI=true``: CI must start every server.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import attrs

from evtsrc.backends import Backend, InMemoryBackend


@attrs.frozen
class BackendTarget:
    name: str
    env: str | None
    open: Callable[[str], AbstractAsyncContextManager[Backend]]


@asynccontextmanager
async def _memory(_: str) -> AsyncIterator[Backend]:
    backend = InMemoryBackend()
    try:
        yield backend
    finally:
        await backend.close()


TARGETS: list[BackendTarget] = [
    BackendTarget("memory", None, _memory),
]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}
