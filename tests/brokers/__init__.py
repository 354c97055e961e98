"""Message brokers for the relay and the inbox: Kafka, NATS JetStream and RabbitMQ.

scripts/dbservers starts one of each and exports where it listens; the fixtures in
conftest.py hand those locations to tests (skipped without them, failed under CI=true).
"""
