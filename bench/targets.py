"""The targets of issues 5 and 13, and which measured rows each applies to.

Ratios compare an evtsrc backend with each peer on the same database where the peer has
one (memory, SQLite, PostgreSQL); evtsrc's other server backends are compared with the
peers' PostgreSQL rows, and say so.
"""

from __future__ import annotations

POSTGRES = ("postgres", "sqlalchemy-postgres")
SQLITE = ("sqlite", "sqlite-stdlib")
SAME_DATABASE = {"memory": "memory", "postgres": "postgres", "sqlalchemy-postgres": "postgres"}
SAME_DATABASE.update(dict.fromkeys((*SQLITE, "sqlite-stdlib-full"), "sqlite"))

RATIO_MINIMUM: dict[tuple[str, str, str], float] = {
    # (scenario, evtsrc backend, peer library): evtsrc rate / peer rate at least
    ("S1", "memory", "eventsourcing"): 5,
    **{("S1", b, "eventsourcing"): 2 for b in SQLITE},
    **{("S1", b, "eventsourcing"): 4 for b in POSTGRES},
    **{("S1", b, "eventsourcing-dbfn"): 2 for b in POSTGRES},
    ("S1", "postgres", "raw-asyncpg"): 0.9,
    # At eventsourcing's synchronous=FULL (issue 13).
    ("S1", "sqlite-stdlib-full", "eventsourcing"): 1.5,
    ("S2", "memory", "eventsourcing"): 20,
    # Issue 13 raised S2 to 10x everywhere (issue 5 asked 8x on SQLite and PostgreSQL).
    **{("S2", b, "eventsourcing"): 10 for b in (*SQLITE, *POSTGRES)},
    ("S3", "memory", "eventsourcing"): 5,
    **{("S3", b, "eventsourcing"): 20 for b in SQLITE},
    **{("S3", b, "eventsourcing"): 50 for b in POSTGRES},
    # S4 names PostgreSQL, MariaDB and MongoDB; the peer has only PostgreSQL.
    **{("S4", b, "eventsourcing"): 5 for b in (*POSTGRES, "mariadb", "mongo")},
    **{("S4", b, "eventsourcing-dbfn"): 3 for b in (*POSTGRES, "mariadb", "mongo")},
    # Issue 13: the TypeScript evtstore on Node.
    ("S2", "memory", "evtstore"): 0.6,
    **{("S2", b, "evtstore"): 1.0 for b in (*SQLITE, *POSTGRES)},
    ("S3", "memory", "evtstore"): 0.8,
    **{("S1", b, "evtstore"): 1.5 for b in POSTGRES},
    **{("S4", b, "evtstore"): 1.5 for b in POSTGRES},
}
VARIANT_RATIO_MINIMUM: dict[tuple[str, str, str, str], float] = {
    # (scenario, evtsrc library, evtsrc backend, peer library): where a variant is involved.
    # evtsrc with no aggregate cache, so a command reads (issue 13):
    ("S1", "evtsrc-nocache", "postgres", "raw-asyncpg"): 0.9,  # two round trips against one
    ("S1", "evtsrc-nocache", "postgres", "raw-asyncpg-read"): 0.9,  # the same two, bare
    ("S1", "evtsrc-nocache", "postgres", "evtstore"): 1.5,
    # S4 like for like: both libraries reading on every command, or both caching.
    ("S4", "evtsrc-nocache", "postgres", "eventsourcing"): 5,
    ("S4", "evtsrc", "postgres", "eventsourcing-cache"): 5,
}
CACHING_PEERS = ("eventsourcing-cache",)
"""Peers with an aggregate cache: compared with evtsrc's default (cached) rows only."""
READING_PEERS = ("raw-asyncpg-read",)
"""Peers that read on every command: compared with evtsrc's uncached rows only."""
S4_OVER_S1_BACKENDS = (*POSTGRES, "mariadb", "mongo")
"""Where evtsrc's S4 must be at least twice its S1 (concurrent writers not serialised)."""
S4_OVER_S1_MINIMUM = 2.0
SNAPSHOT_LOAD_MAXIMUM = 2.0
"""S2snap: the largest aggregate's load time over the smallest's, at most."""
GROUP_WORKERS_MINIMUM = 3.0
"""S6 on PostgreSQL: 4 worker processes of a handler group over 1, in events/s, at least."""
GROUP_CONCURRENCY_MINIMUM = 5.0
"""S6: one process handling buckets at once over one unpartitioned runner, at least."""
PUSH_P99_MAXIMUM_MS = 20.0
PUSH_P99_BACKENDS = POSTGRES
GROWTH_PER_EVENT_MAXIMUM = 1.5
"""S2grow, S3grow: µs per event at the largest size over the smallest's, at most (issue 13
asks for a flat cost per event; 1.5 is this harness's allowance for the noise of a shared
machine, not the issue's figure)."""
RSS_PEERS = ("eventsourcing", "evtstore")
RSS_ALLOWANCE_MB = 10.0
"""Peak RSS at most the lower of the peers' (RSS_PEERS) plus this, in every scenario, on
the same database."""


def ratio_minimum(scenario: str, library: str, backend: str, peer: str) -> float | None:
    """The least evtsrc / peer rate for a pair of rows, if a target applies."""
    variant = VARIANT_RATIO_MINIMUM.get((scenario, library, backend, peer))
    if variant is not None or library != "evtsrc":
        return variant
    return RATIO_MINIMUM.get((scenario, backend, peer))


def compared(library: str, peer: str) -> bool:
    """Whether an evtsrc library's rows are compared with a peer's."""
    if library == "evtsrc":
        return peer not in READING_PEERS
    return peer not in CACHING_PEERS


def peer_backend(backend: str) -> str:
    """The peer's backend an evtsrc backend is compared with."""
    return SAME_DATABASE.get(backend, "postgres")


def mark(ok: bool | None) -> str:
    """'pass', 'FAIL', or '-' where no target applies."""
    return "-" if ok is None else ("pass" if ok else "FAIL")
