"""The notices in a process of their own: `python -m examples.fastapi_service.worker`.

Run the web processes with `LIBRARY_NOTICES_IN_WEB=0` then, and this worker with the
same `LIBRARY_DATABASE_URL`. It runs until SIGTERM or SIGINT (Ctrl-C), then stops the
handler after its current batch and closes the store. Start several for a standby:
one handles the events, the others take over if it dies.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from .handlers import Notices
from .library import Book
from .service import open_domain
from .settings import Settings

log = logging.getLogger(__name__)


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    """Run the notices until `stop` is set; stop them and close the store then."""
    async with (
        open_domain(settings) as domain,
        domain.handler(Notices(domain.repository(Book))),
    ):
        log.info("notices started")
        await stop.wait()
    log.info("notices stopped, store closed")


async def main() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await run_worker(Settings.from_environ(), stop)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    asyncio.run(main())
