"""Kafka building blocks on aiokafka: headers and protobuf serde, an idempotent
producer, a manually committing consumer, dead-letter publishing, topic creation,
and a transactional consume-transform-produce loop (exactly-once for
``read_committed`` readers).

Every record we write carries four headers (see :data:`HEADER_MESSAGE_TYPE` and
friends): the full protobuf message name, which selects the decoder on the
other side; the W3C ``traceparent``; the producing service; and the schema
version (the proto package's major version).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata
from google.protobuf import descriptor_pool, message_factory
from google.protobuf.message import DecodeError, Message
from google.protobuf.timestamp_pb2 import Timestamp
from opentelemetry import metrics, trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind

from factorymesh.api.common.v1 import dead_letter_pb2
from factorymesh.common.logging import get_logger
from factorymesh.common.telemetry import extract_context, inject_headers
from factorymesh.common.topics import DEAD_LETTERS, TopicSpec

log = get_logger(__name__)
tracer = trace.get_tracer("factorymesh.common.kafka")
_meter = metrics.get_meter("factorymesh.common.kafka")
RECORDS_CONSUMED = _meter.create_counter("factorymesh.kafka.records.consumed", description="Records processed")
RECORDS_PRODUCED = _meter.create_counter("factorymesh.kafka.records.produced", description="Records produced")
RECORDS_DEAD_LETTERED = _meter.create_counter(
    "factorymesh.kafka.records.dead_lettered", description="Records sent to the dead-letter topic, by reason"
)
TRANSACTIONS = _meter.create_counter("factorymesh.kafka.transactions", description="Transactions by outcome")
# Consumer lag per group and partition, as of each processor's last committed batch:
# the partition's high watermark minus the committed position.
_LAG: dict[tuple[str, str, int], int] = {}


def _observe_lag(_: metrics.CallbackOptions) -> Iterable[metrics.Observation]:
    return [
        metrics.Observation(lag, {"group": group, "topic": topic, "partition": partition})
        for (group, topic, partition), lag in list(_LAG.items())
    ]


_meter.create_observable_gauge(
    "factorymesh.kafka.consumer_lag", callbacks=[_observe_lag], description="Records behind the high watermark"
)

HEADER_MESSAGE_TYPE = "fm-message-type"
HEADER_PRODUCER = "fm-producer"
HEADER_SCHEMA_VERSION = "fm-schema-version"
HEADER_TRACEPARENT = "traceparent"

Headers = list[tuple[str, bytes]]
DeadLetterReason = dead_letter_pb2.DeadLetterReason


# --------------------------------------------------------------------------- serde


class UndecodableRecord(Exception):
    """A record that can never be processed: it belongs on the dead-letter topic."""

    def __init__(self, reason: int, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@functools.lru_cache(maxsize=256)
def schema_version(message_type: str) -> str:
    """``factorymesh.telemetry.v1.SensorReading`` -> ``v1`` (the package's major version)."""
    parts = message_type.split(".")
    return next((p for p in reversed(parts[:-1]) if p.startswith("v") and p[1:].isdigit()), "v0")


@functools.lru_cache(maxsize=256)
def _type_headers(full_name: str, producer: str) -> tuple[tuple[str, bytes], ...]:
    return (
        (HEADER_MESSAGE_TYPE, full_name.encode()),
        (HEADER_PRODUCER, producer.encode()),
        (HEADER_SCHEMA_VERSION, schema_version(full_name).encode()),
    )


_OURS = frozenset({HEADER_MESSAGE_TYPE, HEADER_PRODUCER, HEADER_SCHEMA_VERSION})
_TRACE_HEADERS = frozenset({HEADER_TRACEPARENT, "tracestate"})


def event_headers(
    message: Message, producer: str, extra: Iterable[tuple[str, bytes]] = (), context: Context | None = None
) -> Headers:
    """The standard headers for one event, with the given (default: current) trace context.

    A ``traceparent`` among ``extra`` (see :func:`trace_headers`) is kept as it is: the
    output continues its input's trace without a span of its own, which is what bulk
    processors do per record (parsing and re-serializing the context costs more than the
    rest of the headers).
    """
    headers: Headers = list(_type_headers(message.DESCRIPTOR.full_name, producer))
    carried = False
    for key, value in extra:
        if key not in _OURS:
            headers.append((key, value))
            carried = carried or key == HEADER_TRACEPARENT
    if carried and context is None:
        return headers
    return inject_headers(headers, context)


def trace_headers(headers: Sequence[tuple[str, bytes]] | None) -> list[tuple[str, bytes]]:
    """The W3C trace headers of a consumed record, to pass on to its outputs unchanged."""
    return [(k, v) for k, v in headers or () if k in _TRACE_HEADERS]


def header(headers: Sequence[tuple[str, bytes]] | None, name: str) -> str | None:
    for key, value in headers or ():
        if key == name:
            return value.decode("utf-8", errors="replace")
    return None


def message_class(full_name: str) -> type[Message]:
    """The generated class for a full protobuf name; the module must have been imported."""
    descriptor = descriptor_pool.Default().FindMessageTypeByName(full_name)
    return message_factory.GetMessageClass(descriptor)


def decode_event(
    value: bytes | None,
    headers: Sequence[tuple[str, bytes]] | None,
    accepted: Sequence[type[Message]] = (),
) -> Message:
    """Decode a record's value with the class its type header names.

    ``accepted`` restricts the types a topic may carry (the topic registry's
    ``value_types``); anything else is an :class:`UndecodableRecord`.
    """
    type_name = header(headers, HEADER_MESSAGE_TYPE)
    if not type_name:
        if len(accepted) == 1:
            type_name = accepted[0].DESCRIPTOR.full_name
        else:
            raise UndecodableRecord(
                DeadLetterReason.DEAD_LETTER_REASON_UNKNOWN_MESSAGE_TYPE, "no fm-message-type header"
            )
    if accepted and type_name not in {cls.DESCRIPTOR.full_name for cls in accepted}:
        raise UndecodableRecord(
            DeadLetterReason.DEAD_LETTER_REASON_UNKNOWN_MESSAGE_TYPE, f"{type_name} is not accepted on this topic"
        )
    try:
        cls = message_class(type_name)
    except KeyError:
        raise UndecodableRecord(
            DeadLetterReason.DEAD_LETTER_REASON_UNKNOWN_MESSAGE_TYPE, f"unknown message type {type_name}"
        ) from None
    if value is None:
        raise UndecodableRecord(DeadLetterReason.DEAD_LETTER_REASON_DECODE_ERROR, "record has no value")
    message = cls()
    try:
        message.ParseFromString(value)
    except DecodeError as error:
        raise UndecodableRecord(DeadLetterReason.DEAD_LETTER_REASON_DECODE_ERROR, f"{type_name}: {error}") from None
    return message


def encode_key(key: str | bytes | None) -> bytes | None:
    return key.encode() if isinstance(key, str) else key


# --------------------------------------------------------------------------- clients


@dataclass(frozen=True)
class KafkaConfig:
    """Connection settings shared by every client a service creates."""

    bootstrap: str
    client_id: str
    security_protocol: str = "PLAINTEXT"

    def common(self) -> dict[str, Any]:
        return {
            "bootstrap_servers": self.bootstrap,
            "client_id": self.client_id,
            "security_protocol": self.security_protocol,
        }


def producer_options(config: KafkaConfig) -> dict[str, Any]:
    # Idempotence implies acks=all and in-order retries per partition; lz4 is cheap on
    # CPU and shrinks telemetry several-fold.
    return {
        **config.common(),
        "enable_idempotence": True,
        "acks": "all",
        "compression_type": "lz4",
        "linger_ms": 5,
        "max_batch_size": 256 * 1024,
        "request_timeout_ms": 30_000,
    }


class EventProducer:
    """Idempotent producer of protobuf events with the standard headers."""

    def __init__(self, config: KafkaConfig, producer_name: str | None = None, **overrides: Any) -> None:
        self.config = config
        self.producer_name = producer_name or config.client_id
        self._producer = AIOKafkaProducer(**{**producer_options(config), **overrides})

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def __aenter__(self) -> EventProducer:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def send(
        self,
        topic: TopicSpec | str,
        message: Message,
        key: str | bytes | None = None,
        headers: Iterable[tuple[str, bytes]] = (),
    ) -> Any:
        """Send one event and wait until the broker has it (acks=all)."""
        name = topic.name if isinstance(topic, TopicSpec) else topic
        metadata = await self._producer.send_and_wait(
            name,
            message.SerializeToString(),
            key=encode_key(key),
            headers=event_headers(message, self.producer_name, headers),
        )
        RECORDS_PRODUCED.add(1, {"topic": name})
        return metadata

    async def send_many(self, topic: TopicSpec | str, items: Iterable[tuple[str | bytes | None, Message]]) -> int:
        """Send many events pipelined, then wait for every acknowledgement. Returns the count."""
        name = topic.name if isinstance(topic, TopicSpec) else topic
        futures = [
            await self._producer.send(
                name,
                message.SerializeToString(),
                key=encode_key(key),
                headers=event_headers(message, self.producer_name),
            )
            for key, message in items
        ]
        await asyncio.gather(*futures)
        RECORDS_PRODUCED.add(len(futures), {"topic": name})
        return len(futures)

    async def flush(self) -> None:
        await self._producer.flush()


class _CommitOnRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    """Commit what was processed before partitions move to another consumer."""

    def __init__(self, consumer: EventConsumer) -> None:
        self._consumer = consumer

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        await self._consumer.commit(only=set(revoked))

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        log.info("partitions_assigned", partitions=sorted(f"{tp.topic}[{tp.partition}]" for tp in assigned))


@dataclass
class ConsumedEvent:
    """One decoded record, with its trace context, ready for a handler."""

    record: ConsumerRecord[bytes, bytes]
    message: Message

    @property
    def key(self) -> bytes | None:
        key: bytes | None = self.record.key
        return key


class EventConsumer:
    """Consumer with manual commits: an offset is committed only after :meth:`mark_processed`.

    Reads ``read_committed`` so aborted transactional writes are never seen.
    """

    def __init__(self, config: KafkaConfig, group_id: str, topics: Sequence[TopicSpec | str], **overrides: Any) -> None:
        self.group_id = group_id
        self.topics = [t.name if isinstance(t, TopicSpec) else t for t in topics]
        self._consumer = AIOKafkaConsumer(
            **{
                **config.common(),
                "group_id": group_id,
                "enable_auto_commit": False,
                "auto_offset_reset": "earliest",
                "isolation_level": "read_committed",
                **overrides,
            }
        )
        self._processed: dict[TopicPartition, int] = {}

    @property
    def raw(self) -> AIOKafkaConsumer:
        return self._consumer

    async def start(self) -> None:
        self._consumer.subscribe(self.topics, listener=_CommitOnRevoke(self))
        await self._consumer.start()

    async def stop(self) -> None:
        """Commit what was processed, then leave the group."""
        try:
            await self.commit()
        finally:
            await self._consumer.stop()

    async def __aenter__(self) -> EventConsumer:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def getmany(
        self, timeout_ms: int = 1000, max_records: int | None = None
    ) -> list[ConsumerRecord[bytes, bytes]]:
        batches = await self._consumer.getmany(timeout_ms=timeout_ms, max_records=max_records)
        return [record for records in batches.values() for record in records]

    def mark_processed(self, record: ConsumerRecord[bytes, bytes]) -> None:
        self._processed[TopicPartition(record.topic, record.partition)] = record.offset + 1

    async def commit(self, only: set[TopicPartition] | None = None) -> None:
        offsets = {
            tp: offset
            for tp, offset in self._processed.items()
            if (only is None or tp in only) and tp in self._consumer.assignment()
        }
        if offsets:
            await self._consumer.commit(offsets)
        for tp in offsets:
            self._processed.pop(tp, None)


# --------------------------------------------------------------------------- dead letters


# uuid5(NAMESPACE_URL, "urn:factorymesh:event-id"): the namespace of every derived event id (docs/contracts.md).
EVENT_ID_NAMESPACE = uuid.UUID("02cedb69-e0cb-5311-a561-7d2a0eb3f715")


def derived_event_id(*natural_key: object) -> str:
    """A stable event id: the same natural key always gives the same id (UUIDv5)."""
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, "|".join(str(part) for part in natural_key)))


