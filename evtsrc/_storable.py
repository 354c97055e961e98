"""What every backend can store: the checks shared by ids, names, payloads and state.

Each backend refuses something the others take (PostgreSQL the NUL character,
MariaDB deep nesting, every UTF-8 driver lone surrogates), each with its own
error and some only after sending. evtsrc refuses all of it everywhere, before
anything is sent, so that the same input gets the same error on every backend.

It is also the one module of limits: the backends size their columns from it.
"""

from __future__ import annotations

import enum
import math
import re
import types
import typing
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from datetime import date
from decimal import Decimal
from typing import cast
from uuid import UUID

import attrs

MAX_ID_LENGTH = 200
"""The longest aggregate id, handler name, stream name or event type name, in characters.

The SQL backends size the columns that hold them, `VARCHAR(200)`, from it.
"""

MAX_DEPTH = 31
"""How deeply a stored payload or state may nest objects and arrays, counting its own object.

It is the most MariaDB stores (it refuses 32 levels); the other databases take more.
"""

TOO_DEEP = (
    f"objects and arrays nest more than {MAX_DEPTH} levels deep (counting the stored "
    "object), which MariaDB cannot store"
)


_MARKS = bytes(c for c in range(256) if chr(c) not in '[]{}"')
"""What `within_depth` deletes from JSON text: all but quotes and brackets."""
_BRACKETS = bytes.maketrans(b"{}", b"[]")


def within_depth(text: str | bytes) -> bool:
    """Whether compact JSON text (or its UTF-8) certainly nests at most `MAX_DEPTH` deep.

    False means it may not, and a walk of the value must tell. The text's
    brackets and quotes, taken out at C speed, give the depth: with no escape in
    the text, a string holding no bracket leaves `""`, and each pass that deletes
    the innermost `[]` pairs peels one level.
    """
    raw = text if isinstance(text, bytes) else text.encode(errors="surrogatepass")
    marks = raw.translate(_BRACKETS, _MARKS)
    if marks.count(b"[") <= MAX_DEPTH:
        return True
    if b"\\" in raw:  # an escaped quote would hide where strings end
        return False
    marks = marks.replace(b'""', b"")
    if b'"' in marks:  # a string holds a bracket
        return False
    for _ in range(MAX_DEPTH):
        if not marks:
            return True
        marks = marks.replace(b"[]", b"")
    return not marks


NAME_PATTERN = re.compile(rf"^[A-Za-z_][A-Za-z0-9_.:\-]{{0,{MAX_ID_LENGTH - 1}}}$")
"""What a stream name or an event type name must match."""

NAME_RULE = (
    f"1-{MAX_ID_LENGTH} characters of letters, digits, '_', '.', ':' or '-', not starting "
    "with a digit"
)
"""`NAME_PATTERN` in words, for error messages."""


def id_problem(name: object) -> str | None:
    """What keeps `name` from being stored as an aggregate id or handler name, or None.

    Worded to follow "an aggregate id" or "its name" in an error message.
    """
    if not isinstance(name, str) or not name:
        return f"is a non-empty string, not {name!r}"
    if len(name) > MAX_ID_LENGTH:
        return f"is at most {MAX_ID_LENGTH} characters, not {len(name)}"
    problem = text_problem(name)
    return None if problem is None else f"{name!r} {problem}"


def text_problem(text: str) -> str | None:
    """What keeps `text` from being stored by every backend, or None.

    The NUL character, which PostgreSQL cannot store, and lone surrogates, which
    have no UTF-8 encoding.
    """
    if "\x00" in text:
        return "contains the NUL character (\\u0000), which PostgreSQL cannot store"
    if not text.isascii():
        try:
            text.encode()  # cheaper than searching for surrogates
        except UnicodeEncodeError as error:  # only a surrogate fails
            found = text[error.start]
            return f"contains the lone surrogate {found!r}, which has no UTF-8 encoding"
    return None


