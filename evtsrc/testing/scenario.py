"""Given/when/then tests of aggregates, run through a real Domain over an InMemoryBackend.

```python
async def test_disable() -> None:
    outcome = await given(User, UserCreated(name="Ann")).when(User.disable)
    outcome.expect(UserDisabled())
```

`given` stores the events it is given, `when` runs one command through
`Repository.execute()`, and the `Outcome`
holds what happened: the new events (read back from the store), the aggregate
and the error, with `expect`/`expect_error` to assert on them. `when` also
fails a command that changes `self` instead of returning events.

hypothesis also exports a `given`: in a module that uses both, import one of
them under another name (`from hypothesis import given as for_all`).
"""

from __future__ import annotations

import copy
import inspect
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Concatenate, Generic, ParamSpec, TypeAlias, TypeVar

from .._aggregate import A, Aggregate, Decision, command_loader
from .._context import current as current_context
from .._context import stored_metadata
from .._definition import AggregateSpec
from .._domain import Domain, DomainLoader
from .._errors import CommandError
from .._events import Event
from ..backends.base import Backend, NewEvent, new_event_id
from ..backends.memory import InMemoryBackend

P = ParamSpec("P")
X = TypeVar("X", bound=BaseException)

DomainFactory: TypeAlias = Callable[[Backend], Domain]
"""Builds the domain a scenario runs in, over the backend it is given."""

DEFAULT_ID = "test-1"
"""The id of the aggregate under test unless `given(..., aggregate_id=...)` says otherwise."""


async def append_events(
    domain: Domain, aggregate: type[Aggregate], aggregate_id: str, events: Iterable[Event]
) -> int:
    """Store `events` as the next events of one aggregate and return its new version.

    The events are encoded by the domain's codec and appended as a command's
    would be, without running a command: for setting up tests. Raises
    `TypeError` for an event the aggregate does not fold.
    """
    repository = domain.repository(aggregate)
    spec = AggregateSpec(aggregate)
    batch = list(events)
    for event in batch:
        if not isinstance(event, Event):
            raise TypeError(f"{event!r} is not an Event instance")
        if spec.fold_for(type(event)) is None:
            raise TypeError(
                f"{aggregate.__qualname__} has no fold for {type(event).__qualname__}, so "
                f"{event!r} cannot be one of its events"
            )
    current = await repository.load(aggregate_id)
    if not batch:
        return current.version
    now = datetime.now(UTC)
    ids = [new_event_id() for _ in batch]
    metadata = stored_metadata(current_context(), ids[0])  # as a command would record
    records = await domain.backend.append(
        repository.stream,
        aggregate_id,
        current.version,
        [
            NewEvent(*domain.codec.encode(event), now, id_, event.__event_version__, metadata)
            for event, id_ in zip(batch, ids, strict=True)
        ],
    )
    return records[-1].version


def given(
    aggregate: type[A],
    *events: Event,
    aggregate_id: str = DEFAULT_ID,
    domain: DomainFactory | None = None,
) -> Scenario[A]:
    """Start a scenario: the aggregate under test already has `events`.

    `aggregate_id` is the id it is stored under. `domain` builds the
    domain from a backend (e.g. your `make_domain`); by default it is
    `Domain(backend, aggregates=[aggregate, *others])` with the classes of
    `Scenario.and_other()`.
    """
    if not (isinstance(aggregate, type) and issubclass(aggregate, Aggregate)):
        raise TypeError(f"given() takes an Aggregate subclass, not {aggregate!r}")
    if not isinstance(aggregate_id, str) or not aggregate_id:
        raise ValueError(f"an aggregate id is a non-empty string, not {aggregate_id!r}")
    _check_events(events)
    return Scenario(aggregate, aggregate_id, ((aggregate, aggregate_id, events),), domain)


