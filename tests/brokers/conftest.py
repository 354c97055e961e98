from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.backends import server_location
from tests.faults.servers import Servers


@pytest.fixture
def kafka_bootstrap() -> str:
    """The Kafka broker's ``host:port`` (EVTSRC_TEST_KAFKA_BOOTSTRAP)."""
    return server_location("EVTSRC_TEST_KAFKA_BOOTSTRAP", "Kafka")


@pytest.fixture
def nats_url() -> str:
    """The NATS server, with JetStream on (EVTSRC_TEST_NATS_URL)."""
    return server_location("EVTSRC_TEST_NATS_URL", "NATS")


@pytest.fixture
def rabbitmq_url() -> str:
    """The RabbitMQ broker's AMQP URL (EVTSRC_TEST_RABBITMQ_URL)."""
    return server_location("EVTSRC_TEST_RABBITMQ_URL", "RabbitMQ")


@pytest.fixture(scope="session")
def private_brokers() -> Iterator[Servers]:
    """Brokers a test owns and restarts (started on first use, stopped at the end)."""
    owned = Servers()
    try:
        yield owned
    finally:
        owned.close()
