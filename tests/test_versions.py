"""Versions of a handler's read model: blue/green rebuilds, live switching, dropping.

On a SQLite file, with the ledger example's balances (a transactional read model with a
table per version), as a service and an operator would run them: the service's runner
follows the live version; the operator's process builds the next one and makes it live.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from evtsrc import BookmarkMoved, DefinitionError, Domain, HandlerBusy, HandlerRunner
from evtsrc._versions import Versions
from evtsrc.backends import InMemoryBookmarks, SqliteBackend
from examples.ledger import Account, Balances, balances_runner, make_domain

pytestmark = pytest.mark.asyncio


def tables(path: Path) -> dict[str, dict[str, int]]:
    """Every balances table of the file: its rows, account to balance."""
    with sqlite3.connect(path) as connection:
        names = [
            name
            for (name,) in connection.execute(
                "SELECT name FROM sqlite_master WHERE name LIKE 'balances_v%' ORDER BY name"
            )
        ]
        return {name: dict(connection.execute(f"SELECT * FROM {name}")) for name in names}


async def deposit(domain: Domain, count: int, amount: int = 1) -> int:
    accounts = domain.repository(Account)
    last = 0
    for i in range(count):
        last = (await accounts.execute(f"a{i % 3}", Account.deposit, amount=amount)).last_position
    return last


async def test_a_versioned_runner_builds_version_1_under_the_handlers_own_name(
    tmp_path: Path,
) -> None:
    async with SqliteBackend(tmp_path / "store.db") as backend:
        await backend.create_schema()
        domain = make_domain(backend)
        runner = balances_runner(domain)
        await deposit(domain, 6)
        assert await runner.run_once() == 6
        assert (runner.version, runner.name, runner.handler.version) == (1, "balances", 1)
        assert await runner.live_version() == 1
        assert await backend.bookmarks() == {"balances": 6}
    assert tables(tmp_path / "store.db") == {"balances_v1": {"a0": 2, "a1": 2, "a2": 2}}


async def test_blue_green_builds_beside_the_live_version_and_the_service_switches(
    tmp_path: Path,
) -> None:
    path = tmp_path / "store.db"
    async with SqliteBackend(path) as service_store, SqliteBackend(path) as operator_store:
        await service_store.create_schema()
        service = make_domain(service_store)
        live = balances_runner(service)
        await deposit(service, 9)
        async with live:
            await live.wait_for(await deposit(service, 3), timeout=10)
            # The operator's process builds version 2 while the service goes on with 1.
            green = balances_runner(make_domain(operator_store)).at_version(2)
            assert green.name == "balances@2"
            assert await green.rebuild() == 12
            assert tables(path)["balances_v2"] == tables(path)["balances_v1"]
            written = await deposit(service, 3)
            await live.wait_for(written, timeout=10)
            assert live.version == 1  # still version 1: nothing was made live
            assert await green.make_live() == 1
            assert await live.live_version() == 2
            # The service's runner switches to version 2 and goes on from its bookmark.
            written = await deposit(service, 3, amount=10)
            for _ in range(200):
                if live.version == 2 and await live.position() >= written:
                    break
                await asyncio.sleep(0.05)
            assert (live.version, live.name, live.handler.version) == (2, "balances@2", 2)
        found = tables(path)
        # Version 2 has every event once; version 1 stopped at the switch.
        assert found["balances_v2"] == {"a0": 15, "a1": 15, "a2": 15}
        assert found["balances_v1"] == {"a0": 5, "a1": 5, "a2": 5}
        bookmarks = await service_store.bookmarks()
        assert bookmarks["balances@live"] == 2
        assert bookmarks["balances@2"] == written


async def test_dropping_a_version_calls_on_drop_in_a_transaction_and_refuses_the_live_one(
    tmp_path: Path,
) -> None:
    path = tmp_path / "store.db"
    async with SqliteBackend(path) as backend:
        await backend.create_schema()
        domain = make_domain(backend)
        runner = balances_runner(domain)
        await deposit(domain, 4)
        await runner.run_once()
        green = runner.at_version(2)
        await green.rebuild()
        with pytest.raises(ValueError, match="version 1 is live"):
            await runner.at_version(1).drop()
        assert set(tables(path)) == {"balances_v1", "balances_v2"}
        await green.make_live()
        await runner.at_version(1).drop()
        assert set(tables(path)) == {"balances_v2"}
        assert (await backend.bookmarks())["balances"] == 0
        with pytest.raises(ValueError, match="version 2 is live"):
            await green.drop()


async def test_a_rebuild_takes_the_lease_first_and_resets_nothing_while_another_holds_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "store.db"
    async with SqliteBackend(path) as service_store, SqliteBackend(path) as operator_store:
        await service_store.create_schema()
        service = make_domain(service_store)
        await deposit(service, 5)
        async with balances_runner(service) as live:
            await live.wait_for(5, timeout=10)
            operator = balances_runner(make_domain(operator_store))
            with pytest.raises(HandlerBusy):
                await operator.rebuild()
            assert await operator.position() == 5
        assert tables(path)["balances_v1"] == {"a0": 2, "a1": 2, "a2": 1}


class AtSign(Balances, name="balances@eu"):
    """A name a versioned handler cannot have: its versions' bookmarks add '@'."""


class RacingBookmarks(InMemoryBookmarks):
    """Bookmarks where another operator makes version 3 live just after each read of it."""

    async def get_bookmark(self, name: str) -> int:
        found = await super().get_bookmark(name)
        if name == "balances@live":
            await self.set_bookmark(name, 3)
        return found


async def test_making_live_is_compare_and_set_on_a_fenced_store() -> None:
    versions = Versions(RacingBookmarks(), "balances")
    with pytest.raises(BookmarkMoved):
        await versions.make_live(2)
    plain = Versions(InMemoryBookmarks(), "balances")
    assert await plain.make_live(2) == 1
    assert await plain.make_live(4) == 2
    assert await plain.live() == 4


async def test_versions_are_checked(tmp_path: Path) -> None:
    async with SqliteBackend(tmp_path / "store.db") as backend:
        runner: HandlerRunner[Balances] = balances_runner(make_domain(backend))
        with pytest.raises(ValueError, match="1 or more"):
            runner.at_version(0)
        with pytest.raises(TypeError, match="an int"):
            runner.at_version("2")  # type: ignore[arg-type]
        with pytest.raises(DefinitionError, match="its name has no '@'"):
            make_domain(backend).handler(AtSign(), versioned=True)
        with pytest.raises(ValueError, match="either follows"):
            HandlerRunner(Balances(), versioned=True, version=2, **runner._options)  # type: ignore[arg-type]
