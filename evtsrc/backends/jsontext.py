"""JSON text as the SQL and graph backends store it: compact, UTF-8, read back quickly."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import cast

from ..jsontypes import JSONObject

# The C scanner a decoder makes for itself (typeshed does not describe the attribute).
_scan: Callable[[str, int], tuple[object, int]] = vars(json.JSONDecoder())["scan_once"]


def dumps(value: object) -> str:
    """Compact JSON text for `value`, non-ASCII characters kept as they are."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def loads(text: str) -> JSONObject:
    """The JSON object in `text`.

    Stored payloads are read by the thousand, and for small documents most of
    `json.loads` is its checks around the scanner: this calls the scanner directly
    and lets `json.loads` handle (and report) anything but one bare document.
    """
    try:
        value, end = _scan(text, 0)
    except StopIteration:
        value, end = None, -1
    if end != len(text):
        value = json.loads(text)
    return cast(JSONObject, value)


def loads_documents(texts: list[str]) -> list[JSONObject]:
    """The JSON objects in `texts`, each one whole document as a database validated it.

    One parse of all of them, which is twice as fast for small payloads and shares
    their keys. Only for text a server checked to be a single JSON value each (such
    as PostgreSQL's jsonb): joining unchecked fragments could parse as other values.
    """
    if not texts:
        return []
    found: list[JSONObject] = json.loads("[" + ",".join(texts) + "]")
    if len(found) != len(texts):  # cannot happen for validated documents; be sure
        return [loads(text) for text in texts]
    return found
