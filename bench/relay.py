"""The relay's benchmark: store to broker acknowledgement, against each broker's own client.

    python -m bench.relay [--events N] [--rounds K] [--rate R] [--seconds S]
                          [--brokers kafka,nats,rabbitmq]

For each broker, in one run, side by side:

* **raw**: the broker's client publishes N messages like the relay's (same payloads and
  headers, same acknowledgement settings: Kafka idempotent with acks=all, JetStream
  acknowledgements, RabbitMQ publisher confirms with persistent messages), 1,000 at a time,
  each thousand sent without waiting and then awaited;
* **relay**: a `Relay` run once over N events stored in PostgreSQL, batches of 1,000,
  until the broker acknowledged the last;

both on a connection that has published one message to the fresh topic, stream or queue
(so neither pays for connecting or learning where the topic is); `--rounds` rounds, each
timing both back to back (which goes first alternates). The ratio is the median of the
rounds' ratios, as a round's two runs meet much the same machine (shared and noisy); the
best relay round over the best raw round is printed too;
* **latency**: events appended at R per second for S seconds (one command each) while a
  started relay follows them (woken by PostgreSQL's NOTIFY); a consumer stamps each message
  on arrival: append-to-consumer latency, p50 and p99.

Servers: the EVTSRC_TEST_* variables if set (as for the tests), else private ones that
scripts/dbservers starts in a folder of its own and stops afterwards (PostgreSQL there
runs with fsync off: for the durable figure point EVTSRC_TEST_POSTGRES_DSN at one).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aio_pika
import aiormq
import msgspec
import nats
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from evtsrc import Domain, EventMeta, on_event
from evtsrc.backends import NewEvent, TableNames
from evtsrc.backends.postgres import PostgresBackend
from evtsrc.messaging import MESSAGE_ID, TIMESTAMP, Message, Publisher, Relay
from evtsrc.messaging.kafka import KafkaPublisher
from evtsrc.messaging.nats import NatsPublisher
from evtsrc.messaging.rabbitmq import RabbitPublisher
from evtsrc.testing.backend_contract._model import Counter, Ledger, One

ROOT = Path(__file__).resolve().parents[1]
BATCH = 1000
AGGREGATES = 200
VARIABLES = {
    "postgres": "EVTSRC_TEST_POSTGRES_DSN",
    "kafka": "EVTSRC_TEST_KAFKA_BOOTSTRAP",
    "nats": "EVTSRC_TEST_NATS_URL",
    "rabbitmq": "EVTSRC_TEST_RABBITMQ_URL",
}
THROUGHPUT_MINIMUM = 0.7
"""The relay's events/s over the raw client's, at least."""
P99_MAXIMUM_MS = 50.0
"""The relay's p99 append-to-consumer latency at 1,000 events/s on PostgreSQL, at most."""


class Out(Relay, name="bench-out"):
    @on_event
    def one(self, event: One, meta: EventMeta) -> None:
        self.forward(event, meta)


# -- servers ---------------------------------------------------------------------------------


def _dbservers(environment: dict[str, str], *arguments: str) -> str:
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "dbservers"), *arguments],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=240,
    )
    if done.returncode != 0 and arguments[0] == "serve":
        raise RuntimeError(f"scripts/dbservers {' '.join(arguments)}: {done.stderr[-2000:]}")
    return done.stdout


@asynccontextmanager
async def servers(names: list[str]) -> AsyncIterator[dict[str, str]]:
    """Each server's location: from the environment, or a private one started here."""
    found = {name: os.environ.get(VARIABLES[name], "") for name in names}
    missing = [name for name, location in found.items() if not location]
    folder = tempfile.mkdtemp(prefix="evtsrc-bench-relay-")
    os.chmod(folder, 0o755)  # the postgres user enters it
    environment = {**os.environ, "EVTSRC_SERVERS_DIR": folder}
    try:
        for name in missing:
            printed = await asyncio.to_thread(_dbservers, environment, "serve", name)
            found[name] = printed.strip().split("=", 1)[1]
        yield found
    finally:
        for name in missing:
            await asyncio.to_thread(_dbservers, environment, "halt", name, "immediate")
        shutil.rmtree(folder, ignore_errors=True)


