"""Writing stored payloads past the library, to see how reads deal with corrupt rows.

The one place that knows how each of evtsrc's backends keeps its rows: the contract's
`overwrite_payload` for them. Tests append an event through the backend, then overwrite
its payload here with raw SQL, a raw Mongo update, raw Cypher or the in-memory
backend's internals.
"""

from __future__ import annotations

import msgspec

from evtsrc.backends import Backend, InMemoryBackend, SqliteBackend
from evtsrc.testing.backend_contract import as_value


async def plant_raw_payload(
    backend: Backend, stream: str, aggregate_id: str, version: int, text: str
) -> None:
    """Overwrite the stored payload of one event with `text`, exactly as given.

    Backends that store JSON text get `text`; the in-memory backend and MongoDB,
    which store values, get the value `text` stands for, or the string itself
    when it is not JSON.
    """
    if isinstance(backend, InMemoryBackend):
        _plant_in_memory(backend, stream, aggregate_id, version, as_value(text))
    elif isinstance(backend, SqliteBackend):
        import sqlite3

        with sqlite3.connect(backend.path) as connection:
            changed = connection.execute(
                f'UPDATE "{backend.names.events}" SET data = ? '
                "WHERE stream = ? AND aggregate_id = ? AND version = ?",
                (text, stream, aggregate_id, version),
            ).rowcount
        connection.close()
        assert changed == 1
    else:
        await _plant_by_driver(backend, stream, aggregate_id, version, text)


def _plant_in_memory(
    backend: InMemoryBackend, stream: str, aggregate_id: str, version: int, value: object
) -> None:
    history = backend._by_aggregate[(stream, aggregate_id)]
    old = history[version - 1]
    new = msgspec.structs.replace(old, data=value)
    history[version - 1] = new
    in_stream = backend._by_stream[stream]
    in_stream[in_stream.index(old)] = new


async def _plant_by_driver(
    backend: Backend, stream: str, aggregate_id: str, version: int, text: str
) -> None:
    kind = type(backend).__name__
    where = {"stream": stream, "aggregate_id": aggregate_id, "version": version}
    if kind == "SqlAlchemyBackend":
        import sqlalchemy as sa

        from evtsrc.backends.sqlalchemy import SqlAlchemyBackend

        assert isinstance(backend, SqlAlchemyBackend)
        table = backend.engine.dialect.identifier_preparer.format_table(backend.tables.events)
        value = "CAST(:data AS jsonb)" if backend.dialect == "postgresql" else ":data"
        async with backend.engine.begin() as connection:
            result = await connection.execute(
                sa.text(
                    f"UPDATE {table} SET data = {value} "
                    "WHERE stream = :stream AND aggregate_id = :aggregate_id AND version = :version"
                ),
                {**where, "data": text},
            )
        assert result.rowcount == 1
    elif kind == "PostgresBackend":
        from evtsrc.backends.postgres import PostgresBackend

        assert isinstance(backend, PostgresBackend)
        async with backend.pool.acquire() as connection:
            status = await connection.execute(
                f'UPDATE "{backend.names.events}" SET data = $1::jsonb '
                "WHERE stream = $2 AND aggregate_id = $3 AND version = $4",
                text,
                stream,
                aggregate_id,
                version,
            )
        assert status == "UPDATE 1"
    elif kind == "MongoBackend":
        from evtsrc.backends.mongo import MongoBackend

        assert isinstance(backend, MongoBackend)
        result = await backend.events.update_one(where, {"$set": {"data": as_value(text)}})
        assert result.modified_count == 1
    elif kind == "Neo4jBackend":
        from evtsrc.backends.neo4j import Neo4jBackend

        assert isinstance(backend, Neo4jBackend)
        records, _, _ = await backend.driver.execute_query(
            f"MATCH (e:`{backend.names.events}` {{stream: $stream, "
            "aggregate_id: $aggregate_id, version: $version}) SET e.data = $data RETURN e",
            {**where, "data": text},
            database_=backend.database,
        )
        assert len(records) == 1
    else:
        raise NotImplementedError(f"no raw access to {kind} in tests/conformance/raw.py")
