"""How `SqliteBackend` writes and reads values: timestamps as SQLAlchemy does, JSON payloads."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..._jsontypes import JSONObject
from .._support import jsontext
from ..base import UndecodablePayload


def timestamp_out(value: datetime) -> str:
    """A UTC timestamp as SQLAlchemy stores a DateTime on SQLite."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def timestamp_in(text: str) -> datetime:
    """A stored timestamp as a UTC datetime (text without an offset means UTC)."""
    try:  # cheaper than .replace(tzinfo=UTC)
        return datetime.fromisoformat(text + "+00:00")
    except ValueError:
        pass
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def payloads(rows: list[Any]) -> list[JSONObject | UndecodablePayload]:
    """The JSON payloads of rows ending (data, json_valid(data)).

    When SQLite vouches that every text is one JSON value, they are parsed in one go
    (faster, and sharing keys); otherwise each alone, so that a bad one becomes an
    `UndecodablePayload` of its own.
    """
    texts: list[str] = [row[-2] for row in rows]
    if all(row[-1] for row in rows):
        return jsontext.loads_documents(texts)
    return [jsontext.load_payload(text) for text in texts]
