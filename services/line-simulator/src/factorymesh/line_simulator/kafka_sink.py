"""Sends encoded records to Kafka: pipelined, bounded in flight, with the standard headers.

``factorymesh.common.kafka.EventProducer`` sends protobuf messages only; UMH JSON
and Sparkplug payloads are raw bytes, so the sink drives an ``AIOKafkaProducer``
itself, built with the library's ``producer_options`` (idempotent, acks=all, lz4)
and headers from ``event_headers`` / ``inject_headers``.

Headers: our protobuf events get the four standard headers (``fm-message-type``,
``traceparent``, ``fm-producer``, ``fm-schema-version``). UMH and Sparkplug records
get only ``fm-producer`` and ``traceparent``: a real UMH bridge or Sparkplug gateway
sets no ``fm-message-type``, and consumers must tell these formats by their key
(``umh.v1.`` / ``spBv1.0/``), exactly as they will for real gateways.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2
from opentelemetry import metrics

from factorymesh.api.telemetry.v1 import reading_batch_pb2, reading_pb2
from factorymesh.common.kafka import HEADER_PRODUCER, Headers, KafkaConfig, event_headers, producer_options
from factorymesh.common.telemetry import inject_headers
from factorymesh.line_simulator.encoders import Record, partition_key

_meter = metrics.get_meter("factorymesh.line_simulator")
READINGS = _meter.create_counter("factorymesh.line_simulator.readings", description="Readings published, by format")
RECORDS = _meter.create_counter("factorymesh.line_simulator.records", description="Kafka records published, by format")

_PROTOTYPES = {
    reading_pb2.SensorReading.DESCRIPTOR.full_name: reading_pb2.SensorReading(),
    reading_batch_pb2.SensorReadingBatch.DESCRIPTOR.full_name: reading_batch_pb2.SensorReadingBatch(),
}


class Partitioner:
    """Kafka's default partitioning (murmur2 of the key, so records land where any client puts them),
    on :func:`partition_key` (Sparkplug by edge node), memoised: aiokafka's murmur2 is pure
    Python and the simulator's keys repeat every tick."""

    MAX_CACHED = 100_000

    def __init__(self) -> None:
        self._cache: dict[tuple[bytes, int], int] = {}

    def __call__(self, key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
        if key is None:  # never sent by the simulator; keep aiokafka's behaviour
            return (available or all_partitions)[0]
        cached = self._cache.get((key, len(all_partitions)))
        if cached is None:
            index = (murmur2(partition_key(key)) & 0x7FFFFFFF) % len(all_partitions)
            cached = all_partitions[index]
            if len(self._cache) < self.MAX_CACHED:
                self._cache[(key, len(all_partitions))] = cached
        return cached


class KafkaSink:
    """Publishes records to one topic, keeping at most ``max_in_flight`` unacknowledged."""

    def __init__(
        self, config: KafkaConfig, topic: str, producer_name: str = "line-simulator", max_in_flight: int = 10_000
    ) -> None:
        self.topic = topic
        self.producer_name = producer_name
        self.max_in_flight = max_in_flight
        self.config = config
        self._producer: AIOKafkaProducer | None = None
        self._in_flight: list[asyncio.Future[Any]] = []
        self.records = 0
        self.readings = 0

    async def start(self) -> None:
        """Connect; on failure the half-built client is closed and start() may be called again."""
        producer = AIOKafkaProducer(**{**producer_options(self.config), "partitioner": Partitioner()})
        try:
            await producer.start()
        except BaseException:
            await producer.stop()
            raise
        self._producer = producer

    async def stop(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()

    @property
    def producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise RuntimeError("KafkaSink.start() first")
        return self._producer

    def _headers(self, message_type: str | None, cache: dict[str | None, Headers]) -> Headers:
        headers = cache.get(message_type)
        if headers is None:
            if message_type is None:
                headers = inject_headers([(HEADER_PRODUCER, self.producer_name.encode())])
            else:
                headers = event_headers(_PROTOTYPES[message_type], self.producer_name)
            cache[message_type] = headers
        return headers

    async def send(self, records: list[Record]) -> None:
        """Enqueue records (in order); waits only when too many are unacknowledged.

        Headers are computed once per call, in the caller's trace context: every
        record of one tick belongs to that tick's span.
        """
        cache: dict[str | None, Headers] = {}
        by_format: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for record in records:
            future = await self.producer.send(
                self.topic, record.value, key=record.key, headers=self._headers(record.message_type, cache)
            )
            self._in_flight.append(future)
            counts = by_format[record.format.value]
            counts[0] += 1
            counts[1] += record.readings
        for fmt, (n_records, n_readings) in by_format.items():
            RECORDS.add(n_records, {"format": fmt})
            READINGS.add(n_readings, {"format": fmt})
            self.records += n_records
            self.readings += n_readings
        if len(self._in_flight) >= self.max_in_flight:
            await self.flush()

    async def flush(self) -> None:
        """Wait until every record sent so far is acknowledged (raises the first send error)."""
        pending, self._in_flight = self._in_flight, []
        if pending:
            await asyncio.gather(*pending)
