"""`evtsrc rebuild`, `swap` and `drop`, run as a command against a SQLite file.

The application is the ledger example: its balances are a versioned read model with a
table per version in the store's file.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import sqlite3
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from evtsrc import Domain, EventHandler, EventMeta, HandlerGroup, on_event
from evtsrc.backends import Bucket, InMemoryBackend, NewEvent, SqliteBackend, bucket_key
from evtsrc.cli._rebuild import Passed, Rebuilt
from examples.ledger import Account, Deposited, balances_runner, make_domain

ROOT = Path(__file__).resolve().parent.parent
APP = "examples.ledger:make_domain"
NOW = datetime.now(UTC)


def environment(store: Path, extra_path: Path | None = None) -> dict[str, str]:
    paths = [str(ROOT)] + ([str(extra_path)] if extra_path else [])
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(paths),
        "EVTSRC_URL": f"sqlite:///{store}",
        "EVTSRC_APP": APP,
        "COLUMNS": "120",
    }


def evtsrc(
    store: Path, *args: str, app_path: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "evtsrc.cli", *args],
        env=environment(store, app_path),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=store.parent,
    )


def balances(store: Path) -> dict[str, dict[str, int]]:
    with sqlite3.connect(store) as connection:
        names = [
            name
            for (name,) in connection.execute(
                "SELECT name FROM sqlite_master WHERE name LIKE 'balances_v%' ORDER BY name"
            )
        ]
        return {name: dict(connection.execute(f"SELECT * FROM {name}")) for name in names}


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.sqlite"
    seeded = subprocess.run(
        [sys.executable, "-m", "examples.ledger", str(path), "500"],
        env=environment(path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert seeded.returncode == 0, seeded.stderr
    return path


def test_blue_green_builds_the_next_version_then_swap_and_drop_retire_the_old(store: Path) -> None:
    before = balances(store)["balances_v1"]
    built = evtsrc(store, "rebuild", "balances", "--blue-green")
    assert built.returncode == 0, built.stderr
    assert built.stdout.splitlines()[0] == "building 'balances' version 2 beside live version 1"
    assert "rebuilt balances@2: 500 events in" in built.stdout
    assert "make it live with: evtsrc swap balances 2" in built.stdout
    assert built.stderr == ""  # no progress bar where stderr is not a terminal
    assert balances(store) == {"balances_v1": before, "balances_v2": before}

    never = evtsrc(store, "swap", "balances", "3")
    assert never.returncode == 1
    assert never.stderr.strip() == (
        "Error: version 3 of 'balances' was never built (its bookmark is at 0): build it "
        "with `evtsrc rebuild balances --blue-green --version 3`, or pass --force"
    )
    swapped = evtsrc(store, "swap", "balances", "2")
    assert swapped.returncode == 0, swapped.stderr
    assert swapped.stdout.startswith("version 2 of 'balances' is live (it was 1)")

    live = evtsrc(store, "drop", "balances", "2", "--yes")
    assert live.returncode == 1
    assert "version 2 is live" in live.stderr and "Traceback" not in live.stderr
    dropped = evtsrc(store, "drop", "balances", "1", "--yes")
    assert dropped.returncode == 0, dropped.stderr
    assert balances(store) == {"balances_v2": before}

    again = evtsrc(store, "rebuild", "balances", "--yes")  # in place: the live version, 2
    assert again.returncode == 0, again.stderr
    assert "rebuilt balances@2: 500 events" in again.stdout
    assert balances(store) == {"balances_v2": before}


def test_rebuild_with_swap_makes_the_new_version_live_at_once(store: Path) -> None:
    # On a terminal (the pseudo-terminal `script` opens), the progress bar is drawn. It
    # counts the handler's events, not the positions of another stream's between them.
    async def interleave() -> None:
        async with SqliteBackend(store) as backend:
            accounts = make_domain(backend).repository(Account)
            for n in range(20):
                await backend.append("elsewhere", f"e{n}", 0, [NewEvent("x", {}, NOW)] * 2)
                await accounts.execute(f"account-{n}", Account.deposit, amount=1)

    asyncio.run(interleave())
    command = " ".join(
        [sys.executable, "-m", "evtsrc.cli", "rebuild", "balances", "--blue-green", "--swap"]
    )
    built = subprocess.run(
        ["script", "-qec", command, "/dev/null"],
        env=environment(store),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert built.returncode == 0, built.stdout
    drawn = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", built.stdout)
    assert re.search(r"balances@2 ━+ 520/520 events", drawn), drawn
    assert "version 2 of 'balances' is live (it was 1)" in built.stdout

    async def live_version() -> int:
        async with SqliteBackend(store) as backend:
            return await balances_runner(make_domain(backend)).live_version()

    assert asyncio.run(live_version()) == 2


def test_rebuilding_in_place_is_refused_while_a_runner_elsewhere_holds_the_lease(
    store: Path,
) -> None:
    async def scenario() -> subprocess.CompletedProcess[str]:
        async with SqliteBackend(store) as backend, balances_runner(make_domain(backend)):
            return await asyncio.to_thread(evtsrc, store, "rebuild", "balances", "--yes")

    refused = asyncio.run(scenario())
    assert refused.returncode == 1
    assert refused.stderr.startswith(
        "Error: handler 'balances' is running elsewhere (the lease of 'balances' is held by "
        f"{socket.gethostname()} pid {os.getpid()}): stop it first, or rebuild it --blue-green"
    ), refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert balances(store)["balances_v1"]  # nothing was cleared


def test_errors_are_one_line_each(store: Path, tmp_path: Path) -> None:
    (tmp_path / "plain_app.py").write_text(
        "from evtsrc import Domain\n"
        "from examples.ledger import Account, Balances\n"
        "def make_domain(backend):\n"
        "    domain = Domain(backend, aggregates=[Account])\n"
        "    domain.handler(Balances())\n"
        "    return domain\n"
    )
    cases = {
        ("rebuild", "nope", "--yes"): "the application has no handler 'nope' (its handlers: "
        "'balances')",
        ("--app", "plain_app:make_domain", "rebuild", "balances", "--blue-green"): "handler "
        "'balances' is not versioned",
        ("rebuild", "balances", "--blue-green", "--version", "1"): "version 1 of 'balances' "
        "is live",
        ("--app", "examples.ledger:nothing", "rebuild", "balances"): "module 'examples.ledger' "
        "has no 'nothing'",
    }
    for args, message in cases.items():
        result = evtsrc(store, *args, app_path=tmp_path)
        assert result.returncode == 1, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    usage = evtsrc(store, "rebuild", "balances", "--swap")
    assert usage.returncode == 2
    assert "--version and --swap go with --blue-green" in usage.stderr


def test_a_group_is_rebuilt_in_place_and_stops_with_one_line_at_an_event_it_cannot_decode(
    tmp_path: Path,
) -> None:
    from tests.cli import app  # its shipping group's bucket of p9 holds an undecodable event

    store = tmp_path / "events.db"
    asyncio.run(app.seed(f"sqlite:///{store}", "evtsrc_"))
    result = subprocess.run(
        [sys.executable, "-m", "evtsrc.cli", "rebuild", "shipping", "--yes"],
        env={**environment(store), "EVTSRC_APP": "tests.cli.app:make_domain"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stdout
    assert result.stderr.startswith(
        "Error: handler 'shipping' failed on parcel.shipped at position 15: EventDecodeError("
    ), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1

    async def positions() -> dict[int, int]:
        async with SqliteBackend(store) as backend:
            group = app.make_domain(backend).handlers[2]
            assert isinstance(group, HandlerGroup)
            return await group.positions()

    found = asyncio.run(positions())
    # Every bucket was replayed; p9's stopped just before its bad event.
    assert 0 < found[bucket_key("p9") % 3] < 15
    assert all(position > 0 for position in found.values())


def test_a_busy_handler_that_is_not_versioned_is_not_offered_a_blue_green_rebuild(
    tmp_path: Path,
) -> None:
    from tests.cli import app

    store = tmp_path / "events.db"
    asyncio.run(app.seed(f"sqlite:///{store}", "evtsrc_"))

    async def scenario() -> subprocess.CompletedProcess[str]:
        async with SqliteBackend(store) as backend:
            audit = app.make_domain(backend).handlers[1]
            async with audit:
                return await asyncio.to_thread(
                    subprocess.run,
                    [sys.executable, "-m", "evtsrc.cli", "rebuild", "audit", "--yes"],
                    env={**environment(store), "EVTSRC_APP": "tests.cli.app:make_domain"},
                    capture_output=True,
                    text=True,
                    timeout=120,
                )

    refused = asyncio.run(scenario())
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        "Error: handler 'audit' is running elsewhere (the lease of 'audit' is held by "
        f"{socket.gethostname()} pid {os.getpid()}): stop it first"
    )


class Deposits(EventHandler, name="deposits"):
    @on_event
    def deposited(self, event: Deposited, meta: EventMeta) -> None:
        pass


async def _ledger_among_other_events() -> tuple[Domain, list[int]]:
    """30 deposits among 10 accounts, another stream's events between them: their positions."""
    backend = InMemoryBackend()
    domain = Domain(backend, aggregates=[Account])
    accounts = domain.repository(Account)
    for n in range(30):
        await backend.append("elsewhere", f"e{n}", 0, [NewEvent("x", {}, NOW)])
        await accounts.execute(f"account-{n % 10}", Account.deposit, amount=1)
    deposits = await backend.read_streams(["ledger-accounts"])
    return domain, [record.position for record in deposits]


async def test_the_bar_counts_a_runners_events_up_to_its_bookmark() -> None:
    domain, positions = await _ledger_among_other_events()
    runner = domain.handler(Deposits())
    passed = Passed(Rebuilt.of(runner), domain.backend)
    assert await passed.events() == 0
    await runner.set_position(positions[11])
    assert await passed.events() == 12
    await runner.set_position(positions[19] + 1)  # between two deposits
    assert await passed.events() == 20
    await runner.set_position(positions[4])  # reset below it: counted from the start again
    assert await passed.events() == 5
    assert await runner.rebuild() == 30
    assert await passed.events() == 30


async def test_the_bar_counts_a_groups_events_bucket_by_bucket() -> None:
    domain, _ = await _ledger_among_other_events()
    group = domain.handler_group(Deposits(), buckets=3)
    passed = Passed(Rebuilt.of(group), domain.backend)
    assert await passed.events() == 0
    await group.rebuild()
    assert await passed.events() == 30
    in_bucket = Counter(bucket_key(f"account-{n % 10}") % 3 for n in range(30))
    assert passed.counted == {Bucket(i, 3): in_bucket[i] for i in range(3)}
