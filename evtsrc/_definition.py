"""Reading an aggregate class's decorators into a checked definition.

Everything that can be wrong with an aggregate class is found here, when the
domain is built, and reported with the class and method it concerns.
"""

from __future__ import annotations

import collections.abc
import inspect
import typing
from collections.abc import Callable, Sequence
from typing import Any, Generic, cast

import attrs

from ._aggregate import A, Aggregate, is_command, is_fold
from ._annotations import event_parameter, is_event_class, name_of, type_hints, union_members
from ._errors import DefinitionError
from ._events import Event
from ._fingerprint import fold_fingerprint

_SEQUENCES = {
    collections.abc.Sequence,
    collections.abc.Iterable,
    collections.abc.Collection,
    list,
    tuple,
    typing.Sequence,
    typing.Tuple,  # noqa: UP006
}


@attrs.frozen
class Fold:
    """One `@folds` method."""

    name: str
    function: Callable[..., None]
    events: tuple[type[Event], ...]
    takes_meta: bool


_SHAPES_REMEMBERED = 32


@attrs.frozen
class CommandSpec:
    """One `@command` method."""

    name: str
    function: Callable[..., Any]
    signature: inspect.Signature
    events: tuple[type[Event], ...]
    """The event classes its return annotation names."""
    open_ended: bool
    """True when the annotation allows any event (checked when it runs)."""
    _bound_shapes: set[tuple[object, ...]] = attrs.field(
        factory=lambda: set[tuple[object, ...]](), eq=False, repr=False
    )

    def check_arguments(self, args: tuple[object, ...], kwargs: dict[str, object]) -> None:
        """Raise TypeError unless the command takes these arguments (by count and names).

        Binding depends only on how many positional arguments and which names are
        passed, so each shape that bound once is remembered and not bound again.
        """
        shape = (len(args), *kwargs)
        if shape in self._bound_shapes:
            return
        self.signature.bind(None, *args, **kwargs)
        if len(self._bound_shapes) < _SHAPES_REMEMBERED:
            self._bound_shapes.add(shape)


def _fold(owner: type, name: str, fn: Callable[..., Any]) -> Fold:
    if inspect.iscoroutinefunction(fn):
        raise DefinitionError(
            f"fold {owner.__qualname__}.{name} is async; folds are plain methods that only "
            "change the state (read other data in commands)"
        )
    events, takes_meta = event_parameter(owner, name, fn, "fold")
    return Fold(name, fn, events, takes_meta)


def _returned_events(where: str, annotation: Any) -> tuple[set[type[Event]], bool]:
    """The event classes a return annotation names, and whether it is open-ended."""
    events: set[type[Event]] = set()
    open_ended = False
    for member in union_members(annotation):
        if member is None or member is type(None):
            continue
        origin = typing.get_origin(member)
        if origin in _SEQUENCES:
            args = [a for a in typing.get_args(member) if a is not Ellipsis]
            if not args:
                open_ended = True
            for arg in args:
                inner, inner_open = _returned_events(where, arg)
                events |= inner
                open_ended |= inner_open
        elif member is Event:
            open_ended = True
        elif is_event_class(member):
            events.add(member)
        elif member in _SEQUENCES:
            open_ended = True
        else:
            raise DefinitionError(
                f"command {where} is annotated to return {name_of(member)}; a command returns "
                "an event, a sequence of events, or None"
            )
    return events, open_ended


def _command(owner: type, name: str, fn: Callable[..., Any]) -> CommandSpec:
    where = f"{owner.__qualname__}.{name}"
    hints = type_hints(owner, fn)
    if "return" not in hints:
        raise DefinitionError(
            f"command {where} has no return annotation: say which events it can return"
        )
    events, open_ended = _returned_events(where, hints["return"])
    return CommandSpec(
        name=name,
        function=fn,
        signature=inspect.signature(fn),
        events=tuple(sorted(events, key=lambda e: e.__qualname__)),
        open_ended=open_ended,
    )


