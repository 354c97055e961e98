"""Read-your-writes across processes: wait_for follows a handler that runs in another process."""

from __future__ import annotations

from pathlib import Path

import pytest

from evtsrc import Domain, HandlerBehind
from evtsrc.backends import Backend
from tests.backends import BackendTarget
from tests.conformance.model import Counter, Ledger, Seen
from tests.lease_processes import spawn_worker

from .test_lease_processes import backend_location


async def test_wait_for_returns_once_another_process_has_handled_the_write(
    sql_backend: Backend, target: BackendTarget, tmp_path: Path
) -> None:
    output = tmp_path / "handled.txt"
    domain = Domain(sql_backend, aggregates=[Counter, Ledger])
    waiter = domain.handler(Seen())  # never run here: it only reads the stored bookmark
    location = backend_location(sql_backend, target)
    worker = await spawn_worker(target.name, location, sql_backend.names.prefix, output)  # type: ignore[attr-defined]
    try:
        for n in range(3):
            counter = await domain.repository(Counter).execute(f"c{n}", Counter.do_one)
            await waiter.wait_for(counter.last_position, timeout=20.0)
            handled = output.read_text().split("\n")
            assert f"{worker.pid} c{n}" in handled
            assert await sql_backend.get_bookmark("seen") >= counter.last_position
        ledger = await domain.repository(Ledger).execute("l", Ledger.record, street="Main")
        await waiter.wait_for(ledger.last_position, timeout=20.0)
        assert waiter.handler.log == []
    finally:
        worker.kill()
        await worker.wait()
    late = await domain.repository(Counter).execute("late", Counter.do_one)
    with pytest.raises(HandlerBehind) as raised:
        await waiter.wait_for(late.last_position, timeout=0.5)
    assert raised.value.reached < late.last_position
