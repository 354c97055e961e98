"""`evtsrc schema`: create or upgrade a store's schema, or print what that creates."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import click

from ..backends._support.layouts import mongo_collections, mongo_indexes, neo4j_schema
from ..backends.names import TableNames
from ..backends.sql._ddl import DIALECTS as SQL_DIALECTS
from ..backends.sql._ddl import schema_sql, upgraded_tables
from ..backends.urls import DATABASES, redacted
from ._target import Failed, Opened, Target, run

DIALECTS = ("postgresql", "mariadb", "mysql", "sqlite", "mongodb", "neo4j")
"""What `schema print` prints for: the SQL dialects, MongoDB and Neo4j."""


@click.group()
def schema() -> None:
    """The store's tables, collections or constraints."""


def dialect_of(url: str | None) -> str:
    """The dialect of the store `url` names; `Failed` without one or for a store with no schema."""
    if not url:
        raise Failed("pass --dialect, or the store: --url URL or EVTSRC_URL")
    scheme = urlsplit(url).scheme.lower()
    found = DATABASES.get(scheme)
    if found is None or found == "memory":
        raise Failed(f"the store {redacted(url)} has no schema to print (pass --dialect)")
    return found


def schema_text(names: TableNames, dialect: str) -> str:
    """What `create_schema()` creates for `dialect`, as its statements."""
    if dialect == "mongodb":
        lines = [f"db.createCollection({json.dumps(name)})" for name in mongo_collections(names)]
        for index in mongo_indexes(names):
            keys = ", ".join(f"{json.dumps(key)}: 1" for key in index.keys)
            options = {"name": index.name, **({"unique": True} if index.unique else {})}
            collection = json.dumps(index.collection)
            lines.append(
                f"db.getCollection({collection}).createIndex({{{keys}}}, {json.dumps(options)})"
            )
        return "".join(f"{line};\n" for line in lines)
    if dialect == "neo4j":
        return "".join(f"{statement};\n" for statement in neo4j_schema(names))
    for sql in SQL_DIALECTS:
        if sql == dialect:  # MySQL takes no IF NOT EXISTS for an index
            return schema_sql(names, sql, if_not_exists=sql != "mysql")
    raise Failed(f"no schema for {dialect!r}")


def what_was_done(names: TableNames, dialect: str) -> str:
    """What `create_schema()` did to a store of `dialect`, in a line."""
    if dialect == "mongodb":
        made = "the collections and indexes"
        upgrade = "bucket keys filled in on older event documents"
    elif dialect == "neo4j":
        made = "the constraints and indexes"
        upgrade = "bucket keys filled in on older event nodes"
    else:
        made = "the tables and indexes"
        tables = ", ".join(upgraded_tables(names))
        upgrade = f"columns an older store lacked added (to {tables}), bucket keys filled in"
    return f"created {made} that were missing; upgraded an older layout where found: {upgrade}"


def create(target: Target) -> None:
    """Run `create_schema()` on the store and say what it did."""

    async def created(store: Opened) -> None:
        await store.backend.create_schema()

    url = target.store_url()
    memory = urlsplit(url).scheme.lower() == "memory"
    dialect = "" if memory else dialect_of(url)
    run(target, created)
    names = TableNames(target.prefix) if target.prefix is not None else TableNames()
    if memory:
        click.echo(f"{url}: nothing to create")
        return
    click.echo(f"{redacted(url)} (prefix {names.prefix}): {what_was_done(names, dialect)}")


@schema.command("create")
@click.pass_obj
def create_command(target: Target) -> None:
    """Create what the store lacks, and upgrade a store of an older layout (idempotent)."""
    create(target)


@schema.command()
@click.pass_obj
def upgrade(target: Target) -> None:
    """Upgrade a store of an older layout (the same as `schema create`)."""
    create(target)


@schema.command("print")
@click.option("--dialect", type=click.Choice(DIALECTS), help="Print for this; default: the URL's.")
@click.option("--prefix", metavar="PREFIX", help="The tables' prefix (default: the store's).")
@click.pass_obj
def print_command(target: Target, dialect: str | None, prefix: str | None) -> None:
    """Print what `schema create` creates: SQL DDL, MongoDB commands, or Neo4j Cypher.

    Connects to nothing, and needs no driver.
    """
    chosen = dialect or dialect_of(target.url)
    prefix = prefix if prefix is not None else target.prefix
    names = TableNames(prefix) if prefix is not None else TableNames()
    click.echo(schema_text(names, chosen), nl=False)