def dead_letter_id(topic: str, partition: int, offset: int, service: str, reading_id: str = "") -> str:
    """Dead-lettering the same record (or the same reading of it) twice yields the same id."""
    if reading_id:
        return derived_event_id("dead-letter", topic, partition, offset, service, reading_id)
    return derived_event_id("dead-letter", topic, partition, offset, service)


def dead_letter_for(
    record: ConsumerRecord[bytes, bytes],
    reason: int,
    detail: str,
    service: str,
    attempts: int = 1,
    reading_id: str = "",
) -> dead_letter_pb2.DeadLetter:
    """A dead letter keeping the original bytes, where they came from, and why they failed.

    ``reading_id`` names the one reading of a multi-reading record (a batch) that failed;
    the other readings of that record go on, and each failed one gets its own dead letter.
    """
    now = Timestamp()
    now.GetCurrentTime()
    return dead_letter_pb2.DeadLetter(
        event_id=dead_letter_id(record.topic, record.partition, record.offset, service, reading_id),
        original_event_id=reading_id,
        source_topic=record.topic,
        source_partition=record.partition,
        source_offset=record.offset,
        original_key=record.key or b"",
        original_value=record.value or b"",
        original_headers=[dead_letter_pb2.KafkaHeader(key=k, value=v) for k, v in record.headers or ()],
        reason_code=cast(DeadLetterReason, reason),
        reason_detail=detail,
        failed_service=service,
        dead_lettered_at=now,
        attempts=attempts,
    )


