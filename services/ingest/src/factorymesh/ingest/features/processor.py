"""The feature-window processor: normalized telemetry in, ``FeatureWindow`` events out, exactly once.

Why not faust: see ``services/ingest/docs/features.md`` ("faust findings"). In
short, faust-streaming 0.15.3's windowed tables close windows on the wall clock
(``time.time()``), suppress the windows of every partition but one with a
table-wide ``last_closed_window``, and do not re-arm window expiry after a
changelog recovery; so this processor keeps faust's *design* (a changelog-backed
state store, restored on assignment) on our own aiokafka clients.

Per polled batch, ONE Kafka transaction holds

* the ``FeatureWindow`` s of every window that closed,
* the dead letters of records that cannot be decoded,
* a snapshot of every equipment whose windows changed, written to the compacted
  state changelog (partition = the input partition, key = equipment key),
* the consumer offsets.

So the changelog always describes exactly the state after the committed
offsets: a restarted (or re-assigned) processor restores the snapshots of its
partitions and continues from the committed offsets, without losing or
double-emitting a window. When a transaction fails, the in-memory state of its
partitions is discarded and restored from the changelog before the batch is
retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import ProducerFenced
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata
from google.protobuf.message import Message
from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind

from factorymesh.api.telemetry.v1 import normalized_reading_pb2
from factorymesh.common.kafka import (
    DeadLetterReason,
    KafkaConfig,
    UndecodableRecord,
    dead_letter_for,
    decode_event,
    encode_key,
    ensure_topics,
    event_headers,
    producer_options,
)
from factorymesh.common.logging import get_logger
from factorymesh.common.telemetry import extract_context
from factorymesh.common.topics import DEAD_LETTERS, TELEMETRY_FEATURES, TELEMETRY_NORMALIZED, TopicSpec
from factorymesh.ingest.features.codec import SnapshotError, decode_snapshot, encode_snapshot
from factorymesh.ingest.features.config import FeatureWindowConfig
from factorymesh.ingest.features.emit import ExpectedRate, feature_windows
from factorymesh.ingest.features.readings import SingleReadings, batch_columns, equipment_of
from factorymesh.ingest.features.windows import Columns, EquipmentWindows

log = get_logger(__name__)
tracer = trace.get_tracer("factorymesh.ingest.features")
_meter = metrics.get_meter("factorymesh.ingest.features")
LATE_READINGS = _meter.create_counter(
    "factorymesh.ingest.features.late_readings",
    description="Readings that arrived after at least one of their windows had closed, by window kind",
)
DROPPED_READINGS = _meter.create_counter(
    "factorymesh.ingest.features.dropped_readings",
    description="Late readings whose windows had all closed: not in any window (still on the normalized topic)",
)
WINDOWED_READINGS = _meter.create_counter(
    "factorymesh.ingest.features.readings", description="Readings taken into windowing"
)
WINDOWS_EMITTED = _meter.create_counter(
    "factorymesh.ingest.features.windows_emitted", description="FeatureWindow events committed, by window kind"
)
TRANSACTIONS = _meter.create_counter(
    "factorymesh.ingest.features.transactions", description="Feature-window transactions by outcome"
)

BatchType = normalized_reading_pb2.NormalizedReadingBatch
ReadingType = normalized_reading_pb2.NormalizedReading


@dataclass
class FeatureStats:
    """Counters of one processor's life (what committed transactions did)."""

    records: int = 0
    readings: int = 0
    late: dict[str, int] = field(default_factory=dict)
    dropped: int = 0
    windows: int = 0
    dead_lettered: int = 0
    transactions: int = 0
    aborted: int = 0
    restored_equipment: int = 0
    # Monotonic clock: first polled record, last committed transaction (throughput = readings / span).
    first_record_at: float | None = None
    last_commit_at: float | None = None


