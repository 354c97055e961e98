"""Seeded stores for the command's tests: each store kind, written by `tests.cli.app.seed`."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import attrs
import pytest

from tests.cli import app
from tests.cli.command import STORES, Store, new_prefix


@attrs.frozen
class Seeded:
    """A store `app.seed` wrote: its URL, prefix and the positions seeding left."""

    store: Store
    url: str
    prefix: str
    facts: dict[str, int]

    def args(self, *more: str, app_: bool = True) -> tuple[str, ...]:
        """The command's arguments for this store (with `--app` unless not `app_`)."""
        given = ("--url", self.url, "--prefix", self.prefix)
        return (*given, *(("--app", "tests.cli.app:make_domain") if app_ else ()), *more)


def seeded_store(store: Store, folder: object) -> Iterator[Seeded]:
    url = store.url(folder)  # type: ignore[arg-type]
    prefix = new_prefix()
    facts = asyncio.run(app.seed(url, prefix))
    yield Seeded(store, url, prefix, facts)
    asyncio.run(app.drop(url, prefix))


@pytest.fixture(scope="module", params=STORES, ids=[s.name for s in STORES])
def seeded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Seeded]:
    """A store per kind, seeded once for the module's tests that only read it."""
    yield from seeded_store(request.param, tmp_path_factory.mktemp("seeded"))


@pytest.fixture(params=STORES, ids=[s.name for s in STORES])
def fresh(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Seeded]:
    """A store per kind, seeded for one test that changes it."""
    yield from seeded_store(request.param, tmp_path_factory.mktemp("fresh"))
