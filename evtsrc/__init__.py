"""evtsrc: type-safe event sourcing and CQRS for Python, asyncio-first."""

from .aggregate import Aggregate, Decision, Snapshots, command, folds
from .codec import default_converter
from .domain import DEFAULT_CACHE_SIZE, Domain
from .errors import (
    BookmarkMoved,
    CommandError,
    CorruptStreamError,
    DefinitionError,
    EventDecodeError,
    EventEncodeError,
    EvtsrcError,
    HandlerBusy,
    HandlerError,
    InvalidAggregateId,
    StoreUnavailable,
    UnknownEventType,
    VersionConflict,
)
from .events import Event, EventMeta, StoredEvent
from .handlers import EventHandler, TransactionalHandler, on_event
from .repository import Repository
from .retry import NO_RETRY, RetryPolicy
from .runner import HandlerRunner

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
    "VersionConflict",
    "command",
    "default_converter",
    "folds",
    "on_event",
]
