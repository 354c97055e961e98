"""A version is an int; versioned is a bool; make_live and drop are awaited for their results."""

from __future__ import annotations

from evtsrc import Domain
from tests.typing.model import PostCounter


async def wrong(domain: Domain) -> None:
    runner = domain.handler(PostCounter(), versioned="yes")  # expect-error: arg-type ArgumentType
    runner.at_version("2")  # expect-error: arg-type ArgumentType
    previous: str = await runner.make_live()  # expect-error: assignment AssignmentType
    print(previous)
    runner.handler.version = "2"  # expect-error: assignment AttributeAccessIssue
