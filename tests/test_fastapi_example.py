"""The FastAPI example (examples/fastapi_service) under a real uvicorn server, over HTTP.

Each test serves the app with `uvicorn.Server` on a free port of 127.0.0.1 in the test's
own event loop, talks to it with httpx over the socket, and shuts the server down as
SIGTERM would; `serving` then checks that the lifespan stopped the handlers and closed
the store. One test runs `python -m examples.fastapi_service` itself and stops it with
SIGTERM. The store is a SQLite file in the test's temporary folder.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
from collections.abc import AsyncGenerator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
import uvicorn

from evtsrc import NO_RETRY, RetryPolicy, StoreUnavailable
from evtsrc.backends import Backend, EventRecord
from examples.fastapi_service import app as app_module
from examples.fastapi_service import service as service_module
from examples.fastapi_service.service import Service
from examples.fastapi_service.settings import Settings
from examples.fastapi_service.worker import run_worker

ROOT = Path(__file__).resolve().parent.parent
WITHIN = 10.0
"""Seconds a server has to start or stop, and a request to be answered."""


@attrs.frozen
class Running:
    client: httpx.AsyncClient
    service: Service
    """What the lifespan opened: the test reaches the store and the runners through it."""
    database: Path


def settings_in(tmp_path: Path, **changes: Any) -> Settings:
    database = tmp_path / "library.sqlite"
    return attrs.evolve(Settings(database_url=f"sqlite:///{database}"), **changes)


@asynccontextmanager
async def serving(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> AsyncGenerator[Running]:
    """The app served by uvicorn until the block ends; then the shutdown is checked."""
    opened: list[Service] = []
    open_service = service_module.open_service

    @asynccontextmanager
    async def recording(chosen: Settings) -> AsyncGenerator[Service]:
        async with open_service(chosen) as service:
            opened.append(service)
            yield service

    monkeypatch.setattr(app_module, "open_service", recording)
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listening.bind(("127.0.0.1", 0))  # a free port, held from here: no race for it
    port = listening.getsockname()[1]
    app = app_module.create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_config=None))
    serve = asyncio.create_task(server.serve(sockets=[listening]))
    try:
        async with asyncio.timeout(WITHIN):
            while not server.started:
                assert not serve.done(), "the server stopped while starting"
                await asyncio.sleep(0.01)
        [service] = opened
        url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=url, timeout=WITHIN) as client:
            yield Running(client, service, Path(settings.database_url.removeprefix("sqlite:///")))
    finally:
        server.should_exit = True  # what uvicorn's SIGTERM handler does
        async with asyncio.timeout(WITHIN):
            await serve
        listening.close()
    await check_shut_down(service)


async def check_shut_down(service: Service) -> None:
    assert not service.catalog.running
    assert service.notices is None or not service.notices.running
    with pytest.raises(RuntimeError, match="is closed"):
        await service.domain.backend.last_position(["books"])


def hold_appends(monkeypatch: pytest.MonkeyPatch, backend: Backend, count: int) -> None:
    """Hold the next `count` appends until all of them have come: each decided alone."""
    append = backend.append
    arrived: list[object] = []
    together = asyncio.Event()

    async def held(*args: Any, **kwargs: Any) -> Sequence[EventRecord]:
        if len(arrived) < count:
            arrived.append(args)
            if len(arrived) == count:
                together.set()
            async with asyncio.timeout(WITHIN):
                await together.wait()
        return await append(*args, **kwargs)

    monkeypatch.setattr(backend, "append", held)


def problem(response: httpx.Response) -> tuple[int, str]:
    body = response.json()
    assert set(body) == {"code", "message"} and body["message"], body
    return response.status_code, body["code"]


async def test_books_are_added_lent_and_read_back_from_the_read_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with serving(settings_in(tmp_path), monkeypatch) as running:
        http = running.client
        added = await http.post("/books/dune", json={"title": "Dune", "copies": 1})
        assert added.status_code == 201, added.text
        assert added.headers["location"] == "/books/dune"
        assert added.json() == {"id": "dune", "version": 1, "position": 1}

        # Read-your-writes: a GET after the POST's position sees the POST.
        read = await http.get("/books/dune", params={"after": added.json()["position"]})
        assert read.status_code == 200
        assert read.json() == {
            "id": "dune", "title": "Dune", "copies": 1, "available": 1, "borrowers": []
        }  # fmt: skip

        lent = await http.post("/books/dune/loans", json={"member": "ann"})
        assert lent.status_code == 200
        assert lent.json() == {"id": "dune", "version": 2, "position": 2}
        loans = await http.get("/members/ann/loans", params={"after": 2})
        assert loans.json() == {"member": "ann", "books": ["dune"]}

        # Refused commands: 409 with the CommandError's code and message, nothing stored.
        taken = await http.post("/books/dune/loans", json={"member": "bob"})
        assert problem(taken) == (409, "NO_COPY_AVAILABLE")
        assert taken.json()["message"] == "Every copy is lent out"
        again = await http.post("/books/dune", json={"title": "Dune", "copies": 3})
        assert problem(again) == (409, "ALREADY_ADDED")
        not_lent = await http.post("/books/dune/returns", json={"member": "bob"})
        assert problem(not_lent) == (409, "NOT_BORROWED")

        back = await http.post("/books/dune/returns", json={"member": "ann"})
        assert back.json() == {"id": "dune", "version": 3, "position": 3}
        read = await http.get("/books/dune", params={"after": 3})
        assert (read.json()["available"], read.json()["borrowers"]) == (1, [])
        books = await http.get("/books", params={"after": 3})
        assert [book["id"] for book in books.json()] == ["dune"]
        ready = await http.get("/health/ready")
        assert ready.json() == {"status": "ready", "position": 3}
        assert (await running.service.books.load("dune")).version == 3


async def test_unknown_books_are_404_and_invalid_input_is_422(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with serving(settings_in(tmp_path), monkeypatch) as running:
        http = running.client
        assert problem(await http.post("/books/nope/loans", json={"member": "ann"})) == (
            404,
            "NOT_FOUND",
        )
        assert problem(await http.get("/books/nope")) == (404, "NOT_FOUND")

        no_copies = await http.post("/books/dune", json={"title": "Dune", "copies": 0})
        assert problem(no_copies) == (422, "INVALID_REQUEST")
        assert "body.copies" in no_copies.json()["message"]
        extra = await http.post("/books/dune", json={"title": "Dune", "copies": 1, "x": 1})
        assert problem(extra) == (422, "INVALID_REQUEST")
        negative = await http.get("/books", params={"after": -1})
        assert problem(negative) == (422, "INVALID_REQUEST")

        # Ids evtsrc refuses (InvalidAggregateId), before the store is asked.
        for bad in ("x" * 201, "nul%00"):  # %00: the NUL character, which no store keeps
            refused = await http.post(f"/books/{bad}", json={"title": "Dune", "copies": 1})
            assert problem(refused) == (422, "INVALID_ID")
        assert (await http.get("/books")).json() == []
        assert await running.service.domain.backend.last_position(["books"]) == 0


@pytest.mark.parametrize(
    ("retry", "statuses"),
    [(NO_RETRY, [200, 409]), (RetryPolicy(attempts=3), [200, 200])],
    ids=["no-retry", "retried"],
)
async def test_a_lost_race_is_409_unless_the_retry_policy_runs_it_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, retry: RetryPolicy, statuses: list[int]
) -> None:
    # Without the cache each command reads the store, as in a process that did not write.
    settings = settings_in(tmp_path, retry=retry, cache_size=0)
    async with serving(settings, monkeypatch) as running:
        http = running.client
        await http.post("/books/dune", json={"title": "Dune", "copies": 2})
        hold_appends(monkeypatch, running.service.domain.backend, 2)
        answers = await asyncio.gather(
            http.post("/books/dune/loans", json={"member": "ann"}),
            http.post("/books/dune/loans", json={"member": "bob"}),
        )
        assert sorted(answer.status_code for answer in answers) == statuses
        for answer in answers:
            if answer.status_code == 409:
                assert problem(answer) == (409, "VERSION_CONFLICT")
        book = await running.service.books.load("dune")
        assert book.version == 1 + statuses.count(200)


async def test_an_unreachable_store_is_503_saying_whether_the_write_may_be_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with serving(settings_in(tmp_path), monkeypatch) as running:
        outcomes = iter([True, False])

        async def unreachable(*args: Any, **kwargs: Any) -> Sequence[EventRecord]:
            raise StoreUnavailable("connection lost", outcome_unknown=next(outcomes))

        monkeypatch.setattr(running.service.domain.backend, "append", unreachable)
        for code in ("OUTCOME_UNKNOWN", "STORE_UNAVAILABLE"):
            answer = await running.client.post("/books/dune", json={"title": "D", "copies": 1})
            assert problem(answer) == (503, code)
            assert answer.headers["retry-after"] == "5"


async def test_a_read_model_behind_is_503_until_it_catches_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with serving(settings_in(tmp_path, read_timeout=0.2), monkeypatch) as running:
        http, catalog = running.client, running.service.catalog
        added = await http.post("/books/dune", json={"title": "Dune", "copies": 1})
        await http.get("/books/dune", params={"after": added.json()["position"]})
        await catalog.stop()  # as if the read model were stuck
        lent = await http.post("/books/dune/loans", json={"member": "ann"})
        position = lent.json()["position"]

        behind = await http.get("/books/dune", params={"after": position})
        assert problem(behind) == (503, "NOT_CAUGHT_UP")
        assert behind.headers["retry-after"] == "1"
        assert f"position {position}" in behind.json()["message"]
        assert problem(await http.get("/health/ready")) == (503, "NOT_RUNNING")
        stale = await http.get("/books/dune")  # without ?after=: what the model has now
        assert stale.json()["borrowers"] == []

        await catalog.start()
        caught_up = await http.get("/books/dune", params={"after": position})
        assert caught_up.json()["borrowers"] == ["ann"]
        assert (await http.get("/health/ready")).status_code == 200


async def test_shutdown_stops_the_handlers_and_closes_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with serving(settings_in(tmp_path), monkeypatch) as running:
        service = running.service
        assert service.catalog.running
        assert service.notices is not None and service.notices.running
        await running.client.post("/books/dune", json={"title": "Dune", "copies": 1})
        assert Path(f"{running.database}-wal").exists()  # open connections keep the WAL
    # serving checked the runners and the backend; SQLite drops the WAL at the last close.
    assert running.database.exists()
    assert not Path(f"{running.database}-wal").exists()


async def test_a_worker_process_sends_the_notices_when_the_web_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="examples.fastapi_service")
    settings = settings_in(tmp_path, notices_in_web=False)
    async with serving(settings, monkeypatch) as running:
        assert running.service.notices is None
        await running.client.post("/books/dune", json={"title": "Dune", "copies": 1})
        await running.client.post("/books/dune/loans", json={"member": "ann"})
        await asyncio.sleep(0.1)
        assert "to ann: you borrowed 'Dune'" not in caplog.messages

        stop = asyncio.Event()
        worker = asyncio.create_task(run_worker(settings, stop))
        async with asyncio.timeout(WITHIN):
            while "to ann: you borrowed 'Dune'" not in caplog.messages:
                assert not worker.done(), worker
                await asyncio.sleep(0.01)
        stop.set()
        async with asyncio.timeout(WITHIN):
            await worker
    assert caplog.messages.count("to ann: you borrowed 'Dune'") == 1
    assert "notices stopped, store closed" in caplog.messages


def test_the_settings_come_from_the_library_variables() -> None:
    assert Settings.from_environ({}) == Settings()
    environ = {
        "LIBRARY_DATABASE_URL": "postgresql://library@db/library",
        "LIBRARY_TABLE_PREFIX": "library_",
        "LIBRARY_READ_TIMEOUT": "0.5",
        "LIBRARY_RETRY_ATTEMPTS": "1",
        "LIBRARY_CACHE_SIZE": "0",
        "LIBRARY_NOTICES_IN_WEB": "0",
    }
    assert Settings.from_environ(environ) == Settings(
        "postgresql://library@db/library", "library_", 0.5, NO_RETRY, 0, notices_in_web=False
    )
    with pytest.raises(ValueError, match="LIBRARY_READ_TIMEOUT"):
        Settings.from_environ({"LIBRARY_READ_TIMEOUT": "0"})


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def test_python_m_serves_until_sigterm_then_shuts_down_cleanly(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIBRARY_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONWARNINGS"] = "error"
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "examples.fastapi_service", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=WITHIN) as http:
            async with asyncio.timeout(WITHIN * 2):
                while True:
                    assert process.returncode is None, await process.communicate()
                    try:
                        if (await http.get("/health/ready")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.05)
            added = await http.post("/books/dune", json={"title": "Dune", "copies": 1})
            assert added.status_code == 201
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(WITHIN):
            _, stderr = await process.communicate()
            code = await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.communicate()
    err = stderr.decode()
    # uvicorn shuts down, then lets SIGTERM end the process as it would have (systemd and
    # container runtimes count that as a clean stop); the log says the shutdown completed.
    assert code == -signal.SIGTERM, err
    assert "library closed: handlers stopped, store closed" in err
    assert "Application shutdown complete" in err
    assert (tmp_path / "library.sqlite").exists()
    assert not (tmp_path / "library.sqlite-wal").exists()
