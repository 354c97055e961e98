"""Events and snapshots as MongoDB documents.

An event document holds the fields of its `EventRecord`: `data` and `metadata` are
subdocuments, `event_id` a string and `event_version` an integer. Documents written
before stores kept ids and metadata lack those three; they read back as None, 1 and None.
It also holds its aggregate's `bucket_key` (`base.bucket_key`), which bucket reads
filter on; `create_schema()` adds it to the documents written before it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from ..._jsontypes import JSONObject
from ..base import EventRecord

Document = dict[str, Any]
"""A MongoDB document as pymongo reads and writes it."""


def snapshot_id(stream: str, aggregate_id: str) -> str:
    # Stream names cannot contain "/", so the first "/" ends the stream.
    return f"{stream}/{aggregate_id}"


def millis(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def document(record: EventRecord, bucket_key: int) -> Document:
    stored = msgspec.structs.asdict(record)  # every field: ids, versions and metadata too
    stored["bucket_key"] = bucket_key
    return stored


def record(document: Document) -> EventRecord:
    data: JSONObject = document["data"]
    return EventRecord(
        document["stream"],
        document["aggregate_id"],
        int(document["version"]),
        int(document["position"]),
        document["timestamp"],
        document["type"],
        data,
        document.get("event_id"),
        document.get("event_version", 1),
        document.get("metadata"),
    )