class AggregateSpec(Generic[A]):
    """The checked definition of one aggregate class."""

    def __init__(self, cls: type[A]) -> None:
        if not (isinstance(cls, type) and issubclass(cls, Aggregate)) or cls is Aggregate:
            raise DefinitionError(f"{name_of(cls)} is not a subclass of Aggregate")
        self.cls: type[A] = cls
        self.stream = cls.__stream__
        try:
            attrs.resolve_types(cls)
        except Exception as error:
            raise DefinitionError(
                f"aggregate {cls.__qualname__}: cannot resolve its field types: {error}"
            ) from error
        for field in attrs.fields(cast("type[attrs.AttrsInstance]", cls)):
            if field.default is attrs.NOTHING:
                raise DefinitionError(
                    f"state field {cls.__qualname__}.{field.name} needs a default: an "
                    "aggregate with no events is its defaults"
                )
        self.folds: dict[type[Event], Fold] = {}
        self.commands: dict[str, CommandSpec] = {}
        seen: set[str] = set()
        for klass in cls.__mro__:
            for name, value in vars(klass).items():
                if name in seen:
                    continue
                seen.add(name)
                wrapped = isinstance(value, (staticmethod, classmethod))
                raw = cast(object, value.__func__ if wrapped else value)  # pyright: ignore[reportUnknownMemberType]
                fold, cmd = is_fold(raw), is_command(raw)
                if fold and cmd:
                    raise DefinitionError(
                        f"{cls.__qualname__}.{name} is marked both @folds and @command"
                    )
                if (fold or cmd) and wrapped:
                    kind = "fold" if fold else "command"
                    raise DefinitionError(
                        f"{kind} {cls.__qualname__}.{name} must be a plain method"
                    )
                if fold:
                    self._add_fold(_fold(cls, name, value))
                elif cmd:
                    self.commands[name] = _command(cls, name, value)
        self._check_commands()
        self.functions = {spec.function: spec for spec in self.commands.values()}
        snapshots = cls.__snapshots__
        self.snapshot_every = snapshots.every if snapshots else 0
        self.snapshot_key = ""
        if snapshots is not None:
            self.snapshot_key = snapshots.key or fold_fingerprint(
                cls, [f.function for f in self.folds.values()], self.folds
            )

    def _add_fold(self, fold: Fold) -> None:
        for event in fold.events:
            other = self.folds.get(event)
            if other is not None:
                raise DefinitionError(
                    f"{self.cls.__qualname__} has two folds for {event.__qualname__}: "
                    f"{other.name} and {fold.name}"
                )
            self.folds[event] = fold

    def fold_for(self, event_cls: type[Event]) -> Fold | None:
        """The fold that applies events of `event_cls` (or of a base class of it)."""
        fold = self.folds.get(event_cls)
        if fold is None:
            for base in event_cls.__mro__[1:]:
                fold = self.folds.get(base)
                if fold is not None:
                    break
        return fold

    def _check_commands(self) -> None:
        for spec in self.commands.values():
            missing = [e for e in spec.events if self.fold_for(e) is None]
            if missing:
                raise DefinitionError(
                    f"command {self.cls.__qualname__}.{spec.name} can return "
                    f"{', '.join(e.__qualname__ for e in missing)}, which no fold of "
                    f"{self.cls.__qualname__} applies"
                )

    def decided_events(self, command: CommandSpec, decision: object) -> Sequence[Event]:
        """The events a run of `command` returned, checked against its definition.

        Raises TypeError for anything but None, an event, or a list or tuple of
        events that the command's return annotation names and a fold applies.
        """
        if decision is None:
            return ()
        items: Sequence[object]
        if isinstance(decision, Event):
            items = (decision,)
        elif isinstance(decision, (list, tuple)):
            items = cast(Sequence[object], decision)
        else:
            raise TypeError(
                f"{self.cls.__qualname__}.{command.name} returned {decision!r}; a command "
                "returns an event, a list or tuple of events, or None"
            )
        events: list[Event] = []
        for event in items:
            if not isinstance(event, Event):
                raise TypeError(
                    f"{self.cls.__qualname__}.{command.name} returned {event!r}, which is not "
                    "an Event"
                )
            if not command.open_ended and not isinstance(event, command.events):
                raise TypeError(
                    f"{self.cls.__qualname__}.{command.name} returned "
                    f"{type(event).__qualname__}, which its return annotation does not name"
                )
            if self.fold_for(type(event)) is None:
                raise TypeError(
                    f"{self.cls.__qualname__}.{command.name} returned "
                    f"{type(event).__qualname__}, which no fold of "
                    f"{self.cls.__qualname__} applies"
                )
            events.append(event)
        return events

    @property
    def event_classes(self) -> set[type[Event]]:
        """Every event class this aggregate folds (with their subclasses defined so far)."""
        found: set[type[Event]] = set()
        pending = list(self.folds)
        while pending:
            event = pending.pop()
            if event not in found:
                found.add(event)
                pending.extend(event.__subclasses__())
        return found
