"""Integrating services through message brokers: a relay out, an inbox in.

`Relay` is a handler that publishes events (as they are, or as integration messages)
through a `Publisher`: `evtsrc.messaging.kafka.KafkaPublisher`,
`evtsrc.messaging.nats.NatsPublisher` or `evtsrc.messaging.rabbitmq.RabbitPublisher`,
each from its extra (`evtsrc[kafka]`, `evtsrc[nats]`, `evtsrc[rabbitmq]`). An `Inbox`
runs an `InboxHandler`'s commands for the messages received, each message once; a
`Receiver` of each broker (`KafkaReceiver`, `NatsReceiver`, `RabbitReceiver`) feeds it.
"""

from ._inbox import Inbox, InboxHandler, MessageDecodeError, Received, on_message
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
from ._receiving import Outcome, Receiver
from ._relay import Relay
from .memory import InMemoryPublisher

__all__ = [
    "AGGREGATE_ID",
    "AGGREGATE_VERSION",
    "CAUSATION_ID",
    "CORRELATION_ID",
    "EVENT_ID",
    "InMemoryPublisher",
    "Inbox",
    "InboxHandler",
    "MESSAGE_ID",
    "POSITION",
    "STREAM",
    "TIMESTAMP",
    "TYPE",
    "TYPE_VERSION",
    "Message",
    "MessageDecodeError",
    "Outcome",
    "PublishFailed",
    "Publisher",
    "Received",
    "Receiver",
    "Relay",
    "on_message",
]
