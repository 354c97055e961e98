"""A thread of its own that runs one backend's blocking jobs in order, for the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")

Translate = Callable[[Callable[..., Any], tuple[Any, ...], BaseException], BaseException]
"""What a job's error is raised as, given the job's function, its arguments and the error."""

_Job = tuple[
    asyncio.AbstractEventLoop | None,
    "asyncio.Future[Any] | None",
    Callable[..., Any],
    tuple[Any, ...],
]


class Worker:
    """One thread that runs jobs in order, each answered on its caller's event loop.

    Lighter than `loop.run_in_executor`: no `concurrent.futures.Future`, no locks
    on submission, one `call_soon_threadsafe` per answer. Every error of a job
    passes through `translate` on its way to the caller.
    """

    def __init__(self, name: str, translate: Translate) -> None:
        self._name = name
        self._translate = translate
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.closed_by: object = None
        """The closed backend, once closed: jobs are refused."""

    def run(self, function: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """Queue `function(*args)`; the future has its result (not run if cancelled first)."""
        if self._thread is None:
            self._start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((loop, future, function, args))
        return future

    def post(self, function: Callable[[], object]) -> None:
        """Queue `function()` after the jobs queued so far, not waiting for it."""
        if self._thread is not None:
            self._jobs.put((None, None, function, ()))

    def _start(self) -> None:
        if self.closed_by is not None:
            raise RuntimeError(f"{self.closed_by!r} is closed")
        thread = threading.Thread(
            target=_serve, args=(self._jobs, self._translate), name=self._name, daemon=True
        )
        thread.start()
        self._thread = thread
        weakref.finalize(self, self._jobs.put, None)  # forgotten unclosed: end the thread

    def close(self, backend: object, last: Callable[[], None]) -> Awaitable[None]:
        """Run `last()`, end the thread, and refuse jobs from now on, naming `backend`."""
        self.closed_by = backend
        if self._thread is None:
            return asyncio.sleep(0)
        future = self.run(last)
        self._jobs.put(None)
        self._thread = None
        return future


def _serve(jobs: queue.SimpleQueue[_Job | None], translate: Translate) -> None:
    get = jobs.get
    while (job := get()) is not None:
        _serve_one(translate, *job)
        del job  # hold nothing (the backend, through a bound method) while waiting


def _serve_one(
    translate: Translate,
    loop: asyncio.AbstractEventLoop | None,
    future: asyncio.Future[Any] | None,
    function: Callable[..., Any],
    args: tuple[Any, ...],
) -> None:
    if loop is None or future is None:  # posted: nobody waits for it
        with contextlib.suppress(Exception):
            function(*args)
        return
    if future.cancelled():
        return
    try:
        result = function(*args)
    except BaseException as error:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
            loop.call_soon_threadsafe(_settle, future, None, translate(function, args, error))
        return
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(_settle, future, result, None)


def _settle(future: asyncio.Future[Any], result: object, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)
