"""Reading event classes out of the annotations of methods: folds, commands, handlers."""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from typing import Any

from ._errors import DefinitionError
from ._events import Event
from ._meta import EventMeta


def name_of(value: Any) -> str:
    """How an annotation is named in messages: its qualified name, or its repr."""
    return getattr(value, "__qualname__", repr(value))


def union_members(annotation: Any) -> tuple[Any, ...]:
    """The members of a union annotation; any other annotation alone."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def is_event_class(value: Any) -> bool:
    """Whether `value` is `Event` or a subclass of it."""
    return isinstance(value, type) and issubclass(value, Event)


def type_hints(owner: type, fn: Callable[..., Any]) -> dict[str, Any]:
    """The resolved annotations of method `fn` of `owner`; DefinitionError if they do not."""
    try:
        return typing.get_type_hints(fn, localns=dict(vars(owner)))
    except Exception as error:
        raise DefinitionError(
            f"{owner.__qualname__}.{fn.__name__}: cannot resolve its annotations: {error}"
        ) from error


def event_parameter(
    owner: type, name: str, fn: Callable[..., Any], kind: str, meta: type = EventMeta
) -> tuple[tuple[type[Event], ...], bool]:
    """The event classes a `(self, event[, meta])` method takes, and whether it takes meta.

    `meta` is the class the second parameter receives.
    """
    where = f"{owner.__qualname__}.{name}"
    params = list(inspect.signature(fn).parameters.values())[1:]
    if len(params) not in (1, 2) or any(
        p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params
    ):
        raise DefinitionError(f"{kind} {where} must take (self, event) or (self, event, meta)")
    hints = type_hints(owner, fn)
    annotation = hints.get(params[0].name)
    if annotation is None:
        raise DefinitionError(f"{kind} {where}: annotate its event parameter with the event class")
    events = union_members(annotation)
    bad = [e for e in events if not is_event_class(e) or e is Event]
    if bad:
        raise DefinitionError(
            f"{kind} {where}: {params[0].name} must be annotated with Event subclasses, "
            f"not {', '.join(map(name_of, bad))}"
        )
    if len(params) == 2 and hints.get(params[1].name, meta) is not meta:
        raise DefinitionError(f"{kind} {where}: its second parameter receives {meta.__name__}")
    return tuple(events), len(params) == 2
