"""Stored payloads that are not what a backend writes, for the undecodable-payload tests."""

from __future__ import annotations

import json

NOT_JSON = '{"version": 1'
"""Payload text that is not JSON at all."""
BAD_ESCAPE = '{"version": "\\x41"}'
"""Not JSON (no such escape), though MariaDB's JSON check lets it pass."""
DEEP = "[" * 3000 + "]" * 3000
"""JSON nested deeper than Python's parser goes (SQLite and PostgreSQL accept it)."""
NOT_AN_OBJECT = "[1]"
"""Payload text that is JSON, but not the object every event payload is."""
UNDECODABLE = (NOT_JSON, BAD_ESCAPE, DEEP)
"""The payloads Python cannot parse, worst first."""


def as_value(payload: str) -> object:
    """The value `payload` stands for, or `payload` itself when it is not JSON.

    For a backend that stores payloads as values (documents) rather than JSON text.
    """
    try:
        return json.loads(payload)
    except ValueError:
        return payload
