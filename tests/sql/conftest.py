from __future__ import annotations

import pytest

from evtsrc.backends import Backend
from tests.backends import TARGETS, BackendTarget
from tests.conformance.conftest import backend as backend

SQL_TARGETS = [t for t in TARGETS if t.sql]


@pytest.fixture(params=SQL_TARGETS, ids=lambda t: t.name)
def target(request: pytest.FixtureRequest) -> BackendTarget:
    target: BackendTarget = request.param
    return target


@pytest.fixture
def sql_backend(backend: Backend) -> Backend:
    return backend
