"""A key that changes whenever the code that folds an aggregate changes.

Snapshots are stored under it, so a snapshot taken by older fold code is never
used by newer code. It hashes, without line numbers or file names (so moving
code does not invalidate snapshots), the state fields and, for every fold, its
bytecode, constants and the names it uses, following helper methods of the
aggregate and plain functions of the fold's module that the folds call.
"""

from __future__ import annotations

import hashlib
import sys
import types
from collections.abc import Iterable
from typing import Any, cast

import attrs

from ._aggregate import Aggregate


def _code_parts(code: types.CodeType, out: list[str]) -> None:
    out.append(code.co_code.hex())
    out.append(repr(code.co_names))
    out.append(repr(code.co_varnames))
    out.append(f"{code.co_argcount}/{code.co_kwonlyargcount}/{code.co_flags}")
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _code_parts(const, out)
        else:
            out.append(repr(const))


def _referenced_functions(fn: types.FunctionType, owner: type) -> Iterable[types.FunctionType]:
    for name in fn.__code__.co_names:
        candidate = owner.__dict__.get(name)
        if candidate is None:
            for base in owner.__mro__[1:]:
                if name in base.__dict__ and base is not Aggregate:  # not evtsrc's own methods
                    candidate = base.__dict__[name]
                    break
        if candidate is None:
            candidate = fn.__globals__.get(name)
            if not (
                isinstance(candidate, types.FunctionType) and candidate.__module__ == fn.__module__
            ):
                continue
        if isinstance(candidate, (staticmethod, classmethod)):
            candidate = cast(object, candidate.__func__)  # pyright: ignore[reportUnknownMemberType]
        if isinstance(candidate, property) and candidate.fget is not None:
            candidate = candidate.fget
        if isinstance(candidate, types.FunctionType):
            yield candidate


def fold_fingerprint(cls: type, fold_functions: Iterable[Any], events: Iterable[type]) -> str:
    """A short hex digest of everything that decides how `cls` folds events."""
    parts: list[str] = [f"python {sys.version_info[0]}.{sys.version_info[1]}"]
    for field in attrs.fields(cls):
        default = field.default
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            default = getattr(default.factory, "__qualname__", repr(default.factory))
        parts.append(f"field {field.name}: {field.type!r} = {default!r}")
    for event in sorted(events, key=lambda e: e.__qualname__):
        parts.append(
            f"event {event.__qualname__}: "
            + ", ".join(f"{f.name}:{f.type!r}={f.default!r}" for f in attrs.fields(event))
        )
    seen: set[types.CodeType] = set()
    pending = [f for f in fold_functions if isinstance(f, types.FunctionType)]
    pending.sort(key=lambda f: f.__qualname__)
    while pending:
        fn = pending.pop()
        if fn.__code__ in seen:
            continue
        seen.add(fn.__code__)
        parts.append(f"code {fn.__qualname__}")
        _code_parts(fn.__code__, parts)
        if fn.__defaults__:
            parts.append(repr(fn.__defaults__))
        pending.extend(_referenced_functions(fn, cls))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
