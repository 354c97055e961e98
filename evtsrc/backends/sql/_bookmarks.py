"""The statements of the handlers' and inboxes' tables: bookmarks, parked, members, processed.

A transactional handler's batch moves its bookmark in its own transaction, only
from the position the batch started at (`BatchTransaction.commit_bookmark`):
`move` changes the row if it still holds that position; when it changes none,
`base.check_unmoved` says whether the bookmark was never stored (the caller
inserts it) or raises `BookmarkMoved`. The statement text is written here once, in the
placeholder style of each driver.
"""

from __future__ import annotations

from typing import Literal

import attrs

from ..base import ParkedAggregate

Placeholders = Literal["?", "$"]
"""`?` for sqlite3, `$` for asyncpg (`$1`, `$2`, ...)."""


@attrs.frozen
class BookmarkStatements:
    """The statements on one bookmarks table; each takes its parameters in the order given."""

    read: str
    """The position stored for (name)."""
    store: str
    """Store (name, position), replacing what is stored: SQLite's and PostgreSQL's syntax."""
    move: str
    """Set (position) where (name) is at (expected); it changes one row or none."""
    insert: str
    """Insert (name, position)."""
    every: str
    """(name, position) of every bookmark stored (no parameters)."""


def bookmark_statements(table: str, placeholders: Placeholders) -> BookmarkStatements:
    """The statements on the bookmarks table `table` (an identifier, quoted as needed)."""

    def render(template: str, *parameters: str) -> str:
        return _render(template, table, placeholders, parameters)

    return BookmarkStatements(
        read=render("SELECT position FROM {table} WHERE name = {name}", "name"),
        store=render(
            "INSERT INTO {table} (name, position) VALUES ({name}, {position}) "
            "ON CONFLICT (name) DO UPDATE SET position = excluded.position",
            "name",
            "position",
        ),
        move=render(
            "UPDATE {table} SET position = {position} "
            "WHERE name = {name} AND position = {expected}",
            "position",
            "name",
            "expected",
        ),
        insert=render(
            "INSERT INTO {table} (name, position) VALUES ({name}, {position})", "name", "position"
        ),
        every=render("SELECT name, position FROM {table}"),
    )


@attrs.frozen
class ParkedStatements:
    """The statements on one table of parked aggregates, parameters in the order given."""

    store: str
    """Store (name, stream, aggregate_id, version, position, error, parked_at), replacing."""
    select: str
    """(stream, aggregate_id, version, position, error, parked_at) parked for (name)."""
    delete: str
    """Delete what is parked for (name, stream, aggregate_id)."""


def parked_statements(table: str, placeholders: Placeholders) -> ParkedStatements:
    """The statements on the parked-aggregates table `table` (an identifier, quoted)."""
    fields = ("name", "stream", "aggregate_id", "version", "position", "error", "parked_at")
    return ParkedStatements(
        store=_render(
            "INSERT INTO {table} (name, stream, aggregate_id, version, position, error, "
            "parked_at) VALUES ({name}, {stream}, {aggregate_id}, {version}, {position}, "
            "{error}, {parked_at}) ON CONFLICT (name, stream, aggregate_id) DO UPDATE SET "
            "version = excluded.version, position = excluded.position, "
            "error = excluded.error, parked_at = excluded.parked_at",
            table,
            placeholders,
            fields,
        ),
        select=_render(
            "SELECT stream, aggregate_id, version, position, error, parked_at FROM {table} "
            "WHERE name = {name} ORDER BY position",
            table,
            placeholders,
            ("name",),
        ),
        delete=_render(
            "DELETE FROM {table} WHERE name = {name} AND stream = {stream} "
            "AND aggregate_id = {aggregate_id}",
            table,
            placeholders,
            ("name", "stream", "aggregate_id"),
        ),
    )


@attrs.frozen
class MemberStatements:
    """The statements on one table of handler groups' members, parameters in the order given.

    Expiries are milliseconds since the epoch, by the members' clocks (`expiry_millis`).
    """

    store: str
    """Store (group_name, member, expires), replacing the expiry stored."""
    select: str
    """(member, expires) of the members of (group_name)."""
    expire: str
    """Delete the members of (group_name) whose time ran out before (now)."""
    delete: str
    """Delete the member (group_name, member)."""


def member_statements(table: str, placeholders: Placeholders) -> MemberStatements:
    """The statements on the group-members table `table` (an identifier, quoted)."""
    return MemberStatements(
        store=_render(
            "INSERT INTO {table} (group_name, member, expires) "
            "VALUES ({group_name}, {member}, {expires}) "
            "ON CONFLICT (group_name, member) DO UPDATE SET expires = excluded.expires",
            table,
            placeholders,
            ("group_name", "member", "expires"),
        ),
        select=_render(
            "SELECT member, expires FROM {table} WHERE group_name = {group_name}",
            table,
            placeholders,
            ("group_name",),
        ),
        expire=_render(
            "DELETE FROM {table} WHERE group_name = {group_name} AND expires < {now}",
            table,
            placeholders,
            ("group_name", "now"),
        ),
        delete=_render(
            "DELETE FROM {table} WHERE group_name = {group_name} AND member = {member}",
            table,
            placeholders,
            ("group_name", "member"),
        ),
    )


@attrs.frozen
class ProcessedStatements:
    """The statements on one table of inboxes' processed message keys, parameters in order."""

    read: str
    """A row if (inbox, message_key) is recorded."""
    record: str
    """Record (inbox, message_key, processed_at) unless it is: changes one row, or none if it
    was recorded already (SQLite's and PostgreSQL's syntax)."""


def processed_statements(table: str, placeholders: Placeholders) -> ProcessedStatements:
    """The statements on the processed-messages table `table` (an identifier, quoted)."""
    return ProcessedStatements(
        read=_render(
            "SELECT 1 FROM {table} WHERE inbox = {inbox} AND message_key = {message_key}",
            table,
            placeholders,
            ("inbox", "message_key"),
        ),
        record=_render(
            "INSERT INTO {table} (inbox, message_key, processed_at) "
            "VALUES ({inbox}, {message_key}, {processed_at}) "
            "ON CONFLICT (inbox, message_key) DO NOTHING",
            table,
            placeholders,
            ("inbox", "message_key", "processed_at"),
        ),
    )


def parked_values(parked: ParkedAggregate) -> tuple[object, ...]:
    """The values `store` takes after the handler's name, in its order."""
    return (
        parked.stream,
        parked.aggregate_id,
        parked.version,
        parked.position,
        parked.error,
        parked.parked_at,
    )


def _render(
    template: str, table: str, placeholders: Placeholders, parameters: tuple[str, ...]
) -> str:
    if placeholders == "?":
        marks = dict.fromkeys(parameters, "?")
    else:
        marks = {name: f"${index}" for index, name in enumerate(parameters, start=1)}
    return template.format(table=table, **marks)