def changelog_spec(name: str, partitions: int) -> TopicSpec:
    """The state changelog: internal to this processor, compacted, co-partitioned with its input.

    Compaction never touches the active segment, and a restore reads everything not yet
    compacted; 10-minute segments and an eager cleaner keep that tail (and so the
    restore time) to roughly ten minutes of snapshots.
    """
    return TopicSpec(
        name=name,
        partitions=partitions,
        key="equipment key",
        value_types=(),
        description="Open feature-window state per equipment (internal, compacted).",
        producers=("ingest (feature windows)",),
        consumers=("ingest (feature windows)",),
        cleanup_policy="compact",
        retention_ms=None,
        extra_config=(
            ("segment.ms", str(10 * 60 * 1000)),
            ("segment.bytes", str(128 * 1024 * 1024)),
            ("min.cleanable.dirty.ratio", "0.1"),
        ),
    )


@dataclass
class _Pending:
    """Readings of one equipment collected from a poll, in log order."""

    state: EquipmentWindows
    chunks: list[Columns] = field(default_factory=list)
    singles: SingleReadings = field(default_factory=SingleReadings)

    def flush_singles(self) -> None:
        if len(self.singles):
            self.chunks.append(self.singles.columns())
            self.singles = SingleReadings()

    def columns(self) -> Columns | None:
        self.flush_singles()
        if not self.chunks:
            return None
        return self.chunks[0] if len(self.chunks) == 1 else Columns.concat(self.chunks)


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    def __init__(self, processor: FeatureWindowProcessor) -> None:
        self._processor = processor

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        await self._processor._on_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        log.info("feature_partitions_assigned", partitions=sorted(tp.partition for tp in assigned))


