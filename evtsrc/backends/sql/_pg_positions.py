"""How both PostgreSQL backends number and append events, so either reads what the other wrote.

A position is the writing transaction's id shifted left by `SHIFT` bits, plus the
event's index in its append. A reader sees only positions below `HORIZON`: every
transaction with a lower id has ended, so no lower position can still appear.
Both backends append with the one statement `append_sql` makes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from ..._errors import AlreadyProcessed, VersionConflict
from .._support import jsontext
from ..base import NewEvent, Once, bucket_key

SHIFT = 20
"""At most 2**20 events per append."""

XID = "pg_current_xact_id()::text::bigint"
"""The writing transaction's id, as SQL."""

HORIZON = f"(pg_snapshot_xmin(pg_current_snapshot())::text::bigint << {SHIFT})"
"""The lowest position a still-running transaction could take, as SQL."""


def append_sql(events: str, *, notify: bool, processed: str | None = None) -> str:
    """The one-statement append both backends send, on the events table named `events`.

    One round trip checks the version and inserts the events numbered by this
    transaction's id: $1 stream, $2 aggregate id, $3 expected version, then one
    array per column: $4 type names, $5 JSON texts, $6 timestamps, $7 event ids,
    $8 event versions, $9 metadata JSON texts; then $10 the aggregate's bucket key,
    which every event stores. Its one row starts with the first new position, NULL
    when nothing was inserted. With `notify`, it also NOTIFYs the channel (the last
    parameter) with the stream, which makes concurrent appends commit one at a time
    (see `_notify`); without, the caller notifies after the commit.

    With `processed` (the processed-messages table), an append made once for an
    inbox's message ($11 inbox, $12 key): where the version holds, the key is inserted
    first, with `ON CONFLICT DO NOTHING` (which waits for a transaction inserting the
    same key, then does nothing if it committed), and the events only if the key was
    new. The row ends with whether the key was recorded before (`outcome` reads it).
    """
    channel = "$13" if processed else "$11"
    claim, claimed, seen = "", "", ""
    if processed:
        claim = (
            f"claimed AS (INSERT INTO {processed} (inbox, message_key, processed_at) "
            "SELECT $11, $12, now() FROM head WHERE head.version = $3 "
            "ON CONFLICT (inbox, message_key) DO NOTHING RETURNING 1), "
        )
        claimed = "claimed, "
        # Not claimed: the key conflicted where the version held; else the version failed,
        # and the key as last committed decides (it is checked before the version).
        seen = (
            ", NOT EXISTS (SELECT 1 FROM claimed) AND (EXISTS (SELECT 1 FROM head "
            f"WHERE version = $3) OR EXISTS (SELECT 1 FROM {processed} "
            "WHERE inbox = $11 AND message_key = $12))"
        )
    return (
        f"WITH head AS (SELECT coalesce(max(version), 0) AS version FROM {events} "
        f"WHERE stream = $1 AND aggregate_id = $2), {claim}"
        f"inserted AS (INSERT INTO {events} "
        "(position, stream, aggregate_id, version, type, data, timestamp, "
        "event_id, event_version, metadata, bucket_key) "
        f"SELECT ({XID} << {SHIFT}) | (e.n - 1), $1, $2, $3 + e.n, "
        f"e.type, e.data, e.ts, e.id, e.ev, e.meta, $10::int FROM head, {claimed}unnest("
        "$4::varchar[], $5::jsonb[], $6::timestamptz[], $7::uuid[], $8::int[], $9::text[]) "
        "WITH ORDINALITY AS e(type, data, ts, id, ev, meta, n) "
        "WHERE head.version = $3 RETURNING position) "
        "SELECT (SELECT min(position) FROM inserted)"
        + (f", (SELECT pg_notify({channel}, $1) FROM inserted LIMIT 1)::text" if notify else "")
        + seen
    )


def append_arguments(
    stream: str,
    aggregate_id: str,
    expected_version: int,
    events: Sequence[NewEvent],
    metadata: Sequence[str],
    channel: str | None = None,
    once: Once | None = None,
) -> tuple[object, ...]:
    """The arguments of `append_sql` for these events (with `channel` if it notifies).

    `metadata` holds the events' metadata as the JSON texts to store (`jsontext.texts`);
    the bucket key is computed here, once for the whole append. With `once`, the
    statement must have been made with `processed`.
    """
    check_count(len(events))
    arguments: tuple[object, ...] = (
        stream,
        aggregate_id,
        expected_version,
        [e.type for e in events],
        [jsontext.dumps(e.data) for e in events],
        [e.timestamp for e in events],
        [e.event_id for e in events],
        [e.event_version for e in events],
        metadata,
        bucket_key(aggregate_id),
    )
    if once is not None:
        arguments += once
    return arguments if channel is None else (*arguments, channel)


class Row(Protocol):
    """A row as a driver returns it: its columns by index."""

    def __getitem__(self, index: int, /) -> Any: ...


def outcome(
    row: Row, stream: str, aggregate_id: str, expected_version: int, once: Once | None
) -> int:
    """The first new position in `append_sql`'s row, or the error of an append that stored none.

    `AlreadyProcessed` if `once`'s key was recorded before, else `VersionConflict`.
    """
    first: int | None = row[0]
    if first is not None:
        return first
    if once is not None and row[-1]:
        raise AlreadyProcessed(once.inbox, once.key)
    raise VersionConflict(stream, aggregate_id, expected_version)


def check_count(count: int) -> None:
    """Refuse an append of more events than one transaction can number."""
    if count >= 1 << SHIFT:
        raise ValueError(f"one append takes fewer than {1 << SHIFT} events")