class Scenario(Generic[A]):
    """Events already stored, before a command runs. Made by `given()`; reusable."""

    def __init__(
        self,
        aggregate: type[A],
        aggregate_id: str,
        givens: tuple[tuple[type[Aggregate], str, tuple[Event, ...]], ...],
        domain: DomainFactory | None,
    ) -> None:
        self.aggregate = aggregate
        """The class of the aggregate under test."""
        self.aggregate_id = aggregate_id
        """The id of the aggregate under test."""
        self._givens = givens
        self._domain = domain

    def and_other(
        self, aggregate: type[Aggregate], aggregate_id: str, *events: Event
    ) -> Scenario[A]:
        """The same scenario where another aggregate (one the command loads) has `events`.

        With no events, `aggregate` is only added to the domain, never written.
        """
        if not (isinstance(aggregate, type) and issubclass(aggregate, Aggregate)):
            raise TypeError(f"and_other() takes an Aggregate subclass, not {aggregate!r}")
        _check_events(events)
        return Scenario(
            self.aggregate,
            self.aggregate_id,
            (*self._givens, (aggregate, aggregate_id, events)),
            self._domain,
        )

    async def when(
        self,
        command: Callable[Concatenate[A, P], Decision | Awaitable[Decision]],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> Outcome[A]:
        """Run `command` with `args`/`kwargs` on the aggregate and return what happened.

        A fresh domain over a new `InMemoryBackend` is
        built and the given events stored. The command is first called on a
        loaded copy of the aggregate to check that it leaves `self` unchanged
        (raising `AssertionError` if not), then run for real through
        `Repository.execute`. An exception that `execute` raises is caught
        into `Outcome.error`.
        """
        domain = self._build_domain()
        name = getattr(command, "__qualname__", repr(command))
        label = f"{name} on {self.aggregate.__stream__}/{self.aggregate_id}"
        for cls, aggregate_id, events in self._givens:
            try:
                await append_events(domain, cls, aggregate_id, events)
                await domain.repository(cls).load(aggregate_id)  # folds them: a bad fold fails here
            except Exception as setup_error:
                setup_error.add_note(
                    f"while storing the given events of {cls.__qualname__} {aggregate_id!r}"
                )
                raise
        repository = domain.repository(self.aggregate)
        start = (await repository.load(self.aggregate_id)).version

        if command in AggregateSpec(self.aggregate).functions and _binds(command, args, kwargs):
            probe = await repository.load(self.aggregate_id)
            loading = command_loader.set(DomainLoader(domain))  # as execute() will
            try:
                await _check_leaves_self_unchanged(
                    label, probe, lambda: command(probe, *args, **kwargs)
                )
            finally:
                command_loader.reset(loading)

        error: Exception | None = None
        try:
            aggregate = await repository.execute(self.aggregate_id, command, *args, **kwargs)
        except Exception as caught:
            error = caught
            aggregate = await repository.load(self.aggregate_id)
        stored = await repository.history(self.aggregate_id, after_version=start)
        return Outcome(label, tuple(item.event for item in stored), aggregate, error, domain)

    def _build_domain(self) -> Domain:
        backend = InMemoryBackend()
        if self._domain is None:
            classes: list[type[Aggregate]] = []
            for cls, _, _ in self._givens:
                if cls not in classes:
                    classes.append(cls)
            return Domain(backend, aggregates=classes)
        domain = self._domain(backend)
        if not isinstance(domain, Domain):
            raise TypeError(f"the domain factory returned {domain!r}, not a Domain")
        if domain.backend is not backend:
            raise ValueError("the domain factory must build the domain over the backend it gets")
        missing = [cls for cls, _, _ in self._givens if cls not in domain.aggregates]
        if missing:
            raise ValueError(
                "the domain factory's domain has no "
                + ", ".join(sorted({cls.__qualname__ for cls in missing}))
            )
        return domain


class Outcome(Generic[A]):
    """What a command did in a scenario: its new events, the aggregate and the error."""

    def __init__(
        self,
        command: str,
        events: tuple[Event, ...],
        aggregate: A,
        error: Exception | None,
        domain: Domain,
    ) -> None:
        self.command = command
        """The command and aggregate, for messages: `"User.disable on users/test-1"`."""
        self.events = events
        """The events the command stored, oldest first, as read back from the store."""
        self.aggregate = aggregate
        """The aggregate after the command (as it was before, when the command raised)."""
        self.error = error
        """What `Repository.execute` raised, or None."""
        self.domain = domain
        """The domain the scenario ran in, to load other aggregates or run handlers."""

    def expect(self, *events: Event) -> Outcome[A]:
        """Assert the command succeeded and stored exactly `events`, in order; return self."""
        _check_events(events)
        if self.error is not None:
            raise AssertionError(
                f"{self.command} raised {self.error!r}; expected it to store:\n" + _listing(events)
            ) from self.error
        if tuple(events) != self.events:
            raise AssertionError(
                f"{self.command} stored other events than expected\n"
                f"expected:\n{_listing(events)}\nactual:\n{_listing(self.events)}\n"
                + _first_difference(events, self.events)
            )
        return self

    def expect_error(
        self, kind: type[X], /, *, code: str | None = None, match: str | None = None
    ) -> X:
        """Assert the command raised `kind` and return that error.

        `code` is the `CommandError` code it must have;
        `match` a regular expression that must be found in its message.
        """
        wanted = kind.__qualname__ + (f" with code {code!r}" if code is not None else "")
        error = self.error
        if error is None:
            raise AssertionError(
                f"{self.command} was expected to raise {wanted}, but it succeeded and stored:\n"
                + _listing(self.events)
            )
        if not isinstance(error, kind):
            raise AssertionError(
                f"{self.command} was expected to raise {wanted}, but it raised {error!r}"
            ) from error
        found: X = error
        if code is not None:
            if not isinstance(error, CommandError):
                raise AssertionError(
                    f"{self.command} raised {error!r}, which has no code; expected {wanted}"
                ) from error
            if error.code != code:
                raise AssertionError(
                    f"{self.command} raised {error!r}: code {error.code!r}, expected {code!r}"
                ) from error
        if match is not None and not re.search(match, str(error)):
            raise AssertionError(
                f"{self.command} raised {error!r}, whose message does not match {match!r}"
            ) from error
        return found

    def __repr__(self) -> str:
        happened = f"error={self.error!r}" if self.error is not None else f"events={self.events!r}"
        return f"Outcome({self.command}: {happened})"


def _check_events(events: Sequence[object]) -> None:
    for event in events:
        if isinstance(event, type) and issubclass(event, Event):
            raise TypeError(f"pass an event instance such as {event.__qualname__}(), not the class")
        if not isinstance(event, Event):
            raise TypeError(f"{event!r} is not an Event instance")


async def _check_leaves_self_unchanged(
    label: str, aggregate: Aggregate, call: Callable[[], Decision | Awaitable[Decision]]
) -> None:
    """Run a command on `aggregate` and fail if its state differs afterwards."""
    before = _state_of(aggregate)
    raised: Exception | None = None
    try:
        decision = call()
        if inspect.isawaitable(decision):
            await decision
    except Exception as error:
        raised = error  # execute() runs the command again and reports this
    changes = _changes(before, _state_of(aggregate))
    if changes:
        then = f" (and then raised {raised!r})" if raised is not None else ""
        raise AssertionError(
            f"{label} changed the aggregate itself{then}; a command must leave self "
            "unchanged and return events, which folds apply:\n"
            + "\n".join(f"  {change}" for change in changes)
        )


def _binds(command: Callable[..., Any], args: Sequence[Any], kwargs: dict[str, Any]) -> bool:
    try:
        inspect.signature(command).bind(None, *args, **kwargs)
    except (TypeError, ValueError):
        return False
    return True


def _state_of(aggregate: Aggregate) -> dict[str, Any]:
    """A deep copy of everything in the aggregate's `__dict__`: fields, id, version, extras."""
    state: dict[str, Any] = {}
    for name, value in vars(aggregate).items():
        try:
            state[name] = copy.deepcopy(value)
        except Exception:
            state[name] = value
    return state


def _changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for name in sorted(before.keys() | after.keys()):
        if name not in after:
            found.append(f"{name}: {before[name]!r} -> (deleted)")
        elif name not in before:
            found.append(f"{name}: (unset) -> {after[name]!r}")
        elif not _same(before[name], after[name]):
            found.append(f"{name}: {before[name]!r} -> {after[name]!r}")
    return found


def _same(a: object, b: object) -> bool:
    # Comparing one-item lists compares by identity first, so a NaN equals itself.
    try:
        return bool([a] == [b])
    except Exception:
        return a is b


def _listing(events: Sequence[Event]) -> str:
    if not events:
        return "  (no events)"
    return "\n".join(f"  {number}. {event!r}" for number, event in enumerate(events, start=1))


def _first_difference(expected: Sequence[Event], actual: Sequence[Event]) -> str:
    for number, (want, got) in enumerate(zip(expected, actual, strict=False), start=1):
        if want != got:
            return f"first difference at #{number}: expected {want!r}, got {got!r}"
    number = min(len(expected), len(actual)) + 1
    if len(expected) > len(actual):
        return f"first difference at #{number}: expected {expected[number - 1]!r}, got nothing"
    return f"first difference at #{number}: expected nothing, got {actual[number - 1]!r}"
