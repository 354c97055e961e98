# The parts of aiokafka evtsrc uses, typed (aiokafka ships no type information).
import asyncio
from collections.abc import Sequence
from typing import Literal

class RecordMetadata:
    topic: str
    partition: int
    offset: int

class ConsumerRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]

class TopicPartition:
    topic: str
    partition: int
    def __init__(self, topic: str, partition: int) -> None: ...
    def __hash__(self) -> int: ...

class AIOKafkaProducer:
    def __init__(
        self,
        *,
        bootstrap_servers: str | list[str] = ...,
        client_id: str | None = ...,
        acks: Literal[0, 1, "all"] = ...,
        enable_idempotence: bool = ...,
        linger_ms: int = ...,
        request_timeout_ms: int = ...,
        max_batch_size: int = ...,
    ) -> None: ...
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def flush(self) -> None: ...
    async def send(
        self,
        topic: str,
        value: bytes | None = ...,
        key: bytes | None = ...,
        partition: int | None = ...,
        timestamp_ms: int | None = ...,
        headers: list[tuple[str, bytes]] | None = ...,
    ) -> asyncio.Future[RecordMetadata]: ...
    async def send_and_wait(
        self,
        topic: str,
        value: bytes | None = ...,
        key: bytes | None = ...,
        partition: int | None = ...,
        timestamp_ms: int | None = ...,
        headers: list[tuple[str, bytes]] | None = ...,
    ) -> RecordMetadata: ...

class AIOKafkaConsumer:
    def __init__(
        self,
        *topics: str,
        bootstrap_servers: str | list[str] = ...,
        client_id: str | None = ...,
        group_id: str | None = ...,
        auto_offset_reset: Literal["earliest", "latest", "none"] = ...,
        enable_auto_commit: bool = ...,
        max_poll_records: int | None = ...,
        isolation_level: Literal["read_uncommitted", "read_committed"] = ...,
    ) -> None: ...
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def commit(self, offsets: dict[TopicPartition, int] | None = ...) -> None: ...
    async def getone(self) -> ConsumerRecord: ...
    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = ..., max_records: int | None = ...
    ) -> dict[TopicPartition, list[ConsumerRecord]]: ...
    def __aiter__(self) -> AIOKafkaConsumer: ...
    async def __anext__(self) -> ConsumerRecord: ...
