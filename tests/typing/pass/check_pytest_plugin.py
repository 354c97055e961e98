"""The pytest plugin's fixtures are typed: a test annotates them and gets precise types.

`Runners.start` gives the runner of the handler it was given, with `Domain.handler`'s
options checked; `Given` gives scenarios of the aggregate it was given; a conftest's
overrides of `evtsrc_aggregates` and `evtsrc_domain_factory` type-check as written.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, assert_type

import pytest

from evtsrc import Aggregate, Domain, HandlerRunner, RetryPolicy
from evtsrc.backends import Backend, InMemoryBackend, InMemoryBookmarks
from evtsrc.testing import DomainFactory, Outcome, Scenario
from evtsrc.testing.pytest_plugin import Given, HandlerOptions, Runners
from tests.typing.model import Post, PostCounter, PostCreated, User, UserCreated, make_domain


@pytest.fixture
def evtsrc_aggregates() -> list[type[Aggregate]]:
    return [User, Post]


@pytest.fixture
def evtsrc_domain_factory() -> DomainFactory:
    return make_domain


async def a_test(evtsrc_domain: Domain, evtsrc_runners: Runners) -> PostCounter:
    runner = await evtsrc_runners.start(PostCounter(), poll_interval=0.1, batch_size=10)
    assert_type(runner, HandlerRunner[PostCounter])
    assert_type(runner.handler, PostCounter)
    await evtsrc_domain.repository(User).execute("alice", User.create, name="Alice")
    post = await evtsrc_domain.repository(Post).execute(
        "p", Post.create, user_id="alice", content="Hi"
    )
    assert_type(await evtsrc_runners.caught_up(), None)
    assert_type(await evtsrc_runners.caught_up(runner, timeout=2), None)
    await runner.wait_for(post.last_position, timeout=1.0)
    assert_type(evtsrc_runners.started, tuple[HandlerRunner[Any], ...])
    assert_type(evtsrc_runners.domain, Domain)
    return runner.handler


async def options(runners: Runners) -> None:
    chosen: HandlerOptions = {"bookmarks": InMemoryBookmarks(), "retry": RetryPolicy()}
    runner = await runners.start(PostCounter(), allow_errors=True, **chosen)
    assert_type(runner, HandlerRunner[PostCounter])
    assert_type(await runners.stop_all(), None)


async def scenarios(evtsrc_given: Given) -> Outcome[Post]:
    scenario = evtsrc_given(Post).and_other(User, "alice", UserCreated(name="Alice"))
    assert_type(scenario, Scenario[Post])
    outcome = await scenario.when(Post.create, user_id="alice", content="Hi")
    assert_type(outcome, Outcome[Post])
    assert_type(outcome.aggregate, Post)
    assert_type(evtsrc_given.domain_factory, DomainFactory | None)
    return outcome.expect(PostCreated(user_id="alice", content="Hi"))


def factories(aggregates: Sequence[type[Aggregate]], backend: Backend) -> Domain:
    assert_type(Given(make_domain), Given)
    assert_type(Given(None)(User, aggregate_id="u"), Scenario[User])
    return Domain(backend, aggregates=aggregates)


async def main() -> None:
    domain = make_domain(InMemoryBackend())
    runners = Runners(domain)
    try:
        counter = await a_test(domain, runners)
        assert counter.created == 1
        await options(Runners(make_domain(InMemoryBackend())))
    finally:
        await runners.stop_all()
        await domain.close()
    outcome = await scenarios(Given(make_domain))
    assert outcome.aggregate.user_id == "alice"
    factories([User], InMemoryBackend())
