"""Commands, sequential or concurrent, never leave gaps or repeats in versions."""

from __future__ import annotations

import asyncio

import hypothesis.strategies as st
from hypothesis import given, settings

from evtsrc import Domain, Repository, RetryPolicy, VersionConflict
from evtsrc.backends import InMemoryBackend

from .model import Tally

MAX_BATCH = 4
AMOUNT = st.integers(min_value=-1000, max_value=1000)

# A command: which aggregate, which command, and the amounts it adds (one event each).
Command = tuple[str, str, list[int]]
COMMANDS = st.tuples(
    st.sampled_from(["a", "b"]),
    st.sampled_from(["add", "slow_add"]),
    st.lists(AMOUNT, min_size=1, max_size=1),
) | st.tuples(st.sampled_from(["a", "b"]), st.just("add_many"), st.lists(AMOUNT, max_size=3))
# Each step runs its commands concurrently; steps run one after another.
STEPS = st.lists(st.lists(COMMANDS, min_size=1, max_size=MAX_BATCH), min_size=1, max_size=6)


async def _run(repository: Repository[Tally], command: Command) -> Tally:
    aggregate_id, name, amounts = command
    if name == "add":
        return await repository.execute(aggregate_id, Tally.add, amounts[0])
    if name == "slow_add":
        return await repository.execute(aggregate_id, Tally.slow_add, amount=amounts[0])
    return await repository.execute(aggregate_id, Tally.add_many, amounts)


@settings(max_examples=80, deadline=None)
@given(steps=STEPS, retry=st.booleans())
async def test_versions_are_exactly_one_to_n(steps: list[list[Command]], retry: bool) -> None:
    domain = Domain(InMemoryBackend(), aggregates=[Tally])
    repository = domain.repository(Tally)
    if retry:
        # Each conflict means another command of the batch finished, so this always suffices.
        repository = repository.with_retry(RetryPolicy(attempts=MAX_BATCH, backoff=0))
    stored = {"a": 0, "b": 0}
    totals = {"a": 0, "b": 0}
    for step in steps:
        results = await asyncio.gather(
            *(_run(repository, command) for command in step), return_exceptions=True
        )
        for (aggregate_id, _, amounts), result in zip(step, results, strict=True):
            if isinstance(result, VersionConflict) and not retry:
                continue
            if isinstance(result, BaseException):
                raise result
            stored[aggregate_id] += len(amounts)
            totals[aggregate_id] += sum(amounts)

    positions: list[int] = []
    for aggregate_id, count in stored.items():
        history = await repository.history(aggregate_id)
        assert [item.meta.version for item in history] == list(range(1, count + 1))
        positions += [item.meta.position for item in history]
        tally = await repository.load(aggregate_id)
        assert tally.version == count
        assert tally.changed_in == count
        assert tally.total == totals[aggregate_id]
        assert len(tally.amounts) == count
    assert len(set(positions)) == len(positions)


@settings(max_examples=30, deadline=None)
@given(amounts=st.lists(AMOUNT, min_size=2, max_size=8))
async def test_concurrent_yielding_commands_conflict_without_retry(amounts: list[int]) -> None:
    # Without a cache, every command reads the store; with one, a command that decided on
    # cached state is re-run on stored state (tests/test_repository.py).
    repository = Domain(InMemoryBackend(), aggregates=[Tally], cache_size=0).repository(Tally)
    results = await asyncio.gather(
        *(repository.execute("a", Tally.slow_add, amount) for amount in amounts),
        return_exceptions=True,
    )
    # All load version 0 before any appends: exactly one wins.
    winners = [r for r in results if isinstance(r, Tally)]
    assert len(winners) == 1
    assert all(isinstance(r, VersionConflict) for r in results if r is not winners[0])
    assert [item.meta.version for item in await repository.history("a")] == [1]
