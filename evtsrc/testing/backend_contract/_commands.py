"""Commands, loads and optimistic concurrency through a domain (evtstore cases 1, 4, 5, 6)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from uuid import UUID

import pytest

from evtsrc import CommandError, Domain, EventEncodeError, RetryPolicy, VersionConflict
from evtsrc.backends import Backend, NewEvent

from ._base import ContractBase
from ._model import Address, Colour, Counter, Ledger, Multi, One, Rich, Two, VersionSeen


class CommandContract(ContractBase):
    """Commands, loads and optimistic concurrency through a domain on the backend."""

    async def test_first_command_appends_and_returns_the_folded_aggregate(
        self, domain: Domain
    ) -> None:
        counters = domain.repository(Counter)
        first = await counters.execute("c1", Counter.do_one)
        assert (first.id, first.version, first.one) == ("c1", 1, 1)
        second = await counters.execute("c1", Counter.do_two)
        assert (second.version, second.one, second.two) == (2, 1, 1)
        loaded = await counters.load("c1")
        assert loaded == second

    async def test_a_command_on_another_aggregate_leaves_the_first_alone(
        self, domain: Domain
    ) -> None:
        counters = domain.repository(Counter)
        await counters.execute("c1", Counter.do_one)
        await counters.execute("c2", Counter.do_two)
        await counters.execute("c2", Counter.do_two)
        first = await counters.load("c1")
        assert (first.version, first.one, first.two) == (1, 1, 0)

    async def test_a_never_written_aggregate_is_empty_at_version_0(self, domain: Domain) -> None:
        empty = await domain.repository(Counter).load("nobody")
        expected = Counter()
        expected.id = "nobody"
        assert empty == expected
        assert (empty.id, empty.version) == ("nobody", 0)
        assert await domain.repository(Counter).history("nobody") == []

    async def test_a_command_sees_the_current_version(self, domain: Domain) -> None:
        counters = domain.repository(Counter)
        assert (await counters.execute("c", Counter.do_version)).seen_version == 0
        await counters.execute("c", Counter.do_one)
        assert (await counters.execute("c", Counter.do_version)).seen_version == 2

    async def test_several_events_advance_the_version_by_their_number(self, domain: Domain) -> None:
        counters = domain.repository(Counter)
        await counters.execute("c", Counter.do_one)
        after = await counters.execute("c", Counter.do_multi)
        assert (after.version, after.multi) == (3, 2)
        history = await counters.history("c")
        assert [(s.meta.version, s.event) for s in history] == [
            (1, One()),
            (2, Multi()),
            (3, Multi()),
        ]
        assert len({s.meta.position for s in history}) == 3

    async def test_a_command_returning_none_writes_nothing(self, domain: Domain) -> None:
        counters = domain.repository(Counter)
        await counters.execute("c", Counter.do_one)
        unchanged = await counters.execute("c", Counter.do_nothing)
        assert unchanged.version == 1
        assert len(await counters.history("c")) == 1

    async def test_a_refusing_command_raises_its_error_and_writes_nothing(
        self, domain: Domain
    ) -> None:
        counters = domain.repository(Counter)
        with pytest.raises(CommandError) as raised:
            await counters.execute("c", Counter.do_throw)
        assert (raised.value.code, raised.value.message) == ("THROWN", "refused on purpose")
        assert await counters.history("c") == []

    async def test_history_carries_the_meta(self, domain: Domain) -> None:
        before = datetime.now(UTC) - timedelta(seconds=5)
        await domain.repository(Counter).execute("c", Counter.do_one)
        await domain.repository(Ledger).execute("l", Ledger.record, street="Main")
        [stored] = await domain.repository(Ledger).history("l")
        meta = stored.meta
        assert (meta.stream, meta.aggregate_id, meta.version, meta.type_name) == (
            "ledgers",
            "l",
            1,
            "address",
        )
        assert meta.timestamp.utcoffset() == timedelta(0)
        assert before <= meta.timestamp <= datetime.now(UTC) + timedelta(seconds=5)
        [counted] = await domain.repository(Counter).history("c")
        assert counted.meta.position < meta.position

    async def test_history_reads_after_a_version(self, domain: Domain) -> None:
        counters = domain.repository(Counter)
        for _ in range(5):
            await counters.execute("c", Counter.do_two)
        assert [s.meta.version for s in await counters.history("c", after_version=3)] == [4, 5]

    async def test_fold_meta_carries_the_real_position(self, domain: Domain) -> None:
        counters = domain.repository(Counter)
        await domain.repository(Ledger).execute("l", Ledger.record, street="Main")
        after = await counters.execute("c", Counter.do_one)
        [stored] = await counters.history("c")
        assert after.folded_position == stored.meta.position
        assert (await counters.load("c")).folded_position == stored.meta.position

    async def test_a_stale_append_raises_version_conflict(self, backend: Backend) -> None:
        now = datetime.now(UTC)
        await backend.append("counters", "c", 0, [NewEvent("one", {}, now)])
        with pytest.raises(VersionConflict) as raised:
            await backend.append("counters", "c", 0, [NewEvent("two", {}, now)])
        assert raised.value.code == "VERSION_CONFLICT"
        assert (raised.value.stream, raised.value.aggregate_id) == ("counters", "c")
        with pytest.raises(VersionConflict):
            await backend.append("counters", "c", 5, [NewEvent("two", {}, now)])
        assert [r.type for r in await backend.read_aggregate("counters", "c")] == ["one"]

    async def test_a_conflicting_batch_stores_none_of_its_events(self, backend: Backend) -> None:
        now = datetime.now(UTC)
        await backend.append("counters", "c", 0, [NewEvent("one", {}, now)])
        batch = [NewEvent("multi", {}, now)] * 3
        with pytest.raises(VersionConflict):
            await backend.append("counters", "c", 0, batch)
        await backend.append("counters", "c", 1, batch)
        assert [r.version for r in await backend.read_aggregate("counters", "c")] == [1, 2, 3, 4]

    async def test_concurrent_commands_lose_no_version_and_repeat_none(
        self, domain: Domain
    ) -> None:
        counters = domain.repository(Counter)
        results = await asyncio.gather(
            *(counters.execute("race", Counter.do_one_slowly) for _ in range(40)),
            return_exceptions=True,
        )
        won = [r for r in results if isinstance(r, Counter)]
        lost = [r for r in results if isinstance(r, VersionConflict)]
        assert len(won) + len(lost) == 40, [r for r in results if not isinstance(r, Counter)]
        assert won and lost
        assert sorted(r.version for r in won) == list(range(1, len(won) + 1))
        history = await counters.history("race")
        assert [s.meta.version for s in history] == list(range(1, len(won) + 1))

    async def test_a_retry_policy_reruns_commands_until_they_win(self, domain: Domain) -> None:
        counters = domain.repository(Counter).with_retry(RetryPolicy(attempts=100, backoff=0.001))
        results = await asyncio.gather(
            *(counters.execute("race", Counter.do_one_slowly) for _ in range(25))
        )
        assert sorted(r.version for r in results) == list(range(1, 26))
        assert (await counters.load("race")).one == 25

    async def test_an_exhausted_retry_policy_raises_the_conflict(self, domain: Domain) -> None:
        counters = domain.repository(Counter).with_retry(RetryPolicy(attempts=2, backoff=0))
        results = await asyncio.gather(
            *(counters.execute("race", Counter.do_one_slowly) for _ in range(30)),
            return_exceptions=True,
        )
        assert any(isinstance(r, VersionConflict) for r in results)
        assert all(isinstance(r, (Counter, VersionConflict)) for r in results)

    async def test_event_values_round_trip_through_the_store(self, domain: Domain) -> None:
        rich = Rich(
            text="naïve “quotes” \\ \n 🎉 \t \"json\" 'sql' ; --",
            number=2**62,
            ratio=0.1,
            flag=True,
            amount=Decimal("12345678901234567890.000000001"),
            at=datetime(
                2024, 2, 29, 23, 59, 59, 123456, tzinfo=timezone(timedelta(hours=5, minutes=30))
            ),
            day=date(1999, 12, 31),
            key=UUID("12345678-1234-5678-1234-567812345678"),
            colour=Colour.BLUE,
            tags=("a", "b"),
            scores=[3, 1, 2],
            note=None,
            home=Address(street="1 Main St", city="Ōsaka"),
        )
        counters = domain.repository(Counter)
        await counters.execute("r", Counter.do_rich, rich)
        [stored] = await counters.history("r")
        assert stored.event == rich
        assert isinstance(stored.event, Rich)
        assert stored.event.at.utcoffset() == timedelta(hours=5, minutes=30)
        assert (await counters.load("r")).rich == rich

    async def test_a_nul_character_is_refused_on_every_backend(self, domain: Domain) -> None:
        counters = domain.repository(Counter)
        rich = Rich(
            text="before\u0000after",
            number=1,
            ratio=1.0,
            flag=False,
            amount=Decimal(1),
            at=datetime(2024, 1, 1, tzinfo=UTC),
            day=date(2024, 1, 1),
            key=UUID(int=1),
            colour=Colour.RED,
            tags=(),
            scores=[],
            note=None,
            home=Address(street="s", city="c"),
        )
        with pytest.raises(EventEncodeError, match="Rich: text: contains the NUL character"):
            await counters.execute("nul", Counter.do_rich, rich)
        assert await counters.history("nul") == []

    async def test_aggregate_ids_are_opaque_strings(self, domain: Domain) -> None:
        counters = domain.repository(Counter)
        odd = "ünïcode/with spaces:and'quotes\"%_*"
        await counters.execute(odd, Counter.do_two)
        await counters.execute(odd.upper(), Counter.do_one)
        assert (await counters.load(odd)).two == 1
        assert (await counters.load(odd.upper())).two == 0

    async def test_two_streams_keep_their_aggregates_apart(self, domain: Domain) -> None:
        await domain.repository(Counter).execute("same", Counter.do_one)
        await domain.repository(Ledger).execute("same", Ledger.record, street="x")
        assert (await domain.repository(Counter).load("same")).version == 1
        assert (await domain.repository(Ledger).load("same")).entries == 1

    async def test_the_version_seen_is_stored(self, domain: Domain) -> None:
        counters = domain.repository(Counter)
        await counters.execute("v", Counter.do_two)
        after = await counters.execute("v", Counter.do_version)
        [_, stored] = await counters.history("v")
        assert stored.event == VersionSeen(version=1) and after.seen_version == 1
        assert isinstance((await counters.history("v"))[0].event, Two)
