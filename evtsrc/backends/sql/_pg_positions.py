"""How both PostgreSQL backends number and append events, so either reads what the other wrote.

A position is the writing transaction's id shifted left by `SHIFT` bits, plus the
event's index in its append. A reader sees only positions below `HORIZON`: every
transaction with a lower id has ended, so no lower position can still appear.
Both backends append with the one statement `append_sql` makes.
"""

from __future__ import annotations

from collections.abc import Sequence

from .._support import jsontext
from ..base import NewEvent, bucket_key

SHIFT = 20
"""At most 2**20 events per append."""

XID = "pg_current_xact_id()::text::bigint"
"""The writing transaction's id, as SQL."""

HORIZON = f"(pg_snapshot_xmin(pg_current_snapshot())::text::bigint << {SHIFT})"
"""The lowest position a still-running transaction could take, as SQL."""


def append_sql(events: str, *, notify: bool) -> str:
    """The one-statement append both backends send, on the events table named `events`.

    One round trip checks the version and inserts the events numbered by this
    transaction's id: $1 stream, $2 aggregate id, $3 expected version, then one
    array per column: $4 type names, $5 JSON texts, $6 timestamps, $7 event ids,
    $8 event versions, $9 metadata JSON texts; then $10 the aggregate's bucket key,
    which every event stores. Its one row starts with the first new position, NULL
    when the version check failed. With `notify`, it also NOTIFYs channel $11 with
    the stream, which makes concurrent appends commit one at a time (see `_notify`);
    without, the caller notifies after the commit.
    """
    return (
        f"WITH head AS (SELECT coalesce(max(version), 0) AS version FROM {events} "
        "WHERE stream = $1 AND aggregate_id = $2), "
        f"inserted AS (INSERT INTO {events} "
        "(position, stream, aggregate_id, version, type, data, timestamp, "
        "event_id, event_version, metadata, bucket_key) "
        f"SELECT ({XID} << {SHIFT}) | (e.n - 1), $1, $2, $3 + e.n, "
        "e.type, e.data, e.ts, e.id, e.ev, e.meta, $10::int FROM head, unnest($4::varchar[], "
        "$5::jsonb[], $6::timestamptz[], $7::uuid[], $8::int[], $9::text[]) "
        "WITH ORDINALITY AS e(type, data, ts, id, ev, meta, n) "
        "WHERE head.version = $3 RETURNING position) "
        "SELECT (SELECT min(position) FROM inserted)"
        + (", (SELECT pg_notify($11, $1) FROM inserted LIMIT 1)::text" if notify else "")
    )


def append_arguments(
    stream: str,
    aggregate_id: str,
    expected_version: int,
    events: Sequence[NewEvent],
    metadata: Sequence[str],
    channel: str | None = None,
) -> tuple[object, ...]:
    """The arguments of `append_sql` for these events (with `channel` if it notifies).

    `metadata` holds the events' metadata as the JSON texts to store (`jsontext.texts`);
    the bucket key is computed here, once for the whole append.
    """
    check_count(len(events))
    arguments = (
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
    return arguments if channel is None else (*arguments, channel)


def check_count(count: int) -> None:
    """Refuse an append of more events than one transaction can number."""
    if count >= 1 << SHIFT:
        raise ValueError(f"one append takes fewer than {1 << SHIFT} events")
