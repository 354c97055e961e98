"""The SQL text `SqliteBackend` runs on one event store, built once."""

from __future__ import annotations

from ..names import TableNames
from ..sql._bookmarks import (
    bookmark_statements,
    member_statements,
    parked_statements,
    processed_statements,
)
from ..sql._buckets import fill_statements
from ..sql._ddl import create_statements, schema_sql, upgraded_tables
from ..sql._identifiers import quote
from ..sql._listing import listing_statements


class SqliteStatements:
    """The statements of one event store; those for several streams are built once per count."""

    def __init__(self, names: TableNames) -> None:
        events, snapshots, bookmarks = (
            quote(names.events),
            quote(names.snapshots),
            quote(names.bookmarks),
        )
        self.events, self.snapshots, self.bookmarks = events, snapshots, bookmarks
        self.ddl = schema_sql(names, "sqlite")
        """The tables' DDL, as `SqlAlchemyBackend.schema_sql()` prints it for SQLite."""
        self.create = create_statements(names, "sqlite", if_not_exists=True)
        self.upgraded = upgraded_tables(names)
        """The tables `create_schema()` may have to add columns to."""
        self.columns = "SELECT name FROM pragma_table_info(?)"
        """The names of a table's columns."""
        self.fill = fill_statements(names.events, "sqlite", "?")
        """What fills in the bucket keys of events stored before the store had them."""
        # Each table apart: what SQLAlchemy's drop_all runs.
        parked, members, processed = (
            quote(names.parked),
            quote(names.members),
            quote(names.processed),
        )
        self.drop = tuple(
            f"DROP TABLE IF EXISTS {table}"
            for table in (bookmarks, events, snapshots, parked, members, processed)
        )
        self.parked = parked_statements(parked, "?")
        self.members = member_statements(members, "?")
        self.processed = processed_statements(processed, "?")
        self.version = f"SELECT max(version) FROM {events} WHERE stream = ? AND aggregate_id = ?"
        self.insert = (
            f"INSERT INTO {events} (stream, aggregate_id, version, type, data, timestamp, "
            "event_id, event_version, metadata, bucket_key) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )
        # Each read ends (data, json_valid(data)), which `payloads` reads.
        self.read_aggregate = (
            "SELECT position, version, timestamp, type, event_id, event_version, metadata, "
            f"data, json_valid(data) FROM {events} "
            "WHERE stream = ? AND aggregate_id = ? AND version > ? ORDER BY version LIMIT ?"
        )
        self.read_aggregate_bare = (
            "SELECT position, version, type, event_version, data, json_valid(data) "
            f"FROM {events} "
            "WHERE stream = ? AND aggregate_id = ? AND version > ? ORDER BY version LIMIT ?"
        )
        """`read_aggregate` without the columns only `EventMeta` reads."""
        self._read_streams: dict[tuple[int, bool, bool], str] = {}
        self._last_position: dict[int, str] = {}
        self.get_snapshot = (
            f'SELECT version, "key", state FROM {snapshots} WHERE stream = ? AND aggregate_id = ?'
        )
        self.put_snapshot = (
            f'INSERT INTO {snapshots} (stream, aggregate_id, version, "key", state) '
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (stream, aggregate_id) DO UPDATE SET "
            'version = excluded.version, "key" = excluded."key", state = excluded.state '
            f'WHERE {snapshots}."key" != excluded."key" OR {snapshots}.version <= excluded.version'
        )
        self.bookmark = bookmark_statements(bookmarks, "?")
        self.listing = listing_statements(names, "sqlite", "?")
        """What lists the streams and a stream's aggregates (SQLite compares by code point)."""

    def read_streams(self, count: int, metadata: bool, bucket: bool = False) -> str:
        """Each stream's page read in its index order, then merged.

        Parameters: stream, after and limit per stream, then the limit. With
        `stream IN (...)` SQLite would sort every later event of the streams.
        Without `metadata`, the event ids and metadata are left out.

        With `bucket`, a stream's parameters are stream, after, bucket count, bucket
        index and limit, and each row starts with the stored bucket key: the stream's
        index is read as without, and the bucket filtered there, keeping the events
        without a key (see `_support.buckets`).
        """
        found = self._read_streams.get((count, metadata, bucket))
        if found is None:
            extra = "event_id, event_version, metadata" if metadata else "event_version"
            key, condition = (
                ("bucket_key, ", " AND (bucket_key % ? = ? OR bucket_key IS NULL)")
                if bucket
                else ("", "")
            )
            one = (
                f"SELECT {key}position, stream, aggregate_id, version, timestamp, type, "
                f"{extra}, data, json_valid(data) FROM {self.events} "
                f"WHERE stream = ? AND position > ?{condition} ORDER BY position LIMIT ?"
            )
            found = self._read_streams[count, metadata, bucket] = (
                one
                if count == 1
                else " UNION ALL ".join([f"SELECT * FROM ({one})"] * count)
                + " ORDER BY position LIMIT ?"
            )
        return found

    def last_position(self, count: int) -> str:
        """The highest position of `count` streams, each looked up at its index end."""
        found = self._last_position.get(count)
        if found is None:
            one = f"SELECT max(position) AS top FROM {self.events} WHERE stream = ?"
            found = self._last_position[count] = (
                f"SELECT max(top) FROM ({' UNION ALL '.join([one] * count)})"
            )
        return found
