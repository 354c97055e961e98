"""The parent's side of the two-process lease tests: start workers, read what they handled."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

from evtsrc import Domain
from evtsrc.backends import Backend
from tests.conformance.model import Counter, Ledger

ROOT = Path(__file__).resolve().parents[1]


async def spawn_worker(
    target: str, location: str, prefix: str, output: Path
) -> asyncio.subprocess.Process:
    """A `tests.lease_worker` process on `target`'s store, once it has started its runner."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.lease_worker",
        target,
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


async def handled(
    output: Path, aggregate_id: str, seconds: float = 15, *, times: int = 1
) -> list[int]:
    """The pids of the workers that handled `aggregate_id`, once `times` handlings are in."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        lines = output.read_text().split("\n") if output.exists() else []
        pids = [int(line.split()[0]) for line in lines if line.endswith(f" {aggregate_id}")]
        if len(pids) >= times:
            return pids
        assert asyncio.get_running_loop().time() < deadline, f"{aggregate_id} never handled"
        await asyncio.sleep(0.05)


async def hand_over(
    backend: Backend, target: str, location: str, prefix: str, folder: Path
) -> float:
    """Two workers on one store: the first handles, is SIGKILLed, and the second takes over.

    Returns the seconds from the kill's next event to the standby handling it.
    """
    output = folder / "handled.txt"
    domain = Domain(backend, aggregates=[Counter, Ledger])
    first = await spawn_worker(target, location, prefix, output)
    second = await spawn_worker(target, location, prefix, output)
    try:
        before = await domain.repository(Counter).execute("before-kill", Counter.do_one)
        assert await handled(output, "before-kill") == [first.pid]
        # Kill once the bookmark is stored: a kill between handling and storing would
        # rightly deliver the event again (at least once), which is not under test here.
        while await backend.get_bookmark("seen") < before.last_position:
            await asyncio.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        await first.wait()
        started = asyncio.get_running_loop().time()
        await domain.repository(Counter).execute("after-kill", Counter.do_one)
        assert await handled(output, "after-kill") == [second.pid]
        took_over = asyncio.get_running_loop().time() - started
        await asyncio.sleep(0.3)
        lines = output.read_text().split()
        assert lines == [str(first.pid), "before-kill", str(second.pid), "after-kill"]
        return took_over
    finally:
        for process in (first, second):
            if process.returncode is None:
                process.kill()
                await process.wait()


async def freeze_and_fence(
    backend: Backend, target: str, location: str, prefix: str, folder: Path
) -> None:
    """A holder frozen mid-batch past its lease's expiry cannot move the bookmark back.

    The standby takes the lease over, handles the batch again and gets further; when
    the frozen process wakes and ends its batch, its bookmark move is refused.
    """
    output = folder / "handled.txt"
    domain = Domain(backend, aggregates=[Counter, Ledger])
    first = await spawn_worker(target, location, prefix, output)
    second = await spawn_worker(target, location, prefix, output)
    try:
        stalled = await domain.repository(Ledger).execute("stall", Ledger.record, street="x")
        assert await handled(output, "stall") == [first.pid]
        first.send_signal(signal.SIGSTOP)  # inside its callback, the bookmark not moved
        assert await handled(output, "stall", 30, times=2) == [first.pid, second.pid]
        after = await domain.repository(Counter).execute("after", Counter.do_one)
        assert await handled(output, "after") == [second.pid]
        while await backend.get_bookmark("seen") < after.last_position:
            await asyncio.sleep(0.02)
        first.send_signal(signal.SIGCONT)  # it ends its batch and moves its bookmark...
        for _ in range(40):  # ...which stays where the new holder put it
            assert await backend.get_bookmark("seen") == after.last_position
            await asyncio.sleep(0.05)
        assert stalled.last_position < after.last_position
        a, b = str(first.pid), str(second.pid)
        assert output.read_text().split() == [a, "stall", b, "stall", b, "after"]
    finally:
        for process in (first, second):
            if process.returncode is None:
                process.send_signal(signal.SIGCONT)
                process.kill()
                await process.wait()


async def check_expiry(backend: Backend) -> None:
    """`backend`'s leases, of a `lease_ttl` of 1 s: one holder, renewed, freed or run out."""
    first, second = backend.lease("h"), backend.lease("h")
    assert await first.acquire() and await first.check()
    assert not await second.acquire()
    await asyncio.sleep(1.5)  # renewed meanwhile: still held
    assert await first.check() and not await second.acquire()
    await first.release()
    assert not await first.check()
    assert await second.acquire()
    await second._stop_renewing()  # type: ignore[attr-defined]  # as if its process froze
    await asyncio.sleep(1.1)
    assert not await second.check()
    assert await first.acquire()
    await first.release()


async def report_holder(
    backend: Backend, target: str, location: str, prefix: str, folder: Path
) -> tuple[str, int]:
    """What `backend.lease_holder` says of a worker process's lease, and the worker's pid.

    The report is read while the worker holds the `seen` lease; once the worker is
    SIGKILLed, the lease must be reported free (when the server frees it, or its
    record runs out).
    """
    worker = await spawn_worker(target, location, prefix, folder / "handled.txt")
    try:
        deadline = asyncio.get_running_loop().time() + 15
        while (holder := await backend.lease_holder("seen")) is None:
            assert asyncio.get_running_loop().time() < deadline, "the worker took no lease"
            await asyncio.sleep(0.05)
        assert await backend.lease_holder("seen#0/2") is None
        worker.send_signal(signal.SIGKILL)
        await worker.wait()
        deadline = asyncio.get_running_loop().time() + 15
        while await backend.lease_holder("seen") is not None:
            assert asyncio.get_running_loop().time() < deadline, "the killed worker's lease held"
            await asyncio.sleep(0.05)
        return holder, worker.pid
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()


def check_names_worker(holder: str, pid: int) -> None:
    """Assert that `holder`, as `report_holder` found it, names worker `pid` and its host."""
    assert f"{socket.gethostname()[:64]} pid {pid}" in holder, holder
    assert pid != os.getpid()
