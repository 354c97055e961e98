"""The database servers of a run: given on the command line, or started here.

PostgreSQL and MariaDB are started by the harness at default durability unless a server
is named (the development servers of scripts/dbservers relax durability, so they are
never used implicitly). MongoDB and Neo4j are taken from the command line or the
environment. A server that cannot be had is reported as missing: its targets are
skipped, or under CI=true the run fails.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Protocol

from bench.mariadbserver import DurableMariaDB
from bench.pgserver import DurablePostgres

ENVIRONMENT = {
    "postgres": ("EVTSRC_BENCH_PG_DSN",),
    "mariadb": ("EVTSRC_BENCH_MARIADB_URL",),
    "mongo": ("EVTSRC_BENCH_MONGO_URI", "EVTSRC_TEST_MONGO_URI"),
    "neo4j": ("EVTSRC_BENCH_NEO4J_URI", "EVTSRC_TEST_NEO4J_URI"),
}
"""Where each server's address is read from when the command line does not give it."""


class Startable(Protocol):
    """A server the harness runs itself."""

    def start(self) -> str:
        """Start it; its address."""
        ...

    def stop(self) -> None:
        """Stop it and delete its data."""
        ...


STARTABLE: dict[str, Callable[[], Startable]] = {
    "postgres": DurablePostgres,
    "mariadb": DurableMariaDB,
}


def from_environment(server: str) -> tuple[str, str] | None:
    """The first of the server's environment variables that is set: (value, its name)."""
    return next(((os.environ[n], n) for n in ENVIRONMENT[server] if os.environ.get(n)), None)


@dataclass
class Servers:
    """The address of each server (DSN, SQLAlchemy URL, URI) and how it was had."""

    address: dict[str, str] = field(default_factory=dict[str, str])
    origin: dict[str, str] = field(default_factory=dict[str, str])
    missing: dict[str, str] = field(default_factory=dict[str, str])


@contextlib.contextmanager
def provide(needed: set[str], flags: dict[str, str | None]) -> Generator[Servers, None, None]:
    """The `needed` servers: named by `flags` or the environment, else started if we can."""
    found = Servers()
    with contextlib.ExitStack() as stack:
        for server in sorted(needed):
            address = flags.get(server)
            named = (address, "given on the command line") if address else None
            named = named or from_environment(server)
            if named:
                found.address[server], found.origin[server] = named[0], f"from {named[1]}"
                continue
            starter = STARTABLE.get(server)
            if starter is None:
                variables = " or ".join(ENVIRONMENT[server])
                found.missing[server] = f"no --{server}-uri and no {variables}"
                continue
            try:
                instance = starter()
                stack.callback(instance.stop)
                found.address[server] = instance.start()
                found.origin[server] = "started by bench at default durability"
            except Exception as error:
                found.missing[server] = f"could not start one: {error}"
        yield found
