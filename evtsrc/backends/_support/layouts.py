"""What `create_schema()` makes on MongoDB and on Neo4j, as data, without their drivers.

The backends create their schema from these, and `evtsrc schema print` prints them, so
that what is printed is what is created.
"""

from __future__ import annotations

import attrs

from ..names import TableNames


@attrs.frozen
class MongoIndex:
    """An index of a MongoDB collection, ascending on each of `keys`."""

    collection: str
    keys: tuple[str, ...]
    name: str
    unique: bool = False


def mongo_collections(names: TableNames) -> tuple[str, ...]:
    """The collections `MongoBackend.create_schema()` creates, by the store's `names`."""
    return (
        names.events,
        names.snapshots,
        names.bookmarks,
        f"{names.prefix}counters",
        f"{names.prefix}leases",
        names.parked,
        names.members,
        names.processed,
    )


def mongo_indexes(names: TableNames) -> tuple[MongoIndex, ...]:
    """The indexes `MongoBackend.create_schema()` creates."""
    events = names.events
    return (
        MongoIndex(events, ("stream", "aggregate_id", "version"), names.version_constraint, True),
        MongoIndex(events, ("position",), f"{events}_position_uq", unique=True),
        MongoIndex(events, ("stream", "position"), names.stream_index),
        MongoIndex(names.parked, ("handler", "position"), f"{names.parked}_handler_ix"),
        MongoIndex(names.members, ("group", "expires"), f"{names.members}_group_ix"),
        MongoIndex(names.processed, ("inbox", "key"), f"{names.processed}_uq", unique=True),
    )


def cypher_name(name: str) -> str:
    """`name` as a Cypher label or schema name: in backquotes, each backquote doubled."""
    return "`" + name.replace("`", "``") + "`"


def neo4j_labels(names: TableNames) -> tuple[str, ...]:
    """The node labels of the store `names` (unquoted)."""
    return (
        names.events,
        names.snapshots,
        names.bookmarks,
        f"{names.prefix}counter",
        f"{names.prefix}lease",
        names.parked,
        names.members,
        names.processed,
    )


def neo4j_schema(names: TableNames) -> tuple[str, ...]:
    """The statements `Neo4jBackend.create_schema()` runs: each leaves what exists."""
    n = names
    event, snapshot, bookmark, counter, lease, parked, member, processed = map(
        cypher_name, neo4j_labels(names)
    )

    def constraint(name: str, label: str, variable: str, unique: str) -> str:
        return (
            f"CREATE CONSTRAINT {cypher_name(name)} IF NOT EXISTS "
            f"FOR ({variable}:{label}) REQUIRE {unique} IS UNIQUE"
        )

    def index(name: str, label: str, variable: str, on: str) -> str:
        return f"CREATE INDEX {cypher_name(name)} IF NOT EXISTS FOR ({variable}:{label}) ON {on}"

    return (
        constraint(n.version_constraint, event, "e", "(e.stream, e.aggregate_id, e.version)"),
        constraint(f"{n.events}_position_uq", event, "e", "e.position"),
        index(n.stream_index, event, "e", "(e.stream, e.position)"),
        constraint(f"{n.snapshots}_uq", snapshot, "s", "(s.stream, s.aggregate_id)"),
        constraint(f"{n.bookmarks}_uq", bookmark, "b", "b.name"),
        constraint(f"{n.prefix}counter_uq", counter, "c", "c.name"),
        constraint(f"{n.prefix}lease_uq", lease, "l", "l.name"),
        constraint(f"{n.parked}_uq", parked, "p", "p.key"),
        index(f"{n.parked}_handler_ix", parked, "p", "(p.handler)"),
        constraint(f"{n.members}_uq", member, "m", "m.key"),
        index(f"{n.members}_group_ix", member, "m", "(m.group)"),
        # Composite, like the events' version constraint: a node property uniqueness
        # constraint, which Community has on 4.4 and 5 whatever its number of
        # properties (only node key and existence constraints are Enterprise's). So
        # the pair is stored as given, not as one encoded text.
        constraint(f"{n.processed}_uq", processed, "p", "(p.inbox, p.key)"),
    )
