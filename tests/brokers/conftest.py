from __future__ import annotations

import pytest

from tests.backends import server_location


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
