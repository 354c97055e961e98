"""Waking handlers from a change stream on the events collection."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import OperationFailure

from .._support.listener import CannotSubscribe, ReconnectingListener
from ._documents import Document

log = logging.getLogger("evtsrc.backends.mongo")

CHANGE_STREAMS_NEED_A_REPLICA_SET = 40573
"""The server's error code for a change stream on a server that is not a replica set."""


class ChangeListener(ReconnectingListener):
    """Wakes on change-stream inserts into `streams`, resuming after the last one seen."""

    def __init__(self, events: AsyncCollection[Document], streams: Sequence[str]) -> None:
        super().__init__(self._watch, name=f"the change stream on {events.name}", log=log)
        self._events = events
        self._pipeline = [
            {"$match": {"operationType": "insert", "fullDocument.stream": {"$in": list(streams)}}}
        ]
        self._resume: Mapping[str, Any] | None = None

    async def _watch(self, woken: Callable[[], None], subscribed: Callable[[], None]) -> None:
        """Follow one change stream until it fails."""
        try:
            watching = await self._events.watch(self._pipeline, resume_after=self._resume)
        except OperationFailure as error:
            if error.code == CHANGE_STREAMS_NEED_A_REPLICA_SET:
                raise CannotSubscribe(str(error)) from error
            raise
        async with watching as changes:
            subscribed()
            async for _ in changes:
                self._resume = changes.resume_token
                woken()
