"""What the web process holds while it runs: the domain over the store, and its handlers.

`open_service(settings)` is the whole life of it, as one `async with`: the app's
lifespan enters it at start-up and leaves it at shutdown, which stops the handlers
and closes the store.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import AsyncExitStack, asynccontextmanager

import attrs

from evtsrc import Domain, HandlerRunner, Repository, connect
from evtsrc.backends import InMemoryBookmarks, TableNames

from .handlers import Catalog, Notices
from .library import Book
from .settings import Settings


@asynccontextmanager
async def open_domain(settings: Settings) -> AsyncGenerator[Domain]:
    """The library's domain over the store `settings` names, its tables created if need be.

    Leaving the block stops the handlers made from the domain and closes the store.
    """
    backend = await connect(settings.database_url, tables=TableNames(settings.table_prefix))
    async with Domain(
        backend, aggregates=[Book], retry=settings.retry, cache_size=settings.cache_size
    ) as domain:
        await backend.create_schema()
        yield domain


@attrs.frozen
class Service:
    settings: Settings
    domain: Domain
    books: Repository[Book]
    catalog: HandlerRunner[Catalog]
    """The read model's runner, started in this process: what `wait_for` waits on."""
    started_at: int
    """The store's last position when the service started: once the catalog has
    handled it, the catalog shows everything written before (see `/health/ready`)."""
    notices: HandlerRunner[Notices] | None
    """Started here unless a worker process runs the notices."""


@asynccontextmanager
async def open_service(settings: Settings) -> AsyncGenerator[Service]:
    """Open the store, start the handlers; stop them and close the store as the block ends."""
    async with open_domain(settings) as domain, AsyncExitStack() as handlers:
        books = domain.repository(Book)
        catalog = domain.handler(Catalog(), bookmarks=InMemoryBookmarks())
        # The position is read before the catalog starts, so it has to pass it.
        started_at = await domain.backend.last_position(catalog.streams)
        await handlers.enter_async_context(catalog)
        notices = None
        if settings.notices_in_web:
            notices = await handlers.enter_async_context(domain.handler(Notices(books)))
        yield Service(settings, domain, books, catalog, started_at, notices)
