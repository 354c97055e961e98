"""Aggregates, commands and handlers are declared with typed class options and fields."""

from __future__ import annotations

from evtsrc import Aggregate, Event, EventHandler, Snapshots, command, folds, on_event
from tests.typing.model import User, UserCreated


class BadTypeName(Event, type_name=1):  # expect-error: arg-type ArgumentType
    pass


class BadStream(Aggregate, stream=["a"]):  # expect-error: arg-type ArgumentType
    pass


class BadSnapshots(Aggregate, stream="s", snapshots=10):  # expect-error: arg-type ArgumentType
    pass


class BadHandlerName(EventHandler, name=b"x"):  # expect-error: arg-type ArgumentType
    pass


class BadStreams(EventHandler, streams=[1]):  # expect-error: list-item ArgumentType
    pass


def options() -> None:
    Snapshots(every="10")  # expect-error: arg-type ArgumentType
    Snapshots(key=1)  # expect-error: arg-type ArgumentType


def state() -> None:
    User("Al")  # expect-error: call-arg CallIssue
    User(name=1)  # expect-error: arg-type ArgumentType
    User(nickname="Al")  # expect-error: call-arg CallIssue
    User().version = "2"  # expect-error: assignment AttributeAccessIssue
    User().enabled = None  # expect-error: assignment AttributeAccessIssue


class Counter(Aggregate, stream="counters"):
    count: int = "0"  # expect-error: assignment AssignmentType


class Misnamed(Event, typename="x"):  # expect-error: call-arg CallIssue
    pass


class Unstreamed(Aggregate, strem="x"):  # expect-error: call-arg CallIssue
    pass


class Nameless(EventHandler, nam="x"):  # expect-error: call-arg CallIssue
    pass


class Returns(Aggregate, stream="typing-returns"):
    @folds  # expect-error: type-var ArgumentType
    def created(self, event: UserCreated) -> bool:
        return True

    @command  # expect-error: type-var ArgumentType
    def count(self) -> int:
        return 0


class Listener(EventHandler):
    @on_event  # expect-error: type-var ArgumentType
    def created(self, event: UserCreated) -> str:
        return event.name
