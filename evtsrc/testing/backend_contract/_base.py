"""What a contract test class asks of the backend author, and the fixtures built on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import ClassVar

import pytest
import pytest_asyncio

from evtsrc import Domain
from evtsrc.backends import Backend
from evtsrc.testing.commit_gates import CommitGate

from ._model import Counter, Ledger
from ._payloads import DEEP, UNDECODABLE


class ContractBase:
    """Subclass `BackendContract` (which extends this) and implement `open_backend`.

    The methods marked as capabilities are optional: the tests that need one the
    subclass does not override are skipped, naming it.
    """

    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [pytest.mark.asyncio(loop_scope="function")]

    payloads_as_text: ClassVar[bool] = True
    """Whether the backend stores payloads as JSON text (False: as values, such as documents)."""

    refused_payloads: ClassVar[frozenset[str]] = frozenset()
    """The texts of `UNDECODABLE` that the database's own JSON checks refuse."""

    lease_holder_shows: ClassVar[str | None] = None
    """What `lease_holder` reports of a lease held in this process: None, its host and pid
    (`process_label()` is in the report); else a regular expression the report matches,
    for a store that cannot know the holding process (MariaDB/MySQL: only the holder's
    connection id and client host)."""

    def open_backend(self) -> AbstractAsyncContextManager[Backend]:
        """A fresh, empty backend for one test; leaving the block cleans it up and closes it.

        Required. Call `pytest.skip` inside it when its database is not available.
        """
        raise NotImplementedError(f"{type(self).__qualname__} must implement open_backend()")

    def commit_gate(self, backend: Backend) -> CommitGate:
        """Capability: a `CommitGate` over `backend`, for the out-of-order commit tests."""
        raise NotImplementedError

    async def overwrite_payload(
        self, backend: Backend, stream: str, aggregate_id: str, version: int, payload: str
    ) -> None:
        """Capability: store `payload` as the payload of one stored event, past the backend.

        A backend that stores JSON text gets `payload` exactly as given; one that
        stores values gets `as_value(payload)` of this package.
        """
        raise NotImplementedError

    def stores_payload(self, payload: str) -> bool:
        """Whether the database holds `payload` (some refuse some of `UNDECODABLE`)."""
        if payload == DEEP and not self.payloads_as_text:
            return False  # as a value it is deep JSON that Python could not have written
        return payload not in self.refused_payloads

    def undecodable_payload(self) -> str:
        """The worst payload the database holds: the first of `UNDECODABLE` it stores."""
        return next(text for text in UNDECODABLE if self.stores_payload(text))

    def require(self, capability: str) -> None:
        """Skip the running test unless the subclass overrides `capability`."""
        if getattr(type(self), capability) is getattr(ContractBase, capability):
            pytest.skip(f"{type(self).__qualname__} does not provide {capability}()")

    @pytest_asyncio.fixture(loop_scope="function")
    async def backend(self) -> AsyncIterator[Backend]:
        """The backend under test, from `open_backend`."""
        async with self.open_backend() as opened:
            yield opened

    @pytest.fixture
    def domain(self, backend: Backend) -> Domain:
        """A domain of the contract's model on the backend under test."""
        return Domain(backend, aggregates=[Counter, Ledger])

    @pytest_asyncio.fixture(loop_scope="function")
    async def gate(self, backend: Backend) -> AsyncIterator[CommitGate]:
        """The commit gate over the backend under test, closed after the test."""
        self.require("commit_gate")
        async with self.commit_gate(backend) as opened:
            yield opened