# --------------------------------------------------------------------------- transactions


@dataclass
class Output:
    """A record a handler wants produced, atomically with the consumption of its input."""

    topic: TopicSpec | str
    message: Message
    key: str | bytes | None = None
    headers: Sequence[tuple[str, bytes]] = ()
    # The trace this output continues (e.g. the input record's, from extract_context);
    # None = the current span's.
    trace_context: Context | None = None


Handler = Callable[[ConsumedEvent], Awaitable[Iterable[Output]]]
# Gets every record of a polled batch, undecoded, in partition order; returns every output,
# dead letters included (build them with dead_letter_for). For services that process
# records in bulk (columnar work over many small records) or decode formats of their own.
# A handler that must wait for records of a later poll (groups split by the poll) returns a
# BatchResult that holds back the tail of a partition instead.
BatchHandler = Callable[[list[ConsumerRecord[bytes, bytes]]], Awaitable["Iterable[Output] | BatchResult"]]


@dataclass
class BatchResult:
    """What a batch handler returns when it cannot finish every record of the poll.

    ``hold_from`` maps a partition to the offset of its first record that is *not* done
    (e.g. the first window of a group whose other members have not arrived yet). The
    transaction commits that partition's offset up to there only, and the processor seeks
    back so the held record and everything after it come again in a later poll. The
    handler must therefore produce no output for held records (they are processed again),
    and keep no state about them that a re-delivery would double. Partitions not named
    are done whole.
    """

    outputs: Iterable[Output]
    hold_from: Mapping[TopicPartition, int] = field(default_factory=dict)


