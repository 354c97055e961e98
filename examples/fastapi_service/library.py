"""The library's domain: books that members borrow and bring back.

Nothing here knows about HTTP. A refused command raises `CommandError` with a stable
`code`; the web layer (`app.py`) turns it into a status code and a JSON body.
"""

from __future__ import annotations

from evtsrc import Aggregate, CommandError, Event, command, folds


class BookAdded(Event, type_name="library.book-added"):
    title: str
    copies: int


class BookLent(Event, type_name="library.book-lent"):
    member: str


class BookReturned(Event, type_name="library.book-returned"):
    member: str


class NotFound(CommandError):
    """A command named an aggregate that was never created (answered 404, not 409)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="NOT_FOUND")


class Book(Aggregate, stream="books"):
    """A title in the catalogue with a number of copies, each lent to one member at a time."""

    title: str = ""
    copies: int = 0
    borrowers: tuple[str, ...] = ()

    @folds
    def _added(self, event: BookAdded) -> None:
        self.title = event.title
        self.copies = event.copies

    @folds
    def _lent(self, event: BookLent) -> None:
        self.borrowers = (*self.borrowers, event.member)

    @folds
    def _returned(self, event: BookReturned) -> None:
        self.borrowers = tuple(m for m in self.borrowers if m != event.member)

    @command
    def add(self, title: str, copies: int) -> BookAdded:
        if self.version:
            raise CommandError("This book is in the catalogue already", code="ALREADY_ADDED")
        if copies < 1:
            raise CommandError("A book has at least one copy", code="NO_COPIES")
        return BookAdded(title=title, copies=copies)

    @command
    def lend(self, member: str) -> BookLent:
        if not self.version:
            raise NotFound("No such book")
        if member in self.borrowers:
            raise CommandError("This member has a copy already", code="ALREADY_BORROWED")
        if len(self.borrowers) >= self.copies:
            raise CommandError("Every copy is lent out", code="NO_COPY_AVAILABLE")
        return BookLent(member=member)

    @command
    def give_back(self, member: str) -> BookReturned:
        if not self.version:
            raise NotFound("No such book")
        if member not in self.borrowers:
            raise CommandError("This member has no copy to bring back", code="NOT_BORROWED")
        return BookReturned(member=member)
