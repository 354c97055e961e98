from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from evtsrc import Domain
from evtsrc.backends import Backend
from tests.backends import TARGETS, BackendTarget, in_ci

from .model import Counter, Ledger


@pytest.fixture(params=TARGETS, ids=lambda t: t.name)
def target(request: pytest.FixtureRequest) -> BackendTarget:
    target: BackendTarget = request.param
    return target


@pytest.fixture
async def backend(target: BackendTarget) -> AsyncIterator[Backend]:
    location = ""
    if target.env is not None:
        location = os.environ.get(target.env, "")
        if not location:
            message = f"{target.name}: set {target.env} to run the conformance suite against it"
            if in_ci():
                pytest.fail(f"CI=true and {message}")
            pytest.skip(message)
    async with target.open(location) as opened:
        yield opened


@pytest.fixture
def domain(backend: Backend) -> Domain:
    return Domain(backend, aggregates=[Counter, Ledger])
