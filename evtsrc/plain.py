"""Fast decoding of plain events: those whose fields are all JSON scalars.

Loading an aggregate or catching a handler up decodes every stored event, so
decoding is the hot path of reading. For an event class whose fields are all
`str`, `int`, `float` or `bool`, with no validators, converters or init hooks,
the decoder made here checks each value's exact JSON type and fills a new
instance directly. Anything it does not expect (a missing key, a value of
another type) makes it return None, and the general cattrs decoder takes over,
with its defaults and its error messages: the result is always the same.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

PlainDecoder = Callable[[dict[str, Any]], Any]

_SCALARS = {str: "str", int: "int", float: "float", bool: "bool"}


def plain_decoder(cls: type) -> PlainDecoder | None:
    """A fast decoder for `cls` if it is a plain event class, else None."""
    if not _is_plain(cls):
        return None
    lines = ["def decode(data):", "    try:", "        pass"]
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
    lines.append("    return event")
    namespace: dict[str, Any] = {"new": object.__new__, "cls": cls}
    exec(compile("\n".join(lines), f"<evtsrc plain decoder {cls.__qualname__}>", "exec"), namespace)
    decoder: PlainDecoder = namespace["decode"]
    return decoder


def _is_plain(cls: type) -> bool:
    attrs.resolve_types(cls)
    if not getattr(cls, "__dictoffset__", 0):  # slotted: instances have no __dict__
        return False
    if any(hasattr(cls, hook) for hook in ("__attrs_pre_init__", "__attrs_post_init__")):
        return False
    for field in attrs.fields(cls):
        if field.type not in _SCALARS or field.validator is not None:
            return False
        if field.converter is not None or not field.init or field.alias != field.name:
            return False
    return True
