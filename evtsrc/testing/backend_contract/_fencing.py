"""A bookmark moves only from where its runner left it: a runner that lost its lease is fenced."""

from __future__ import annotations

import asyncio

import pytest

from evtsrc import BookmarkMoved, Domain, EventHandler, EventMeta, on_event
from evtsrc.backends import Backend, FencedBookmarks

from ._base import ContractBase
from ._model import Counter, One


def _fenced(backend: Backend) -> FencedBookmarks:
    if not isinstance(backend, FencedBookmarks):
        pytest.skip(f"{type(backend).__name__} is not FencedBookmarks: its runners are not fenced")
    return backend


class Stalling(EventHandler, name="stalling"):
    """Holds its first event's callback open until `go` is set."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.go = asyncio.Event()
        self.seen: list[int] = []

    @on_event
    async def one(self, event: One, meta: EventMeta) -> None:
        self.seen.append(meta.position)
        self.entered.set()
        await self.go.wait()


class FencingContract(ContractBase):
    """`FencedBookmarks.move_bookmark`, and runners moving their bookmarks through it."""

    async def test_a_bookmark_moves_only_from_the_expected_position(self, backend: Backend) -> None:
        fenced = _fenced(backend)
        await fenced.move_bookmark("h", 0, 5)  # none stored: it is at 0
        await fenced.move_bookmark("h", 5, 9)
        assert await backend.get_bookmark("h") == 9
        for expected in (5, 0, 10):
            with pytest.raises(BookmarkMoved, match=f"'h' was expected at {expected} but is at 9"):
                await fenced.move_bookmark("h", expected, 12)
        assert await backend.get_bookmark("h") == 9
        await fenced.move_bookmark("h", 5, 9)  # tried again after a lost reply: done already
        assert await backend.get_bookmark("h") == 9
        with pytest.raises(BookmarkMoved) as raised:
            await fenced.move_bookmark("never-stored", 4, 6)
        assert (raised.value.handler, raised.value.expected, raised.value.found) == (
            "never-stored",
            4,
            None,
        )
        assert await backend.get_bookmark("never-stored") == 0
        await backend.set_bookmark("h", 2)  # moved by hand (`HandlerRunner.set_position`)
        await fenced.move_bookmark("h", 2, 2**62 + 1)
        assert await backend.get_bookmark("h") == 2**62 + 1

    @pytest.mark.parametrize("start", [0, 10])
    async def test_of_concurrent_moves_from_one_position_one_wins(
        self, backend: Backend, start: int
    ) -> None:
        fenced = _fenced(backend)
        if start:
            await backend.set_bookmark("race", start)
        targets = [start + step for step in range(1, 7)]
        outcomes = await asyncio.gather(
            *(fenced.move_bookmark("race", start, target) for target in targets),
            return_exceptions=True,
        )
        won = [target for target, outcome in zip(targets, outcomes, strict=True) if outcome is None]
        assert len(won) == 1, outcomes
        assert all(isinstance(o, BookmarkMoved) for o in outcomes if o is not None), outcomes
        assert await backend.get_bookmark("race") == won[0]

    async def test_first_moves_of_different_bookmarks_side_by_side_all_succeed(
        self, backend: Backend
    ) -> None:
        fenced = _fenced(backend)
        names = [f"first-{n}" for n in range(8)]
        await asyncio.gather(*(fenced.move_bookmark(name, 0, 3) for name in names))
        assert [await backend.get_bookmark(name) for name in names] == [3] * 8

    async def test_a_runner_whose_bookmark_another_moved_leaves_it_there(
        self, domain: Domain
    ) -> None:
        _fenced(domain.backend)
        counters = domain.repository(Counter)
        await counters.execute("a", Counter.do_one)
        runner = domain.handler(Stalling())
        handling = asyncio.create_task(runner.run_once())
        async with asyncio.timeout(10):
            await runner.handler.entered.wait()
        # Meanwhile this runner lost its lease; the one that took it over got further.
        await counters.execute("b", Counter.do_one)
        await counters.execute("c", Counter.do_one)
        further = await domain.backend.last_position(["counters"])
        await domain.backend.set_bookmark("stalling", further)
        runner.handler.go.set()
        with pytest.raises(BookmarkMoved, match=f"expected at 0 but is at {further}"):
            await handling
        assert await domain.backend.get_bookmark("stalling") == further  # not moved back
        assert await runner.position() == further
        assert await runner.run_once() == 0  # what the other runner handled stays handled
        assert len(runner.handler.seen) == 1
