"""The statements of a bookmarks table, and the compare-and-set that moves a bookmark.

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


def bookmark_statements(table: str, placeholders: Placeholders) -> BookmarkStatements:
    """The statements on the bookmarks table `table` (an identifier, quoted as needed)."""

    def render(template: str, *parameters: str) -> str:
        if placeholders == "?":
            marks = dict.fromkeys(parameters, "?")
        else:
            marks = {name: f"${index}" for index, name in enumerate(parameters, start=1)}
        return template.format(table=table, **marks)

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
    )
