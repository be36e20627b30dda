"""Micro benchmark of the windowing path without Kafka I/O (not a test: run it by hand).

    uv run python -m factorymesh.ingest.features.bench [--readings 2000000] [--tags 8]

Two numbers, both for columnar ``NormalizedReadingBatch`` es of 1,000 readings of
one equipment at 1 kHz per tag, default windows (tumbling 10 s, hopping 60 s / 10 s):

* ``core``: :meth:`EquipmentWindows.update` + :meth:`close` on ready-made columns;
* ``pipeline``: what the processor does per record apart from Kafka I/O: parse
  the protobuf, build columns, update, close, build ``FeatureWindow`` protos, and
  one state snapshot per 100 batches (a transaction of 100 records).

With ``--bootstrap HOST:PORT`` a third number: ``kafka``, the real processor
(consume, window, emit, changelog, commit; exactly-once transactions) draining
a backlog of pre-produced batches from a fresh topic on that broker.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np

from factorymesh.api.common.v1 import equipment_pb2
from factorymesh.api.telemetry.v1 import normalized_reading_pb2
from factorymesh.ingest.features.codec import encode_snapshot
from factorymesh.ingest.features.config import FeatureWindowConfig
from factorymesh.ingest.features.emit import feature_windows
from factorymesh.ingest.features.readings import batch_columns
from factorymesh.ingest.features.windows import Columns, EquipmentWindows


@dataclass
class BenchResult:
    readings: int
    seconds: float
    windows: int

    @property
    def readings_per_s(self) -> float:
        return self.readings / self.seconds


def _batches(readings: int, batch: int, tags: int, equipment: int = 1, seed: int = 7) -> list[bytes]:
    rng = np.random.default_rng(seed)
    start_ns = 1_750_000_000 * 1_000_000_000
    # Round-robin tags, each sampled at 1 kHz: reading i of tag k at start + (i // tags) ms.
    out = []
    for n, first in enumerate(range(0, readings, batch)):
        # Consecutive batches go to different equipment (round robin), each equipment's
        # batches continue its own time line.
        eq = n % equipment
        offset = (n // equipment) * batch
        idx = np.arange(offset, offset + min(batch, readings - first))
        msg = normalized_reading_pb2.NormalizedReadingBatch(
            event_id=f"bench-{first}:normalized",
            equipment=equipment_pb2.EquipmentPath(enterprise="acme", site="berlin", equipment=f"press{eq}"),
            tags=[f"vibration.axis{k}" for k in range(tags)],
            tag_indices=(idx % tags).tolist(),
            source_times_unix_nanos=(start_ns + (idx // tags) * 1_000_000).tolist(),
            values=(1e5 + rng.normal(0.0, 1.0, idx.size)).tolist(),
            qualities=np.where(rng.random(idx.size) < 0.01, 64, 0).tolist(),  # 1 % BAD
        )
        out.append(msg.SerializeToString())
    return out


def bench_core(readings: int = 2_000_000, batch: int = 1000, tags: int = 8) -> BenchResult:
    config = FeatureWindowConfig()
    payloads = _batches(readings, batch, tags)
    state = EquipmentWindows("acme/berlin/press7", config.windows, config.lateness_ns)
    columns: list[Columns] = []
    for payload in payloads:
        columns.append(batch_columns(normalized_reading_pb2.NormalizedReadingBatch.FromString(payload), state))
    windows = 0
    started = time.perf_counter()
    for cols in columns:
        state.update(cols)
        windows += len(state.close())
    return BenchResult(readings, time.perf_counter() - started, windows)


def bench_pipeline(
    readings: int = 2_000_000, batch: int = 1000, tags: int = 8, records_per_transaction: int = 100
) -> BenchResult:
    config = FeatureWindowConfig()
    payloads = _batches(readings, batch, tags)
    state = EquipmentWindows("acme/berlin/press7", config.windows, config.lateness_ns)
    windows = 0
    started = time.perf_counter()
    for i, payload in enumerate(payloads):
        message = normalized_reading_pb2.NormalizedReadingBatch.FromString(payload)
        state.update(batch_columns(message, state))
        windows += len(feature_windows(state, state.close(), computed_ns=time.time_ns()))
        if (i + 1) % records_per_transaction == 0:
            encode_snapshot(state)
    return BenchResult(readings, time.perf_counter() - started, windows)


async def bench_kafka(
    bootstrap: str, readings: int = 1_000_000, batch: int = 1000, tags: int = 8, equipment: int = 1
) -> BenchResult:
    """The processor end to end on a real broker: time to drain ``readings`` already on the topic."""
    import asyncio
    import uuid

    from aiokafka.admin import AIOKafkaAdminClient

    from factorymesh.api.telemetry.v1 import feature_window_pb2
    from factorymesh.common.kafka import EventProducer, KafkaConfig, ensure_topics
    from factorymesh.common.topics import TELEMETRY_NORMALIZED, TopicSpec
    from factorymesh.ingest.features.processor import FeatureWindowProcessor

    run = uuid.uuid4().hex[:8]
    kafka = KafkaConfig(bootstrap=bootstrap, client_id="features-bench")

    def spec(kind: str, types: tuple[type, ...]) -> TopicSpec:
        return TopicSpec(f"bench.features.{kind}.{run}", 1, "equipment", types, "bench", ("bench",), ("bench",))

    source = spec("normalized", TELEMETRY_NORMALIZED.value_types)
    sink = spec("features", (feature_window_pb2.FeatureWindow,))
    dead = spec("dead-letters", ())
    await ensure_topics(kafka, [source, sink, dead])
    async with EventProducer(kafka, "bench") as producer:
        for payload in _batches(readings, batch, tags, equipment):
            message = normalized_reading_pb2.NormalizedReadingBatch.FromString(payload)
            await producer._producer.send(  # pipelined; flushed below
                source.name,
                payload,
                key=f"acme/berlin/{message.equipment.equipment}".encode(),
                headers=[("fm-message-type", message.DESCRIPTOR.full_name.encode())],
            )
        await producer.flush()
    processor = FeatureWindowProcessor(
        kafka,
        FeatureWindowConfig(group_id=f"bench-{run}", transactional_id=f"bench-{run}", idle_close_s=0),
        input_topic=source,
        output_topic=sink,
        dead_letter_topic=dead,
    )
    try:
        await processor.start()
        task = asyncio.create_task(processor.run())
        while processor.stats.readings < readings:  # noqa: ASYNC110  # polls a counter the processor owns
            await asyncio.sleep(0.05)
        await processor.stop()
        await task
    finally:
        admin = AIOKafkaAdminClient(**kafka.common())
        await admin.start()
        try:  # leave nothing behind on a shared broker
            await admin.delete_topics([source.name, sink.name, dead.name, processor.config.changelog])
        finally:
            await admin.close()
    stats = processor.stats
    assert stats.first_record_at is not None
    assert stats.last_commit_at is not None
    # From the first polled record to the last commit: excludes the group join and restore.
    elapsed = stats.last_commit_at - stats.first_record_at
    return BenchResult(stats.readings, elapsed, stats.windows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--readings", type=int, default=2_000_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--tags", type=int, default=8)
    parser.add_argument("--bootstrap", help="also run the processor against this Kafka broker")
    parser.add_argument("--equipment", type=int, default=1, help="equipment the kafka run spreads batches over")
    args = parser.parse_args()
    for name, bench in (("core", bench_core), ("pipeline", bench_pipeline)):
        result = bench(args.readings, args.batch, args.tags)
        print(
            f"{name:9s} {result.readings:>10,d} readings in {result.seconds:6.2f} s = "
            f"{result.readings_per_s:>12,.0f} readings/s ({result.windows} windows)"
        )
    if args.bootstrap:
        import asyncio

        result = asyncio.run(bench_kafka(args.bootstrap, args.readings, args.batch, args.tags, args.equipment))
        print(
            f"kafka     {result.readings:>10,d} readings in {result.seconds:6.2f} s = "
            f"{result.readings_per_s:>12,.0f} readings/s ({result.windows} windows)"
        )


if __name__ == "__main__":
    main()
