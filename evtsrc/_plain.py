"""Fast encoding and decoding of plain classes: those whose fields are all JSON scalars.

Loading an aggregate or catching a handler up decodes every stored event, and
every command encodes its events and the state it caches, so these are the hot
paths. For an event or aggregate class whose fields are all `str`, `int`,
`float` or `bool`, without validators or converters, the functions made here
check each value's exact type and copy it across (decoding also needs attrs'
own `__init__` and no `__attrs_pre_init__`). Anything they do not expect (a
missing key, a value of another type, a float JSON cannot write, a string some
backend cannot store) makes them return None, and the general cattrs path takes
over, with its defaults and its error messages: the result is always the same.
Encoded payloads share the field names as keys, where a JSON round trip would
make a new key string for every event stored.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import attrs

from ._storable import text_problem

PlainDecoder = Callable[[dict[str, Any]], Any]
RecordDecoder = Callable[[Any], Any]
"""A `PlainDecoder` of a stored record (an `EventRecord`) at one event version."""
PlainEncoder = Callable[[Any], "dict[str, Any] | None"]

_SCALARS = {str: "str", int: "int", float: "float", bool: "bool"}


def plain_decoder(cls: type) -> PlainDecoder | None:
    """A fast decoder for `cls` if it is a plain class, else None.

    It builds the instance as attrs' own `__init__` would: fields, then
    `__attrs_post_init__` if the class has one.
    """
    decoder: PlainDecoder | None = _decoder(cls, ["def decode(data):"])
    return decoder


def record_decoder(cls: type, version: int) -> RecordDecoder | None:
    """`plain_decoder` of a whole stored record, which must be at event version `version`.

    It also returns None for a record at another version (to be upcast, or refused)
    or a payload that is no dict: the checks every read makes, here at their cheapest.
    """
    return _decoder(
        cls,
        [
            "def decode(record):",
            f"    if record.event_version != {version:d}: return None",
            "    data = record.data",
            "    if type(data) is not dict: return None",
        ],
    )


def _decoder(cls: type, head: list[str]) -> Callable[[Any], Any] | None:
    if not _is_plain(cls) or hasattr(cls, "__attrs_pre_init__"):
        return None
    init = getattr(vars(cls).get("__init__"), "__code__", None)  # a hand-written one must run
    if init is None or not init.co_filename.startswith("<attrs generated"):
        return None
    lines = [*head, "    try:", "        pass"]
    for index, field in enumerate(attrs.fields(cls)):
        value = f"v{index}"
        lines.append(f"        {value} = data[{field.name!r}]")
        if field.type is float:
            # JSON has one number type: an integral float may come back as an int.
            lines.append(f"        if type({value}) is int: {value} = float({value})")
        lines.append(f"        if type({value}) is not {_SCALARS[field.type]}: return None")
    lines += [
        "    except KeyError:",
        "        return None",
        "    event = new(cls)",
        "    d = event.__dict__",
    ]
    lines += [f"    d[{field.name!r}] = v{index}" for index, field in enumerate(attrs.fields(cls))]
    if hasattr(cls, "__attrs_post_init__"):
        lines.append("    event.__attrs_post_init__()")
    lines.append("    return event")
    namespace: dict[str, Any] = {"new": object.__new__, "cls": cls}
    exec(compile("\n".join(lines), f"<evtsrc plain decoder {cls.__qualname__}>", "exec"), namespace)
    decoder: Callable[[Any], Any] = namespace["decode"]
    return decoder


def plain_encoder(cls: type) -> PlainEncoder | None:
    """A fast encoder for `cls` if it is a plain class, else None."""
    if not _is_plain(cls):
        return None
    lines = ["def encode(event):", "    d = event.__dict__"]
    for index, field in enumerate(attrs.fields(cls)):
        value = f"v{index}"
        lines.append(f"    {value} = d[{field.name!r}]")
        lines.append(f"    if type({value}) is not {_SCALARS[field.type]}: return None")
        if field.type is float:
            lines.append(f"    if not isfinite({value}): return None")
        if field.type is str:  # only non-ASCII or NUL can be unstorable: the general path says why
            lines.append(
                f"    if (not {value}.isascii() or '\\x00' in {value}) "
                f"and text_problem({value}) is not None: return None"
            )
    items = ", ".join(f"{field.name!r}: v{i}" for i, field in enumerate(attrs.fields(cls)))
    lines.append(f"    return {{{items}}}")
    namespace: dict[str, Any] = {"isfinite": math.isfinite, "text_problem": text_problem}
    exec(compile("\n".join(lines), f"<evtsrc plain encoder {cls.__qualname__}>", "exec"), namespace)
    encoder: PlainEncoder = namespace["encode"]
    return encoder


def _is_plain(cls: type) -> bool:
    attrs.resolve_types(cls)
    if not getattr(cls, "__dictoffset__", 0):  # slotted: instances have no __dict__
        return False
    for field in attrs.fields(cls):
        if field.type not in _SCALARS or field.validator is not None:
            return False
        if field.converter is not None or not field.init or field.alias != field.name:
            return False
    return True
