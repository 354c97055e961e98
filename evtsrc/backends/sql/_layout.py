"""The SQL backends' tables, described once: columns, types, keys and indexes.

Each dialect's DDL text (`_ddl`) and the SQLAlchemy tables (`_tables`) are made
from this description, so every SQL backend creates the same schema and reads
the stores the others made.
"""

from __future__ import annotations

import enum

import attrs

from ..names import TableNames


class Kind(enum.Enum):
    """What a column holds; each dialect has its own type for each kind."""

    NAME = enum.auto()
    """A name or id of at most `NAME_LENGTH` characters, compared exactly."""
    INTEGER = enum.auto()
    BIGINT = enum.auto()
    POSITION = enum.auto()
    """The events' primary key: numbered by the database as rows are inserted, except
    on PostgreSQL, where the appending statement computes it (see `pg_positions`)."""
    JSON = enum.auto()
    """A JSON document (JSONB on PostgreSQL)."""
    JSON_TEXT = enum.auto()
    """JSON text the database keeps as written and never parses (TEXT, LONGTEXT on
    MariaDB/MySQL): read back, it is the very text written."""
    TEXT = enum.auto()
    """Text of any length."""
    UUID = enum.auto()
    """A UUID: `uuid` on PostgreSQL (read as text), 36 characters elsewhere."""
    TIMESTAMP = enum.auto()
    """A point in time, in UTC."""


@attrs.frozen
class Column:
    """A column: NOT NULL unless `nullable`, with an SQL `default` if it has one.

    An `added` column came after the tables' first release: `create_schema()` adds it
    to a store made before (so it is nullable or has a default, which older rows take).
    """

    name: str
    kind: Kind
    nullable: bool = False
    default: str | None = None
    added: bool = attrs.field(default=False, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if self.added and not (self.nullable or self.default is not None):
            raise ValueError(f"added column {self.name} needs a value for older rows")


@attrs.frozen
class Key:
    """A named unique constraint or index on `columns`."""

    name: str
    columns: tuple[str, ...]


@attrs.frozen
class Table:
    """A table with its primary key, unique constraints and indexes."""

    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    uniques: tuple[Key, ...] = ()
    indexes: tuple[Key, ...] = ()

    @property
    def added(self) -> tuple[Column, ...]:
        """The columns `create_schema()` adds to a table made before them."""
        return tuple(column for column in self.columns if column.added)


def event_store(names: TableNames) -> tuple[Table, Table, Table, Table, Table, Table]:
    """The tables of one event store: bookmarks, events, members, parked, processed, snapshots.

    In SQLAlchemy's order, by name. `parked` (handlers' parked aggregates), `members`
    (the live members of handler groups) and `processed` (the message keys inboxes
    processed) came after the first release: `create_schema()` creates them in a store
    made before.
    """
    name, integer = Kind.NAME, Kind.INTEGER
    bookmarks = Table(
        names.bookmarks,
        (Column("name", name), Column("position", Kind.BIGINT)),
        primary_key=("name",),
    )
    events = Table(
        names.events,
        (
            Column("position", Kind.POSITION),
            Column("stream", name),
            Column("aggregate_id", name),
            Column("version", integer),
            Column("type", name),
            Column("data", Kind.JSON),
            Column("timestamp", Kind.TIMESTAMP),
            # Since issue 14; at the end, where ALTER TABLE puts them in older stores.
            Column("event_id", Kind.UUID, nullable=True, added=True),
            Column("event_version", integer, default="1", added=True),
            Column("metadata", Kind.JSON_TEXT, nullable=True, added=True),
            # Since handler groups read buckets: `base.bucket_key(aggregate_id)`, which
            # `create_schema()` fills in for the events stored before it (`_buckets`).
            Column("bucket_key", integer, nullable=True, added=True),
        ),
        primary_key=("position",),
        uniques=(Key(names.version_constraint, ("stream", "aggregate_id", "version")),),
        indexes=(Key(names.stream_index, ("stream", "position")),),
    )
    snapshots = Table(
        names.snapshots,
        (
            Column("stream", name),
            Column("aggregate_id", name),
            Column("version", integer),
            Column("key", name),
            Column("state", Kind.JSON),
        ),
        primary_key=("stream", "aggregate_id"),
    )
    parked = Table(
        names.parked,
        (
            Column("name", name),
            Column("stream", name),
            Column("aggregate_id", name),
            Column("version", integer),
            Column("position", Kind.BIGINT),
            Column("error", Kind.TEXT),
            Column("parked_at", Kind.TIMESTAMP),
        ),
        primary_key=("name", "stream", "aggregate_id"),
    )
    members = Table(
        names.members,
        (
            Column("group_name", name),
            Column("member", name),
            Column("expires", Kind.BIGINT),  # ms since the epoch, by the member's clock
        ),
        primary_key=("group_name", "member"),
    )
    processed = Table(
        names.processed,
        (
            Column("inbox", name),
            Column("message_key", name),  # at most NAME_LENGTH: inboxes hash longer ids
            Column("processed_at", Kind.TIMESTAMP),
        ),
        primary_key=("inbox", "message_key"),
    )
    return bookmarks, events, members, parked, processed, snapshots
