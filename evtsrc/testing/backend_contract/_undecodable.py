"""A stored payload that cannot be decoded is reported as that event, never as a bare error.

Each backend holds the worst payload it can (`ContractBase.undecodable_payload`): text
Python cannot parse, as far as the database's own JSON checks let it in (a plain string
on the backends that store values); the load test also tries JSON that is not an object.
The payloads are written past the backend (capability `overwrite_payload`).
"""

from __future__ import annotations

import asyncio
import json

import pytest

from evtsrc import Domain, Event, EventDecodeError, EventMeta, HandlerError
from evtsrc.backends import Backend

from ._base import ContractBase
from ._model import Counter, Seen
from ._payloads import BAD_ESCAPE, DEEP, NOT_AN_OBJECT, NOT_JSON
from ._waiting import until


class Reported(Seen, name="reported"):
    """Seen, keeping what `on_error` was given."""

    def __init__(self) -> None:
        super().__init__()
        self.reported: list[tuple[Exception, Event | None, EventMeta]] = []

    async def on_error(self, error: Exception, event: Event | None, meta: EventMeta) -> None:
        self.reported.append((error, event, meta))


class UndecodablePayloadContract(ContractBase):
    """A stored payload that cannot be decoded is reported as that event."""

    def _check_names_its_place(
        self, error: EventDecodeError, payload: str, version: int, position: int
    ) -> None:
        assert (error.stream, error.aggregate_id, error.version) == ("counters", "b", version)
        assert (error.type_name, error.position) == ("two", position)
        assert f"counters/b v{version}" in str(error) and f"position {position}" in str(error)
        if self.payloads_as_text and payload in (NOT_JSON, BAD_ESCAPE):
            assert isinstance(error.__cause__, json.JSONDecodeError)
        elif self.payloads_as_text and payload == DEEP:
            assert isinstance(error.__cause__, RecursionError)

    async def _store(self, domain: Domain) -> list[int]:
        """Four events, the third (b v2, a `two`) unreadable; their positions."""
        self.require("overwrite_payload")
        counters = domain.repository(Counter)
        await counters.execute("a", Counter.do_one)
        await counters.execute("b", Counter.do_one)
        await counters.execute("b", Counter.do_two)
        await counters.execute("a", Counter.do_one)
        positions = [record.position for record in await domain.backend.read_streams(["counters"])]
        bad = self.undecodable_payload()
        await self.overwrite_payload(domain.backend, "counters", "b", 2, bad)
        return positions

    async def test_load_and_history_name_an_undecodable_payload(
        self, domain: Domain, backend: Backend
    ) -> None:
        """Each bad payload the database lets in, in turn, in place of one good event."""
        self.require("overwrite_payload")
        candidates = (self.undecodable_payload(), DEEP, NOT_AN_OBJECT, '"x"')
        payloads = [p for p in candidates if self.stores_payload(p)]
        assert len(payloads) >= 3
        counters = domain.repository(Counter)
        await counters.execute("b", Counter.do_one)
        await counters.execute("b", Counter.do_two)
        await counters.execute("b", Counter.do_three)
        position = (await backend.read_aggregate("counters", "b"))[1].position
        for payload in payloads:
            await self.overwrite_payload(backend, "counters", "b", 2, payload)
            counters = Domain(backend, aggregates=[Counter], cache_size=0).repository(Counter)
            with pytest.raises(EventDecodeError) as loading:
                await counters.load("b")
            self._check_names_its_place(loading.value, payload, 2, position)
            with pytest.raises(EventDecodeError) as listing:
                await counters.history("b")
            self._check_names_its_place(listing.value, payload, 2, position)

    async def test_a_handler_stops_at_an_undecodable_payload_after_the_good_ones(
        self, domain: Domain, backend: Backend
    ) -> None:
        positions = await self._store(domain)
        runner = domain.handler(Seen())
        with pytest.raises(HandlerError) as raised:
            await runner.run_once()
        assert (raised.value.position, raised.value.type_name) == (positions[2], "two")
        cause = raised.value.__cause__
        assert isinstance(cause, EventDecodeError)
        self._check_names_its_place(cause, self.undecodable_payload(), 2, positions[2])
        assert [row[2] for row in runner.handler.log] == positions[:2]
        assert await backend.get_bookmark("seen") == positions[1]

    async def test_continue_on_error_reports_an_undecodable_payload_and_goes_on(
        self, domain: Domain, backend: Backend
    ) -> None:
        positions = await self._store(domain)
        runner = domain.handler(Reported(), continue_on_error=True)
        assert await runner.run_once() == 3
        assert [row[2] for row in runner.handler.log] == [positions[0], positions[1], positions[3]]
        [(error, event, meta)] = runner.handler.reported
        assert isinstance(error, EventDecodeError) and event is None
        assert (meta.aggregate_id, meta.version, meta.position) == ("b", 2, positions[2])
        self._check_names_its_place(error, self.undecodable_payload(), 2, positions[2])
        assert await backend.get_bookmark("reported") == positions[3]

    async def test_a_started_handler_backs_off_on_an_undecodable_payload(
        self, domain: Domain, backend: Backend
    ) -> None:
        positions = await self._store(domain)
        runner = domain.handler(Seen(), poll_interval=0.01)
        await runner.start()
        try:
            await until(lambda: runner.handler.batches.count(("before", 2)) >= 2)  # failed twice
            error = runner.last_error
            assert isinstance(error, HandlerError) and error.position == positions[2]
            assert [row[2] for row in runner.handler.log] == positions[:2]
            await asyncio.sleep(0.3)
            # Retried after 0.02, 0.04, 0.08, ... seconds, not in a tight loop.
            assert len(runner.handler.batches) < 20
            await self.overwrite_payload(backend, "counters", "b", 2, "{}")  # repaired: it goes on
            await until(lambda: len(runner.handler.log) >= 4)
            assert runner.running
        finally:
            await runner.stop()
        assert [row[2] for row in runner.handler.log] == positions
        assert await backend.get_bookmark("seen") == positions[3]
