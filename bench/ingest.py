"""Ingest throughput and latency on the local broker (`make bench-ingest`).

In one run, on the same broker and the same messages:

(a) passthrough: a bare aiokafka consume -> produce copy of the single-reading records
    (the reference: what Kafka and aiokafka cost without any ingest work);
(b) ingest, single-reading messages: the real normalizer (parse, SI, validation, dedup,
    context) in the real transactional loop, exactly once;
(c) ingest, columnar batches of 1,000 readings (the output stays columnar);
(d) feature windowing fed by normalized batches (the real feature-window processor);
(e) end-to-end latency (reading source time -> normalized record readable, read_committed)
    at a fixed offered load of half of (b)'s measured capacity.

Writes bench/results/ingest.json and prints a table.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid

import numpy as np
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from google.protobuf.timestamp_pb2 import Timestamp

from bench.common import write_result
from factorymesh.api.common.v1 import dead_letter_pb2, equipment_pb2, units_pb2
from factorymesh.api.telemetry.v1 import normalized_reading_pb2, reading_batch_pb2, reading_pb2, tag_pb2
from factorymesh.common.kafka import KafkaConfig, TransactionalProcessor, decode_event, ensure_topics, event_headers
from factorymesh.common.topics import TopicSpec
from factorymesh.ingest.context import ProductionContextTracker
from factorymesh.ingest.dedup import Deduplicator
from factorymesh.ingest.features.bench import bench_kafka
from factorymesh.ingest.formats import RecordParser
from factorymesh.ingest.pipeline import Normalizer
from factorymesh.ingest.units import default_converter
from factorymesh.ingest.validation import Validator

SINGLES = int(os.environ.get("FM_BENCH_SINGLES", "20000"))
BATCHES = int(os.environ.get("FM_BENCH_BATCHES", "300"))
BATCH_SIZE = 1000
# Records per poll and per transaction, as FM_MAX_BATCH_RECORDS in the service.
MAX_BATCH = int(os.environ.get("FM_BENCH_MAX_BATCH", "2000"))
# The latency phase runs the configuration whose capacity it halves (override to tune).
LATENCY_MAX_BATCH = int(os.environ.get("FM_BENCH_LATENCY_MAX_BATCH", str(MAX_BATCH)))
LATENCY_S = float(os.environ.get("FM_BENCH_LATENCY_S", "10"))
TAGS = ["flow", "discharge_pressure", "bearing_temperature", "vibration_rms"]
UNITS = ["[gal_us]/min", "[psi]", "[degF]", "[in_i]/s"]
RUN = uuid.uuid4().hex[:8]
PUMP = equipment_pb2.EquipmentPath(
    enterprise="bench", site="houston", area="utilities", line="cooling", cell="pumps", equipment="pump-01"
)
KEY = b"bench/houston/utilities/cooling/pumps/pump-01"


def spec(kind: str, types: tuple[type, ...] = ()) -> TopicSpec:
    return TopicSpec(f"bench.ingest.{kind}.{RUN}", 3, "equipment", types, "bench", ("bench",), ("bench",))


def single(i: int, time_ns: int) -> reading_pb2.SensorReading:
    ts = Timestamp()
    ts.FromNanoseconds(time_ns)
    t = i % len(TAGS)
    return reading_pb2.SensorReading(
        event_id=f"{RUN}-s-{i}",
        equipment=PUMP,
        tag=TAGS[t],
        double_value=50.0 + (i % 17),
        unit=units_pb2.EngineeringUnit(code=UNITS[t]),
        source_time=ts,
    )


def batch(i: int, start_ns: int) -> reading_batch_pb2.SensorReadingBatch:
    idx = np.arange(BATCH_SIZE)
    return reading_batch_pb2.SensorReadingBatch(
        event_id=f"{RUN}-b-{i}",
        equipment=PUMP,
        tags=TAGS,
        tag_units=[units_pb2.EngineeringUnit(code=u) for u in UNITS],
        tag_indices=(idx % len(TAGS)).tolist(),
        source_times_unix_nanos=(start_ns + idx * 1_000_000).tolist(),
        values=(50.0 + (idx % 17)).astype(np.float64).tolist(),
    )


def normalizer(normalized: TopicSpec, dead: TopicSpec) -> Normalizer:
    converter = default_converter()
    validator = Validator(converter=converter)
    for tag, unit in zip(TAGS, UNITS, strict=True):
        validator.upsert(tag_pb2.TagDefinition(equipment=PUMP, tag=tag, unit=units_pb2.EngineeringUnit(code=unit)))
    return Normalizer(
        parser=RecordParser(),
        converter=converter,
        validator=validator,
        dedup=Deduplicator(600.0, 2_000_000),
        context=ProductionContextTracker(),
        service="ingest-bench",
        normalized_topic=normalized,
        dead_letter_topic=dead,
    )


async def produce(config: KafkaConfig, topic: str, messages: list) -> None:
    producer = AIOKafkaProducer(**config.common(), enable_idempotence=True, compression_type="lz4", linger_ms=5)
    await producer.start()
    try:
        futures = [
            await producer.send(topic, m.SerializeToString(), key=KEY, headers=event_headers(m, "bench"))
            for m in messages
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def passthrough(config: KafkaConfig, source: str, sink: str, count: int) -> float:
    """(a): consume -> produce, bytes copied as they are; returns msgs/s."""
    consumer = AIOKafkaConsumer(source, **config.common(), group_id=f"bench-pt-{RUN}", auto_offset_reset="earliest")
    producer = AIOKafkaProducer(**config.common(), enable_idempotence=True, compression_type="lz4", linger_ms=5)
    await consumer.start()
    await producer.start()
    try:
        done = 0
        started: float | None = None
        pending = []
        while done < count:
            batches = await consumer.getmany(timeout_ms=500, max_records=500)
            for records in batches.values():
                if started is None:
                    started = time.perf_counter()
                for r in records:
                    pending.append(await producer.send(sink, r.value, key=r.key, headers=list(r.headers)))
                done += len(records)
            await consumer.commit()
        await asyncio.gather(*pending)
        assert started is not None
        return count / (time.perf_counter() - started)
    finally:
        await producer.stop()
        await consumer.stop()


async def run_normalizer(
    config: KafkaConfig, source: TopicSpec, normalized: TopicSpec, dead: TopicSpec, count: int
) -> float:
    """(b)/(c): the transactional normalizer drains ``count`` records; returns records/s."""
    processor = TransactionalProcessor(
        config,
        group_id=f"bench-norm-{uuid.uuid4().hex[:6]}",
        transactional_id=f"bench-norm-{uuid.uuid4().hex[:6]}",
        inputs=[source],
        batch_handler=normalizer(normalized, dead),
        service="ingest-bench",
        max_batch=MAX_BATCH,
    )
    await processor.start()
    task = asyncio.create_task(processor.run())
    try:
        # The clock starts at the first committed transaction: group join and the first
        # fetch are not throughput.
        while processor.stats.transactions == 0:  # noqa: ASYNC110 - polls a counter the processor owns
            await asyncio.sleep(0.005)
        started, first = time.perf_counter(), processor.stats.consumed
        while processor.stats.consumed < count:  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        return (count - first) / (time.perf_counter() - started)
    finally:
        await processor.stop()
        await task


async def serve_normalizer(source: str, sink: str, dead: str, group: str) -> None:
    """The normalizer alone in its own process, as ingest runs it (the latency phase)."""
    config = KafkaConfig(bootstrap=os.environ["FM_KAFKA_BOOTSTRAP"], client_id="ingest-bench-normalizer")
    processor = TransactionalProcessor(
        config,
        group_id=group,
        transactional_id=group,
        inputs=[spec_named(source, (reading_pb2.SensorReading,))],
        batch_handler=normalizer(spec_named(sink), spec_named(dead)),
        service="ingest-bench",
        max_batch=LATENCY_MAX_BATCH,
        poll_timeout_ms=50,
    )
    await processor.start()
    print("READY", flush=True)
    await processor.run()


def spec_named(name: str, types: tuple[type, ...] = ()) -> TopicSpec:
    return TopicSpec(name, 3, "equipment", types, "bench", ("bench",), ("bench",))


async def latency(config: KafkaConfig, rate: float, dead: TopicSpec) -> tuple[float, float, int]:
    """(e): offered load ``rate`` msgs/s of single readings for LATENCY_S, the normalizer in its
    own process; p50/p99 ms from a reading's source time until it is readable (read_committed)."""
    source = spec("latency-raw", (reading_pb2.SensorReading,))
    sink = spec("latency-normalized")
    await ensure_topics(config, [source, sink])
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.ingest",
        "--serve-normalizer",
        source.name,
        sink.name,
        dead.name,
        f"bench-lat-{RUN}",
        stdout=asyncio.subprocess.PIPE,
    )
    assert worker.stdout is not None
    assert (await asyncio.wait_for(worker.stdout.readline(), 60)).strip() == b"READY"
    reader = AIOKafkaConsumer(
        sink.name,
        **config.common(),
        group_id=None,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        fetch_max_wait_ms=20,
    )
    await reader.start()
    producer = AIOKafkaProducer(**config.common(), enable_idempotence=True, linger_ms=1)
    await producer.start()
    samples: list[float] = []
    total = int(rate * LATENCY_S)

    async def read() -> None:
        while len(samples) < total:
            for records in (await reader.getmany(timeout_ms=100)).values():
                now = time.time_ns()
                for r in records:
                    message = decode_event(r.value, r.headers)
                    samples.append((now - message.source_time.ToNanoseconds()) / 1e6)

    reading_task = asyncio.create_task(read())
    await asyncio.sleep(3.0)  # the worker's group joined and its first fetch is waiting
    try:
        start = time.perf_counter()
        for i in range(total):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            message = single(10_000_000 + i, time.time_ns())
            await producer.send(source.name, message.SerializeToString(), key=KEY, headers=event_headers(message, "b"))
        await asyncio.wait_for(reading_task, 60)
    finally:
        await producer.stop()
        await reader.stop()
        worker.terminate()
        await worker.wait()
    values = np.asarray(samples)
    return float(np.percentile(values, 50)), float(np.percentile(values, 99)), len(values)