# -- one destination per broker ---------------------------------------------------------------


class Destination:
    """A fresh topic, stream or queue; a publisher, the raw client's publish, a consumer."""

    def __init__(self, broker: str, location: str) -> None:
        self.broker = broker
        self.location = location
        self.name = f"bench-{uuid.uuid4().hex[:10]}"
        self._stack = AsyncExitStack()

    async def __aenter__(self) -> Destination:
        if self.broker == "kafka":
            admin = AIOKafkaAdminClient(bootstrap_servers=self.location)
            await admin.start()
            self._stack.push_async_callback(admin.close)
            await admin.create_topics([NewTopic(self.name, num_partitions=8, replication_factor=1)])
            self._stack.push_async_callback(admin.delete_topics, [self.name])
            await self._every_partition_led()
        elif self.broker == "nats":
            client = await nats.connect(self.location)
            self._stack.push_async_callback(client.close)
            stream = client.jetstream()
            await stream.add_stream(name=self.stream, subjects=[f"{self.name}.>"])
            self._stack.push_async_callback(stream.delete_stream, self.stream)
        else:
            connection = await aio_pika.connect(self.location)
            self._stack.push_async_callback(connection.close)
            channel = await connection.channel()
            queue = await channel.declare_queue(self.name, durable=True)
            self._stack.push_async_callback(queue.delete, if_unused=False, if_empty=False)
        return self

    async def _every_partition_led(self) -> None:
        """Write to each partition of the new topic once, so that its leader is elected.

        Neither run then meets a "not the leader" answer and waits to send again.
        """
        producer = AIOKafkaProducer(bootstrap_servers=self.location, acks="all")
        await producer.start()
        try:
            for partition in range(8):
                await (await producer.send(self.name, b"{}", partition=partition))
        finally:
            await producer.stop()

    async def __aexit__(self, *error: object) -> None:
        await self._stack.aclose()

    @property
    def stream(self) -> str:
        return self.name.replace("-", "_").upper()

    def publisher(self) -> Publisher:
        if self.broker == "kafka":
            return KafkaPublisher(self.location, topic=self.name, timeout=60)
        if self.broker == "nats":
            return NatsPublisher(self.location, subject=f"{self.name}.events", timeout=60)
        return RabbitPublisher(self.location, routing_key=self.name, timeout=60)

    async def raw(self, messages: list[tuple[str, str, bytes, dict[str, str]]]) -> float:
        """Seconds the raw client takes to publish `messages`, acknowledged, BATCH at a time.

        The first message is published first, untimed, again with an id of its own.
        """
        warm_id, key, payload, headers = messages[0]
        warm = [(f"warm-{warm_id}", key, payload, {**headers, MESSAGE_ID: f"warm-{warm_id}"})]
        batches = [warm, *(messages[i : i + BATCH] for i in range(0, len(messages), BATCH))]
        if self.broker == "kafka":
            producer = AIOKafkaProducer(
                bootstrap_servers=self.location, acks="all", enable_idempotence=True, linger_ms=5
            )
            await producer.start()
            try:
                started = 0.0
                for index, batch in enumerate(batches):
                    if index == 1:  # the warm-up message is acknowledged
                        started = time.perf_counter()
                    sent = [
                        await producer.send(
                            self.name,
                            value=payload,
                            key=key.encode(),
                            headers=[(k, v.encode()) for k, v in headers.items()],
                        )
                        for _, key, payload, headers in batch
                    ]
                    await asyncio.gather(*sent)
                return time.perf_counter() - started
            finally:
                await producer.stop()
        if self.broker == "nats":
            client = await nats.connect(self.location)
            try:
                stream = client.jetstream()
                started = 0.0
                for index, batch in enumerate(batches):
                    if index == 1:  # the warm-up message is acknowledged
                        started = time.perf_counter()
                    acks = [
                        await stream.publish_async(
                            f"{self.name}.events",
                            payload,
                            headers={**headers, "Nats-Msg-Id": message_id},
                        )
                        for message_id, _, payload, headers in batch
                    ]
                    await asyncio.gather(*acks)
                return time.perf_counter() - started
            finally:
                await client.close()
        connection = await aio_pika.connect(self.location)
        async with connection:
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            # The client's quickest way, as the relay's: aiormq's publish with wait=False
            # (aio-pika's Exchange.publish waits for the socket after each message).
            underlay = await channel.get_underlay_channel()
            started = 0.0
            for index, batch in enumerate(batches):
                if index == 1:  # the warm-up message is confirmed
                    started = time.perf_counter()
                await asyncio.gather(
                    *(
                        underlay.basic_publish(  # type: ignore[call-arg]
                            payload,
                            routing_key=self.name,
                            properties=aiormq.spec.Basic.Properties(
                                delivery_mode=2,  # persistent
                                headers=dict(headers),
                                message_id=message_id,
                            ),
                            mandatory=True,
                            wait=False,
                        )
                        for message_id, _, payload, headers in batch
                    )
                )
            return time.perf_counter() - started

    async def consume(
        self, arrived: Callable[[dict[str, str]], None], ready: asyncio.Event
    ) -> None:
        """Call `arrived(headers)` for each message from now on, until cancelled."""
        if self.broker == "kafka":
            consumer = AIOKafkaConsumer(
                self.name, bootstrap_servers=self.location, auto_offset_reset="earliest"
            )
            await consumer.start()
            try:
                ready.set()
                while True:
                    for records in (await consumer.getmany(timeout_ms=100)).values():
                        for record in records:
                            arrived({k: v.decode() for k, v in record.headers})
            finally:
                await consumer.stop()
        elif self.broker == "nats":
            client = await nats.connect(self.location)
            try:

                async def on_message(message: Any) -> None:
                    arrived(dict(message.headers or {}))

                await client.jetstream().subscribe(f"{self.name}.>", cb=on_message)
                ready.set()
                await asyncio.Event().wait()
            finally:
                await client.close()
        else:
            connection = await aio_pika.connect(self.location)
            async with connection:
                channel = await connection.channel()
                await channel.set_qos(prefetch_count=1000)
                queue = await channel.get_queue(self.name)

                async def on_delivery(message: aio_pika.abc.AbstractIncomingMessage) -> None:
                    arrived({k: str(v) for k, v in (message.headers or {}).items()})
                    await message.ack()

                await queue.consume(on_delivery)
                ready.set()
                await asyncio.Event().wait()


