"""Normalized telemetry records -> :class:`~factorymesh.ingest.features.windows.Columns`.

A ``NormalizedReadingBatch`` becomes columns with one numpy call per packed
field; a single ``NormalizedReading`` becomes a one-row chunk. Tags and
production contexts are interned in the equipment's own dictionaries, so the
columns index the same tag ids as the equipment's open windows.

Validity ("the window's data quality"): a reading is *valid* when its quality
severity is GOOD (``quality >> 5 == 0``: 1-31, and 0 = not reported, which the
batch format defines as GOOD) and its value is finite. Invalid readings count
in the window's ``total`` (for ``valid_fraction``) but not in its statistics.
Text values are not windowed (there is nothing to average); booleans are 0 / 1,
so their mean is a duty cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from factorymesh.api.common.v1 import dead_letter_pb2, equipment_pb2
from factorymesh.api.telemetry.v1 import normalized_reading_pb2
from factorymesh.common.kafka import UndecodableRecord
from factorymesh.features.stats import F64, I32, NS_PER_S, Bools
from factorymesh.ingest.features.windows import Columns, EquipmentWindows
from factorymesh.ingest.model import equipment_key

SCHEMA_VIOLATION = dead_letter_pb2.DeadLetterReason.DEAD_LETTER_REASON_SCHEMA_VIOLATION
MISSING_FIELD = dead_letter_pb2.DeadLetterReason.DEAD_LETTER_REASON_MISSING_REQUIRED_FIELD


def valid_mask(values: F64, qualities: I32) -> Bools:
    """GOOD severity (or not reported) and a finite value."""
    good = (qualities.astype(np.int64) >> 5) == 0
    result: Bools = good & np.isfinite(values)
    return result


def equipment_of(
    message: normalized_reading_pb2.NormalizedReading | normalized_reading_pb2.NormalizedReadingBatch,
) -> str:
    key = equipment_key(message.equipment)
    if not key:
        raise UndecodableRecord(MISSING_FIELD, f"{message.DESCRIPTOR.name} without equipment")
    return key


def batch_columns(batch: normalized_reading_pb2.NormalizedReadingBatch, state: EquipmentWindows) -> Columns:
    """The readings of a columnar batch, interned into ``state``'s dictionaries."""
    n = len(batch.values)
    if len(batch.tag_indices) != n or len(batch.source_times_unix_nanos) != n:
        raise UndecodableRecord(SCHEMA_VIOLATION, "NormalizedReadingBatch columns differ in length")
    if len(batch.qualities) not in (0, n) or len(batch.context_indices) not in (0, n):
        raise UndecodableRecord(SCHEMA_VIOLATION, "NormalizedReadingBatch qualities/context_indices length")
    local_tags = np.asarray(batch.tag_indices, dtype=np.intp)
    if n and (local_tags.max() >= len(batch.tags)):
        raise UndecodableRecord(SCHEMA_VIOLATION, "NormalizedReadingBatch tag index out of range")
    tag_map = np.array([state.tag_id(tag) for tag in batch.tags], dtype=np.intp)
    for local, unit in enumerate(batch.tag_units):
        if local < len(tag_map):
            state.units[int(tag_map[local])] = unit.SerializeToString()
    values = np.asarray(batch.values, dtype=np.float64)
    qualities = np.asarray(batch.qualities, dtype=np.int32) if len(batch.qualities) else np.zeros(n, dtype=np.int32)
    ctx_map = np.array([state.context_id(c.SerializeToString()) for c in batch.contexts], dtype=np.int32)
    if len(batch.context_indices):
        ctx_idx = np.asarray(batch.context_indices, dtype=np.intp)
        if ctx_idx.max() >= ctx_map.size:
            raise UndecodableRecord(SCHEMA_VIOLATION, "NormalizedReadingBatch context index out of range")
        ctx = ctx_map[ctx_idx]
    else:
        ctx = np.full(n, ctx_map[0] if ctx_map.size else -1, dtype=np.int32)
    if batch.equipment_class:
        state.equipment_class = batch.equipment_class
    return Columns(
        tag=tag_map[local_tags] if n else np.zeros(0, dtype=np.intp),
        times_ns=np.asarray(batch.source_times_unix_nanos, dtype=np.int64),
        values=values,
        valid=valid_mask(values, qualities),
        ctx=ctx,
    )


@dataclass
class SingleReadings:
    """Single ``NormalizedReading`` s of one equipment collected into columns (one row each)."""

    tag: list[int] = field(default_factory=list)
    times_ns: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    qualities: list[int] = field(default_factory=list)
    ctx: list[int] = field(default_factory=list)

    def add(self, reading: normalized_reading_pb2.NormalizedReading, state: EquipmentWindows) -> bool:
        """Add a reading; False when it has no numeric value (text readings are not windowed)."""
        which = reading.WhichOneof("value")
        if which == "double_value":
            value = reading.double_value
        elif which == "int_value":
            value = float(reading.int_value)
        elif which == "bool_value":
            value = 1.0 if reading.bool_value else 0.0
        else:
            return False
        if not reading.tag:
            raise UndecodableRecord(MISSING_FIELD, "NormalizedReading without tag")
        if not reading.HasField("source_time"):
            raise UndecodableRecord(MISSING_FIELD, "NormalizedReading without source_time")
        tag = state.tag_id(reading.tag)
        if reading.HasField("unit"):
            state.units[tag] = reading.unit.SerializeToString()
        if reading.equipment_class:
            state.equipment_class = reading.equipment_class
        self.tag.append(tag)
        self.times_ns.append(reading.source_time.seconds * NS_PER_S + reading.source_time.nanos)
        self.values.append(value)
        self.qualities.append(int(reading.quality))
        self.ctx.append(state.context_id(reading.context.SerializeToString()) if reading.HasField("context") else -1)
        return True

    def __len__(self) -> int:
        return len(self.tag)

    def columns(self) -> Columns:
        values = np.asarray(self.values, dtype=np.float64)
        return Columns(
            tag=np.asarray(self.tag, dtype=np.intp),
            times_ns=np.asarray(self.times_ns, dtype=np.int64),
            values=values,
            valid=valid_mask(values, np.asarray(self.qualities, dtype=np.int32)),
            ctx=np.asarray(self.ctx, dtype=np.int32),
        )


def equipment_path(key: str) -> equipment_pb2.EquipmentPath:
    """The inverse of ``equipment_key``: a canonical path has no gaps, so segments map in order."""
    names = ("enterprise", "site", "area", "line", "cell", "equipment")
    return equipment_pb2.EquipmentPath(**dict(zip(names, key.split("/"), strict=False)))
