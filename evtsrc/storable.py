"""What every backend can store: the checks shared by ids, names, payloads and state.

Each backend refuses something the others take (PostgreSQL the NUL character,
MariaDB deep nesting, every UTF-8 driver lone surrogates), each with its own
error and some only after sending. evtsrc refuses all of it everywhere, before
anything is sent, so that the same input gets the same error on every backend.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

MAX_DEPTH = 31
"""How deeply a stored payload or state may nest objects and arrays, counting its own object.

It is the most MariaDB stores (it refuses 32 levels); the other databases take more.
"""

TOO_DEEP = (
    f"objects and arrays nest more than {MAX_DEPTH} levels deep (counting the stored "
    "object), which MariaDB cannot store"
)


def text_problem(text: str) -> str | None:
    """What keeps `text` from being stored by every backend, or None.

    The NUL character, which PostgreSQL cannot store, and lone surrogates, which
    have no UTF-8 encoding.
    """
    if "\x00" in text:
        return "contains the NUL character (\\u0000), which PostgreSQL cannot store"
    if not text.isascii():
        try:
            text.encode()  # several times faster than a regular expression search
        except UnicodeEncodeError as error:  # only a surrogate fails
            found = text[error.start]
            return f"contains the lone surrogate {found!r}, which has no UTF-8 encoding"
    return None


def json_problem(value: object, path: str = "", depth: int = 1) -> str | None:
    """What keeps `value` (an object `depth` levels down, at `path`) from storing everywhere.

    Strings and keys that `text_problem` refuses, keys that are not strings (JSON
    would turn 1 into "1", so what is read back would differ), and more than
    `MAX_DEPTH` levels of objects and arrays. None when every backend stores it.
    """
    if isinstance(value, str):
        problem = text_problem(value)
        return None if problem is None else f"{path or '$'}: {problem}"
    if isinstance(value, dict):
        items: Iterable[tuple[object, object]] = cast("dict[object, object]", value).items()
    elif isinstance(value, (list, tuple)):
        items = enumerate(cast("list[object]", value))
    else:
        return None
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
