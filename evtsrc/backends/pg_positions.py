"""How both PostgreSQL backends number events, so that either reads what the other wrote.

A position is the writing transaction's id shifted left by `SHIFT` bits, plus the
event's index in its append. A reader sees only positions below `HORIZON`: every
transaction with a lower id has ended, so no lower position can still appear.
"""

from __future__ import annotations

SHIFT = 20
"""At most 2**20 events per append."""

XID = "pg_current_xact_id()::text::bigint"
"""The writing transaction's id, as SQL."""

HORIZON = f"(pg_snapshot_xmin(pg_current_snapshot())::text::bigint << {SHIFT})"
"""The lowest position a still-running transaction could take, as SQL."""


def check_count(count: int) -> None:
    """Refuse an append of more events than one transaction can number."""
    if count >= 1 << SHIFT:
        raise ValueError(f"one append takes fewer than {1 << SHIFT} events")


def positions(xid: int, count: int) -> list[int]:
    """The positions of `count` events appended by transaction `xid`."""
    check_count(count)
    return [(xid << SHIFT) | index for index in range(count)]