class FeatureWindowProcessor:
    """Consumes normalized telemetry, maintains windows per equipment and tag, emits closed windows.

    ``run()`` until ``stop()``. State restore happens in the processing loop (not
    in the rebalance callback, which aiokafka runs after fetching has resumed):
    records of a partition are processed only once its state is restored.
    """

    def __init__(
        self,
        kafka: KafkaConfig,
        config: FeatureWindowConfig | None = None,
        *,
        input_topic: TopicSpec = TELEMETRY_NORMALIZED,
        output_topic: TopicSpec | str = TELEMETRY_FEATURES,
        dead_letter_topic: TopicSpec | str = DEAD_LETTERS,
        expected_rate: ExpectedRate | None = None,
    ) -> None:
        self.config = config or FeatureWindowConfig()
        self._kafka = kafka
        self._input = input_topic
        self._output = output_topic.name if isinstance(output_topic, TopicSpec) else output_topic
        self._dead_letters = dead_letter_topic.name if isinstance(dead_letter_topic, TopicSpec) else dead_letter_topic
        self._expected_rate = expected_rate
        self._specs = self.config.windows
        # Created in start(): aiokafka clients bind to the running loop, and one that was
        # created but never started still warns as unclosed.
        self._consumer: AIOKafkaConsumer
        self._producer: AIOKafkaProducer
        # Input partition -> equipment key -> its windows.
        self._state: dict[int, dict[str, EquipmentWindows]] = {}
        self._last_activity: dict[tuple[int, str], float] = {}
        self._lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._started = False
        self.stats = FeatureStats()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        partitions = await self._input_partitions()
        await ensure_topics(
            self._kafka,
            [changelog_spec(self.config.changelog, partitions)],
            replication_factor=self.config.changelog_replication_factor,
        )
        await self._check_changelog(partitions)
        self._consumer = AIOKafkaConsumer(
            **self._kafka.common(),
            group_id=self.config.group_id,
            group_instance_id=self.config.group_instance_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
        )
        self._producer = AIOKafkaProducer(
            **producer_options(self._kafka), transactional_id=self.config.transactional_id
        )
        # The transactional producer first: init_transactions fences a previous
        # incarnation and aborts its open transaction, so the changelog is settled
        # (its last stable offset advances) before anything is restored from it.
        await self._producer.start()
        try:
            self._consumer.subscribe([self._input.name], listener=_Rebalance(self))
            await self._consumer.start()
        except BaseException:
            await self._producer.stop()
            raise
        self._started = True

    async def stop(self) -> None:
        """Finish the transaction in flight, then leave ``run``."""
        self._stopping.set()

    async def close(self) -> None:
        if not self._started:
            return
        self._started = False
        try:
            await self._consumer.stop()
        finally:
            await self._producer.stop()

    async def run(self) -> None:
        """Process until :meth:`stop`; always closes the clients."""
        if not self._started:
            await self.start()
        try:
            next_idle_check = time.monotonic()
            while not self._stopping.is_set():
                batches = await self._consumer.getmany(
                    timeout_ms=self.config.poll_timeout_ms, max_records=self.config.max_poll_records
                )
                async with self._lock:
                    await self._restore_assigned()
                    batches = self._owned(batches)
                    if batches and self.stats.first_record_at is None:
                        self.stats.first_record_at = time.monotonic()
                    idle: list[tuple[int, str]] = []
                    if self.config.idle_close_s > 0 and time.monotonic() >= next_idle_check:
                        idle = self._idle_equipment()
                        next_idle_check = time.monotonic() + min(1.0, self.config.idle_close_s / 4)
                    if batches or idle:
                        await self._transaction(batches, idle)
        finally:
            await self.close()

    async def _partition_counts(self, *topics: str) -> dict[str, int]:
        """Partitions per topic (0 when it does not exist)."""
        admin = AIOKafkaAdminClient(**self._kafka.common())
        await admin.start()
        try:
            described = await admin.describe_topics(list(topics))
        finally:
            await admin.close()
        return {
            str(item["topic"]): len(item.get("partitions") or ()) if item.get("error_code", 0) == 0 else 0
            for item in described
        }

    async def _input_partitions(self) -> int:
        partitions = (await self._partition_counts(self._input.name)).get(self._input.name, 0)
        if not partitions:
            raise RuntimeError(f"input topic {self._input.name} does not exist")
        return partitions

    async def _check_changelog(self, partitions: int) -> None:
        found = (await self._partition_counts(self.config.changelog)).get(self.config.changelog, 0)
        if found != partitions:
            # State of input partition p lives in changelog partition p: a mismatch would
            # restore the wrong equipment after a rebalance. Refuse to start instead.
            raise RuntimeError(
                f"state changelog {self.config.changelog} has {found} partitions, "
                f"input {self._input.name} has {partitions}"
            )

    # ------------------------------------------------------------------ partitions & state

    def _owned(
        self, batches: Mapping[TopicPartition, list[ConsumerRecord[bytes, bytes]]]
    ) -> dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]:
        """Records of partitions this consumer still owns and has restored."""
        assigned = self._consumer.assignment()
        owned = {}
        for tp, records in batches.items():
            if records and tp in assigned and tp.partition in self._state:
                owned[tp] = records
            elif records and tp in assigned:
                # Fetched before the restore finished: read them again afterwards.
                self._consumer.seek(tp, records[0].offset)
        return owned

    async def _on_revoked(self, revoked: set[TopicPartition]) -> None:
        # Waits for the transaction in flight: state is dropped only between transactions.
        async with self._lock:
            for tp in revoked:
                if tp.topic == self._input.name:
                    self._forget(tp.partition)

    def _forget(self, partition: int) -> None:
        for key in self._state.pop(partition, {}):
            self._last_activity.pop((partition, key), None)

    async def _restore_assigned(self) -> None:
        missing = sorted(
            tp.partition
            for tp in self._consumer.assignment()
            if tp.topic == self._input.name and tp.partition not in self._state
        )
        if missing:
            await self._restore(missing)

    async def _restore(self, partitions: list[int]) -> None:
        """Read the changelog partitions of ``partitions`` to their end (read_committed) and rebuild state."""
        started = time.monotonic()
        tps = [TopicPartition(self.config.changelog, p) for p in partitions]
        reader = AIOKafkaConsumer(
            **self._kafka.common(), enable_auto_commit=False, isolation_level="read_committed", group_id=None
        )
        await reader.start()
        latest: dict[int, dict[str, bytes]] = {p: {} for p in partitions}
        try:
            reader.assign(tps)
            await reader.seek_to_beginning(*tps)
            # With read_committed these are last stable offsets: nothing uncommitted is waited for.
            ends: dict[TopicPartition, int] = await reader.end_offsets(tps)
            while True:
                behind = [tp for tp in tps if await reader.position(tp) < ends[tp]]
                if not behind:
                    break
                fetched = await reader.getmany(*behind, timeout_ms=500)
                for tp, records in fetched.items():
                    for record in records:
                        if record.key is None:
                            continue
                        key = record.key.decode()
                        if record.value is None:
                            latest[tp.partition].pop(key, None)
                        else:
                            latest[tp.partition][key] = record.value
        finally:
            await reader.stop()
        now = time.monotonic()
        restored = 0
        for partition, snapshots in latest.items():
            states: dict[str, EquipmentWindows] = {}
            for key, value in snapshots.items():
                try:
                    state, unknown = decode_snapshot(value, key, self._specs, self.config.lateness_ns)
                except SnapshotError as error:
                    log.error("feature_state_unreadable", equipment=key, partition=partition, error=str(error))
                    continue
                if unknown:
                    log.warning("feature_state_rows_dropped", equipment=key, rows=unknown, reason="window spec removed")
                states[key] = state
                # Idle timers restart: an equipment restored with open windows gets the
                # full idle period to send again before they are force-closed.
                self._last_activity[(partition, key)] = now
            self._state[partition] = states
            restored += len(states)
        self.stats.restored_equipment += restored
        log.info(
            "feature_state_restored",
            partitions=partitions,
            equipment=restored,
            seconds=round(time.monotonic() - started, 3),
        )

    def _idle_equipment(self) -> list[tuple[int, str]]:
        deadline = time.monotonic() - self.config.idle_close_s
        return [
            (partition, key)
            for partition, states in self._state.items()
            for key, state in states.items()
            if state.open_windows and self._last_activity.get((partition, key), 0.0) <= deadline
        ]

    def _equipment(self, partition: int, key: str) -> EquipmentWindows:
        states = self._state[partition]
        state = states.get(key)
        if state is None:
            state = states[key] = EquipmentWindows(key, self._specs, self.config.lateness_ns)
        return state

    # ------------------------------------------------------------------ one transaction

    async def _transaction(
        self,
        batches: Mapping[TopicPartition, list[ConsumerRecord[bytes, bytes]]],
        idle: list[tuple[int, str]],
    ) -> None:
        first = next((records[0] for records in batches.values()), None)
        parent = extract_context(first.headers) if first is not None else None
        late: dict[str, int] = {}
        counts = {"readings": 0, "dropped": 0, "windows": 0, "dead": 0}
        emitted: dict[str, int] = {}
        try:
            with tracer.start_as_current_span(
                f"feature windows {self._input.name}", context=parent, kind=SpanKind.CONSUMER
            ) as span:
                async with self._producer.transaction():
                    pending: dict[tuple[int, str], _Pending] = {}
                    for records in batches.values():
                        for record in records:
                            if not await self._collect(record, pending):
                                counts["dead"] += 1
                    touched: set[tuple[int, str]] = set()
                    computed_ns = time.time_ns()
                    now = time.monotonic()
                    for (partition, key), item in pending.items():
                        cols = item.columns()
                        touched.add((partition, key))
                        if cols is None:
                            continue
                        result = item.state.update(cols)
                        self._last_activity[(partition, key)] = now
                        counts["readings"] += result.readings
                        counts["dropped"] += result.dropped
                        for spec, n_late in zip(self._specs, result.late, strict=True):
                            if n_late:
                                late[spec.kind_name] = late.get(spec.kind_name, 0) + n_late
                        await self._emit(item.state, force=False, computed_ns=computed_ns, emitted=emitted)
                    for partition, key in idle:
                        state = self._state[partition][key]
                        touched.add((partition, key))
                        await self._emit(state, force=True, computed_ns=computed_ns, emitted=emitted)
                    for partition, key in touched:
                        snapshot = encode_snapshot(self._state[partition][key])
                        await self._producer.send(
                            self.config.changelog, snapshot, key=key.encode(), partition=partition
                        )
                    if batches:
                        offsets = {tp: OffsetAndMetadata(records[-1].offset + 1, "") for tp, records in batches.items()}
                        await self._producer.send_offsets_to_transaction(offsets, self.config.group_id)
                span.set_attribute("factorymesh.readings", counts["readings"])
                span.set_attribute("factorymesh.windows", sum(emitted.values()))
        except ProducerFenced:
            # A newer incarnation with our transactional id is running: this one must not
            # touch state or offsets any more.
            log.error("feature_producer_fenced", transactional_id=self.config.transactional_id)
            raise
        except Exception as error:  # noqa: BLE001  # any other failure aborts the batch, which is retried
            await self._after_abort(batches, error)
            return
        self._count_committed(batches, counts, late, emitted)

    async def _collect(self, record: ConsumerRecord[bytes, bytes], pending: dict[tuple[int, str], _Pending]) -> bool:
        """Decode one record into its equipment's pending readings; dead-letter it when it cannot be."""
        try:
            message: Message = decode_event(record.value, record.headers, self._input.value_types)
            if isinstance(message, BatchType):
                key = equipment_of(message)
                item = self._pending(pending, record.partition, key)
                item.flush_singles()  # keep log order between single readings and batches
                cols = batch_columns(message, item.state)
                if len(cols):
                    item.chunks.append(cols)
            elif isinstance(message, ReadingType):
                key = equipment_of(message)
                item = self._pending(pending, record.partition, key)
                item.singles.add(message, item.state)
            else:  # a type the topic spec accepts but this processor does not window
                return True
        except UndecodableRecord as bad:
            letter = dead_letter_for(record, bad.reason, bad.detail, self.config.service)
            await self._producer.send(
                self._dead_letters,
                letter.SerializeToString(),
                key=record.key,
                headers=event_headers(letter, self.config.service),
            )
            log.warning(
                "dead_lettered",
                source_topic=record.topic,
                offset=record.offset,
                reason=DeadLetterReason.Name(bad.reason),
                detail=bad.detail,
            )
            return False
        return True

    def _pending(self, pending: dict[tuple[int, str], _Pending], partition: int, key: str) -> _Pending:
        item = pending.get((partition, key))
        if item is None:
            item = pending[(partition, key)] = _Pending(self._equipment(partition, key))
        return item

    async def _emit(self, state: EquipmentWindows, *, force: bool, computed_ns: int, emitted: dict[str, int]) -> None:
        closed = state.close(force=force)
        windows = feature_windows(
            state,
            closed,
            feature_set_version=self.config.feature_set_version,
            computed_ns=computed_ns,
            expected_rate=self._expected_rate,
        )
        key = encode_key(state.key)
        for spec_idx, window in zip(closed.spec.tolist(), windows, strict=True):
            # Not awaited one by one: the transaction commit flushes and fails if any send failed.
            await self._producer.send(
                self._output,
                window.SerializeToString(),
                key=key,
                headers=event_headers(window, self.config.service),
            )
            name = self._specs[spec_idx].kind_name
            emitted[name] = emitted.get(name, 0) + 1

    async def _after_abort(
        self, batches: Mapping[TopicPartition, list[ConsumerRecord[bytes, bytes]]], error: BaseException
    ) -> None:
        self.stats.aborted += 1
        TRANSACTIONS.add(1, {"outcome": "aborted"})
        log.error("feature_transaction_aborted", error=repr(error), exc_info=True)
        # In-memory state already holds the aborted batch: drop every partition's state
        # (an idle close may have touched any of them) and restore it from the changelog
        # before retrying the batch from its first record.
        for partition in list(self._state):
            self._forget(partition)
        for tp, records in batches.items():
            with contextlib.suppress(Exception):  # partition revoked meanwhile: nothing to rewind
                self._consumer.seek(tp, records[0].offset)
        await asyncio.sleep(self.config.retry_backoff_s)

    def _count_committed(
        self,
        batches: Mapping[TopicPartition, list[ConsumerRecord[bytes, bytes]]],
        counts: dict[str, int],
        late: dict[str, int],
        emitted: dict[str, int],
    ) -> None:
        self.stats.transactions += 1
        self.stats.last_commit_at = time.monotonic()
        self.stats.records += sum(len(r) for r in batches.values())
        self.stats.readings += counts["readings"]
        self.stats.dropped += counts["dropped"]
        self.stats.dead_lettered += counts["dead"]
        self.stats.windows += sum(emitted.values())
        TRANSACTIONS.add(1, {"outcome": "committed"})
        if counts["readings"]:
            WINDOWED_READINGS.add(counts["readings"])
        if counts["dropped"]:
            DROPPED_READINGS.add(counts["dropped"])
        for kind, n in late.items():
            self.stats.late[kind] = self.stats.late.get(kind, 0) + n
            LATE_READINGS.add(n, {"window_kind": kind})
        for kind, n in emitted.items():
            WINDOWS_EMITTED.add(n, {"window_kind": kind})
