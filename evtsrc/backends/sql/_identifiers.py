"""Table, index and constraint names as SQL text."""

from __future__ import annotations

import re

PLAIN = re.compile(r"[a-z_][a-z0-9_$]*")
"""Names every SQL dialect takes unquoted, as the name itself (SQLAlchemy's rule)."""


def quote(name: str, mark: str = '"') -> str:
    """`name` as an identifier: as it is when plain, else between `mark`s (doubled inside).

    Unquoted, a plain name means itself on every dialect evtsrc supports: it is
    lower case, so PostgreSQL's folding leaves it alone. Reserved words must be
    quoted by the caller; evtsrc's table, index and constraint names end in a
    fixed suffix that no dialect reserves.
    """
    if PLAIN.fullmatch(name):
        return name
    return mark + name.replace(mark, mark + mark) + mark