async def main_async() -> None:
    bootstrap = os.environ["FM_KAFKA_BOOTSTRAP"]
    config = KafkaConfig(bootstrap=bootstrap, client_id="ingest-bench")
    raw_single = spec("raw-single", (reading_pb2.SensorReading,))
    raw_batch = spec("raw-batch", (reading_batch_pb2.SensorReadingBatch,))
    copy = spec("passthrough")
    normalized = spec(
        "normalized", (normalized_reading_pb2.NormalizedReading, normalized_reading_pb2.NormalizedReadingBatch)
    )
    dead = spec("dead-letters", (dead_letter_pb2.DeadLetter,))
    topics = [raw_single, raw_batch, copy, normalized, dead]
    await ensure_topics(config, topics)
    now = time.time_ns()
    try:
        await produce(config, raw_single.name, [single(i, now - (SINGLES - i) * 1000) for i in range(SINGLES)])
        await produce(config, raw_batch.name, [batch(i, now - (BATCHES - i) * 10**9) for i in range(BATCHES)])

        passthrough_rate = await passthrough(config, raw_single.name, copy.name, SINGLES)
        single_rate = await run_normalizer(config, raw_single, normalized, dead, SINGLES)
        batch_rate = await run_normalizer(config, raw_batch, normalized, dead, BATCHES) * BATCH_SIZE
        features = await bench_kafka(bootstrap, readings=BATCHES * BATCH_SIZE, batch=BATCH_SIZE, tags=len(TAGS))
        p50, p99, samples = await latency(config, single_rate / 2, dead)
    finally:
        admin = AIOKafkaAdminClient(**config.common())
        await admin.start()
        try:
            existing = set(await admin.list_topics())
            await admin.delete_topics([t for t in existing if t.startswith("bench.ingest.") and RUN in t])
        finally:
            await admin.close()

    result = {
        "singles": SINGLES,
        "batches": BATCHES,
        "batch_size": BATCH_SIZE,
        "passthrough_msgs_per_s": round(passthrough_rate),
        "single_msgs_per_s": round(single_rate),
        "single_vs_passthrough": round(single_rate / passthrough_rate, 3),
        "batched_readings_per_s": round(batch_rate),
        "features_readings_per_s": round(features.readings_per_s),
        "max_batch_records": MAX_BATCH,
        "latency_max_batch_records": LATENCY_MAX_BATCH,
        "latency_offered_msgs_per_s": round(single_rate / 2),
        "latency_samples": samples,
        "p50_ms": round(p50, 2),
        "p99_ms": round(p99, 2),
        "targets": {
            "single_vs_passthrough": ">= 0.6",
            "batched_readings_per_s": ">= 1000000",
            "features_readings_per_s": ">= 500000",
            "p99_ms": "<= 50",
        },
    }
    write_result("ingest", result)
    print()
    print(f"{'measure':32} {'value':>14}")
    for name in (
        "passthrough_msgs_per_s",
        "single_msgs_per_s",
        "single_vs_passthrough",
        "batched_readings_per_s",
        "features_readings_per_s",
        "p50_ms",
        "p99_ms",
    ):
        print(f"{name:32} {result[name]:>14}")


def main() -> None:
    if sys.argv[1:2] == ["--serve-normalizer"]:
        asyncio.run(serve_normalizer(*sys.argv[2:6]))
    else:
        asyncio.run(main_async())


if __name__ == "__main__":
    main()
