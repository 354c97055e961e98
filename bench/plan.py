"""Which library runs which scenario on which backend, and the servers each backend needs."""

from __future__ import annotations

from dataclasses import dataclass

from bench import evtstore_node
from bench.common import SCENARIOS
from bench.targets import peer_backend

LIBRARIES = ("evtsrc", "eventsourcing", "evtstore", "eventsourcing-dbfn", "raw-asyncpg")
BACKENDS = (
    "memory",
    "sqlite",
    "sqlite-stdlib",
    "postgres",
    "sqlalchemy-postgres",
    "mariadb",
    "mongo",
    "neo4j",
)
"""evtsrc's targets: "sqlite" is SqlAlchemyBackend on aiosqlite, "sqlite-stdlib" the
stdlib SqliteBackend (where evtsrc has it), "sqlalchemy-postgres" SqlAlchemyBackend on
asyncpg, "postgres" PostgresBackend."""
PUSH_BACKENDS = ("postgres", "sqlalchemy-postgres", "mongo")
"""evtsrc backends that wake handlers on append (LISTEN/NOTIFY, change streams): S5."""
SERVER_OF = {
    "postgres": "postgres",
    "sqlalchemy-postgres": "postgres",
    "mariadb": "mariadb",
    "mongo": "mongo",
    "neo4j": "neo4j",
}
"""The database server a backend needs (memory and SQLite need none)."""


@dataclass(frozen=True)
class Job:
    """One measured run: a library's scenario on a backend (repeated `reps` times)."""

    library: str
    backend: str
    scenario: str


def applies(library: str, backend: str, scenario: str) -> bool:
    """Whether `library` runs `scenario` on `backend`."""
    if library == "evtsrc":
        return backend in BACKENDS and (scenario != "S5" or backend in PUSH_BACKENDS)
    if library == "eventsourcing":
        # Its push (ApplicationSubscription) is measured on PostgreSQL only.
        return backend in ("memory", "sqlite", "postgres") and (
            scenario != "S5" or backend == "postgres"
        )
    if library == "evtstore":
        return backend in evtstore_node.BACKENDS and scenario in evtstore_node.SCENARIOS
    if library == "eventsourcing-dbfn":
        # DB functions change the write path: S1 and S4. Not S3: each application creates
        # `es_insert_events_uuid` in the schema, so the follower's replaces the bank's (the
        # bank's events then go to the follower's table) unless each has its own schema.
        return backend == "postgres" and scenario in ("S1", "S4")
    if library == "raw-asyncpg":
        return backend == "postgres" and scenario == "S1"
    return False


def jobs(libraries: list[str], backends: list[str], scenarios: list[str], rep: int) -> list[Job]:
    """The runs of one repetition: by scenario, then backend; libraries alternate first.

    `backends` are evtsrc's; the peers run on the backends those are compared with.
    """
    order = libraries if rep % 2 == 0 else libraries[::-1]
    peer_backends = {peer_backend(b) for b in backends}
    return [
        Job(library, backend, scenario)
        for scenario in SCENARIOS
        if scenario in scenarios
        for backend in BACKENDS
        for library in order
        if backend in (backends if library == "evtsrc" else peer_backends)
        and applies(library, backend, scenario)
    ]
