"""Misused read-your-writes: a position that is not an int, a missing or positional timeout,
and the reserved `last_position` reused in an aggregate (a DefinitionError at import).
"""

from __future__ import annotations

from evtsrc import Aggregate, Domain, HandlerRunner, folds
from tests.typing.model import PostCounter, User, UserCreated


async def waits(runner: HandlerRunner[PostCounter], user: User) -> None:
    await runner.wait_for("5", timeout=1)  # expect-error: arg-type ArgumentType
    await runner.wait_for(user.last_position)  # expect-error: call-arg CallIssue
    await runner.wait_for(user.last_position, 1.0)  # expect-error: call-arg CallIssue
    await runner.wait_for(user.last_position, timeout="1")  # expect-error: arg-type ArgumentType
    await runner.wait_for(user, timeout=1.0)  # expect-error: arg-type ArgumentType
    user.last_position = "7"  # expect-error: assignment AttributeAccessIssue


class PositionAsText(Aggregate, stream="typing-position-text"):
    last_position: str = ""  # expect-error: assignment IncompatibleVariableOverride

    @folds
    def _created(self, event: UserCreated) -> None:
        pass


class PositionMethod(Aggregate, stream="typing-position-method"):
    def last_position(self) -> int:  # expect-error: override IncompatibleVariableOverride
        return 0

    @folds
    def _created(self, event: UserCreated) -> None:
        pass


def make(domain: Domain) -> None:
    domain.repository(PositionAsText)
