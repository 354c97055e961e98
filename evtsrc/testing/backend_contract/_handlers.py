"""Event handlers over a backend (evtstore cases 2, 3, 7, 8, 9, 10)."""

from __future__ import annotations

import asyncio

import pytest

from evtsrc import Domain, EventMeta, HandlerError, on_event
from evtsrc.backends import Backend, InMemoryBackend, InMemoryBookmarks

from ._base import ContractBase
from ._model import Address, Counter, Ledger, OnlyCounters, Seen


async def _fill(domain: Domain) -> None:
    counters, ledgers = domain.repository(Counter), domain.repository(Ledger)
    await counters.execute("a", Counter.do_one)
    await ledgers.execute("x", Ledger.record, street="1st")
    await counters.execute("b", Counter.do_multi)
    await ledgers.execute("y", Ledger.record, street="2nd")
    await counters.execute("a", Counter.do_two)


async def _positions(domain: Domain) -> list[tuple[str, str, int, str]]:
    found: list[tuple[str, str, int, str]] = []
    for repo, ids in ((domain.repository(Counter), "ab"), (domain.repository(Ledger), "xy")):
        for aggregate_id in ids:
            for stored in await repo.history(aggregate_id):
                meta = stored.meta
                found.append((meta.stream, meta.aggregate_id, meta.position, meta.type_name))
    return sorted(found, key=lambda row: row[2])


