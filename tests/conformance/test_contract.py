"""The shipped backend contract, on each of evtsrc's backends (tests/backends.py).

Every class here is `evtsrc.testing.backend_contract.BackendContract` with one
target's factory, its commit gate and its raw payload access: nothing is skipped
for want of a capability. A backend whose server is not configured is skipped,
and fails the run under CI=true.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import ClassVar

from evtsrc.backends import Backend
from evtsrc.testing.backend_contract import BAD_ESCAPE, DEEP, NOT_JSON, BackendContract
from evtsrc.testing.commit_gates import CommitGate, commit_gate
from tests import backends
from tests.backends import BackendTarget

from .raw import plant_raw_payload


class _EvtsrcBackend(BackendContract):
    target: ClassVar[BackendTarget]

    def open_backend(self) -> AbstractAsyncContextManager[Backend]:
        return backends.opened(self.target)

    def commit_gate(self, backend: Backend) -> CommitGate:
        return commit_gate(backend)

    async def overwrite_payload(
        self, backend: Backend, stream: str, aggregate_id: str, version: int, payload: str
    ) -> None:
        await plant_raw_payload(backend, stream, aggregate_id, version, payload)


class TestMemory(_EvtsrcBackend):
    target = backends.MEMORY
    payloads_as_text = False


class TestSqlAlchemySqlite(_EvtsrcBackend):
    target = backends.SQLALCHEMY_SQLITE


class TestSqlite(_EvtsrcBackend):
    target = backends.SQLITE


class TestSqlAlchemyPostgres(_EvtsrcBackend):
    target = backends.SQLALCHEMY_POSTGRES
    refused_payloads = frozenset({NOT_JSON, BAD_ESCAPE})


class TestSqlAlchemyMariadb(_EvtsrcBackend):
    target = backends.SQLALCHEMY_MARIADB
    refused_payloads = frozenset({NOT_JSON, DEEP})  # MariaDB nests at most 32 deep
    # The server knows a named lock's connection, not its process (no performance schema).
    lease_holder_shows = r"^MariaDB/MySQL connection \d+ \(\S+@\S+\)$"


class TestAsyncpg(_EvtsrcBackend):
    target = backends.ASYNCPG
    refused_payloads = frozenset({NOT_JSON, BAD_ESCAPE})


class TestMongo(_EvtsrcBackend):
    target = backends.MONGO
    payloads_as_text = False


class TestNeo4j(_EvtsrcBackend):
    target = backends.NEO4J


class TestNeo4j44(_EvtsrcBackend):
    target = backends.NEO4J44
