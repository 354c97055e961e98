"""Events are constructed with their field types, are frozen, and so is what is read back."""

from __future__ import annotations

from evtsrc import Event, EventMeta, StoredEvent
from tests.typing.model import PostCreated, UserCreated


def construct() -> None:
    UserCreated(name=1)  # expect-error: arg-type ArgumentType
    UserCreated()  # expect-error: call-arg CallIssue
    UserCreated(nam="Al")  # expect-error: call-arg CallIssue
    UserCreated("Al", ["admin"])  # expect-error: arg-type ArgumentType
    PostCreated("a", "b", "c")  # expect-error: call-arg CallIssue


def frozen(created: UserCreated, stored: StoredEvent[Event], meta: EventMeta) -> None:
    created.name = "Bob"  # expect-error: misc AttributeAccessIssue
    created.tags += ("x",)  # expect-error: misc AttributeAccessIssue
    stored.event = created  # expect-error: misc AttributeAccessIssue
    meta.version = 2  # expect-error: misc AttributeAccessIssue
    EventMeta("u", "u-1", "1", 10, meta.timestamp, "u.made")  # expect-error: arg-type ArgumentType


def read_back(stored: StoredEvent[Event]) -> None:
    print(stored.event.name)  # expect-error: attr-defined AttributeAccessIssue
    narrow: StoredEvent[UserCreated] = stored  # expect-error: assignment AssignmentType
    print(narrow, stored.meta.position + "1")  # expect-error: operator OperatorIssue


class Ordered(Event):
    first: int = 0
    second: str  # expect-error: misc GeneralTypeIssues


class Typed(Event):
    count: int = "one"  # expect-error: assignment AssignmentType
