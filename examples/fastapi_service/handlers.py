"""The service's event handlers: the catalogue it answers GET requests from, and notices.

* `Catalog` is a read model kept in the web process's memory. Every web process runs
  its own, rebuilt from the first event at each start (its bookmark is in memory too).
* `Notices` has effects outside the process (here it only logs what it would e-mail):
  its bookmark is in the store, so each notice goes out once however many processes
  run it. Only one of them handles events at a time; the others stand by to take over.
  It runs in the web process unless `LIBRARY_NOTICES_IN_WEB=0`, when
  `python -m examples.fastapi_service.worker` runs it instead.
"""

from __future__ import annotations

import logging

import attrs

from evtsrc import EventHandler, EventMeta, Repository, on_event

from .library import Book, BookAdded, BookLent, BookReturned

log = logging.getLogger(__name__)


@attrs.define
class BookRow:
    id: str
    title: str
    copies: int
    borrowers: list[str] = attrs.Factory(list[str])


class Catalog(EventHandler, name="library-catalog", reads_metadata=False):
    """Every book, and the books each member has: what the GET routes answer from."""

    def __init__(self) -> None:
        self.books: dict[str, BookRow] = {}
        self.loans: dict[str, list[str]] = {}

    @on_event
    def added(self, event: BookAdded, meta: EventMeta) -> None:
        self.books[meta.aggregate_id] = BookRow(meta.aggregate_id, event.title, event.copies)

    @on_event
    def lent(self, event: BookLent, meta: EventMeta) -> None:
        self.books[meta.aggregate_id].borrowers.append(event.member)
        self.loans.setdefault(event.member, []).append(meta.aggregate_id)

    @on_event
    def returned(self, event: BookReturned, meta: EventMeta) -> None:
        self.books[meta.aggregate_id].borrowers.remove(event.member)
        self.loans[event.member].remove(meta.aggregate_id)

    async def on_reset(self) -> None:
        self.books.clear()
        self.loans.clear()


class Notices(EventHandler, name="library-notices", reads_metadata=False):
    """Tells members what they borrowed and brought back (a real service would e-mail)."""

    def __init__(self, books: Repository[Book]) -> None:
        self.books = books

    @on_event
    async def lent(self, event: BookLent, meta: EventMeta) -> None:
        book = await self.books.load(meta.aggregate_id)
        log.info("to %s: you borrowed %r", event.member, book.title)

    @on_event
    async def returned(self, event: BookReturned, meta: EventMeta) -> None:
        book = await self.books.load(meta.aggregate_id)
        log.info("to %s: you brought back %r", event.member, book.title)
