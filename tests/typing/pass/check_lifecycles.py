"""connect() gives a Backend; Domain, backends, runners and groups work in `async with`."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import assert_type

import evtsrc
from evtsrc import Domain, HandlerGroup, HandlerRunner
from evtsrc.backends import Backend, InMemoryBackend, TableNames, connect
from tests.typing.model import Post, PostCounter, User


async def connected(folder: Path) -> None:
    async with await connect(f"sqlite:///{folder / 'events.db'}", tables=TableNames()) as file:
        assert_type(file, Backend)
    assert_type(await evtsrc.connect("memory://"), Backend)
    async with await connect("memory://") as opened:
        assert_type(opened, Backend)
    async with InMemoryBackend() as memory:
        assert_type(memory, InMemoryBackend)


async def blocks(backend: Backend) -> None:
    async with Domain(backend, aggregates=[User, Post]) as domain:
        assert_type(domain, Domain)
        async with domain.handler(PostCounter()) as runner:
            assert_type(runner, HandlerRunner[PostCounter])
            assert_type(runner.handler, PostCounter)
        async with domain.handler_group(PostCounter(), buckets=4) as group:
            assert_type(group, HandlerGroup[PostCounter])


async def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        await connected(Path(folder))
    await blocks(InMemoryBackend())
