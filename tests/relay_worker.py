"""A relay process of the broker tests: `python -m tests.relay_worker`.

Arguments: broker (kafka, nats or rabbitmq), its location, the destination's name, and
the SQLite file of the events. It relays every `One` event of the counters to the
destination until SIGTERM (it stops cleanly) or SIGKILL, printing `started` once running.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from evtsrc import Domain, EventMeta, on_event
from evtsrc.backends import SqliteBackend
from evtsrc.messaging import Publisher, Relay
from tests.conformance.model import Counter, Ledger, One

BATCH = 100


class Out(Relay, name="out"):
    @on_event
    def one(self, event: One, meta: EventMeta) -> None:
        self.forward(event, meta)


def publisher_for(broker: str, location: str, name: str) -> Publisher:
    """The publisher a test's destination `name` on `broker` takes."""
    if broker == "kafka":
        from evtsrc.messaging.kafka import KafkaPublisher

        return KafkaPublisher(location, topic=name, timeout=5)
    if broker == "nats":
        from evtsrc.messaging.nats import NatsPublisher

        return NatsPublisher(location, subject=f"{name}.events", timeout=5)
    from evtsrc.messaging.rabbitmq import RabbitPublisher

    return RabbitPublisher(location, exchange=name, routing_key="events", timeout=5)


async def main(broker: str, location: str, name: str, path: str) -> None:
    backend = SqliteBackend(path)
    domain = Domain(backend, aggregates=[Counter, Ledger])
    relay = Out(publisher_for(broker, location, name))
    runner = domain.handler(relay, batch_size=BATCH, poll_interval=0.05)
    await runner.start()
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    print("started", flush=True)
    await stopping.wait()
    await runner.stop()
    await relay.close()
    await backend.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
