"""Which library runs which scenario on which backend, and the servers each backend needs."""

from __future__ import annotations

from dataclasses import dataclass

from bench import evtstore_node
from bench.common import SCENARIOS
from bench.targets import peer_backend

EVTSRC = ("evtsrc", "evtsrc-nocache")
"""evtsrc as it is by default, and with no aggregate cache (`cache_size=0`)."""
PEERS = (
    "eventsourcing",
    "eventsourcing-cache",
    "evtstore",
    "eventsourcing-dbfn",
    "raw-asyncpg",
    "raw-asyncpg-read",
)
"""What evtsrc is compared with: the peer libraries and the driver alone."""
LIBRARIES = (*EVTSRC, *PEERS)
BACKENDS = (
    "memory",
    "sqlite",
    "sqlite-stdlib",
    "sqlite-stdlib-full",
    "postgres",
    "sqlalchemy-postgres",
    "mariadb",
    "mongo",
    "neo4j",
)
"""evtsrc's targets: "sqlite" is SqlAlchemyBackend on aiosqlite, "sqlite-stdlib" the
stdlib SqliteBackend (where evtsrc has it), "sqlite-stdlib-full" the same at
`synchronous="FULL"`, "sqlalchemy-postgres" SqlAlchemyBackend on asyncpg, "postgres"
PostgresBackend."""
PUSH_BACKENDS = ("postgres", "sqlalchemy-postgres", "mongo")
"""evtsrc backends that wake handlers on append (LISTEN/NOTIFY, change streams): S5."""
GROWTH = ("S2grow", "S3grow")
GROWTH_BACKENDS = ("sqlite-stdlib", "postgres")
"""evtsrc backends that run the growth scenarios (the peers run on theirs)."""
WRITES = ("S1", "S3", "S4")
"""Scenarios that commit on every command or batch: run at `synchronous="FULL"` too."""
CACHE_VARIANT_BACKENDS = ("postgres", "sqlite-stdlib")
"""Where evtsrc also runs with no aggregate cache (S1 and S4)."""
GROUP_BACKENDS = ("postgres", "sqlite-stdlib")
"""Where evtsrc runs S6: handler groups of worker processes sharing one store."""
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
    if scenario == "S6":  # evtsrc's own: handler groups have no peer here
        return library == "evtsrc" and backend in GROUP_BACKENDS
    if library == "evtsrc":
        if scenario in GROWTH:
            return backend in GROWTH_BACKENDS
        if backend == "sqlite-stdlib-full":
            return scenario in WRITES
        return backend in BACKENDS and (scenario != "S5" or backend in PUSH_BACKENDS)
    if library == "evtsrc-nocache":
        return backend in CACHE_VARIANT_BACKENDS and scenario in ("S1", "S4")
    if library == "eventsourcing":
        if scenario in GROWTH:
            return backend in ("sqlite", "postgres")
        # Its push (ApplicationSubscription) is measured on PostgreSQL only.
        return backend in ("memory", "sqlite", "postgres") and (
            scenario != "S5" or backend == "postgres"
        )
    if library == "evtstore":
        return backend in evtstore_node.BACKENDS and scenario in evtstore_node.SCENARIOS
    if library == "eventsourcing-cache":
        # Its aggregate cache (off by default) against evtsrc's (on by default).
        return backend in ("sqlite", "postgres") and scenario in ("S1", "S4")
    if library == "eventsourcing-dbfn":
        # DB functions change the write path: S1 and S4. Not S3: each application creates
        # `es_insert_events_uuid` in the schema, so the follower's replaces the bank's (the
        # bank's events then go to the follower's table) unless each has its own schema.
        return backend == "postgres" and scenario in ("S1", "S4")
    if library in ("raw-asyncpg", "raw-asyncpg-read"):
        return backend == "postgres" and scenario == "S1"
    return False


def jobs(libraries: list[str], backends: list[str], scenarios: list[str], rep: int) -> list[Job]:
    """The runs of one repetition: by scenario, then backend; libraries alternate first.

    `backends` are evtsrc's; the peers run on the backends those are compared with.
    """
    order = libraries if rep % 2 == 0 else libraries[::-1]
    return [
        Job(library, backend, scenario)
        for scenario in SCENARIOS
        if scenario in scenarios
        for backend in BACKENDS
        for library in order
        if backend in (backends if library in EVTSRC else _peer_backends(backends, scenario))
        and applies(library, backend, scenario)
    ]


def _peer_backends(backends: list[str], scenario: str) -> set[str]:
    """The peers' backends for a scenario: those the chosen evtsrc backends compare with."""
    chosen = [b for b in backends if scenario not in GROWTH or b in GROWTH_BACKENDS]
    return {peer_backend(b) for b in chosen}