# Spans of a bulk batch link to at most this many of its input records' traces.
MAX_SPAN_LINKS = 32


@dataclass
class ProcessorStats:
    consumed: int = 0
    produced: int = 0
    dead_lettered: int = 0
    transactions: int = 0
    aborted: int = 0
    started_at: float = field(default_factory=time.monotonic)


class TransactionalProcessor:
    """Consume → transform → produce, exactly once.

    For each polled batch: one Kafka transaction holds every output record, the
    dead letters of records that cannot be processed, and the consumer offsets.
    A crash anywhere before the commit aborts all of it (the next instance with
    the same ``transactional_id`` fences the old one and aborts its open
    transaction); ``read_committed`` readers never see partial batches.

    ``transactional_id`` must be stable for a given replica (e.g. the pod name),
    so a restarted replica fences its previous incarnation.
    A handler that raises :class:`UndecodableRecord` dead-letters that record;
    any other exception aborts the batch, rewinds, and retries it after a pause
    (doubling per consecutive abort up to ``max_retry_backoff_s``). A batch handler may
    return a :class:`BatchResult` to commit only part of a poll.
    """

    def __init__(
        self,
        config: KafkaConfig,
        *,
        group_id: str,
        transactional_id: str,
        inputs: Sequence[TopicSpec],
        service: str,
        handler: Handler | None = None,
        batch_handler: BatchHandler | None = None,
        on_abort: Callable[[], None] | None = None,
        on_commit: Callable[[], None] | None = None,
        dead_letter_topic: TopicSpec = DEAD_LETTERS,
        max_batch: int = 500,
        poll_timeout_ms: int = 500,
        retry_backoff_s: float = 1.0,
        max_retry_backoff_s: float | None = None,
        hold_back_pause_s: float = 0.2,
        fetch_max_wait_ms: int = 50,
    ) -> None:
        self.group_id = group_id
        self.service = service
        self._inputs = {spec.name: spec for spec in inputs}
        if (handler is None) == (batch_handler is None):
            raise ValueError("give exactly one of handler and batch_handler")
        self._handler = handler
        self._batch_handler = batch_handler
        # Undo in-memory side effects of an aborted batch (it is retried from Kafka).
        self._on_abort = on_abort
        # Report effects of a batch (metrics) only once its transaction committed.
        self._on_commit = on_commit
        self._dead_letter_topic = dead_letter_topic
        self._max_batch = max_batch
        self._poll_timeout_ms = poll_timeout_ms
        self._retry_backoff_s = retry_backoff_s
        # Consecutive aborts double the pause up to this (None: constant), so a dependency
        # that is down (a model server) is not hammered; a commit resets it.
        self._max_retry_backoff_s = max(retry_backoff_s, max_retry_backoff_s or retry_backoff_s)
        self._consecutive_aborts = 0
        # A poll whose records were all held back made no progress: wait before re-polling
        # them, instead of spinning on the same records.
        self._hold_back_pause_s = hold_back_pause_s
        self._consumer = AIOKafkaConsumer(
            **config.common(),
            group_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            # A fetch waits at most this long for data: the default 500 ms would be most of
            # the end-to-end latency at low rates (the broker answers at once when data is there).
            fetch_max_wait_ms=fetch_max_wait_ms,
        )
        self._producer = AIOKafkaProducer(**producer_options(config), transactional_id=transactional_id)
        self._stopping = asyncio.Event()
        # Counted per batch and reported only once its transaction commits.
        self._batch_outputs: Counter[str] = Counter()
        self._batch_dead_letters: Counter[tuple[str, str]] = Counter()
        self.stats = ProcessorStats()

    async def start(self) -> None:
        await self._producer.start()
        self._consumer.subscribe(list(self._inputs))
        await self._consumer.start()

    async def stop(self) -> None:
        """Finish the batch in flight (its transaction commits), then close."""
        self._stopping.set()

    async def close(self) -> None:
        try:
            await self._consumer.stop()
        finally:
            await self._producer.stop()

    async def run(self) -> None:
        """Process until :meth:`stop`; always closes the clients."""
        try:
            while not self._stopping.is_set():
                batches = await self._consumer.getmany(timeout_ms=self._poll_timeout_ms, max_records=self._max_batch)
                if batches:
                    await self._process(batches)
        finally:
            await self.close()

    async def run_as_background_task(self) -> None:
        """:meth:`run` for a ``GrpcService`` background task: when the task is cancelled at
        shutdown, the batch in flight finishes and commits (offsets included) before the
        clients close, instead of being aborted and redone by the next instance."""
        running = asyncio.create_task(self.run())
        try:
            await asyncio.shield(running)
        except asyncio.CancelledError:
            await self.stop()
            await running
            raise

    async def _process(self, batches: Mapping[TopicPartition, list[ConsumerRecord[bytes, bytes]]]) -> None:
        self._batch_outputs = Counter()
        self._batch_dead_letters = Counter()
        # Per partition, the offset the transaction commits: past the last record, or up to
        # the first record the batch handler held back.
        ends: dict[TopicPartition, int] = {}
        try:
            async with self._producer.transaction():
                hold: Mapping[TopicPartition, int] = {}
                if self._batch_handler is not None:
                    hold = await self._process_bulk([r for records in batches.values() for r in records])
                else:
                    for records in batches.values():
                        for record in records:
                            await self._process_record(record)
                for tp, records in batches.items():
                    first, end = records[0].offset, records[-1].offset + 1
                    held = hold.get(tp, end)
                    if not first <= held <= end:
                        raise ValueError(f"hold_from {held} for {tp} is outside the polled records [{first}, {end})")
                    ends[tp] = held
                offsets = {tp: OffsetAndMetadata(end, "") for tp, end in ends.items() if end > batches[tp][0].offset}
                if offsets:
                    await self._producer.send_offsets_to_transaction(offsets, self.group_id)
            self._consecutive_aborts = 0
            self.stats.transactions += 1
            # Held-back records come again in a later poll: seek back to the first of them.
            for tp, records in batches.items():
                if ends[tp] <= records[-1].offset:
                    self._consumer.seek(tp, ends[tp])
            done = {tp: sum(1 for r in records if r.offset < ends[tp]) for tp, records in batches.items()}
            self.stats.consumed += sum(done.values())
            TRANSACTIONS.add(1, {"group": self.group_id, "outcome": "committed"})
            for tp, count in done.items():
                if count:
                    RECORDS_CONSUMED.add(count, {"topic": tp.topic, "group": self.group_id})
                highwater = self._consumer.highwater(tp)
                if highwater is not None:
                    _LAG[(self.group_id, tp.topic, tp.partition)] = max(0, int(highwater) - ends[tp])
            for topic, count in self._batch_outputs.items():
                RECORDS_PRODUCED.add(count, {"topic": topic})
            self.stats.produced += self._batch_outputs.total()
            for (source_topic, reason), count in self._batch_dead_letters.items():
                RECORDS_DEAD_LETTERED.add(count, {"source_topic": source_topic, "reason": reason})
            self.stats.dead_lettered += self._batch_dead_letters.total()
            if self._on_commit is not None:
                self._on_commit()
            if not any(done.values()):
                await asyncio.sleep(self._hold_back_pause_s)
        except (KafkaError, Exception) as error:
            self.stats.aborted += 1
            self._consecutive_aborts += 1
            TRANSACTIONS.add(1, {"group": self.group_id, "outcome": "aborted"})
            backoff = min(self._max_retry_backoff_s, self._retry_backoff_s * 2 ** (self._consecutive_aborts - 1))
            log.error(
                "transaction_aborted",
                error=repr(error),
                partitions=len(batches),
                consecutive=self._consecutive_aborts,
                retry_in_s=backoff,
                exc_info=True,
            )
            if self._on_abort is not None:
                self._on_abort()
            # Rewind to the first record of the batch: it is retried as a whole.
            for tp, records in batches.items():
                self._consumer.seek(tp, records[0].offset)
            await asyncio.sleep(backoff)

    async def _process_bulk(self, records: list[ConsumerRecord[bytes, bytes]]) -> Mapping[TopicPartition, int]:
        assert self._batch_handler is not None
        links = [
            trace.Link(context)
            for record in records[:MAX_SPAN_LINKS]
            if (context := trace.get_current_span(extract_context(record.headers)).get_span_context()).is_valid
        ]
        with tracer.start_as_current_span("process batch", kind=SpanKind.CONSUMER, links=links) as span:
            span.set_attribute("messaging.system", "kafka")
            span.set_attribute("messaging.batch.message_count", len(records))
            result = await self._batch_handler(records)
            outputs, hold = (result.outputs, result.hold_from) if isinstance(result, BatchResult) else (result, {})
            for output in outputs:
                if isinstance(output.message, dead_letter_pb2.DeadLetter):
                    reason = DeadLetterReason.Name(output.message.reason_code)
                    self._batch_dead_letters[(output.message.source_topic, reason)] += 1
                await self._send(output.topic, output.message, output.key, output.headers, output.trace_context)
            if hold:
                span.set_attribute("factorymesh.batch.held_partitions", len(hold))
            return hold

    async def _process_record(self, record: ConsumerRecord[bytes, bytes]) -> None:
        assert self._handler is not None
        spec = self._inputs.get(record.topic)
        parent = extract_context(record.headers)
        with tracer.start_as_current_span(f"process {record.topic}", context=parent, kind=SpanKind.CONSUMER) as span:
            span.set_attribute("messaging.system", "kafka")
            span.set_attribute("messaging.destination.name", record.topic)
            span.set_attribute("messaging.kafka.message.offset", record.offset)
            try:
                message = decode_event(record.value, record.headers, spec.value_types if spec else ())
                outputs = list(await self._handler(ConsumedEvent(record, message)))
            except UndecodableRecord as bad:
                letter = dead_letter_for(record, bad.reason, bad.detail, self.service)
                await self._send(self._dead_letter_topic, letter, record.key, ())
                self._batch_dead_letters[(record.topic, DeadLetterReason.Name(bad.reason))] += 1
                log.warning("dead_lettered", source_topic=record.topic, offset=record.offset, detail=bad.detail)
                return
            for output in outputs:
                await self._send(output.topic, output.message, output.key, output.headers, output.trace_context)

    async def _send(
        self,
        topic: TopicSpec | str,
        message: Message,
        key: str | bytes | None,
        extra: Sequence[tuple[str, bytes]],
        context: Context | None = None,
    ) -> None:
        name = topic.name if isinstance(topic, TopicSpec) else topic
        self._batch_outputs[name] += 1
        # Not awaited one by one: the transaction commit flushes and fails if any send failed.
        await self._producer.send(
            name,
            message.SerializeToString(),
            key=encode_key(key),
            headers=event_headers(message, self.service, extra, context),
        )


