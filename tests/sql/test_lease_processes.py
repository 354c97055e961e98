"""Two real processes run one handler name: one works, one stands by, and a kill hands over."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from evtsrc import Domain
from evtsrc.backends import Backend
from tests.backends import BackendTarget, sqlalchemy_url
from tests.conformance.model import Counter, Ledger

ROOT = Path(__file__).resolve().parents[2]


async def spawn_worker(
    target: BackendTarget, location: str, prefix: str, output: Path
) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.sql.lease_worker",
        target.name,
        location,
        prefix,
        str(output),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 30)
    assert line.strip() == b"started"
    return process


def backend_location(sql_backend: Backend, target: BackendTarget) -> str:
    """Where a worker process opens the store `sql_backend` uses."""
    if target.name == "sqlite":
        return str(sql_backend.engine.url)  # type: ignore[attr-defined]
    if target.name == "sqlite3":
        return str(sql_backend.path)  # type: ignore[attr-defined]
    if target.name == "asyncpg":
        return str(sql_backend._dsn)  # type: ignore[attr-defined]
    return sqlalchemy_url(sql_backend.engine.url.render_as_string(hide_password=False))  # type: ignore[attr-defined]


async def _handled(output: Path, aggregate_id: str, seconds: float = 15) -> list[int]:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        lines = output.read_text().split("\n") if output.exists() else []
        pids = [int(line.split()[0]) for line in lines if line.endswith(f" {aggregate_id}")]
        if pids:
            return pids
        assert asyncio.get_running_loop().time() < deadline, f"{aggregate_id} never handled"
        await asyncio.sleep(0.05)


async def test_killing_the_active_process_hands_the_handler_over(
    sql_backend: Backend, target: BackendTarget, tmp_path: Path
) -> None:
    names = sql_backend.names  # type: ignore[attr-defined]
    location = backend_location(sql_backend, target)
    output = tmp_path / "handled.txt"
    domain = Domain(sql_backend, aggregates=[Counter, Ledger])
    first = await spawn_worker(target, location, names.prefix, output)
    second = await spawn_worker(target, location, names.prefix, output)
    try:
        before = await domain.repository(Counter).execute("before-kill", Counter.do_one)
        assert await _handled(output, "before-kill") == [first.pid]
        # Kill once the bookmark is stored: a kill between handling and storing would
        # rightly deliver the event again (at least once), which is not under test here.
        while await sql_backend.get_bookmark("seen") < before.last_position:
            await asyncio.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        await first.wait()
        started = asyncio.get_running_loop().time()
        await domain.repository(Counter).execute("after-kill", Counter.do_one)
        assert await _handled(output, "after-kill") == [second.pid]
        took_over = asyncio.get_running_loop().time() - started
        assert took_over < 10, f"the standby took {took_over:.1f} s to take over"
        await asyncio.sleep(0.3)
        lines = output.read_text().split()
        assert lines == [str(first.pid), "before-kill", str(second.pid), "after-kill"]
    finally:
        for process in (first, second):
            if process.returncode is None:
                process.kill()
                await process.wait()
