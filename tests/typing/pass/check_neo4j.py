"""Neo4jBackend's version check is typed: a (major, minor) pair, and its own error."""

from __future__ import annotations

import os
from typing import assert_type

from evtsrc import EvtsrcError, UnsupportedStore
from evtsrc.backends.neo4j import OLDEST_SUPPORTED, Neo4jBackend, supported_version


async def versions(backend: Neo4jBackend) -> None:
    version = await backend.server_version()
    assert_type(version, tuple[int, int])
    major, minor = version
    assert_type(major, int)
    assert_type(minor, int)
    assert_type(version >= OLDEST_SUPPORTED, bool)


def refused(error: UnsupportedStore) -> EvtsrcError:
    return error


async def main() -> None:
    assert_type(supported_version("Neo4j/4.4.44"), tuple[int, int])
    try:
        supported_version("Neo4j/3.5.35")
    except UnsupportedStore as error:
        assert isinstance(refused(error), EvtsrcError)
    for variable in ("EVTSRC_TEST_NEO4J_URI", "EVTSRC_TEST_NEO4J44_URI"):
        if uri := os.environ.get(variable):
            backend = Neo4jBackend.connect(uri)
            try:
                await versions(backend)
            finally:
                await backend.close()
