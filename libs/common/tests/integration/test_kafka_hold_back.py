"""TransactionalProcessor against the real broker: a batch handler that holds back the tail
of a poll (groups cut by the poll) gets it again, every group is answered exactly once and
the committed offsets never pass an unanswered record; consecutive aborts back off longer."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import ConsumerRecord

from factorymesh.api.telemetry.v1 import reading_pb2
from factorymesh.common.kafka import (
    BatchResult,
    EventProducer,
    KafkaConfig,
    Output,
    TransactionalProcessor,
    decode_event,
)
from factorymesh.common.topics import TopicSpec

pytestmark = pytest.mark.integration

MakeTopic = Callable[..., Awaitable[TopicSpec]]
GROUP_SIZES = [3, 1, 4, 2, 3, 3, 2, 4]  # members per group, written consecutively; <= max_batch


def member(group: int, index: int, size: int) -> reading_pb2.SensorReading:
    return reading_pb2.SensorReading(event_id=f"{group}:{index}:{size}", tag="t", double_value=float(index))


def parse(record: ConsumerRecord[bytes, bytes]) -> tuple[int, int, int]:
    message = reading_pb2.SensorReading.FromString(record.value or b"")
    group, index, size = (int(part) for part in message.event_id.split(":"))
    return group, index, size


async def committed(config: KafkaConfig, group: str, topic: str) -> int:
    admin = AIOKafkaAdminClient(**config.common())
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return sum(meta.offset for tp, meta in offsets.items() if tp == TopicPartition(topic, 0))


async def read_outputs(config: KafkaConfig, topic: str, expected: int, timeout_s: float = 30) -> list[str]:
    consumer = AIOKafkaConsumer(
        topic, **config.common(), group_id=None, auto_offset_reset="earliest", isolation_level="read_committed"
    )
    await consumer.start()
    ids: list[str] = []
    try:
        deadline = time.monotonic() + timeout_s
        quiet = 0
        while time.monotonic() < deadline and (len(ids) < expected or quiet < 2):
            batch = await consumer.getmany(timeout_ms=300)
            got = [decode_event(r.value, r.headers).event_id for rs in batch.values() for r in rs]  # type: ignore[attr-defined]
            ids += got
            quiet = 0 if got else quiet + 1
    finally:
        await consumer.stop()
    return ids


async def test_held_back_tails_are_repolled_and_every_group_is_answered_once(
    kafka_config: KafkaConfig, make_topic: MakeTopic, unique_name: Callable[[str], str]
) -> None:
    source = await make_topic("groups", (reading_pb2.SensorReading,), partitions=1)
    sink = await make_topic("answers", (reading_pb2.SensorReading,), partitions=1)
    async with EventProducer(kafka_config) as producer:
        items = [("k", member(g, i, size)) for g, size in enumerate(GROUP_SIZES) for i in range(size)]
        await producer.send_many(source, items)
    total = len(items)

    polls: list[tuple[int, int, int | None]] = []  # (first offset, records, hold_from)

    async def handler(records: list[ConsumerRecord[bytes, bytes]]) -> BatchResult:
        # A group is answered when all its members are in this poll; the first incomplete
        # group and everything after it are held back.
        tp = TopicPartition(records[0].topic, records[0].partition)
        seen: dict[int, list[ConsumerRecord[bytes, bytes]]] = {}
        for record in records:
            seen.setdefault(parse(record)[0], []).append(record)
        outputs, hold = [], None
        for group, members in seen.items():
            if len(members) < parse(members[0])[2]:
                hold = members[0].offset
                break
            outputs.append(Output(sink, reading_pb2.SensorReading(event_id=f"answer-{group}", tag="t")))
        polls.append((records[0].offset, len(records), hold))
        return BatchResult(outputs, {tp: hold} if hold is not None else {})

    group_id = unique_name("group")
    processor = TransactionalProcessor(
        kafka_config,
        group_id=group_id,
        transactional_id=unique_name("tx"),
        inputs=[source],
        service="tests",
        batch_handler=handler,
        max_batch=4,  # cuts groups: 4-record polls rarely line up with the groups
        poll_timeout_ms=200,
        hold_back_pause_s=0.05,
    )
    await processor.start()
    task = asyncio.create_task(processor.run())
    try:
        answers = await read_outputs(kafka_config, sink.name, expected=len(GROUP_SIZES))
        deadline = time.monotonic() + 20
        while await committed(kafka_config, group_id, source.name) < total and time.monotonic() < deadline:  # noqa: ASYNC110 - polls the broker
            await asyncio.sleep(0.2)
    finally:
        await processor.stop()
        await task

    assert sorted(answers) == sorted(f"answer-{g}" for g in range(len(GROUP_SIZES)))  # each once
    assert any(hold is not None for _, _, hold in polls), "the test must actually cut a group"
    # A held poll re-starts exactly at its hold point.
    for (_, _, hold), (next_first, _, _) in itertools.pairwise(polls):
        if hold is not None:
            assert next_first == hold
    assert await committed(kafka_config, group_id, source.name) == total
    assert processor.stats.consumed == total
    assert processor.stats.aborted == 0


async def test_consecutive_aborts_back_off_exponentially_up_to_the_cap(
    kafka_config: KafkaConfig, make_topic: MakeTopic, unique_name: Callable[[str], str]
) -> None:
    source = await make_topic("flaky", (reading_pb2.SensorReading,), partitions=1)
    async with EventProducer(kafka_config) as producer:
        await producer.send_many(source, [("k", member(0, 0, 1))])

    calls: list[float] = []
    committed_once = asyncio.Event()

    async def handler(records: list[ConsumerRecord[bytes, bytes]]) -> list[Output]:
        calls.append(time.monotonic())
        if len(calls) <= 4:
            raise RuntimeError("dependency down")
        return []

    processor = TransactionalProcessor(
        kafka_config,
        group_id=unique_name("group"),
        transactional_id=unique_name("tx"),
        inputs=[source],
        service="tests",
        batch_handler=handler,
        on_commit=committed_once.set,
        retry_backoff_s=0.2,
        max_retry_backoff_s=0.8,
        poll_timeout_ms=100,
    )
    await processor.start()
    task = asyncio.create_task(processor.run())
    try:
        await asyncio.wait_for(committed_once.wait(), 20)
    finally:
        await processor.stop()
        await task

    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert len(calls) == 5
    assert processor.stats.aborted == 4
    assert processor.stats.transactions == 1
    # 0.2, 0.4, 0.8, 0.8 (capped), plus poll and transaction time
    for gap, backoff in zip(gaps, [0.2, 0.4, 0.8, 0.8], strict=True):
        assert backoff <= gap < backoff + 0.6, gaps
