"""Turning a driver's connection failures into the one error callers handle."""

from __future__ import annotations

from ..errors import StoreUnavailable

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
