"""The context appends record: correlation and causation ids and the user's own metadata.

`context(...)` sets it for the code inside (a contextvar, so each task and request
keeps its own); a handler sets the event it is handling as the cause while it awaits
a callback. A command reads it once, when it appends.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from contextvars import ContextVar, Token
from types import TracebackType
from typing import TypeVar, cast

import attrs
import cattrs
import msgspec

from ._codec import as_json
from ._converter import default_converter
from ._errors import EventEncodeError, MetadataError
from ._jsontypes import JSON, JSONObject
from ._meta import CAUSATION_ID, CORRELATION_ID, RESERVED_METADATA, EventMeta, meta_of
from ._storable import id_problem
from .backends.base import EventRecord, Once

M = TypeVar("M")

MAX_METADATA_BYTES = 16 * 1024
"""The most metadata one event may carry, as JSON text (UTF-8 bytes)."""

_converter = default_converter()


@attrs.frozen
class Cause:
    """What appends inside a context record besides their own event ids."""

    correlation_id: str | None = None
    causation_id: str | None = None
    metadata: JSONObject = attrs.field(factory=lambda: {})


CURRENT: ContextVar[Cause | EventRecord | EventMeta | None] = ContextVar(
    "evtsrc_context", default=None
)
"""The context appends made now record: one set by `context`, or the stored event a handler
is handling, or its meta (its correlation and id are read from it only when a command
appends)."""


async def await_with_cause(record: EventRecord | EventMeta, pending: Awaitable[object]) -> None:
    """Await a callback's coroutine with `record` (or its meta) as the cause of what it appends.

    Only a coroutine can append (a command is awaited), so plain callbacks, most of
    them, pay nothing: setting a contextvar for each would cost more than the rest of
    handling an event. Tasks the coroutine starts copy the cause with the context.
    """
    token = CURRENT.set(record)
    try:
        await pending
    finally:
        CURRENT.reset(token)


@attrs.define
class InboxScope:
    """The message an inbox runs a callback for: each command it runs appends once.

    The commands are numbered in the order they run, so that a message delivered
    again gives each the key it had the first time.
    """

    inbox: str
    key: str
    commands: int = 0

    def next_once(self) -> Once:
        """The `Once` of the next command of the callback."""
        once = Once(self.inbox, f"{self.key}#{self.commands}")
        self.commands += 1
        return once


INBOX: ContextVar[InboxScope | None] = ContextVar("evtsrc_inbox", default=None)
"""Set while an inbox runs a callback for a message."""


def next_once() -> Once | None:
    """What makes the command starting now append once, inside an inbox's callback."""
    scope = INBOX.get()
    return None if scope is None else scope.next_once()


def current() -> Cause | None:
    """The context appends made now record, if one was set."""
    found = CURRENT.get()
    if found is None or isinstance(found, Cause):
        return found
    meta = found if isinstance(found, EventMeta) else meta_of(found)
    return Cause(meta.correlation_id, meta.event_id)


class Context:
    """Recording context for the appends made inside it; see `evtsrc.context`."""

    def __init__(self, cause: Cause) -> None:
        self.cause = cause
        self._tokens: list[Token[Cause | EventRecord | EventMeta | None]] = []

    def __enter__(self) -> Context:
        self._tokens.append(CURRENT.set(self.cause))
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        CURRENT.reset(self._tokens.pop())

    async def __aenter__(self) -> Context:
        return self.__enter__()

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(kind, error, tb)


