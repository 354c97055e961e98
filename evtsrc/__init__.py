"""evtsrc: type-safe event sourcing and CQRS for Python, asyncio-first."""

from ._aggregate import Aggregate, Decision, Snapshots, command, folds
from ._converter import default_converter
from ._domain import DEFAULT_CACHE_SIZE, Domain
from ._errors import (
    BookmarkMoved,
    CommandError,
    CorruptStreamError,
    DefinitionError,
    EventDecodeError,
    EventEncodeError,
    EvtsrcError,
    HandlerBehind,
    HandlerBusy,
    HandlerError,
    InvalidAggregateId,
    StoreUnavailable,
    UnknownEventType,
    UnsupportedStore,
    VersionConflict,
)
from ._events import Event, StoredEvent
from ._handlers import EventHandler, TransactionalHandler, on_event
from ._meta import EventMeta
from ._repository import Repository
from ._retry import NO_RETRY, RetryPolicy
from ._runner import HandlerRunner

__all__ = [
    "DEFAULT_CACHE_SIZE",
    "Aggregate",
    "BookmarkMoved",
    "CommandError",
    "CorruptStreamError",
    "Decision",
    "DefinitionError",
    "Domain",
    "Event",
    "EventDecodeError",
    "EventEncodeError",
    "EventHandler",
    "EventMeta",
    "EvtsrcError",
    "HandlerBehind",
    "HandlerBusy",
    "HandlerError",
    "HandlerRunner",
    "InvalidAggregateId",
    "NO_RETRY",
    "Repository",
    "RetryPolicy",
    "Snapshots",
    "StoreUnavailable",
    "StoredEvent",
    "TransactionalHandler",
    "UnknownEventType",
    "UnsupportedStore",
    "VersionConflict",
    "command",
    "default_converter",
    "folds",
    "on_event",
]
