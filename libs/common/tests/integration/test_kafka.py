"""Kafka helpers against the real broker: serde with headers, trace propagation,
manual commits, dead letters, topic creation, and exactly-once across SIGKILL."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from opentelemetry import trace

from factorymesh.api.common.v1 import dead_letter_pb2, equipment_pb2
from factorymesh.api.telemetry.v1 import reading_pb2
from factorymesh.common.kafka import (
    HEADER_MESSAGE_TYPE,
    HEADER_PRODUCER,
    HEADER_SCHEMA_VERSION,
    HEADER_TRACEPARENT,
    ConsumedEvent,
    EventConsumer,
    EventProducer,
    KafkaConfig,
    KafkaReadiness,
    Output,
    TransactionalProcessor,
    decode_event,
    ensure_topics,
    header,
)
from factorymesh.common.telemetry import extract_context
from factorymesh.common.topics import TopicSpec

pytestmark = pytest.mark.integration

MakeTopic = Callable[..., Awaitable[TopicSpec]]
Reason = dead_letter_pb2.DeadLetterReason
PUMP = equipment_pb2.EquipmentPath(enterprise="acme", site="s1", area="a1", line="l1", cell="c1", equipment="pump-1")


def reading(i: int) -> reading_pb2.SensorReading:
    return reading_pb2.SensorReading(event_id=f"r-{i}", equipment=PUMP, tag="flow", double_value=float(i))


async def read_all(
    config: KafkaConfig, topic: str, expected: int, isolation: str = "read_committed", timeout_s: float = 30.0
) -> list:
    """Every record on a topic from the beginning, until `expected` arrived and the topic is quiet."""
    consumer = AIOKafkaConsumer(
        topic, **config.common(), group_id=None, auto_offset_reset="earliest", isolation_level=isolation
    )
    await consumer.start()
    records: list = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout_s
        quiet_polls = 0
        while asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            got = [r for rs in batch.values() for r in rs]
            records.extend(got)
            quiet_polls = 0 if got else quiet_polls + 1
            if len(records) >= expected and quiet_polls >= 2:
                break
    finally:
        await consumer.stop()
    return records


async def test_protobuf_round_trip_with_headers(kafka_config: KafkaConfig, make_topic: MakeTopic) -> None:
    topic = await make_topic("events", (reading_pb2.SensorReading,))
    sent = [reading(i) for i in range(20)]
    async with EventProducer(kafka_config, producer_name="round-trip-test") as producer:
        assert await producer.send_many(topic, [("acme/s1/a1/l1/c1/pump-1", m) for m in sent]) == 20

    received = []
    async with EventConsumer(kafka_config, "g-" + topic.name, [topic]) as consumer:
        while len(received) < 20:
            for record in await consumer.getmany(timeout_ms=1000):
                assert header(record.headers, HEADER_MESSAGE_TYPE) == "factorymesh.telemetry.v1.SensorReading"
                assert header(record.headers, HEADER_PRODUCER) == "round-trip-test"
                assert header(record.headers, HEADER_SCHEMA_VERSION) == "v1"
                assert record.key == b"acme/s1/a1/l1/c1/pump-1"
                received.append(decode_event(record.value, record.headers, topic.value_types))
                consumer.mark_processed(record)
    # One key -> one partition -> the order is kept.
    assert received == sent


async def test_manual_commit_resumes_after_last_processed(kafka_config: KafkaConfig, make_topic: MakeTopic) -> None:
    topic = await make_topic("commits", (reading_pb2.SensorReading,), partitions=1)
    group = "g-" + topic.name
    async with EventProducer(kafka_config) as producer:
        await producer.send_many(topic, [(None, reading(i)) for i in range(10)])

    async with EventConsumer(kafka_config, group, [topic]) as consumer:
        first: list = []
        while len(first) < 10:
            first.extend(await consumer.getmany(timeout_ms=1000))
        for record in first[:4]:  # only four were processed before "the crash"
            consumer.mark_processed(record)

    async with EventConsumer(kafka_config, group, [topic]) as consumer:
        again: list = []
        while len(again) < 6:
            again.extend(await consumer.getmany(timeout_ms=1000))
    assert [r.offset for r in again] == list(range(4, 10))


async def test_traceparent_follows_a_reading_across_two_hops(
    kafka_config: KafkaConfig, make_topic: MakeTopic, unique_name: Callable[[str], str], otel_tracing: object
) -> None:
    source = await make_topic("trace-in", (reading_pb2.SensorReading,))
    sink = await make_topic("trace-out", (reading_pb2.SensorReading,))
    dead = await make_topic("trace-dead", (dead_letter_pb2.DeadLetter,))

    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("sensor publishes") as span:
        trace_id = span.get_span_context().trace_id
        async with EventProducer(kafka_config, producer_name="simulator") as producer:
            await producer.send(source, reading(1), key="k")

    async def forward(event: ConsumedEvent) -> Iterable[Output]:
        # The handler runs inside the span continued from the record's headers.
        assert trace.get_current_span().get_span_context().trace_id == trace_id
        return [Output(sink, event.message, key=event.key)]

    processor = TransactionalProcessor(
        kafka_config,
        group_id=unique_name("group"),
        transactional_id=unique_name("txn"),
        inputs=[source],
        handler=forward,
        service="hop-1",
        dead_letter_topic=dead,
    )
    await processor.start()
    runner = asyncio.create_task(processor.run())
    try:
        out = await read_all(kafka_config, sink.name, expected=1)
    finally:
        await processor.stop()
        await runner
    assert len(out) == 1
    assert header(out[0].headers, HEADER_PRODUCER) == "hop-1"
    assert header(out[0].headers, HEADER_TRACEPARENT) is not None
    carried = trace.get_current_span(extract_context(out[0].headers)).get_span_context()
    assert carried.trace_id == trace_id


async def test_malformed_records_go_to_the_dead_letter_topic(
    kafka_config: KafkaConfig, make_topic: MakeTopic, unique_name: Callable[[str], str]
) -> None:
    source = await make_topic("dlq-in", (reading_pb2.SensorReading,))
    sink = await make_topic("dlq-out", (reading_pb2.SensorReading,))
    dead = await make_topic("dlq-dead", (dead_letter_pb2.DeadLetter,))

    from aiokafka import AIOKafkaProducer

    raw = AIOKafkaProducer(**kafka_config.common())
    await raw.start()
    try:
        await raw.send_and_wait(
            source.name,
            b"\xff\xff\xff",
            key=b"k",
            headers=[(HEADER_MESSAGE_TYPE, b"factorymesh.telemetry.v1.SensorReading")],
        )
        await raw.send_and_wait(
            source.name, b"", key=b"k", headers=[(HEADER_MESSAGE_TYPE, b"factorymesh.telemetry.v1.FeatureWindow")]
        )
        await raw.send_and_wait(
            source.name,
            reading(7).SerializeToString(),
            key=b"k",
            headers=[(HEADER_MESSAGE_TYPE, b"factorymesh.telemetry.v1.SensorReading")],
        )
    finally:
        await raw.stop()

    async def passthrough(event: ConsumedEvent) -> Iterable[Output]:
        return [Output(sink, event.message, key=event.key)]

    processor = TransactionalProcessor(
        kafka_config,
        group_id=unique_name("group"),
        transactional_id=unique_name("txn"),
        inputs=[source],
        handler=passthrough,
        service="dlq-test",
        dead_letter_topic=dead,
    )
    await processor.start()
    runner = asyncio.create_task(processor.run())
    try:
        letters = await read_all(kafka_config, dead.name, expected=2)
        good = await read_all(kafka_config, sink.name, expected=1)
    finally:
        await processor.stop()
        await runner

    decoded = [decode_event(r.value, r.headers, dead.value_types) for r in letters]
    assert [d.reason_code for d in decoded] == [
        Reason.DEAD_LETTER_REASON_DECODE_ERROR,
        Reason.DEAD_LETTER_REASON_UNKNOWN_MESSAGE_TYPE,
    ]
    assert decoded[0].original_value == b"\xff\xff\xff"
    assert decoded[0].source_topic == source.name
    assert decoded[0].failed_service == "dlq-test"
    assert [r.key for r in letters] == [b"k", b"k"]
    assert [decode_event(r.value, r.headers).event_id for r in good] == ["r-7"]


async def test_ensure_topics_is_idempotent_and_applies_configs(
    kafka_config: KafkaConfig, unique_name: Callable[[str], str]
) -> None:
    spec = TopicSpec(
        name=unique_name("compacted"),
        partitions=2,
        key="id",
        value_types=(reading_pb2.SensorReading,),
        description="t",
        producers=("t",),
        consumers=("t",),
        cleanup_policy="compact",
        retention_ms=None,
    )
    assert await ensure_topics(kafka_config, [spec]) == [spec.name]
    assert await ensure_topics(kafka_config, [spec]) == []

    admin = AIOKafkaAdminClient(**kafka_config.common())
    await admin.start()
    try:
        described = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, spec.name)])
        metadata = await admin.describe_topics([spec.name])
    finally:
        await admin.close()
    configs = {name: value for name, value, *_ in described[0].resources[0][4]}
    assert configs["cleanup.policy"] == "compact"
    assert len(metadata[0]["partitions"]) == 2


async def test_readiness_check(kafka_config: KafkaConfig) -> None:
    ready = KafkaReadiness(kafka_config)
    assert await ready()
    await ready.close()
    unreachable = KafkaReadiness(KafkaConfig(bootstrap="127.0.0.1:1", client_id="t"), timeout_s=1)
    assert not await unreachable()


async def _start_worker(args: list[str], pause_at: int) -> asyncio.subprocess.Process:
    env = {**os.environ, "FM_TEST_PAUSE_AT": str(pause_at)}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(Path(__file__).with_name("eos_worker.py")),
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
    )


async def _wait_for_line(process: asyncio.subprocess.Process, line: bytes, timeout_s: float = 60) -> None:
    assert process.stdout is not None
    async with asyncio.timeout(timeout_s):
        while (got := await process.stdout.readline()) != line + b"\n":
            assert got, f"worker exited before printing {line!r}"


async def test_transactional_loop_is_exactly_once_across_sigkill(
    kafka_config: KafkaConfig, make_topic: MakeTopic, unique_name: Callable[[str], str]
) -> None:
    total = 3000
    source = await make_topic("eos-in", (reading_pb2.SensorReading,))
    sink = await make_topic("eos-out", (reading_pb2.SensorReading,))
    dead = await make_topic("eos-dead", (dead_letter_pb2.DeadLetter,))
    async with EventProducer(kafka_config) as producer:
        # Keys spread the readings over every partition.
        await producer.send_many(source, [(f"eq-{i % 7}", reading(i)) for i in range(total)])

    args = [kafka_config.bootstrap, source.name, sink.name, dead.name, unique_name("group"), unique_name("txn")]
    # First incarnation: stops in the middle of a transaction (outputs of that batch already
    # sent to the broker, offsets not yet committed) and is killed there with SIGKILL.
    first = await _start_worker(args, pause_at=1250)
    await _wait_for_line(first, b"PAUSED")
    await asyncio.sleep(1.0)  # let the producer's linger flush the open transaction's records
    first.send_signal(signal.SIGKILL)
    assert await first.wait() == -signal.SIGKILL

    second = await _start_worker(args, pause_at=0)
    try:
        committed = await read_all(kafka_config, sink.name, expected=total, timeout_s=120)
        uncommitted = await read_all(kafka_config, sink.name, expected=total, isolation="read_uncommitted")
    finally:
        second.send_signal(signal.SIGTERM)
        await second.wait()

    ids = [decode_event(r.value, r.headers).event_id for r in committed]
    assert len(ids) == total, f"{total - len(set(ids))} missing, {len(ids) - len(set(ids))} duplicated"
    assert set(ids) == {f"r-{i}" for i in range(total)}
    values = {m.event_id: m.double_value for m in (decode_event(r.value, r.headers) for r in committed)}
    assert all(values[f"r-{i}"] == 2.0 * i for i in range(total))
    # The kill really landed inside a transaction: its aborted records are in the log,
    # visible to read_uncommitted readers only.
    assert len(uncommitted) > total


async def test_batch_handler_sees_raw_records_and_emits_per_reading_dead_letters(
    kafka_config: KafkaConfig, make_topic: MakeTopic, unique_name: Callable[[str], str], otel_tracing: object
) -> None:
    source = await make_topic("bulk-in", (reading_pb2.SensorReading,))
    sink = await make_topic("bulk-out", (reading_pb2.SensorReading,))
    dead = await make_topic("bulk-dead", (dead_letter_pb2.DeadLetter,))
    tracer = trace.get_tracer("test")
    trace_ids = {}
    async with EventProducer(kafka_config, producer_name="gateway") as producer:
        for i in range(10):
            with tracer.start_as_current_span(f"reading {i}") as span:
                trace_ids[f"r-{i}"] = span.get_span_context().trace_id
                await producer.send(source, reading(i), key=f"eq-{i % 3}")

    from factorymesh.common.kafka import dead_letter_for

    batch_sizes: list[int] = []

    async def bulk(records: list) -> list[Output]:
        batch_sizes.append(len(records))
        outputs = []
        for record in records:
            message = decode_event(record.value, record.headers)
            if int(message.double_value) % 2:  # odd readings are "invalid"
                letter = dead_letter_for(
                    record,
                    Reason.DEAD_LETTER_REASON_VALUE_OUT_OF_RANGE,
                    "odd",
                    "bulk-test",
                    reading_id=message.event_id,
                )
                outputs.append(Output(dead, letter, key=record.key))
            else:
                outputs.append(Output(sink, message, key=record.key, trace_context=extract_context(record.headers)))
        return outputs

    group = unique_name("group")
    processor = TransactionalProcessor(
        kafka_config,
        group_id=group,
        transactional_id=unique_name("txn"),
        inputs=[source],
        batch_handler=bulk,
        service="bulk-test",
        dead_letter_topic=dead,
    )
    await processor.start()
    runner = asyncio.create_task(processor.run())
    try:
        good = await read_all(kafka_config, sink.name, expected=5)
        letters = await read_all(kafka_config, dead.name, expected=5)
    finally:
        await processor.stop()
        await runner

    assert sum(batch_sizes) == 10
    assert sorted(decode_event(r.value, r.headers).event_id for r in good) == [f"r-{i}" for i in range(0, 10, 2)]
    for record in good:
        event_id = decode_event(record.value, record.headers).event_id
        carried = trace.get_current_span(extract_context(record.headers)).get_span_context()
        assert carried.trace_id == trace_ids[event_id], "each output continues its own input's trace"
    decoded = [decode_event(r.value, r.headers) for r in letters]
    assert sorted(d.original_event_id for d in decoded) == [f"r-{i}" for i in range(1, 10, 2)]
    assert len({d.event_id for d in decoded}) == 5
    assert processor.stats.dead_lettered == 5
    # Consumer lag is reported per partition; everything was consumed, so it is zero.
    from factorymesh.common import kafka as kafka_module

    lags = {key: lag for key, lag in kafka_module._LAG.items() if key[0] == group}
    assert lags
    assert set(lags.values()) == {0}
