"""Raw → normalized: the batch handler the transactional loop runs for ingest.

For every polled batch of raw records (all formats, all partitions):

1. parse each record (``formats``): unreadable records and unreadable readings become
   rejections; columnar batches stay columnar; single readings of one equipment from
   many records are merged into one column set so the numeric work is numpy, not a loop;
2. convert to SI (``units``), validate (``validation``), drop duplicates (``dedup``),
   stamp the production context active at each reading's own time (``context``);
3. emit one ``NormalizedReadingBatch`` per source batch, one ``NormalizedReading`` per
   single reading, and one dead letter per rejection, all keyed by equipment path.

Every input reading ends as exactly one normalized reading or exactly one dead letter,
and all of it is written in the same Kafka transaction as the input offsets.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias, cast

import numpy as np
import numpy.typing as npt
from aiokafka.structs import ConsumerRecord
from google.protobuf.timestamp_pb2 import Timestamp
from opentelemetry import metrics

from factorymesh.api.common.v1 import dead_letter_pb2, units_pb2, value_pb2
from factorymesh.api.common.v1.quality_pb2 import DataQuality
from factorymesh.api.telemetry.v1 import normalized_reading_pb2
from factorymesh.api.telemetry.v1.normalized_reading_pb2 import ValidationResult
from factorymesh.common.kafka import Output, dead_letter_for, trace_headers
from factorymesh.common.topics import DEAD_LETTERS, TELEMETRY_NORMALIZED, TopicSpec
from factorymesh.ingest.context import ProductionContextTracker
from factorymesh.ingest.dedup import Deduplicator
from factorymesh.ingest.formats import RecordParser
from factorymesh.ingest.model import GOOD, ReadingColumns, Rejection, TextReading, equipment_key
from factorymesh.ingest.units import UnitConverter, normalize, si_unit_protos
from factorymesh.ingest.validation import Finding, Validator, validation_results

Record: TypeAlias = ConsumerRecord  # aiokafka is untyped: ConsumerRecord[bytes, bytes]
DUPLICATE = dead_letter_pb2.DeadLetterReason.DEAD_LETTER_REASON_DUPLICATE
_meter = metrics.get_meter("factorymesh.ingest")
READINGS_IN = _meter.create_counter("factorymesh.ingest.readings.in", description="Readings parsed from raw records")
READINGS_OUT = _meter.create_counter("factorymesh.ingest.readings.out", description="Normalized readings emitted")
READINGS_REJECTED = _meter.create_counter(
    "factorymesh.ingest.readings.rejected", description="Readings and records dead-lettered, by reason"
)
END_TO_END = _meter.create_histogram(
    "factorymesh.ingest.end_to_end_latency",
    unit="ms",
    description="Reading source time to normalization (per batch, newest reading)",
)


def _timestamp(ns: int) -> Timestamp:
    ts = Timestamp()
    ts.FromNanoseconds(int(ns))
    return ts


@dataclass
class _Singles:
    """Single readings of one equipment gathered from many records, as one column set."""

    parts: list[ReadingColumns] = field(default_factory=list)
    records: list[int] = field(default_factory=list)  # per reading: index of its record

    def add(self, columns: ReadingColumns, record: int) -> None:
        self.parts.append(columns)
        self.records.extend([record] * len(columns))

    def merged(self) -> ReadingColumns:
        """One column set with a shared tag/unit dictionary; ``source_idx`` = position here."""
        first = self.parts[0]
        dictionary: dict[tuple[str, str], int] = {}
        tag_idx_parts = []
        for part in self.parts:
            remap = np.empty(len(part.tags), dtype=np.uint32)
            for t, (tag, unit) in enumerate(zip(part.tags, part.units, strict=False)):
                remap[t] = dictionary.setdefault((tag, unit), len(dictionary))
            tag_idx_parts.append(remap[part.tag_idx] if len(part.tags) else part.tag_idx)
        n = sum(len(p) for p in self.parts)
        ids: list[str] = []
        for part in self.parts:
            ids.extend(part.reading_id(i) for i in range(len(part)))
        return ReadingColumns(
            batch_id=first.batch_id,
            equipment=first.equipment,
            tags=[tag for tag, _ in dictionary],
            units=[unit for _, unit in dictionary],
            tag_idx=np.concatenate(tag_idx_parts),
            times_ns=np.concatenate([p.times_ns for p in self.parts]),
            values=np.concatenate([p.values for p in self.parts]),
            quality=np.concatenate([p.quality for p in self.parts]),
            source_idx=np.arange(n, dtype=np.uint32),
            reading_ids=ids,
            origin=first.origin,
            received_ns=first.received_ns,
        )


class Normalizer:
    """The ingest batch handler: raw records in, normalized readings and dead letters out."""

    def __init__(
        self,
        *,
        parser: RecordParser,
        converter: UnitConverter,
        validator: Validator,
        dedup: Deduplicator,
        context: ProductionContextTracker,
        service: str = "ingest",
        equipment_class: Callable[[str], str] = lambda _: "",
        register_unknown: Callable[[str, str, str], Awaitable[object]] | None = None,
        normalized_topic: TopicSpec = TELEMETRY_NORMALIZED,
        dead_letter_topic: TopicSpec = DEAD_LETTERS,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.parser = parser
        self.converter = converter
        self.validator = validator
        self.dedup = dedup
        self.context = context
        self.service = service
        self._equipment_class = equipment_class
        # Under auto-registration the validator accepts unknown tags (flagged NOT_VALIDATED)
        # and each (equipment, tag, source unit) is registered after the batch.
        self._register_unknown = register_unknown
        self._unknown: set[tuple[str, str, str]] = set()
        self._mark = dedup.mark()
        self._normalized = normalized_topic
        self._dead = dead_letter_topic
        self._clock_ns = clock_ns

    async def __call__(self, records: list[Record]) -> list[Output]:
        self._mark = self.dedup.mark()
        outputs = self.process(records)
        if self._register_unknown is not None and self._unknown:
            unknown, self._unknown = self._unknown, set()
            for eq, tag, unit in sorted(unknown):
                await self._register_unknown(eq, tag, unit)
        return outputs

    def abort(self) -> None:
        """The batch's transaction aborted and will be retried: forget the ids it remembered,
        or the retry would dead-letter every reading as a duplicate."""
        self.dedup.rollback(self._mark)
        self._unknown.clear()

    def process(self, records: Sequence[Record]) -> list[Output]:
        now_ns = self._clock_ns()
        outputs: list[Output] = []
        singles: dict[str, _Singles] = defaultdict(_Singles)
        parsed = 0
        for index, record in enumerate(records):
            result = self.parser.parse(record.topic, record.key, record.value, record.headers)
            parsed += result.readings
            outputs.extend(self._dead_letter(record, rejection) for rejection in result.rejections)
            for columns in result.columns:
                if columns.reading_ids is None:  # a columnar source batch: stays one batch
                    outputs.extend(self._process_batch(columns, record, now_ns))
                else:
                    singles[equipment_key(columns.equipment)].add(columns, index)
            if result.texts:
                outputs.extend(self._process_texts(result.texts, record, now_ns))
        for group in singles.values():
            outputs.extend(self._process_singles(group, records, now_ns))
        self._count(parsed, outputs)
        return outputs

    @staticmethod
    def _count(parsed: int, outputs: list[Output]) -> None:
        """Readings in, out and rejected by reason, derived from what the batch emits."""
        rejected: Counter[str] = Counter()
        emitted = 0
        for output in outputs:
            message = output.message
            if isinstance(message, dead_letter_pb2.DeadLetter):
                rejected[dead_letter_pb2.DeadLetterReason.Name(message.reason_code)] += 1
            elif isinstance(message, normalized_reading_pb2.NormalizedReadingBatch):
                emitted += len(message.values)
            else:
                emitted += 1
        READINGS_IN.add(parsed)
        READINGS_OUT.add(emitted)
        for reason, count in rejected.items():
            READINGS_REJECTED.add(count, {"reason": reason})

    # --- the numeric path -------------------------------------------------------------

    def _normalize(
        self, columns: ReadingColumns, now_ns: int
    ) -> tuple[ReadingColumns, list[Rejection], list[str], npt.NDArray[np.uint8]]:
        """SI conversion, validation and de-duplication of one column set."""
        eq = equipment_key(columns.equipment)
        converted, rejections, si_units = normalize(columns, self.validator.registry_unit(eq), self.converter)
        valid, invalid, flags = self.validator.validate(converted, now_ns)
        rejections.extend(invalid)
        if self._register_unknown is not None and (flags & Finding.NOT_VALIDATED).any():
            for t in np.unique(valid.tag_idx[(flags & Finding.NOT_VALIDATED) != 0]).tolist():
                self._unknown.add((eq, valid.tags[t], columns.units[t] if t < len(columns.units) else ""))
        first = self.dedup.filter_columns(valid)
        if not first.all():
            for i in np.flatnonzero(~first).tolist():
                reading_id = valid.reading_id(i)
                tag = valid.tags[int(valid.tag_idx[i])]
                rejections.append(Rejection(DUPLICATE, f"reading {reading_id} seen before", reading_id, tag))
            valid, flags = valid.select(first), flags[first]
        return valid, rejections, si_units, flags

    def _process_batch(self, columns: ReadingColumns, record: Record, now_ns: int) -> list[Output]:
        valid, rejections, si_units, _ = self._normalize(columns, now_ns)
        outputs = [self._dead_letter(record, r) for r in rejections]
        if len(valid):
            outputs.append(self._batch_output(valid, si_units, record, now_ns))
        return outputs

    def _batch_output(self, valid: ReadingColumns, si_units: list[str], record: Record, now_ns: int) -> Output:
        eq = equipment_key(valid.equipment)
        contexts, context_idx = self.context.context_at(eq, valid.times_ns)
        batch = normalized_reading_pb2.NormalizedReadingBatch(
            event_id=f"{valid.batch_id}:normalized",
            equipment=valid.equipment,
            tags=valid.tags,
            tag_units=si_unit_protos(si_units, self.converter),
            tag_indices=valid.tag_idx.tolist(),
            source_times_unix_nanos=valid.times_ns.tolist(),
            values=valid.values.tolist(),
            source_batch_id=valid.batch_id,
            source_indices=valid.source_idx.tolist(),
            contexts=contexts,
            equipment_class=self._equipment_class(eq),
            received_time=_timestamp(valid.received_ns or now_ns),
            normalized_time=_timestamp(now_ns),
            origin=valid.origin,
        )
        if len(contexts) > 1:
            batch.context_indices.extend(context_idx.tolist())
        if (valid.quality != valid.quality[0]).any() or int(valid.quality[0]) != GOOD:
            batch.qualities.extend(valid.quality.tolist())
        END_TO_END.record((now_ns - int(valid.times_ns.max())) / 1e6)
        return Output(self._normalized, batch, key=eq, headers=trace_headers(record.headers))

    def _process_singles(self, group: _Singles, records: Sequence[Record], now_ns: int) -> list[Output]:
        merged = group.merged()
        valid, rejections, si_units, flags = self._normalize(merged, now_ns)
        outputs: list[Output] = []
        by_id = {merged.reading_id(i): group.records[i] for i in range(len(merged))} if rejections else {}
        for r in rejections:
            outputs.append(self._dead_letter(records[by_id.get(r.reading_id, 0)], r))
        if not len(valid):
            return outputs
        END_TO_END.record((now_ns - int(valid.times_ns.max())) / 1e6)
        eq = equipment_key(valid.equipment)
        contexts, context_idx = self.context.context_at(eq, valid.times_ns)
        results = validation_results(flags)
        units = si_unit_protos(si_units, self.converter)
        equipment_class = self._equipment_class(eq)
        normalized_time = _timestamp(now_ns)
        # Original values: invert the affine conversion would lose bits; take them from the source.
        original = merged.values[valid.source_idx.astype(np.intp)]
        for i in range(len(valid)):
            position = int(valid.source_idx[i])
            record = records[group.records[position]]
            t = int(valid.tag_idx[i])
            reading = normalized_reading_pb2.NormalizedReading(
                event_id=valid.reading_id(i),
                equipment=valid.equipment,
                tag=valid.tags[t],
                double_value=float(valid.values[i]),
                unit=units[t],
                original_value=value_pb2.ScalarValue(double_value=float(original[i])),
                original_unit=units_pb2.EngineeringUnit(code=merged.units[int(merged.tag_idx[position])]),
                quality=cast(DataQuality, int(valid.quality[i])),
                source_time=_timestamp(int(valid.times_ns[i])),
                received_time=_timestamp(valid.received_ns or now_ns),
                normalized_time=normalized_time,
                validation_result=cast(ValidationResult, int(results[i])),
                context=contexts[int(context_idx[i])],
                equipment_class=equipment_class,
                origin=valid.origin,
            )
            outputs.append(Output(self._normalized, reading, key=eq, headers=trace_headers(record.headers)))
        return outputs

    # --- text readings ------------------------------------------------------------------

    def _process_texts(self, texts: list[TextReading], record: Record, now_ns: int) -> list[Output]:
        valid, rejections, flags = self.validator.validate_text(texts, now_ns)
        outputs = [self._dead_letter(record, r) for r in rejections]
        if valid:
            times = np.fromiter((t.time_ns for t in valid), dtype=np.int64, count=len(valid))
            first = self.dedup.filter([t.reading_id for t in valid], times)
        results = validation_results(flags) if valid else np.zeros(0, np.int32)
        for i, text in enumerate(valid):
            if not first[i]:
                outputs.append(
                    self._dead_letter(record, Rejection(DUPLICATE, "seen before", text.reading_id, text.tag))
                )
                continue
            eq = equipment_key(text.equipment)
            contexts, context_idx = self.context.context_at(eq, times[i : i + 1])
            reading = normalized_reading_pb2.NormalizedReading(
                event_id=text.reading_id,
                equipment=text.equipment,
                tag=text.tag,
                string_value=text.value,
                original_value=value_pb2.ScalarValue(string_value=text.value),
                quality=cast(DataQuality, int(text.quality)),
                source_time=_timestamp(text.time_ns),
                normalized_time=_timestamp(now_ns),
                validation_result=cast(ValidationResult, int(results[i])),
                context=contexts[int(context_idx[0])],
                equipment_class=self._equipment_class(eq),
                origin=text.origin,
            )
            outputs.append(Output(self._normalized, reading, key=eq, headers=trace_headers(record.headers)))
        return outputs

    # --- dead letters -------------------------------------------------------------------

    def _dead_letter(self, record: Record, rejection: Rejection) -> Output:
        detail = f"{rejection.detail} (tag {rejection.tag})" if rejection.tag else rejection.detail
        letter = dead_letter_for(record, rejection.reason, detail, self.service, reading_id=rejection.reading_id)
        return Output(self._dead, letter, key=record.key, headers=trace_headers(record.headers))
