"""Integrating services through message brokers: a relay that publishes stored events.

`Relay` is a handler that publishes events (as they are, or as integration messages)
through a `Publisher`: `evtsrc.messaging.kafka.KafkaPublisher`,
`evtsrc.messaging.nats.NatsPublisher` or `evtsrc.messaging.rabbitmq.RabbitPublisher`,
each from its extra (`evtsrc[kafka]`, `evtsrc[nats]`, `evtsrc[rabbitmq]`).
"""

from ._message import (
    AGGREGATE_ID,
    AGGREGATE_VERSION,
    CAUSATION_ID,
    CORRELATION_ID,
    EVENT_ID,
    MESSAGE_ID,
    POSITION,
    STREAM,
    TIMESTAMP,
    TYPE,
    TYPE_VERSION,
    Message,
    Publisher,
)
from ._publishing import PublishFailed
from ._relay import Relay
from .memory import InMemoryPublisher

__all__ = [
    "AGGREGATE_ID",
    "AGGREGATE_VERSION",
    "CAUSATION_ID",
    "CORRELATION_ID",
    "EVENT_ID",
    "InMemoryPublisher",
    "MESSAGE_ID",
    "POSITION",
    "STREAM",
    "TIMESTAMP",
    "TYPE",
    "TYPE_VERSION",
    "Message",
    "PublishFailed",
    "Publisher",
    "Relay",
]
