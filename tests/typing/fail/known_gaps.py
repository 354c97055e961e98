"""Mistakes the checkers do not catch yet, and valid code they reject.

A ``# gap:`` line is wrong but passes both checkers today; a ``# false-positive:``
line is right but rejected with the codes it lists. When the core's types
improve, the typing test fails on these lines: move them to the ``bad_*`` files
as ``# expect-error`` lines, or delete them.
"""

from __future__ import annotations

import attrs

import evtsrc
from evtsrc import Aggregate, Domain, Event, EventHandler, EventMeta, Repository, folds, on_event
from tests.typing.model import PostCreated, User, UserCreated, UserRenamed


class Loose(Aggregate, stream="typing-loose"):
    title: str  # gap: a field without a default (a DefinitionError at run time)

    @folds
    def renamed(self, event: UserRenamed) -> None:
        pass


class Reserved(Aggregate, stream="typing-reserved"):
    id: str = ""  # gap: id and version are reserved (DefinitionError at import)
    last_position: int = 0  # gap: reserved too; only a type other than int is caught


def noop(user: User) -> None:
    pass


async def any_callable(users: Repository[User], loose: Repository[Loose]) -> None:
    await users.execute("a", noop)  # gap: execute() takes any callable, not only @command
    await users.execute("a", lambda user: None)  # gap: the same for a lambda
    await loose.execute("a", Loose.renamed, UserRenamed(name="x"))  # gap: or a @folds method


def base_class(domain: Domain) -> None:
    domain.repository(Aggregate)  # gap: the abstract base is not a registered aggregate


def attrs_api(created: UserCreated) -> None:  # mypy's attrs plugin special-cases evolve()
    attrs.evolve(created, name="Bob")  # false-positive: misc


class LooseCallbacks(EventHandler):
    @on_event  # gap: Event itself names no stored event (a DefinitionError when bound)
    def every(self, event: Event) -> None:
        pass

    @on_event  # gap: meta must be EventMeta exactly, not a wider type
    def wide_meta(self, event: UserCreated, meta: object) -> None:
        pass

    @on_event  # gap: a third parameter, even with a default (a DefinitionError when bound)
    def extra(self, event: UserCreated, meta: EventMeta, retries: int = 0) -> None:
        pass

    @on_event  # gap: *args instead of the event parameter
    def star(self, *events: UserCreated) -> None:
        pass

    # pyright solves the event type to the union's event member (or to Event for object),
    # which such a callback accepts too; mypy takes the annotation as it is.
    @on_event  # partial-gap: type-var
    def partly(self, event: UserCreated | str) -> None:
        pass

    @on_event  # partial-gap: type-var
    def anything(self, event: object, meta: EventMeta) -> None:
        pass


class Named(EventHandler):
    @on_event
    def created(self, event: PostCreated, meta: EventMeta) -> None:
        pass


def by_keyword(handler: Named, created: PostCreated, meta: EventMeta) -> None:
    # @on_event keeps a callback's parameter types, not their names: call it positionally.
    handler.created(created, meta=meta)  # false-positive: call-arg CallIssue


def metadata_class_not_instance() -> None:
    @attrs.frozen
    class Request:
        user: str

    evtsrc.context(Request)  # partial-gap: arg-type