# -- the measurements --------------------------------------------------------------------------


async def _stored(dsn: str, events: int) -> tuple[PostgresBackend, Domain]:
    backend = await PostgresBackend.connect(
        dsn, tables=TableNames(prefix=f"b{uuid.uuid4().hex[:8]}_")
    )
    await backend.create_schema()
    domain = Domain(backend, aggregates=[Counter, Ledger])
    now = datetime.now(UTC)
    per = events // AGGREGATES
    for n in range(AGGREGATES):
        for start in range(0, per, 50):
            count = min(50, per - start)
            batch = [NewEvent("one", {}, now) for _ in range(count)]
            await backend.append("counters", f"c{n}", start, batch)
    return backend, domain


def _tables() -> TableNames:
    return TableNames(prefix=f"b{uuid.uuid4().hex[:8]}_")


def _like_the_relays(records: list[Any]) -> list[tuple[str, str, bytes, dict[str, str]]]:
    """Messages as the relay makes them of `records` (for the raw client to send)."""
    made = []
    for r in records:
        headers = {
            "evtsrc-type": r.type,
            "evtsrc-type-version": str(r.event_version),
            "evtsrc-event-id": r.event_id,
            "evtsrc-correlation-id": r.event_id,
            "evtsrc-stream": r.stream,
            "evtsrc-aggregate-id": r.aggregate_id,
            "evtsrc-aggregate-version": str(r.version),
            "evtsrc-position": str(r.position),
            "evtsrc-timestamp": msgspec.json.encode(r.timestamp)[1:-1].decode(),
            MESSAGE_ID: f"bench-out:{r.event_id}",
        }
        made.append(
            (f"bench-out:{r.event_id}", r.aggregate_id, json.dumps(r.data).encode(), headers)
        )
    return made


