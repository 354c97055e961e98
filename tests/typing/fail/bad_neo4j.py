"""Misuses of Neo4jBackend's version check that both checkers reject."""

from __future__ import annotations

from evtsrc.backends.neo4j import Neo4jBackend, supported_version


async def misuses(backend: Neo4jBackend) -> str:
    assert backend.server_version() >= (5, 0)  # expect-error: operator OperatorIssue
    name: str = await backend.server_version()  # expect-error: assignment AssignmentType
    supported_version(b"Neo4j/5.26.0")  # expect-error: arg-type ArgumentType
    return name
