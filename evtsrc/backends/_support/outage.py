"""Turning a driver's connection failures into the one error callers handle.

Each backend knows which of its driver's errors mean "the store could not be
reached, the connection was lost, or no connection was free in time" (an
`Outage`), and wraps the places its statements run in `Outage.during(action)`
or, for an append, `Outage.appending(...)`. Every other error passes through as
itself: a constraint violation, a syntax error or a full disk is never disguised
as an outage.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager

import attrs

from ..._errors import StoreUnavailable

DEFAULT_TIMEOUT = 30.0
"""Seconds a backend call may wait for a connection, unless the backend is told otherwise."""


def unavailable(
    store: str, action: str, error: BaseException, *, outcome_unknown: bool = False
) -> StoreUnavailable:
    """A `StoreUnavailable` saying what `action` on `store` met, with `error` as its cause.

    Raise it `from error`. `outcome_unknown` is for an append that was sent when the
    connection failed: the message then says it may have been stored.
    """
    message = (
        f"{store}: {action} failed: the store could not be reached or the connection "
        f"was lost ({type(error).__name__}: {error})"
    )
    if outcome_unknown:
        message += "; the append was sent and may or may not have been stored"
    found = StoreUnavailable(message, outcome_unknown=outcome_unknown)
    found.__cause__ = error
    return found


def causes(error: BaseException) -> Iterator[BaseException]:
    """`error` and the errors it was raised from or during, innermost last."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _never(_: BaseException) -> bool:
    return False


@attrs.define
class Sending:
    """An append in progress: `sent()` once its writing statement goes to the server."""

    was_sent: bool = False

    def sent(self) -> None:
        self.was_sent = True


@attrs.frozen
class Outage:
    """One backend's knowledge of its driver's outage errors.

    `errors` are the driver's exception classes that always mean an outage;
    `also` recognises the rest (a driver error class shared with other failures,
    told apart by its code). For an append, `answer_lost(error)` says whether
    the outcome is unknown; by default, whenever the writing statement was sent.
    """

    store: str
    errors: tuple[type[BaseException], ...]
    also: Callable[[BaseException], bool] = _never
    answer_lost: Callable[[BaseException], bool] | None = None
    excluded: tuple[type[BaseException], ...] = ()

    def __call__(self, error: BaseException) -> bool:
        """Whether `error` means the store was unreachable or the connection lost."""
        if isinstance(error, (StoreUnavailable, *self.excluded)):
            return False  # already said, or a driver error that is not an outage
        if not isinstance(error, Exception):
            return False
        return isinstance(error, self.errors) or self.also(error)

    @contextmanager
    def during(self, action: str) -> Generator[None]:
        """Raise `StoreUnavailable` for an outage met in the block; nothing was written."""
        try:
            yield
        except Exception as error:
            if self(error):
                raise unavailable(self.store, action, error) from error
            raise

    @contextmanager
    def appending(self, stream: str, aggregate_id: str) -> Generator[Sending]:
        """As `during`, for an append: the outcome is unknown if it failed after being sent."""
        sending = Sending()
        try:
            yield sending
        except Exception as error:
            if not self(error):
                raise
            if self.answer_lost is None:
                unknown = sending.was_sent
            else:
                unknown = sending.was_sent and self.answer_lost(error)
            action = f"append to {stream}/{aggregate_id}"
            raise unavailable(self.store, action, error, outcome_unknown=unknown) from error
