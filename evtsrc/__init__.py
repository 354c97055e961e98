"""evtsrc: type-safe event sourcing and CQRS for Python, asyncio-first."""

from .aggregate import Aggregate, Decision, Snapshots, command, folds
from .codec import default_converter
from .domain import Domain
from .errors import (
    CommandError,
    CorruptStreamError,
    DefinitionError,
    EventDecodeError,
    EventEncodeError,
    EvtsrcError,
    HandlerError,
    UnknownEventType,
    VersionConflict,
)
from .events import Event, EventMeta, StoredEvent
from .handlers import EventHandler, HandlerRunner, on_event
from .repository import Repository
from .retry import NO_RETRY, RetryPolicy

__all__ = [
    "Aggregate",
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
    "HandlerError",
    "HandlerRunner",
    "NO_RETRY",
    "Repository",
    "RetryPolicy",
    "Snapshots",
    "StoredEvent",
    "UnknownEventType",
    "VersionConflict",
    "command",
    "default_converter",
    "folds",
    "on_event",
]