async def throughput(broker: str, location: str, dsn: str, events: int, rounds: int) -> Rates:
    """Events/s of the raw client and of the relay publishing `events` events.

    Each round times both back to back, the raw client first in odd rounds and the relay
    first in even ones (so neither always follows the other's disk writes), each after a
    full garbage collection. The machines are shared and noisy: a burst of someone else's
    work slows one run of a round, not a whole side.
    """
    backend, domain = await _stored(dsn, events)
    raws: list[float] = []
    relays: list[float] = []
    try:
        for round_ in range(rounds):
            sides = [_raw_seconds, _relay_seconds]
            for side in sides if round_ % 2 == 0 else reversed(sides):
                seconds = await side(broker, location, backend, domain, events)
                (raws if side is _raw_seconds else relays).append(events / seconds)
    finally:
        await backend.drop_schema()
        await backend.close()
    return Rates(raws, relays)


class Rates:
    """The events/s of each round, raw client and relay."""

    def __init__(self, raws: list[float], relays: list[float]) -> None:
        self.raws, self.relays = raws, relays

    @property
    def ratio(self) -> float:
        """The median of the rounds' relay / raw: each measured side by side."""
        pairs = zip(self.raws, self.relays, strict=True)
        return statistics.median(relay / raw for raw, relay in pairs)

    @property
    def best_ratio(self) -> float:
        """The best relay round over the best raw round (rounds apart, maybe)."""
        return max(self.relays) / max(self.raws)


async def _raw_seconds(
    broker: str, location: str, backend: PostgresBackend, domain: Domain, events: int
) -> float:
    records = await backend.read_streams(["counters"], after_position=0, limit=events)
    messages = _like_the_relays(list(records))
    del records
    async with Destination(broker, location) as target:
        gc.collect()
        return await target.raw(messages)


async def _relay_seconds(
    broker: str, location: str, backend: PostgresBackend, domain: Domain, events: int
) -> float:
    first = (await backend.read_streams(["counters"], after_position=0, limit=1))[0]
    (warm,) = _like_the_relays([first])
    async with Destination(broker, location) as target:
        publisher = target.publisher()
        relay = Out(publisher)
        runner = domain.handler(relay, batch_size=BATCH)
        try:
            message_id, key, payload, headers = warm
            acknowledged = await publisher.send(
                [Message(f"warm-{message_id}", key, "one", payload, headers)]
            )
            if acknowledged is not None:
                await acknowledged
            await runner.set_position(0)
            gc.collect()
            started = time.perf_counter()
            assert await runner.run_once() == events
            return time.perf_counter() - started
        finally:
            await relay.close()


