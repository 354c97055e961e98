"""evtsrc: type-safe event sourcing and CQRS for Python, asyncio-first."""

from typing import TYPE_CHECKING

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
from ._version import installed_version
from .backends.urls import connect

__version__: str
"""The version of the installed evtsrc distribution, such as ``"0.1.0"``.

It is read from the distribution's metadata, so pyproject.toml's ``version`` is its only
source. It is ``"0+unknown"`` when evtsrc is imported from a checkout that was never
installed (not even with ``pip install -e``); a checkout imported while another copy of
evtsrc is installed reports that copy's version.
"""

if not TYPE_CHECKING:
    # Read on first use: importing importlib.metadata and finding the distribution adds
    # about a tenth to the time `import evtsrc` takes. Hidden from type checkers, which
    # would otherwise accept any misspelt name imported from evtsrc.

    def __getattr__(name: str) -> object:
        if name == "__version__":
            global __version__
            __version__ = installed_version()
            return __version__
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    "__version__",
    "command",
    "connect",
    "context",
    "default_converter",
    "folds",
    "metadata_as",
    "on_event",
    "upcaster",
]