# --------------------------------------------------------------------------- admin & health


async def ensure_topics(
    config: KafkaConfig,
    specs: Iterable[TopicSpec],
    *,
    partitions_override: int | None = None,
    replication_factor: int = 1,
) -> list[str]:
    """Create the topics that do not exist yet (idempotent). Returns the names created."""
    admin = AIOKafkaAdminClient(**config.common())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [spec for spec in specs if spec.name not in existing]
        if not missing:
            return []
        new_topics = [
            NewTopic(
                spec.name,
                num_partitions=partitions_override or spec.partitions,
                replication_factor=replication_factor,
                topic_configs=spec.topic_configs(),
            )
            for spec in missing
        ]
        with contextlib.suppress(TopicAlreadyExistsError):  # another replica won the race
            await admin.create_topics(new_topics)
        created = [spec.name for spec in missing]
        log.info("topics_created", topics=created)
        return created
    finally:
        await admin.close()


async def wait_for_kafka(config: KafkaConfig, timeout_s: float = 120.0, poll_s: float = 1.0) -> None:
    """Block until the cluster answers (a service starting beside its broker); raise after ``timeout_s``."""
    ready = KafkaReadiness(config)
    deadline = asyncio.get_running_loop().time() + timeout_s
    try:
        while not await ready():
            if asyncio.get_running_loop().time() >= deadline:
                raise TimeoutError(f"Kafka at {config.bootstrap} not reachable after {timeout_s:.0f}s")
            log.info("waiting_for_kafka", bootstrap=config.bootstrap)
            await asyncio.sleep(poll_s)
    finally:
        await ready.close()


class KafkaReadiness:
    """A readiness check for the gRPC bootstrap: true when the cluster answers a metadata request."""

    def __init__(self, config: KafkaConfig, timeout_s: float = 3.0) -> None:
        self._config = config
        self._timeout_s = timeout_s
        self._client: AIOKafkaClient | None = None

    async def __call__(self) -> bool:
        try:
            if self._client is None:
                client = AIOKafkaClient(**self._config.common(), request_timeout_ms=int(self._timeout_s * 1000))
                await asyncio.wait_for(client.bootstrap(), self._timeout_s)
                self._client = client
            await asyncio.wait_for(self._client.fetch_all_metadata(), self._timeout_s)
            return True
        except (TimeoutError, KafkaError, OSError):
            await self.close()
            return False

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()
