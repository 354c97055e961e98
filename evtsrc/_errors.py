"""Exceptions raised by evtsrc.

Everything evtsrc raises on purpose derives from `EvtsrcError`, so callers
can tell a library error from a bug in their own code.
"""

from __future__ import annotations


class EvtsrcError(Exception):
    """Base class of every error evtsrc raises on purpose."""


class CommandError(EvtsrcError):
    """A command refused to run because a business rule does not hold.

    `code` is a stable, machine-readable identifier; `message` is for people.
    """

    def __init__(self, message: str, code: str = "COMMAND_ERROR") -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, code={self.code!r})"


class VersionConflict(CommandError):
    """Another writer appended to the aggregate after it was loaded."""

    def __init__(self, stream: str, aggregate_id: str, expected_version: int) -> None:
        super().__init__(
            f"{stream}/{aggregate_id} is no longer at version {expected_version}: "
            "another writer appended first",
            code="VERSION_CONFLICT",
        )
        self.stream = stream
        self.aggregate_id = aggregate_id
        self.expected_version = expected_version


class DefinitionError(EvtsrcError, TypeError):
    """An aggregate, event or handler definition is inconsistent (found at start-up)."""


class EventDecodeError(EvtsrcError):
    """A stored event could not be turned back into its event class.

    Raised about a stored record, it names the record's stream, aggregate id,
    version, type name and global `position` (0 when not about one record, such
    as a snapshot). A payload that is not JSON has the parser's error as `__cause__`.
    """

    def __init__(
        self,
        message: str,
        *,
        stream: str = "",
        aggregate_id: str = "",
        version: int = 0,
        type_name: str = "",
        position: int = 0,
    ) -> None:
        at = f", position {position}" if position else ""
        where = f" ({stream}/{aggregate_id} v{version}{at})" if stream else ""
        super().__init__(f"{message}{where}")
        self.stream = stream
        self.aggregate_id = aggregate_id
        self.version = version
        self.type_name = type_name
        self.position = position


class UnknownEventType(EventDecodeError):
    """A stored event names a type that no registered event class has."""


class EventEncodeError(EvtsrcError, ValueError):
    """An event or aggregate state could not be encoded as JSON."""


class MetadataError(EvtsrcError, ValueError):
    """Metadata that cannot be recorded with events, or that does not fit the class asked for."""


class MetadataNotRead(EvtsrcError):
    """An event's id or metadata asked of a handler declared with `reads_metadata=False`.

    Its reads leave them out; a command it runs cannot record its cause either.
    """


class InvalidAggregateId(EvtsrcError, ValueError):
    """An aggregate id that is not a string every backend can store; the message says why."""


class StoreUnavailable(EvtsrcError, ConnectionError):
    """The store could not be reached, or the connection to it was lost during a call.

    The driver's own exception is the `__cause__`. `outcome_unknown` is true when an
    append was sent and no answer came back: it may or may not have been stored.
    Otherwise nothing was written and the call can simply be made again. Re-sending
    an append whose outcome is unknown with the same expected version is safe: if the
    first one was stored, the second raises `VersionConflict`. Re-running a whole
    command is not, since it loads the aggregate afresh.
    """

    def __init__(self, message: str, *, outcome_unknown: bool = False) -> None:
        super().__init__(message)
        self.outcome_unknown = outcome_unknown


class UnsupportedStore(EvtsrcError):
    """The store's server is a version evtsrc does not support; the message says which it found."""


class CorruptStreamError(EvtsrcError):
    """Stored versions of an aggregate are not consecutive from 1."""


class HandlerError(EvtsrcError):
    """An event handler's callback failed; the handler stopped at that event.

    `stream` and `aggregate_id` name the event's aggregate (None where not known).
    """

    def __init__(
        self,
        handler: str,
        position: int,
        type_name: str,
        cause: BaseException,
        *,
        stream: str | None = None,
        aggregate_id: str | None = None,
    ) -> None:
        super().__init__(
            f"handler {handler!r} failed on {type_name} at position {position}: {cause!r}"
        )
        self.handler = handler
        self.position = position
        self.type_name = type_name
        self.stream = stream
        self.aggregate_id = aggregate_id
        self.__cause__ = cause


class HandlerBusy(EvtsrcError):
    """Another runner holds the lease of this handler name."""

    def __init__(self, handler: str) -> None:
        super().__init__(f"handler {handler!r} is active in another runner")
        self.handler = handler


class AlreadyProcessed(EvtsrcError):
    """An append made for an inbox's message was made before: this one stored nothing.

    Raised by `Backend.append` with `once`, when the inbox already recorded that key
    (a message delivered again). The repository running the command answers it by
    loading the aggregate as stored.
    """

    def __init__(self, inbox: str, key: str) -> None:
        super().__init__(f"inbox {inbox!r} already appended for message key {key!r}")
        self.inbox = inbox
        self.key = key


class BookmarkMoved(EvtsrcError):
    """A handler's bookmark changed under its runner: another runner moved it.

    The runner moved nothing: a transactional handler's batch was rolled back; a
    handler of the other kind handled the batch's events (at least once) and leaves
    the bookmark where the other runner put it.
    """

    def __init__(self, handler: str, expected: int, found: int | None) -> None:
        super().__init__(
            f"bookmark {handler!r} was expected at {expected} but is at {found}: another "
            "runner moved it, so this runner did not (a transactional batch was rolled back)"
        )
        self.handler = handler
        self.expected = expected
        self.found = found


class HandlerBehind(EvtsrcError, TimeoutError):
    """`HandlerRunner.wait_for` timed out before the handler had handled up to a position.

    `position` is the position waited for, `reached` the handler's bookmark when
    the wait gave up.
    """

    def __init__(self, handler: str, position: int, reached: int, timeout: float) -> None:
        super().__init__(
            f"handler {handler!r} had not handled up to position {position} after {timeout:g} s: "
            f"it is at position {reached}"
        )
        self.handler = handler
        self.position = position
        self.reached = reached
