"""JSON text as the SQL and graph backends store it: compact, UTF-8, read back quickly.

Parsing and writing go through msgspec, which reads small documents two to four
times as fast as the standard library and writes them over twenty times as fast (see
docs/performance.md). Text msgspec refuses is parsed again by the standard
library, so what is read back, and the error a bad payload is reported with
(`json.JSONDecodeError`, or `RecursionError` for text nested too deep), are the
standard library's.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import cast

import msgspec

from ..._jsontypes import JSONObject
from ..base import UndecodablePayload

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


def dumps(value: object) -> str:
    """Compact JSON text for `value`, non-ASCII characters kept as they are.

    Integers of any size are written in full. Events and states come here checked
    to be JSON (see `evtsrc._codec.as_json`); what msgspec cannot write (a lone
    surrogate) or writes as null (NaN and the infinities) is written by the standard
    library, or refused, as it always was.
    """
    try:
        text = _encode(value)
    except (TypeError, ValueError):  # a lone surrogate, a type msgspec does not write
        return _stdlib_dumps(value)
    if b"null" in text and _decode(text) != value:  # NaN or an infinity became null
        return _stdlib_dumps(value)
    return text.decode()


def texts(objects: Iterable[JSONObject]) -> list[str]:
    """`dumps` of each object, `{}` for an empty one: how the SQL backends store metadata."""
    return [dumps(value) if value else "{}" for value in objects]


def _stdlib_dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def loads(text: str) -> JSONObject:
    """The JSON object in `text`: one document, perhaps with whitespace around it.

    Raises `json.JSONDecodeError` (a ValueError) or `RecursionError` as `json.loads` does.
    """
    try:
        return cast(JSONObject, _decode(text))
    except (ValueError, RecursionError):  # msgspec.DecodeError is a ValueError
        return cast(JSONObject, json.loads(text))  # its value, or its error


def load_payload(text: str) -> JSONObject | UndecodablePayload:
    """The JSON object in `text`, or an `UndecodablePayload` when it cannot be parsed.

    For stored event payloads: a corrupt row must be reported as that event, not
    fail the read of its whole page.
    """
    try:
        return loads(text)
    except (ValueError, RecursionError, TypeError) as error:  # TypeError: not text at all
        return UndecodablePayload(text, error)


def loads_documents(texts: list[str]) -> list[JSONObject | UndecodablePayload]:
    """The JSON objects in `texts`, each one whole document as a database validated it.

    One parse of all of them, which is twice as fast for small payloads. Only for
    text a server checked to be a single JSON value each (such as PostgreSQL's
    jsonb): joining unchecked fragments could parse as other values. A server's
    JSON can still be more than Python parses (nested deeper than its recursion
    limit): then each text is parsed alone, and those that fail become
    `UndecodablePayload`s.
    """
    if not texts:
        return []
    try:
        found: list[JSONObject | UndecodablePayload] = _decode("[" + ",".join(texts) + "]")
    except (ValueError, RecursionError):
        found = []
    if len(found) != len(texts):  # a text did not parse, or was not one document
        return [load_payload(text) for text in texts]
    return found
