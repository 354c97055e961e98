"""Loading through a snapshot gives the same aggregate as folding every event."""

from __future__ import annotations

from typing import Any

import attrs
import hypothesis.strategies as st
from hypothesis import given, settings

from evtsrc import Aggregate, CommandError, Domain, Repository
from evtsrc.backends import InMemoryBackend
from evtsrc.testing.strategies import events
from examples.blog.users import User

from .model import FullTally, Noted, SnapTally, SnapUser, Tally

FAST = settings(max_examples=50, deadline=None)
SMALL = st.integers(min_value=-1000, max_value=1000)


def state(aggregate: Aggregate) -> dict[str, Any]:
    """Id, version and fields: comparable across aggregate classes."""
    fields = attrs.asdict(aggregate, recurse=False)  # type: ignore[arg-type]
    return {"id": aggregate.id, "version": aggregate.version, **fields}


TallyStep = (
    st.tuples(st.just("add"), SMALL)
    | st.tuples(st.just("add_many"), st.lists(SMALL, max_size=4))
    | st.tuples(st.just("rename"), st.sampled_from(["", "a", "b"]))
    | st.tuples(st.just("note"), events(Noted))
)


async def _run_tally(repository: Repository[SnapTally], step: tuple[str, Any]) -> SnapTally:
    name, argument = step
    if name == "add":
        return await repository.execute("t", SnapTally.add, argument)
    if name == "add_many":
        return await repository.execute("t", SnapTally.add_many, argument)
    if name == "rename":
        return await repository.execute("t", SnapTally.rename, argument)
    return await repository.execute("t", SnapTally.note, argument)


@FAST
@given(steps=st.lists(TallyStep, max_size=12))
async def test_snapshot_load_equals_full_fold(steps: list[tuple[str, Any]]) -> None:
    backend = InMemoryBackend()
    writer = Domain(backend, aggregates=[Tally, SnapTally]).repository(SnapTally)
    last = await writer.load("t")
    for step in steps:
        last = await _run_tally(writer, step)

    through_snapshot = await Domain(backend, aggregates=[SnapTally]).repository(SnapTally).load("t")
    full_fold = await Domain(backend, aggregates=[FullTally]).repository(FullTally).load("t")
    assert state(through_snapshot) == state(full_fold) == state(last)

    snapshot = await backend.get_snapshot(SnapTally.__stream__, "t")
    assert (snapshot is not None) == (full_fold.version >= 3)
    if snapshot is not None:
        assert 3 <= snapshot.version <= full_fold.version


UserStep = st.sampled_from(["enable", "disable"]) | st.sampled_from(["", " ", "Ann", "Bob"])


@FAST
@given(steps=st.lists(UserStep, max_size=12))
async def test_example_user_snapshot_load_equals_full_fold(steps: list[str]) -> None:
    backend = InMemoryBackend()
    writer = Domain(backend, aggregates=[SnapUser]).repository(SnapUser)
    refusals: set[str] = set()
    for step in steps:
        try:
            if step == "enable":
                await writer.execute("u", SnapUser.enable)
            elif step == "disable":
                await writer.execute("u", SnapUser.disable)
            else:
                await writer.execute("u", SnapUser.create, name=step)
        except CommandError as error:
            refusals.add(error.code)
    assert refusals <= {"USER_EXISTS", "NAME_REQUIRED"}

    through_snapshot = await Domain(backend, aggregates=[SnapUser]).repository(SnapUser).load("u")
    full_fold = await Domain(backend, aggregates=[User]).repository(User).load("u")
    assert state(through_snapshot) == state(full_fold)
    snapshot = await backend.get_snapshot("users", "u")
    assert (snapshot is not None) == (full_fold.version >= 2)
