"""A publisher sends nothing on a new connection while batches of a lost one are unsettled."""

from __future__ import annotations

import asyncio

import pytest

from evtsrc.messaging import PublishFailed
from evtsrc.messaging._publishing import Connections


async def test_a_new_connection_waits_until_the_lost_ones_batches_settle() -> None:
    connections = Connections("Broker")
    connections.opened()
    loop = asyncio.get_running_loop()
    first, second = loop.create_future(), loop.create_future()
    connections.track(first)
    connections.track(second)
    connections.check()  # the same connection: batches follow each other on it
    connections.opened()  # the first was lost
    with pytest.raises(PublishFailed, match="Broker: the connection was lost"):
        connections.check()
    first.set_exception(ConnectionError("lost"))
    first.exception()
    await asyncio.sleep(0)  # done callbacks run
    with pytest.raises(PublishFailed):
        connections.check()  # the second is still unsettled
    second.cancel()
    await asyncio.sleep(0)
    connections.check()
    third = loop.create_future()
    connections.track(third)
    connections.check()
    third.set_result(None)
