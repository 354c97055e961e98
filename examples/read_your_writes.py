"""Read-your-writes: a request that writes, then answers from a read model showing the write.

Run it with `python -m examples.read_your_writes`. The request handler is plain asyncio
(no web framework): it runs a command with `execute`, waits with `wait_for` until the
read model has handled the position the command wrote at, and builds its response from
the read model, never from the aggregate. When the read model does not catch up in
time, the request is answered "202 Accepted" instead of with stale data.

It stores events in the SQLite file `todos.sqlite` in the current folder; set
`TODOS_DATABASE_URL` to any URL the blog example takes (`python -m examples.blog`).
"""

from __future__ import annotations

import asyncio
import os
import uuid

import attrs

from evtsrc import (
    Aggregate,
    CommandError,
    Domain,
    Event,
    EventHandler,
    EventMeta,
    HandlerBehind,
    HandlerRunner,
    command,
    folds,
    on_event,
)
from evtsrc.backends import InMemoryBookmarks
from examples.blog.__main__ import open_backend

DEFAULT_URL = "sqlite:///todos.sqlite"


class TodoAdded(Event, type_name="todo.added"):
    title: str


class TodoDone(Event, type_name="todo.done"):
    pass


class Todo(Aggregate, stream="todos"):
    title: str = ""
    done: bool = False

    @folds
    def _added(self, event: TodoAdded) -> None:
        self.title = event.title

    @folds
    def _done(self, event: TodoDone) -> None:
        self.done = True

    @command
    def add(self, title: str) -> TodoAdded:
        if self.version:
            raise CommandError("This todo exists already", code="EXISTS")
        return TodoAdded(title=title)

    @command
    def finish(self) -> TodoDone | None:
        if not self.version:
            raise CommandError("No such todo", code="NOT_FOUND")
        return None if self.done else TodoDone()


@attrs.define
class TodoRow:
    id: str
    title: str
    done: bool = False


class TodoList(EventHandler, name="todo-list"):
    """The read model requests answer from: one row per todo."""

    def __init__(self) -> None:
        self.rows: dict[str, TodoRow] = {}

    @on_event
    def added(self, event: TodoAdded, meta: EventMeta) -> None:
        self.rows[meta.aggregate_id] = TodoRow(meta.aggregate_id, event.title)

    @on_event
    def done(self, event: TodoDone, meta: EventMeta) -> None:
        self.rows[meta.aggregate_id].done = True


@attrs.frozen
class Request:
    method: str
    path: str
    body: dict[str, str] = attrs.field(factory=dict[str, str])


@attrs.frozen
class Response:
    status: int
    body: dict[str, object]


class App:
    """Routes requests: POST /todos/<id>, POST /todos/<id>/done, GET /todos/<id>."""

    def __init__(
        self, domain: Domain, todo_list: HandlerRunner[TodoList], *, read_timeout: float = 5.0
    ) -> None:
        self.todos = domain.repository(Todo)
        self.todo_list = todo_list
        self.read_timeout = read_timeout
        """Seconds a write waits for the read model before it is answered 202 Accepted."""

    async def handle(self, request: Request) -> Response:
        parts = request.path.strip("/").split("/")
        try:
            if request.method == "POST" and len(parts) == 2:
                todo = await self.todos.execute(parts[1], Todo.add, title=request.body["title"])
                return await self._read_back(parts[1], todo.last_position, status=201)
            if request.method == "POST" and len(parts) == 3 and parts[2] == "done":
                todo = await self.todos.execute(parts[1], Todo.finish)
                return await self._read_back(parts[1], todo.last_position, status=200)
            if request.method == "GET" and len(parts) == 2:
                return self._row(parts[1], status=200)
        except CommandError as error:
            return Response(409 if error.code == "EXISTS" else 404, {"error": error.message})
        return Response(404, {"error": "no such route"})

    async def _read_back(self, todo_id: str, position: int, *, status: int) -> Response:
        # The write is stored; wait until the read model has handled it, then answer from it.
        try:
            await self.todo_list.wait_for(position, timeout=self.read_timeout)
        except HandlerBehind as behind:
            return Response(202, {"accepted": True, "position": behind.position})
        return self._row(todo_id, status=status)

    def _row(self, todo_id: str, *, status: int) -> Response:
        row = self.todo_list.handler.rows.get(todo_id)
        if row is None:
            return Response(404, {"error": "No such todo"})
        return Response(status, attrs.asdict(row))


async def main() -> None:
    url = os.environ.get("TODOS_DATABASE_URL", DEFAULT_URL)
    domain = Domain(await open_backend(url), aggregates=[Todo])
    print(f"storing events in {url}")
    # The read model lives in memory and rebuilds from the first event on every start.
    todo_list = domain.handler(TodoList(), bookmarks=InMemoryBookmarks())
    await todo_list.start()
    app = App(domain, todo_list)
    todo = f"todo-{uuid.uuid4().hex[:6]}"  # a fresh id, so the example can run again
    requests = [
        Request("POST", f"/todos/{todo}", {"title": "Write the docs"}),
        Request("POST", f"/todos/{todo}", {"title": "Write them twice"}),
        Request("POST", f"/todos/{todo}/done"),
        Request("GET", f"/todos/{todo}"),
    ]
    for request in requests:
        response = await app.handle(request)
        print(f"{request.method} {request.path} -> {response.status} {response.body}")

    await todo_list.stop()  # the read model is down: a write is accepted, not read back
    app = App(domain, todo_list, read_timeout=0.2)
    response = await app.handle(Request("POST", f"/todos/{todo}-2", {"title": "Later"}))
    print(f"read model stopped: POST -> {response.status} {sorted(response.body)}")
    await domain.close()


if __name__ == "__main__":
    asyncio.run(main())