async def latency(broker: str, location: str, dsn: str, rate: float, seconds: float) -> list[float]:
    """Append-to-consumer latencies (ms) of events appended at `rate` a second.

    A first second at that rate warms up (the topic's leadership, the consumer's
    fetches, the relay's connection) and is not counted.
    """
    backend = await PostgresBackend.connect(dsn, tables=_tables())
    await backend.create_schema()
    domain = Domain(backend, aggregates=[Counter, Ledger])
    found: list[float] = []
    expected = 0
    all_in = asyncio.Event()

    def arrived(headers: dict[str, str]) -> None:
        if TIMESTAMP not in headers:
            return  # a message that readied the destination
        stamped = datetime.fromisoformat(headers[TIMESTAMP])
        found.append((datetime.now(UTC) - stamped).total_seconds() * 1000)
        if len(found) >= expected:
            all_in.set()

    async def phase(count: int) -> None:
        nonlocal expected
        found.clear()
        all_in.clear()
        expected = count
        counters = domain.repository(Counter)
        began = time.perf_counter()
        for n in range(count):
            await _at(began + n / rate)
            await counters.execute(f"c{n % AGGREGATES}", Counter.do_one)
        try:
            async with asyncio.timeout(30):
                await all_in.wait()
        except TimeoutError:
            pass  # reported: fewer received than appended

    try:
        async with Destination(broker, location) as target:
            ready = asyncio.Event()
            consuming = asyncio.create_task(target.consume(arrived, ready))
            await asyncio.wait_for(ready.wait(), 60)
            relay = Out(target.publisher())
            runner = domain.handler(relay, batch_size=BATCH, poll_interval=1.0)
            await runner.start()
            try:
                await phase(int(rate))  # the warm-up
                await phase(int(rate * seconds))
            finally:
                await runner.stop()
                await relay.close()
                consuming.cancel()
                await asyncio.gather(consuming, return_exceptions=True)
    finally:
        await backend.drop_schema()
        await backend.close()
    return list(found)


async def _at(moment: float) -> None:
    wait = moment - time.perf_counter()
    if wait > 0:
        await asyncio.sleep(wait)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def main(arguments: argparse.Namespace) -> int:
    brokers = arguments.brokers.split(",")
    rows = []
    async with servers(["postgres", *brokers]) as found:
        for broker in brokers:
            location, dsn = found[broker], found["postgres"]
            rates = await throughput(broker, location, dsn, arguments.events, arguments.rounds)
            times = await latency(broker, location, dsn, arguments.rate, arguments.seconds)
            expected = int(arguments.rate * arguments.seconds)
            rows.append(
                {
                    "broker": broker,
                    "raw": max(rates.raws),
                    "relay": max(rates.relays),
                    "ratio": rates.ratio,
                    "best_over_best": rates.best_ratio,
                    "raw_rounds": rates.raws,
                    "relay_rounds": rates.relays,
                    "p50": statistics.median(times) if times else float("nan"),
                    "p99": _percentile(times, 0.99) if times else float("nan"),
                    "received": len(times),
                    "expected": expected,
                }
            )
            print(f"{broker}: {rows[-1]}", flush=True)
    print()
    print(
        f"{arguments.events:,} events, batches of {BATCH:,}, {arguments.rounds} rounds (events/s: "
        "the best round; relay / raw: the median of the rounds' ratios, and the best relay "
        f"round over the best raw one); latency at {arguments.rate:,.0f}/s for "
        f"{arguments.seconds:.0f} s"
    )
    print()
    print(
        "| broker | raw client, events/s | relay, events/s | relay / raw | best / best "
        "| p50 ms | p99 ms |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    failed = False
    for row in rows:
        ok = (
            row["ratio"] >= THROUGHPUT_MINIMUM
            and row["p99"] <= P99_MAXIMUM_MS
            and row["received"] >= row["expected"]
        )
        failed |= not ok
        print(
            f"| {row['broker']} | {row['raw']:,.0f} | {row['relay']:,.0f} | {row['ratio']:.2f}x "
            f"| {row['best_over_best']:.2f}x | {row['p50']:.1f} | {row['p99']:.1f} |"
            + ("" if ok else " FAIL")
        )
    print(f"\ntargets: relay / raw >= {THROUGHPUT_MINIMUM}x; p99 <= {P99_MAXIMUM_MS:.0f} ms")
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "relay.json").write_text(json.dumps(rows, indent=2))
    return 1 if failed and arguments.check else 0


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=1_000.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=7, help="throughput rounds, raw and relay")
    parser.add_argument("--brokers", default="kafka,nats,rabbitmq")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    return parser.parse_args()


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(parse())))
