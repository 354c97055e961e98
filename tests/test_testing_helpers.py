"""Tests of evtsrc.testing: the given/when/then scenarios and the hypothesis strategies."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs
import hypothesis
import hypothesis.strategies as st
import pytest
from hypothesis.errors import NoSuchExample

from evtsrc import (
    Aggregate,
    CommandError,
    DefinitionError,
    Domain,
    Event,
    command,
    folds,
)
from evtsrc.backends import Backend, InMemoryBackend
from evtsrc.testing import DEFAULT_ID, append_events, given
from evtsrc.testing.strategies import event_histories, events, events_of, values
from examples.blog.domain import make_domain
from examples.blog.posts import Post, PostArchived, PostCreated
from examples.blog.read_model import PostsModel
from examples.blog.users import User, UserCreated, UserDisabled, UserEnabled

QUICK = hypothesis.settings(max_examples=25, deadline=None, database=None)


# --- aggregates that break the rules -------------------------------------------------


class Bumped(Event, type_name="test.bumped"):
    by: int = 1


class Sloppy(Aggregate, stream="sloppy"):
    count: int = 0
    items: list[int] = attrs.Factory(list[int])
    ratio: float = float("nan")

    @folds
    def _bumped(self, event: Bumped) -> None:
        self.count += event.by
        self.items.append(event.by)

    @command
    def bump(self) -> Bumped:
        return Bumped()

    @command
    def bump_in_place(self) -> Bumped:
        self.count += 1
        return Bumped()

    @command
    def append_in_place(self, by: int) -> Bumped:
        self.items.append(by)
        return Bumped(by=by)

    @command
    async def mutate_then_refuse(self) -> Bumped:
        self.count = -1
        raise CommandError("no", code="NO")

    @command
    def remember(self) -> Bumped:
        self.note = "extra attribute"
        return Bumped()

    @command
    def bump_twice(self) -> list[Bumped]:
        return [Bumped(by=1), Bumped(by=2)]

    @command
    async def catch_up_with(self, other_id: str) -> Bumped:
        other = await self.load(Sloppy, other_id)
        self.count = other.count
        return Bumped()


class Orphan(Event, type_name="test.orphan"):
    pass


class Broken(Aggregate, stream="broken"):
    @command
    def orphan(self) -> Orphan:  # no fold applies Orphan: the Domain refuses this class
        return Orphan()


# --- given / when / expect ------------------------------------------------------------


async def test_expect_passes_for_exactly_the_new_events() -> None:
    outcome = await given(User, UserCreated(name="Ann")).when(User.disable)
    assert outcome.expect(UserDisabled()) is outcome
    assert outcome.events == (UserDisabled(),)
    assert outcome.error is None
    assert outcome.aggregate.enabled is False
    assert (outcome.aggregate.id, outcome.aggregate.version) == (DEFAULT_ID, 2)


async def test_expect_without_events_means_the_command_stored_nothing() -> None:
    outcome = await given(User, UserCreated(name="Ann"), UserDisabled()).when(User.disable)
    outcome.expect()
    assert outcome.aggregate.version == 2


async def test_several_events_in_order() -> None:
    outcome = await given(Sloppy).when(Sloppy.bump_twice)
    outcome.expect(Bumped(by=1), Bumped(by=2))
    with pytest.raises(AssertionError, match="first difference at #1"):
        outcome.expect(Bumped(by=2), Bumped(by=1))
    assert outcome.aggregate.items == [1, 2]


async def test_expect_fails_on_other_events() -> None:
    outcome = await given(User, UserCreated(name="Ann")).when(User.disable)
    with pytest.raises(AssertionError) as failure:
        outcome.expect(UserEnabled())
    message = str(failure.value)
    assert "User.disable on users/test-1 stored other events than expected" in message
    assert "expected:\n  1. UserEnabled()\nactual:\n  1. UserDisabled()" in message
    assert "first difference at #1: expected UserEnabled(), got UserDisabled()" in message


async def test_expect_fails_on_missing_or_extra_events() -> None:
    outcome = await given(User, UserCreated(name="Ann")).when(User.disable)
    with pytest.raises(AssertionError, match=r"#2: expected UserEnabled\(\), got nothing"):
        outcome.expect(UserDisabled(), UserEnabled())
    with pytest.raises(AssertionError, match=r"#1: expected nothing, got UserDisabled\(\)"):
        outcome.expect()


async def test_expect_fails_when_the_command_raised() -> None:
    outcome = await given(User, UserCreated(name="Ann")).when(User.create, name="Ann")
    with pytest.raises(AssertionError) as failure:
        outcome.expect(UserCreated(name="Ann"))
    assert "raised CommandError('User already exists', code='USER_EXISTS')" in str(failure.value)
    assert failure.value.__cause__ is outcome.error


async def test_expect_error_returns_the_error() -> None:
    outcome = await given(Post).when(Post.archive, user_id="x")
    error = outcome.expect_error(CommandError, code="NOT_ALLOWED", match="^Not allowed$")
    assert error is outcome.error
    assert error.message == "Not allowed"
    assert outcome.events == ()
    assert outcome.aggregate.version == 0


async def test_expect_error_fails_when_it_should() -> None:
    refused = await given(Post).when(Post.archive, user_id="x")
    with pytest.raises(AssertionError, match="code 'NOT_ALLOWED', expected 'OTHER'"):
        refused.expect_error(CommandError, code="OTHER")
    with pytest.raises(AssertionError, match=r"raise ValueError, but it raised CommandError"):
        refused.expect_error(ValueError)
    with pytest.raises(AssertionError, match="does not match 'denied'"):
        refused.expect_error(CommandError, match="denied")

    succeeded = await given(User, UserCreated(name="Ann")).when(User.disable)
    with pytest.raises(AssertionError, match=r"it succeeded and stored:\n  1. UserDisabled\(\)"):
        succeeded.expect_error(CommandError)

    bad_call = await given(User).when(User.create, name=3)  # type: ignore[arg-type]
    with pytest.raises(AssertionError, match="which has no code"):
        bad_call.expect_error(Exception, code="X")


async def test_argument_errors_are_type_errors_statically_and_at_run_time() -> None:
    # mypy --strict (warn_unused_ignores) fails if these calls ever stop being type errors.
    wrong_name = await given(User).when(User.create, nam="Ann")  # type: ignore[call-arg]
    wrong_name.expect_error(TypeError, match="User.create")
    wrong_type = await given(User).when(User.create, name=3)  # type: ignore[arg-type]
    wrong_type.expect_error(AttributeError, match="'int' object has no attribute 'strip'")
    other_aggregate = await given(User).when(Post.archive, user_id="x")  # type: ignore[arg-type]
    other_aggregate.expect_error(TypeError, match="not a @command of User")


async def test_other_aggregates_the_command_loads() -> None:
    author = given(Post, aggregate_id="hello").and_other(User, "ann", UserCreated(name="Ann"))
    created = await author.when(Post.create, user_id="ann", content="Hi")
    created.expect(PostCreated(user_id="ann", content="Hi"))
    assert created.aggregate.id == "hello"
    assert "Post.create on posts/hello" in created.command
    stranger = await author.when(Post.create, user_id="bob", content="Hi")
    stranger.expect_error(CommandError, code="UNAUTHORIZED")


async def test_a_domain_factory_builds_the_domain() -> None:
    outcome = await given(Post, domain=make_domain).when(Post.create, user_id="x", content="")
    outcome.expect_error(CommandError, code="UNAUTHORIZED")
    assert set(outcome.domain.aggregates) == {User, Post}
    # Without it, the default domain has only the classes the scenario names.
    default = await given(Post).when(Post.create, user_id="x", content="")
    default.expect_error(KeyError, match="'User' is not in this domain")


async def test_the_outcome_domain_runs_handlers() -> None:
    outcome = await (
        given(Post, PostCreated(user_id="ann", content="Hi"), aggregate_id="p")
        .and_other(User, "ann", UserCreated(name="Ann"))
        .when(Post.archive, user_id="ann")
    )
    outcome.expect(PostArchived())
    model = outcome.domain.handler(PostsModel())
    assert await model.run_once() == 2
    assert model.handler.rows["p"].archived


async def test_a_scenario_is_reusable_and_each_run_starts_afresh() -> None:
    scenario = given(Sloppy, Bumped(by=5))
    first, second = await scenario.when(Sloppy.bump), await scenario.when(Sloppy.bump)
    assert first.aggregate == second.aggregate
    assert first.aggregate.count == 6
    assert first.domain is not second.domain


async def test_domain_definition_errors_surface() -> None:
    with pytest.raises(DefinitionError, match="no fold of Broken applies"):
        await given(Broken).when(Broken.orphan)


async def test_bad_givens_are_refused() -> None:
    with pytest.raises(TypeError, match=r"pass an event instance such as UserDisabled\(\)"):
        given(User, UserDisabled)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="takes an Aggregate subclass"):
        given(UserCreated)  # type: ignore[type-var]
    with pytest.raises(ValueError, match="non-empty string"):
        given(User, aggregate_id="")
    with pytest.raises(TypeError, match="User has no fold for PostArchived") as failure:
        await given(User, PostArchived()).and_other(Post, "p").when(User.disable)
    assert "while storing the given events of User 'test-1'" in (failure.value.__notes__ or [])


async def test_a_domain_factory_must_include_the_scenario_aggregates() -> None:
    def only_users(backend: Backend) -> Domain:
        return Domain(backend, aggregates=[User])

    with pytest.raises(ValueError, match="has no Post"):
        await given(Post, domain=only_users).when(Post.archive, user_id="x")


async def test_append_events_returns_the_new_version() -> None:
    domain = make_domain(InMemoryBackend())
    assert await append_events(domain, User, "u", [UserCreated(name="Ann")]) == 1
    assert await append_events(domain, User, "u", [UserDisabled(), UserEnabled()]) == 3
    assert await append_events(domain, User, "u", []) == 3
    with pytest.raises(TypeError, match="no fold for PostArchived"):
        await append_events(domain, User, "u", [PostArchived()])
    assert (await domain.repository(User).load("u")).version == 3


# --- commands that change self ---------------------------------------------------------


async def test_a_pure_command_passes_the_mutation_check() -> None:
    # ratio is NaN, which is not equal to itself: the check must not report it.
    (await given(Sloppy, Bumped(by=2)).when(Sloppy.bump)).expect(Bumped())


@pytest.mark.parametrize(
    ("name", "change"),
    [
        ("bump_in_place", "count: 0 -> 1"),
        ("append_in_place", "items: [] -> [7]"),
        ("mutate_then_refuse", "count: 0 -> -1"),
        ("remember", "note: (unset) -> 'extra attribute'"),
    ],
)
async def test_a_command_that_changes_self_fails(name: str, change: str) -> None:
    method: Any = getattr(Sloppy, name)
    args = (7,) if name == "append_in_place" else ()
    with pytest.raises(AssertionError) as failure:
        await given(Sloppy).when(method, *args)
    message = str(failure.value)
    assert f"Sloppy.{name} on sloppy/test-1 changed the aggregate itself" in message
    assert f"\n  {change}" in message
    if name == "mutate_then_refuse":
        assert "(and then raised CommandError('no', code='NO'))" in message


async def test_the_change_check_runs_commands_that_load_other_aggregates() -> None:
    scenario = given(Sloppy).and_other(Sloppy, "other", Bumped(by=5))
    with pytest.raises(AssertionError, match="changed the aggregate itself") as failure:
        await scenario.when(Sloppy.catch_up_with, "other")
    assert "\n  count: 0 -> 5" in str(failure.value)


# --- strategies ------------------------------------------------------------------------


class Rated(Event, type_name="test.rated"):
    stars: int = attrs.field(validator=attrs.validators.in_(range(1, 6)))
    votes: int = attrs.field(validator=attrs.validators.ge(0))
    at: datetime


class Keyed(Event, type_name="test.keyed"):
    by_number: dict[int, str]


class Opaque(Event, type_name="test.opaque"):
    thing: object


@attrs.frozen
class Node:
    child: Node | None


class Nested(Event, type_name="test.nested"):
    node: Node


@QUICK
@hypothesis.given(event=events(Rated, stars=st.integers(min_value=1, max_value=5)))
def test_events_respect_validators_and_make_aware_datetimes(event: Rated) -> None:
    # votes: values its validator refuses are filtered out; stars: too narrow, so given.
    assert 1 <= event.stars <= 5
    assert event.votes >= 0
    assert event.at.utcoffset() is not None


@QUICK
@hypothesis.given(event=events(UserCreated, name=st.just("Ann")))
def test_events_take_a_strategy_per_field(event: UserCreated) -> None:
    assert event == UserCreated(name="Ann")


def test_events_refuse_what_they_cannot_generate() -> None:
    with pytest.raises(TypeError, match="has no field nme"):
        events(UserCreated, nme=st.just("Ann"))
    with pytest.raises(TypeError, match=r"Keyed.by_number: .*does not survive JSON text"):
        events(Keyed)
    with pytest.raises(TypeError, match=r"Opaque.thing: cannot derive values of type"):
        events(Opaque)
    with pytest.raises(TypeError, match=r"Node.child: Node contains itself"):
        events(Nested)
    with pytest.raises(TypeError, match="takes an Event subclass"):
        events(User)  # type: ignore[type-var]
    # A strategy for the field replaces the one that cannot be derived.
    assert events(Keyed, by_number=st.just({1: "a"})) is not None


@QUICK
@hypothesis.given(event=events_of(User))
def test_events_of_generates_only_what_the_aggregate_folds(event: Event) -> None:
    assert isinstance(event, UserCreated | UserEnabled | UserDisabled)


@pytest.mark.parametrize("cls", [UserCreated, UserEnabled, UserDisabled])
def test_events_of_reaches_every_event_class(cls: type[Event]) -> None:
    found = hypothesis.find(
        events_of(User), lambda e: isinstance(e, cls), settings=hypothesis.settings(database=None)
    )
    assert type(found) is cls


def test_events_of_overrides() -> None:
    override = {UserCreated: events(UserCreated, name=st.just("Ann"))}
    found = hypothesis.find(
        events_of(User, overrides=override),
        lambda e: isinstance(e, UserCreated),
        settings=hypothesis.settings(database=None),
    )
    assert found == UserCreated(name="Ann")
    with pytest.raises(TypeError, match="User has no events of class PostCreated"):
        events_of(User, overrides={PostCreated: events(PostCreated)})


@QUICK
@hypothesis.given(history=event_histories(Post, min_size=2, max_size=3))
def test_event_histories_are_lists_of_the_aggregate_events(history: list[Event]) -> None:
    assert 2 <= len(history) <= 3
    assert all(isinstance(e, PostCreated | PostArchived) for e in history)


@QUICK
@hypothesis.given(value=values(tuple[int, str] | None))
def test_values_of_an_annotation(value: Any) -> None:
    assert value is None or (isinstance(value[0], int) and isinstance(value[1], str))


def test_strings_exclude_what_json_text_backends_refuse() -> None:
    def bad(text: str) -> bool:
        return "\x00" in text or any(0xD800 <= ord(c) <= 0xDFFF for c in text)

    with pytest.raises(NoSuchExample):
        hypothesis.find(
            values(str), bad, settings=hypothesis.settings(database=None, max_examples=300)
        )
