"""Handler leases on MongoDB: a document per handler name, naming its holder until when.

The expiry is written and compared by the runners' clocks (a comparison with the
server's `$$NOW` in a query is not available on every server that speaks the
protocol), so those clocks must agree to within a tenth of the lease's time to live.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from ._documents import Document, millis


class MongoLeases:
    """The lease documents of one store, in `collection` (see `ExpiringLease`)."""

    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self._collection = collection

    async def take(self, name: str, holder: str, ttl: float) -> bool:
        """Hold `name` if its document is missing, expired or `holder`'s already."""
        now = millis(datetime.now(UTC))
        try:
            await self._collection.update_one(
                {"_id": name, "$or": [{"holder": holder}, {"expires": {"$lt": now}}]},
                {"$set": {"holder": holder, "expires": now + timedelta(seconds=ttl)}},
                upsert=True,
            )
        except DuplicateKeyError:  # held by another: the upsert met its document
            return False
        return True

    async def renew(self, name: str, holder: str, ttl: float) -> bool:
        """Push the expiry on if `holder` still holds `name`."""
        now = millis(datetime.now(UTC))
        result = await self._collection.update_one(
            {"_id": name, "holder": holder},
            {"$set": {"expires": now + timedelta(seconds=ttl)}},
        )
        return result.matched_count == 1

    async def holder(self, name: str) -> str | None:
        """Who holds `name`: the holder of its document, unless that expired."""
        now = millis(datetime.now(UTC))
        found = await self._collection.find_one(
            {"_id": name, "expires": {"$gte": now}}, {"_id": 0, "holder": 1}
        )
        return None if found is None else str(found["holder"])

    async def free(self, name: str, holder: str) -> None:
        """Delete `name`'s document if `holder` holds it."""
        await self._collection.delete_one({"_id": name, "holder": holder})