class HandlerContract(ContractBase):
    """Bookmarks, and event handlers reading the backend's streams."""

    async def test_a_missing_bookmark_reads_as_zero(self, backend: Backend) -> None:
        assert await backend.get_bookmark("never-set") == 0

    async def test_bookmarks_round_trip_without_precision_loss(self, backend: Backend) -> None:
        await backend.set_bookmark("big", 2**62 + 1)
        await backend.set_bookmark("small", 7)
        await backend.set_bookmark("big", 2**62 + 3)
        assert (await backend.get_bookmark("big"), await backend.get_bookmark("small")) == (
            2**62 + 3,
            7,
        )

    async def test_run_once_builds_a_read_model_in_global_order(self, domain: Domain) -> None:
        await _fill(domain)
        runner = domain.handler(Seen())
        assert set(runner.streams) == {"counters", "ledgers"}
        assert await runner.run_once() == 6
        expected = await _positions(domain)
        assert runner.handler.log == expected
        assert [row[2] for row in expected] == sorted(row[2] for row in expected)
        assert await runner.position() == expected[-1][2]
        assert await domain.backend.get_bookmark("seen") == expected[-1][2]
        assert await runner.run_once() == 0

    async def test_a_handler_limited_to_one_stream_sees_only_that_stream(
        self, domain: Domain
    ) -> None:
        await _fill(domain)
        runner = domain.handler(OnlyCounters())
        assert runner.streams == ("counters",)
        assert await runner.run_once() == 4
        assert {row[0] for row in runner.handler.log} == {"counters"}
        assert [row[1] for row in runner.handler.log] == ["a", "b", "b", "a"]

    async def test_a_handler_resumes_from_its_bookmark(self, domain: Domain) -> None:
        await _fill(domain)
        first = domain.handler(Seen(), batch_size=2)
        assert await first.run_once() == 6
        await domain.repository(Counter).execute("c", Counter.do_three)
        second = domain.handler(Seen())
        assert await second.run_once() == 1
        [stored] = await domain.repository(Counter).history("c")
        assert second.handler.log == [("counters", "c", stored.meta.position, "three")]

    async def test_batches_are_read_in_pages_and_bookmarked_after_each(
        self, domain: Domain
    ) -> None:
        await _fill(domain)
        runner = domain.handler(Seen(), batch_size=2)
        assert await runner.run_once() == 6
        assert runner.handler.batches == [
            ("before", 0),
            ("after", 2),
            ("before", 2),
            ("after", 4),
            ("before", 4),
            ("after", 6),
        ]

    async def test_an_in_memory_bookmark_rereads_from_the_start_then_follows(
        self, domain: Domain
    ) -> None:
        await _fill(domain)
        assert await domain.handler(Seen(), bookmarks=InMemoryBookmarks()).run_once() == 6
        runner = domain.handler(Seen(), bookmarks=InMemoryBookmarks())
        assert await runner.run_once() == 6
        await domain.repository(Counter).execute("a", Counter.do_three)
        assert await runner.run_once() == 1
        assert runner.handler.log[-1][3] == "three"
        assert await domain.backend.get_bookmark("seen") == 0

    async def test_tail_stream_starts_at_the_end_on_the_first_start_only(
        self, domain: Domain
    ) -> None:
        await _fill(domain)
        runner = domain.handler(Seen(), tail_stream=True)
        assert await runner.run_once() == 0
        await domain.repository(Counter).execute("a", Counter.do_three)
        assert await runner.run_once() == 1
        assert runner.handler.log[0][3] == "three"
        await domain.repository(Counter).execute("a", Counter.do_two)
        restarted = domain.handler(Seen(), tail_stream=True)
        assert await restarted.run_once() == 1
        assert restarted.handler.log[0][3] == "two"

    async def test_always_tail_stream_starts_at_the_end_on_every_start(
        self, domain: Domain
    ) -> None:
        await _fill(domain)
        runner = domain.handler(Seen(), always_tail_stream=True)
        assert await runner.run_once() == 0
        await domain.repository(Counter).execute("a", Counter.do_three)
        assert await runner.run_once() == 1
        await domain.repository(Counter).execute("a", Counter.do_two)
        restarted = domain.handler(Seen(), always_tail_stream=True)
        assert await restarted.run_once() == 0
        await restarted.reset()
        assert await restarted.run_once() == 0
        await domain.repository(Ledger).execute("z", Ledger.record, street="3rd")
        assert await restarted.run_once() == 1
        assert restarted.handler.log[0][1] == "z"

    async def test_reset_replays_everything(self, domain: Domain) -> None:
        await _fill(domain)
        runner = domain.handler(Seen())
        await runner.run_once()
        await runner.reset()
        assert await runner.position() == 0
        assert await runner.run_once() == 6
        assert len(runner.handler.log) == 12

    async def test_set_position_moves_the_bookmark(self, domain: Domain) -> None:
        await _fill(domain)
        expected = await _positions(domain)
        runner = domain.handler(Seen())
        await runner.set_position(expected[2][2])
        assert await runner.run_once() == 3
        assert runner.handler.log == expected[3:]
        with pytest.raises(ValueError, match="position"):
            await runner.set_position(-1)

    async def test_without_continue_on_error_a_handler_stalls_at_the_failure(
        self, domain: Domain
    ) -> None:
        await _fill(domain)
        expected = await _positions(domain)
        failing = expected[3][2]
        handler = Seen(fail_on={failing})
        runner = domain.handler(handler, batch_size=100)
        with pytest.raises(HandlerError) as raised:
            await runner.run_once()
        assert raised.value.position == failing
        assert isinstance(raised.value.__cause__, RuntimeError)
        assert handler.log == expected[:3]
        assert await runner.position() == expected[2][2]
        with pytest.raises(HandlerError):
            await runner.run_once()
        assert handler.log == expected[:3]
        handler.fail_on.clear()
        assert await runner.run_once() == 3
        assert handler.log == expected

    async def test_with_continue_on_error_a_handler_reports_and_goes_on(
        self, domain: Domain
    ) -> None:
        await _fill(domain)
        expected = await _positions(domain)
        failing = expected[1][2]
        handler = Seen(fail_on={failing})
        runner = domain.handler(handler, continue_on_error=True)
        assert await runner.run_once() == 5
        assert handler.errors == [(failing, f"cannot handle position {failing}")]
        assert handler.log == [row for row in expected if row[2] != failing]
        assert await runner.position() == expected[-1][2]

    async def test_a_started_handler_delivers_new_events_and_stops_cleanly(
        self, domain: Domain
    ) -> None:
        runner = domain.handler(Seen(), poll_interval=0.05)
        await runner.start()
        started = runner.running
        assert started
        with pytest.raises(RuntimeError, match="already running"):
            await runner.start()
        await domain.repository(Counter).execute("live", Counter.do_one)
        for _ in range(200):
            if runner.handler.log:
                break
            await asyncio.sleep(0.01)
        assert [row[1] for row in runner.handler.log] == ["live"]
        before = set(asyncio.all_tasks())
        await runner.stop()
        assert not runner.running
        leftover = {t for t in set(asyncio.all_tasks()) - before if not t.done()}
        assert leftover == set()
        assert all(not t.get_name().startswith("evtsrc") for t in asyncio.all_tasks())
        await domain.repository(Counter).execute("after-stop", Counter.do_one)
        await asyncio.sleep(0.1)
        assert [row[1] for row in runner.handler.log] == ["live"]

    async def test_bookmarks_can_live_in_another_backend(self, domain: Domain) -> None:
        await _fill(domain)
        elsewhere = InMemoryBackend()
        runner = domain.handler(Seen(), bookmarks=elsewhere)
        assert await runner.run_once() == 6
        last = (await _positions(domain))[-1][2]
        assert await elsewhere.get_bookmark("seen") == last
        assert await domain.backend.get_bookmark("seen") == 0
        assert await domain.handler(Seen(), bookmarks=elsewhere).run_once() == 0

    async def test_a_crash_mid_batch_never_moves_the_bookmark_past_unhandled_events(
        self,
        domain: Domain,
    ) -> None:
        await _fill(domain)
        expected = await _positions(domain)
        gate = asyncio.Event()

        class Stuck(Seen, name="stuck"):
            def _record(self, event: object, meta: EventMeta) -> None:
                super()._record(event, meta)  # type: ignore[arg-type]
                if len(self.log) == 4:
                    gate.set()

            @on_event
            async def addressed(self, event: Address, meta: EventMeta) -> None:
                self._record(event, meta)
                if len(self.log) >= 4:
                    await asyncio.sleep(3600)  # the process "dies" here

        crashing = domain.handler(Stuck(), batch_size=100)
        task = asyncio.create_task(crashing.run_once())
        await gate.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        bookmark = await domain.backend.get_bookmark("stuck")
        in_progress = expected[4][2]
        assert crashing.handler.log[-1][2] == in_progress
        assert bookmark < in_progress
        restarted = domain.handler(Seen(), bookmarks=None)
        await restarted.set_position(bookmark)
        await restarted.run_once()
        assert [row for row in expected if row[2] > bookmark] == restarted.handler.log
