"""Event storage on MongoDB through pymongo's asyncio client (`AsyncMongoClient`).

Needs a replica set (a single-node one will do): appends are multi-document
transactions and handlers are woken by change streams.

Global order: every append takes its positions from one counter document,
incremented in the append's own transaction. MongoDB lets only one open
transaction write a document, so appends commit in position order and a
reader never sees a position before a lower one that is still to commit. The
cost: appends of the whole store take turns at the counter (a competing
append gets a write conflict and `with_transaction` retries it).

Queries page with an upper bound on the position or version they range over,
so each one is served by an index for its filter and its order on MongoDB
and on servers whose planners sort in memory.
"""

from ._backend import WINDOW, MongoBackend

__all__ = ["WINDOW", "MongoBackend"]
