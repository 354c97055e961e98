"""Which of pymongo's errors mean MongoDB cannot be reached, and what a write's answer means."""

from __future__ import annotations

from pymongo.errors import ConnectionFailure, PyMongoError

from .._support.outage import Outage, causes


def _after_connection_failure(error: BaseException) -> bool:
    """A timeout error pymongo raised because the store stayed unreachable.

    `with_transaction` under `pymongo.timeout` ends its retries with an
    `ExecutionTimeout` raised from the last (network) error.
    """
    return isinstance(error, PyMongoError) and any(
        isinstance(cause, ConnectionFailure) for cause in causes(error)
    )


def _commit_answer_lost(error: BaseException) -> bool:
    """Whether a failed transaction's commit was sent and its answer lost."""
    return any(
        isinstance(cause, PyMongoError) and cause.has_error_label("UnknownTransactionCommitResult")
        for cause in causes(error)
    )


OUTAGE = Outage(
    "MongoDB",
    # ServerSelectionTimeoutError, AutoReconnect, NetworkTimeout (AutoReconnect) and
    # WaitQueueTimeoutError are all ConnectionFailure.
    (ConnectionFailure,),
    also=_after_connection_failure,
    answer_lost=_commit_answer_lost,
)
"""pymongo's outage errors: a transaction's outcome is unknown only when its commit's was."""
