"""The JSON-safe value types evtsrc stores."""

from __future__ import annotations

from typing import TypeAlias

JSON: TypeAlias = str | int | float | bool | list["JSON"] | dict[str, "JSON"] | None
"""A value that `json.dumps()` accepts as it is."""

JSONObject: TypeAlias = dict[str, JSON]
"""A JSON object: what an event or a snapshot is stored as."""
