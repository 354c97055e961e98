"""Mistakes the checkers do not catch yet, and valid code they reject.

A ``# gap:`` line is wrong but passes both checkers today; a ``# false-positive:``
line is right but rejected with the codes it lists. When the core's types
improve, the typing test fails on these lines: move them to the ``bad_*`` files
as ``# expect-error`` lines, or delete them.
"""

from __future__ import annotations

import attrs

from evtsrc import Aggregate, Domain, Repository, folds
from tests.typing.model import User, UserCreated, UserRenamed


class Loose(Aggregate, stream="typing-loose"):
    title: str  # gap: a field without a default (a DefinitionError at run time)

    @folds
    def renamed(self, event: UserRenamed) -> None:
        pass


class Reserved(Aggregate, stream="typing-reserved"):
    id: str = ""  # gap: id and version are reserved (DefinitionError at import)


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
