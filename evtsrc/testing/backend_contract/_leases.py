"""One active runner per handler name: the others stand by and take over."""

from __future__ import annotations

import asyncio

import pytest

from evtsrc import Domain, HandlerBusy

from ._base import ContractBase
from ._model import Counter, Seen
from ._waiting import until


class LeaseContract(ContractBase):
    """One active runner per handler name, through the backend's leases."""

    async def test_a_second_runner_of_one_name_stands_by_then_takes_over(
        self, domain: Domain
    ) -> None:
        counters = domain.repository(Counter)
        first = domain.handler(Seen(), poll_interval=0.02, standby_interval=0.05)
        second = domain.handler(Seen(), poll_interval=0.02, standby_interval=0.05)
        await first.start()
        try:
            with pytest.raises(HandlerBusy, match="'seen' is active in another runner"):
                await second.run_once()
            await second.start()
            await counters.execute("a", Counter.do_one)
            await until(lambda: len(first.handler.log) == 1)
            await asyncio.sleep(0.2)
            assert second.handler.log == []
            await first.stop()
            await counters.execute("b", Counter.do_one)
            await until(lambda: len(second.handler.log) == 1)
            assert [row[1] for row in second.handler.log] == ["b"]
            assert [row[1] for row in first.handler.log] == ["a"]
        finally:
            await first.stop()
            await second.stop()

    async def test_run_once_frees_the_lease_for_the_next_runner(self, domain: Domain) -> None:
        await domain.repository(Counter).execute("a", Counter.do_one)
        assert await domain.handler(Seen()).run_once() == 1
        await domain.repository(Counter).execute("b", Counter.do_one)
        assert await domain.handler(Seen()).run_once() == 1

    async def test_runners_of_different_names_run_side_by_side(self, domain: Domain) -> None:
        class Other(Seen, name="other"):
            pass

        await domain.repository(Counter).execute("a", Counter.do_one)
        seen, other = domain.handler(Seen()), domain.handler(Other())
        await seen.start()
        try:
            assert await other.run_once() == 1
        finally:
            await seen.stop()
