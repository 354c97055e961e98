"""The pytest plugin's helpers misused: an unknown or mistyped handler option, something
that is not a handler, a timeout as text, a scenario of a class that is not an aggregate.
"""

from __future__ import annotations

from evtsrc import HandlerRunner
from evtsrc.testing.pytest_plugin import Given, Runners
from tests.typing.model import PostCounter, User


async def starts(runners: Runners, other: HandlerRunner[PostCounter]) -> int:
    await runners.start(PostCounter(), batch_sise=10)  # expect-error: call-arg CallIssue
    await runners.start(PostCounter(), poll_interval="1")  # expect-error: arg-type ArgumentType
    await runners.start(PostCounter(), allow_errors="yes")  # expect-error: arg-type ArgumentType
    await runners.start(User())  # expect-error: type-var ArgumentType
    await runners.start(handler=PostCounter())  # expect-error: call-arg CallIssue
    await runners.caught_up(other, timeout="1")  # expect-error: arg-type ArgumentType
    await runners.caught_up([other])  # expect-error: arg-type ArgumentType
    runner = await runners.start(PostCounter())
    counter: User = runner.handler  # expect-error: assignment AssignmentType
    return counter.version


def scenarios(evtsrc_given: Given) -> None:
    evtsrc_given(PostCounter)  # expect-error: type-var ArgumentType
    evtsrc_given(User, aggregate_id=1)  # expect-error: arg-type ArgumentType
    evtsrc_given(User, domain=None)  # expect-error: call-arg CallIssue