def context(
    metadata: attrs.AttrsInstance | Mapping[str, JSON] | None = None,
    /,
    *,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    caused_by: EventMeta | None = None,
    **extra: JSON,
) -> Context:
    """Record this context with every event appended inside the block.

    ```python
    async with evtsrc.context(correlation_id=request_id, user="alice"):
        await accounts.execute("acc-1", Account.deposit, amount=5)
    ```

    `metadata` is an attrs instance of the user's own metadata class (stored through
    evtsrc's default converter; read back with `evtsrc.metadata_as`) or a mapping;
    `extra` keys are added to it. `caused_by` makes a stored event the cause: its
    correlation id and its event id as causation id (what a handler's async
    callback gets by itself; a plain callback passes it to a task it starts).
    Inside an enclosing context, the correlation id and metadata not given here
    are kept from it. Without any context each command starts a correlation of
    its own. Raises `MetadataError` for metadata that is
    not a JSON object evtsrc can store everywhere, uses a reserved key
    (`correlation_id`, `causation_id`, `event_id`) or is larger than
    `MAX_METADATA_BYTES` as JSON; and for ids that are not non-empty strings.
    """
    outer = current() or Cause()
    if caused_by is not None:
        if not isinstance(caused_by, EventMeta):
            raise MetadataError(
                f"context: caused_by must be an EventMeta, not {type(caused_by).__name__}"
            )
        if correlation_id is None:
            correlation_id = caused_by.correlation_id
        if causation_id is None:
            causation_id = caused_by.event_id
    own = _as_object(metadata)
    own.update(extra)
    for name, value in (("correlation_id", correlation_id), ("causation_id", causation_id)):
        if value is not None:
            problem = id_problem(value)
            if problem is not None:
                raise MetadataError(f"context: the {name} {problem}")
    merged = {**outer.metadata, **own}
    reserved = sorted(RESERVED_METADATA.intersection(merged))
    if reserved:
        raise MetadataError(
            f"context: metadata key {reserved[0]!r} is reserved; pass correlation_id= and "
            "causation_id= as arguments"
        )
    try:
        checked = as_json(merged, "context metadata")
    except EventEncodeError as error:
        raise MetadataError(str(error)) from error
    size = len(msgspec.json.encode(checked))
    if size > MAX_METADATA_BYTES:
        raise MetadataError(
            f"context metadata is {size} bytes as JSON, more than the {MAX_METADATA_BYTES} "
            "an event may carry"
        )
    return Context(
        Cause(
            correlation_id if correlation_id is not None else outer.correlation_id,
            causation_id if causation_id is not None else outer.causation_id,
            checked,
        )
    )


def _as_object(metadata: attrs.AttrsInstance | Mapping[str, JSON] | None) -> JSONObject:
    if metadata is None:
        return {}
    if attrs.has(type(metadata)):
        try:
            value = _converter.unstructure(metadata)
        except Exception as error:
            raise MetadataError(
                f"context: cannot encode {type(metadata).__qualname__}: {error}"
            ) from error
        assert isinstance(value, dict)
        return dict(cast("JSONObject", value))
    if isinstance(metadata, Mapping):
        return dict(metadata)  # pyright: ignore[reportUnknownArgumentType]
    raise MetadataError(
        f"context: metadata must be an attrs instance or a mapping, not {type(metadata).__name__}"
    )


def stored_metadata(cause: Cause | None, correlation_id: str) -> JSONObject:
    """The metadata object stored with the events of one command under `cause`."""
    if cause is None:
        return {CORRELATION_ID: correlation_id}
    stored: JSONObject = dict(cause.metadata)
    stored[CORRELATION_ID] = cause.correlation_id or correlation_id
    if cause.causation_id is not None:
        stored[CAUSATION_ID] = cause.causation_id
    return stored


def metadata_as(meta: EventMeta, cls: type[M]) -> M:
    """The event's metadata as an instance of the user's metadata class `cls`.

    Raises `MetadataError` naming the event when the stored metadata does not fit.
    """
    try:
        return _converter.structure(meta.metadata, cls)
    except (cattrs.BaseValidationError, TypeError, ValueError, KeyError) as error:
        raise MetadataError(
            f"metadata of {meta.type_name} at {meta.stream}/{meta.aggregate_id} version "
            f"{meta.version} (position {meta.position}) does not fit {cls.__qualname__}: {error}"
        ) from error
