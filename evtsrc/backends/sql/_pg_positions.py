"""How both PostgreSQL backends number and append events, so either reads what the other wrote.

A position is the writing transaction's id shifted left by `SHIFT` bits, plus the
event's index in its append. A reader sees only positions below `HORIZON`: every
transaction with a lower id has ended, so no lower position can still appear.
Both backends append with the one statement `append_sql` makes.
"""

from __future__ import annotations

from collections.abc import Sequence

from .._support import jsontext
from ..base import NewEvent

SHIFT = 20
"""At most 2**20 events per append."""

XID = "pg_current_xact_id()::text::bigint"
"""The writing transaction's id, as SQL."""

HORIZON = f"(pg_snapshot_xmin(pg_current_snapshot())::text::bigint << {SHIFT})"
"""The lowest position a still-running transaction could take, as SQL."""


def append_sql(events: str, *, notify: bool) -> str:
    """The one-statement append both backends send, on the events table named `events`.

    One round trip checks the version and inserts the events numbered by this
    transaction's id: $1 stream, $2 aggregate id, $3 expected version, $4 type
    names, $5 JSON texts, $6 timestamps. Its one row starts with the first new
    position, NULL when the version check failed. With `notify`, it also NOTIFYs
    channel $7 with the stream, which makes concurrent appends commit one at a
    time (see `_notify`); without, the caller notifies after the commit.
    """
    return (
        f"WITH head AS (SELECT coalesce(max(version), 0) AS version FROM {events} "
        "WHERE stream = $1 AND aggregate_id = $2), "
        f"inserted AS (INSERT INTO {events} "
        "(position, stream, aggregate_id, version, type, data, timestamp) "
        f"SELECT ({XID} << {SHIFT}) | (e.n - 1), $1, $2, $3 + e.n, "
        "e.type, e.data, e.ts FROM head, unnest($4::varchar[], $5::jsonb[], "
        "$6::timestamptz[]) WITH ORDINALITY AS e(type, data, ts, n) "
        "WHERE head.version = $3 RETURNING position) "
        "SELECT (SELECT min(position) FROM inserted)"
        + (", (SELECT pg_notify($7, $1) FROM inserted LIMIT 1)::text" if notify else "")
    )


def append_arguments(
    stream: str,
    aggregate_id: str,
    expected_version: int,
    events: Sequence[NewEvent],
    channel: str | None = None,
) -> tuple[object, ...]:
    """The arguments of `append_sql` for these events (with `channel` if it notifies)."""
    check_count(len(events))
    arguments = (
        stream,
        aggregate_id,
        expected_version,
        [e.type for e in events],
        [jsontext.dumps(e.data) for e in events],
        [e.timestamp for e in events],
    )
    return arguments if channel is None else (*arguments, channel)


def check_count(count: int) -> None:
    """Refuse an append of more events than one transaction can number."""
    if count >= 1 << SHIFT:
        raise ValueError(f"one append takes fewer than {1 << SHIFT} events")
