"""Versions of a read model: a versioned runner, the operator's runner of another version."""

from __future__ import annotations

from typing import assert_type

from evtsrc import Domain, HandlerRunner
from evtsrc.backends import InMemoryBackend
from tests.typing.model import Post, PostCounter, User


async def blue_green(domain: Domain) -> None:
    live = domain.handler(PostCounter(), versioned=True)
    assert_type(live.versioned, bool)
    assert_type(live.version, int)
    assert_type(live.handler.version, int)
    assert_type(live.handler_name, str)
    assert_type(await live.live_version(), int)
    green = live.at_version(2)
    assert_type(green, HandlerRunner[PostCounter])
    assert_type(await green.rebuild(), int)
    assert_type(await green.make_live(), int)
    await live.at_version(1).drop()
    assert await live.run_once() == 0
    group = domain.handler_group(PostCounter(), buckets=2)
    assert_type(await group.rebuild(), int)
    assert (live.version, live.name) == (2, "typing-post-counter@2")


class Tables(PostCounter):
    """A handler naming its tables after the version it builds, dropping them on request."""

    @property
    def table(self) -> str:
        return f"posts_v{self.version}"

    async def on_drop(self) -> None:
        print("DROP TABLE", self.table)


async def main() -> None:
    async with Domain(InMemoryBackend(), aggregates=[User, Post]) as domain:
        await blue_green(domain)
