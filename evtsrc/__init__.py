"""evtsrc: type-safe event sourcing and CQRS for Python, asyncio-first."""

from ._aggregate import Aggregate, Decision, Snapshots, command, folds
from ._context import MAX_METADATA_BYTES, context, metadata_as
from ._converter import default_converter
from ._domain import DEFAULT_CACHE_SIZE, Domain
from ._errors import (
    AlreadyProcessed,
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
    MetadataError,
    MetadataNotRead,
    StoreUnavailable,
    UnknownEventType,
    UnsupportedStore,
    VersionConflict,
)
from ._events import Event, StoredEvent, Upcaster, upcaster
from ._group import HandlerGroup
from ._handlers import EventHandler, TransactionalHandler, on_event
from ._jsontypes import JSON, JSONObject
from ._meta import EventMeta
from ._repository import Repository
from ._retry import NO_RETRY, RetryPolicy
from ._runner import HandlerRunner
from .backends.urls import connect

__all__ = [
    "DEFAULT_CACHE_SIZE",
    "Aggregate",
    "AlreadyProcessed",
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
    "HandlerGroup",
    "HandlerRunner",
    "InvalidAggregateId",
    "JSON",
    "JSONObject",
    "MAX_METADATA_BYTES",
    "MetadataError",
    "MetadataNotRead",
    "NO_RETRY",
    "Repository",
    "RetryPolicy",
    "Snapshots",
    "StoreUnavailable",
    "StoredEvent",
    "TransactionalHandler",
    "UnknownEventType",
    "UnsupportedStore",
    "Upcaster",
    "VersionConflict",
    "command",
    "connect",
    "context",
    "default_converter",
    "folds",
    "metadata_as",
    "on_event",
    "upcaster",
]