def json_problem(value: object, path: str = "", depth: int = 1) -> str | None:
    """What keeps `value` (an object `depth` levels down, at `path`) from storing everywhere.

    Strings and keys that `text_problem` refuses, keys that are not strings (JSON
    would turn 1 into "1", so what is read back would differ), and more than
    `MAX_DEPTH` levels of objects and arrays, NaN and the infinities (JSON has no
    words for them), and values of any type JSON has no words for (a datetime, a
    set: a converter must turn them into strings and lists). None when every
    backend stores it.
    """
    if isinstance(value, str):
        problem = text_problem(value)
        return None if problem is None else f"{path or '$'}: {problem}"
    if isinstance(value, dict):
        items: Iterable[tuple[object, object]] = cast("dict[object, object]", value).items()
    elif isinstance(value, (list, tuple)):
        items = enumerate(cast("list[object]", value))
    elif isinstance(value, float) and not math.isfinite(value):
        return f"{path or '$'}: {value!r} is not a finite number, and JSON has no words for it"
    elif value is None or isinstance(value, (int, float)):  # bool is an int
        return None
    else:
        return f"{path or '$'}: {type(value).__qualname__} {value!r} is not a JSON value"
    if depth > MAX_DEPTH:
        return f"{path or '$'}: {TOO_DEEP}"
    for key, item in items:
        if isinstance(value, dict):
            if not isinstance(key, str):
                return (
                    f"{path or '$'}: key {key!r} ({type(key).__name__}) is not a string, and "
                    "JSON object keys are: it would be read back as a string"
                )
            problem = text_problem(key)
            if problem is not None:
                return f"{path or '$'}: key {key!r} {problem}"
            where = f"{path}.{key}" if path else key
        else:
            where = f"{path}[{key}]"
        problem = json_problem(item, where, depth + 1)
        if problem is not None:
            return problem
    return None


_SCALARS = (str, int, float, bool, type(None), Decimal, UUID, date, enum.Enum)
_ARRAYS = (list, tuple, AbstractSet, typing.Sequence)


def static_bounds(
    annotation: object, seen: frozenset[object] = frozenset()
) -> tuple[int | None, bool]:
    """What evtsrc's own converter can make of a value annotated `annotation`.

    The deepest its JSON can nest (None: no bound, as for `Any` or a recursive
    class) and whether it may hold object keys that are not strings (any mapping
    may, its keys are not checked when it is written). A command's event whose
    values do not fit their annotations is refused before anything is stored: its
    payload is decoded again, unless encoding it checked every value's exact type.
    """
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return 0, False
    if origin in (typing.Union, types.UnionType):
        return _widest(static_bounds(arg, seen) for arg in args)
    if origin is None and isinstance(annotation, type):
        cls: type[object] = annotation
        if issubclass(cls, _SCALARS):
            return 0, False
        if attrs.has(cls) and cls not in seen:
            attrs.resolve_types(cls)
            inner = _widest(static_bounds(f.type, seen | {cls}) for f in attrs.fields(cls))
            return _deeper(inner)
        return None, True
    if isinstance(origin, type) and issubclass(origin, Mapping) and len(args) == 2:
        return _deeper(static_bounds(args[1], seen))[0], True
    if isinstance(origin, type) and issubclass(origin, _ARRAYS):
        items = [arg for arg in args if arg is not Ellipsis]
        if items or origin is tuple:
            return _deeper(_widest(static_bounds(arg, seen) for arg in items))
    return None, True


def _widest(bounds: Iterable[tuple[int | None, bool]]) -> tuple[int | None, bool]:
    depth: int | None = 0
    keys = False
    for found, may_key in bounds:
        depth = None if depth is None or found is None else max(depth, found)
        keys = keys or may_key
    return depth, keys


def _deeper(bounds: tuple[int | None, bool]) -> tuple[int | None, bool]:
    depth, keys = bounds
    return (None if depth is None else depth + 1), keys
