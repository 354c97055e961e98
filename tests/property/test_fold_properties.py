"""Folding the same events always gives the same aggregate."""

from __future__ import annotations

from typing import TypeVar

from hypothesis import given, settings

from evtsrc import Aggregate, Domain, Event
from evtsrc.backends import InMemoryBackend
from evtsrc.testing import append_events
from evtsrc.testing.strategies import event_histories
from examples.blog.posts import Post
from examples.blog.users import User, UserCreated, UserDisabled, UserEnabled

from .model import Tally

A = TypeVar("A", bound=Aggregate)
FAST = settings(max_examples=60, deadline=None)


async def _fold(cls: type[A], history: list[Event]) -> A:
    domain = Domain(InMemoryBackend(), aggregates=[User, Post, Tally])
    await append_events(domain, cls, "x", history)
    return await domain.repository(cls).load("x")


@FAST
@given(history=event_histories(User))
async def test_user_folds_are_deterministic(history: list[Event]) -> None:
    first, second = await _fold(User, history), await _fold(User, history)
    assert first == second
    assert first.version == len(history)


@FAST
@given(history=event_histories(Post))
async def test_post_folds_are_deterministic(history: list[Event]) -> None:
    first, second = await _fold(Post, history), await _fold(Post, history)
    assert first == second
    assert first.version == len(history)


@FAST
@given(history=event_histories(Tally, max_size=12))
async def test_tally_folds_are_deterministic_over_the_same_records(history: list[Event]) -> None:
    # Tally keeps meta.timestamp, so compare loads of one stored stream.
    backend = InMemoryBackend()
    domain = Domain(backend, aggregates=[Tally])
    await append_events(domain, Tally, "x", history)
    loads = [
        await domain.repository(Tally).load("x"),
        await domain.repository(Tally).load("x"),
        await Domain(backend, aggregates=[Tally]).repository(Tally).load("x"),
    ]
    assert loads[0] == loads[1] == loads[2]
    assert loads[0] is not loads[1]
    assert loads[0].version == len(history)


@FAST
@given(history=event_histories(User))
async def test_user_is_enabled_by_its_last_status_event(history: list[Event]) -> None:
    user = await _fold(User, history)
    statuses = [e for e in history if isinstance(e, UserCreated | UserEnabled | UserDisabled)]
    assert user.enabled == (bool(statuses) and not isinstance(statuses[-1], UserDisabled))
