"""JSON text as the SQL and graph backends store it: compact, UTF-8, read back quickly."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import cast

from ..._jsontypes import JSONObject
from ..base import UndecodablePayload

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

    One parse of all of them, which is twice as fast for small payloads and shares
    their keys. Only for text a server checked to be a single JSON value each (such
    as PostgreSQL's jsonb): joining unchecked fragments could parse as other values.
    A server's JSON can still be more than Python parses (nested deeper than its
    recursion limit): then each text is parsed alone, and those that fail become
    `UndecodablePayload`s.
    """
    if not texts:
        return []
    try:
        found: list[JSONObject | UndecodablePayload] = json.loads("[" + ",".join(texts) + "]")
    except (ValueError, RecursionError):
        found = []
    if len(found) != len(texts):  # a text did not parse, or was not one document
        return [load_payload(text) for text in texts]
    return found
