"""The local broker supports transactions (internal topics configured for a single node).

Needs FM_KAFKA_BOOTSTRAP (``scripts/stack.sh test-up`` then ``source .local/test/env``).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaTimeoutError, UnknownTopicOrPartitionError

pytestmark = [pytest.mark.integration, pytest.mark.asyncio, pytest.mark.timeout(180)]


def bootstrap() -> str:
    value = os.environ.get("FM_KAFKA_BOOTSTRAP")
    if not value:
        pytest.fail(
            "FM_KAFKA_BOOTSTRAP is not set: `scripts/stack.sh test-up` and `source .local/test/env`",
            pytrace=False,
        )
    return value


async def test_committed_visible_aborted_hidden_and_auto_create_off() -> None:
    bs = bootstrap()
    topic = f"infra-txn-{uuid.uuid4()}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bs)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
        # auto topic creation is off: an unknown topic stays unknown after a metadata request
        ghost = f"infra-ghost-{uuid.uuid4()}"
        producer = AIOKafkaProducer(bootstrap_servers=bs, request_timeout_ms=3000)
        await producer.start()
        try:
            with pytest.raises((UnknownTopicOrPartitionError, KafkaTimeoutError, TimeoutError)):
                await asyncio.wait_for(producer.send_and_wait(ghost, b"x"), 10)
        finally:
            await producer.stop()
        assert ghost not in await admin.list_topics()
    finally:
        await admin.close()

    producer = AIOKafkaProducer(bootstrap_servers=bs, transactional_id=f"infra-txn-{uuid.uuid4()}")
    await producer.start()
    try:
        async with producer.transaction():
            for i in range(10):
                await producer.send(topic, f"committed-{i}".encode())
        await producer.begin_transaction()
        for i in range(5):
            await producer.send(topic, f"aborted-{i}".encode())
        await producer.abort_transaction()
        async with producer.transaction():
            await producer.send(topic, b"committed-last")
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bs, group_id=None, isolation_level="read_committed", auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        values: list[bytes] = []
        deadline = time.monotonic() + 30
        while await consumer.position(tp) < end:
            assert time.monotonic() < deadline, values
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                values.extend(r.value for r in records)
    finally:
        await consumer.stop()
    assert values == [f"committed-{i}".encode() for i in range(10)] + [b"committed-last"]
