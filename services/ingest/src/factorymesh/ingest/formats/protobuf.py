"""The project's own protobuf: ``SensorReading`` and the columnar ``SensorReadingBatch``.

The ``fm-message-type`` header names the type (``factorymesh.common.kafka``
decodes it). A batch is decoded column by column with numpy — one C-level call
per column, no Python work per reading — and its per-reading checks are numpy
masks, so a 100k-reading batch costs the same Python overhead as a 10-reading one.

Whole-record problems (no event_id, no or malformed equipment, bad tag
dictionary, ragged columns, tag index out of range) reject the record with
reading_id "". Per-reading problems (non-finite value with GOOD quality, unknown
quality code, integer beyond 2^53) reject that reading only, with its id.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from factorymesh.api.telemetry.v1 import reading_batch_pb2, reading_pb2
from factorymesh.common.kafka import UndecodableRecord, decode_event
from factorymesh.ingest.formats._common import (
    GOOD,
    INT64_MAX,
    INT64_MIN,
    MAX_EXACT_INT,
    NS_PER_S,
    VALID_QUALITIES,
    R,
    check_equipment,
    check_tag,
    reject_record,
    short,
)
from factorymesh.ingest.model import ParseResult, ReadingColumns, Rejection, TextReading

ACCEPTED_TYPES = (reading_pb2.SensorReading, reading_batch_pb2.SensorReadingBatch)
_VALID_QUALITY_ARRAY = np.array(sorted(VALID_QUALITIES), dtype=np.int32)
FACTORYMESH_PROTOBUF = reading_pb2.SourceProtocol.SOURCE_PROTOCOL_FACTORYMESH_PROTOBUF


def parse_protobuf(
    topic: str, value: bytes | None, headers: Sequence[tuple[str, bytes]], received_ns: int
) -> ParseResult:
    """Decode a Kafka record carrying a SensorReading or SensorReadingBatch."""
    try:
        message = decode_event(value, headers, accepted=ACCEPTED_TYPES)
    except UndecodableRecord as error:
        return reject_record(error.reason, error.detail)
    except Exception as error:  # noqa: BLE001 - the protobuf runtime may raise more than DecodeError
        return reject_record(R.DEAD_LETTER_REASON_DECODE_ERROR, f"protobuf decode failed: {error}")
    if isinstance(message, reading_batch_pb2.SensorReadingBatch):
        return parse_sensor_reading_batch(message, topic=topic, received_ns=received_ns)
    assert isinstance(message, reading_pb2.SensorReading)  # decode_event accepted nothing else
    return parse_sensor_reading(message, topic=topic, received_ns=received_ns)


def _origin(
    source: reading_pb2.ReadingOrigin, topic: str, protocol: reading_pb2.SourceProtocol
) -> reading_pb2.ReadingOrigin:
    """The producer's origin, completed with what ingest knows (protocol, topic)."""
    origin = reading_pb2.ReadingOrigin()
    origin.CopyFrom(source)
    if not origin.protocol:
        origin.protocol = protocol
    if not origin.source_topic and topic:
        origin.source_topic = topic
    return origin


def parse_sensor_reading(
    message: reading_pb2.SensorReading,
    *,
    topic: str = "",
    received_ns: int = 0,
    protocol: reading_pb2.SourceProtocol = FACTORYMESH_PROTOBUF,
) -> ParseResult:
    """One SensorReading -> a ReadingColumns of length 1, a TextReading, or one rejection.

    Also usable by the gRPC servicer on messages it already holds (``protocol=GRPC``).
    """
    if not message.event_id:
        return reject_record(R.DEAD_LETTER_REASON_MISSING_REQUIRED_FIELD, "SensorReading.event_id is empty")
    rid = message.event_id

    def reject(reason: int, detail: str) -> ParseResult:
        return ParseResult(rejections=[Rejection(reason=reason, detail=detail, reading_id=rid, tag=message.tag)])

    if not message.HasField("equipment"):
        return reject(R.DEAD_LETTER_REASON_MISSING_REQUIRED_FIELD, "SensorReading.equipment is not set")
    if problem := check_equipment(message.equipment):
        return reject(*problem)
    if not message.tag:
        return reject(R.DEAD_LETTER_REASON_MISSING_REQUIRED_FIELD, "SensorReading.tag is empty")
    if tag_problem := check_tag(message.tag):
        return reject(R.DEAD_LETTER_REASON_SCHEMA_VIOLATION, tag_problem)
    quality = int(message.quality)
    if quality not in VALID_QUALITIES:
        return reject(R.DEAD_LETTER_REASON_SCHEMA_VIOLATION, f"quality {quality} is not a DataQuality value")
    # UNSPECIFIED = "not reported"; a reading that arrives without a verdict is
    # taken as GOOD, the same rule as an empty `qualities` column in a batch.
    quality = quality or GOOD
    if not message.HasField("source_time"):
        return reject(R.DEAD_LETTER_REASON_MISSING_REQUIRED_FIELD, "SensorReading.source_time is not set")
    if not 0 <= message.source_time.nanos < NS_PER_S:
        return reject(R.DEAD_LETTER_REASON_SCHEMA_VIOLATION, f"source_time.nanos={message.source_time.nanos}")
    time_ns = message.source_time.seconds * NS_PER_S + message.source_time.nanos
    if not INT64_MIN <= time_ns <= INT64_MAX:
        return reject(R.DEAD_LETTER_REASON_TIMESTAMP_OUT_OF_BOUNDS, "source_time does not fit int64 nanoseconds")
    origin = _origin(message.origin, topic, protocol)

    kind = message.WhichOneof("value")
    if kind == "string_value":
        text = TextReading(
            reading_id=rid,
            equipment=message.equipment,
            tag=message.tag,
            value=message.string_value,
            time_ns=time_ns,
            quality=quality,
            origin=origin,
        )
        return ParseResult(texts=[text])
    if kind is None:
        # The contract allows an unset value only as "the source has no value",
        # which is only honest with a BAD or UNCERTAIN quality. NaN is the
        # column's "no value"; it always travels with that quality.
        if quality >> 5 == 0:
            return reject(R.DEAD_LETTER_REASON_MISSING_REQUIRED_FIELD, "no value, and the quality is GOOD")
        number = math.nan
    elif kind == "double_value":
        number = message.double_value
        if not math.isfinite(number) and quality >> 5 == 0:
            return reject(R.DEAD_LETTER_REASON_NON_FINITE_VALUE, f"value {number} with GOOD quality")
    elif kind == "int_value":
        if abs(message.int_value) > MAX_EXACT_INT:
            return reject(
                R.DEAD_LETTER_REASON_TYPE_MISMATCH, f"integer {message.int_value} is beyond 2^53 (not exact as double)"
            )
        number = float(message.int_value)
    else:  # bool_value
        number = 1.0 if message.bool_value else 0.0

    columns = ReadingColumns(
        batch_id=rid,
        equipment=message.equipment,
        tags=[message.tag],
        units=[message.unit.code],
        tag_idx=np.zeros(1, dtype=np.uint32),
        times_ns=np.array([time_ns], dtype=np.int64),
        values=np.array([number], dtype=np.float64),
        quality=np.array([quality], dtype=np.int32),
        source_idx=np.zeros(1, dtype=np.uint32),
        reading_ids=[rid],
        origin=origin,
        received_ns=received_ns,
    )
    return ParseResult(columns=[columns])


def parse_sensor_reading_batch(
    message: reading_batch_pb2.SensorReadingBatch,
    *,
    topic: str = "",
    received_ns: int = 0,
    protocol: reading_pb2.SourceProtocol = FACTORYMESH_PROTOBUF,
) -> ParseResult:
    """A columnar batch -> one ReadingColumns (reading i has id ``<event_id>:<i>``), numpy only."""
    if not message.event_id:
        return reject_record(R.DEAD_LETTER_REASON_MISSING_REQUIRED_FIELD, "SensorReadingBatch.event_id is empty")
    batch_id = message.event_id
    if not message.HasField("equipment"):
        return reject_record(R.DEAD_LETTER_REASON_MISSING_REQUIRED_FIELD, "SensorReadingBatch.equipment is not set")
    if problem := check_equipment(message.equipment):
        return reject_record(*problem)

    tags = list(message.tags)  # the dictionary: T entries, small
    for i, tag in enumerate(tags):
        if tag_problem := check_tag(tag):
            return reject_record(R.DEAD_LETTER_REASON_SCHEMA_VIOLATION, f"tags[{i}]: {tag_problem}", tag=tag)
    if len(message.tag_units) not in (0, len(tags)):
        return reject_record(
            R.DEAD_LETTER_REASON_SCHEMA_VIOLATION,
            f"tag_units has {len(message.tag_units)} entries, tags has {len(tags)} (must be equal or 0)",
        )
    units = [unit.code for unit in message.tag_units] if message.tag_units else [""] * len(tags)

    n = len(message.values)
    lengths = {
        "tag_indices": len(message.tag_indices),
        "source_times_unix_nanos": len(message.source_times_unix_nanos),
    }
    ragged = {name: length for name, length in lengths.items() if length != n}
    if len(message.qualities) not in (0, n):
        ragged["qualities"] = len(message.qualities)
    if ragged:
        listed = ", ".join(f"{name}={length}" for name, length in ragged.items())
        return reject_record(R.DEAD_LETTER_REASON_SCHEMA_VIOLATION, f"ragged columns: values={n}, {listed}")
    if n == 0:
        return ParseResult()  # nothing in it, so nothing to account for

    # One C-level conversion per column (docs/contracts.md, "Columnar SensorReadingBatch").
    values = np.asarray(message.values, dtype=np.float64)
    times_ns = np.asarray(message.source_times_unix_nanos, dtype=np.int64)
    tag_idx = np.asarray(message.tag_indices, dtype=np.uint32)
    highest = int(tag_idx.max())
    if highest >= len(tags):
        return reject_record(
            R.DEAD_LETTER_REASON_SCHEMA_VIOLATION, f"tag index {highest} out of range: {len(tags)} tags"
        )
    if len(message.qualities):
        quality = np.asarray(message.qualities, dtype=np.int32)
        quality[quality == 0] = GOOD  # UNSPECIFIED -> GOOD, as for an empty column
    else:
        quality = np.full(n, GOOD, dtype=np.int32)

    unknown_quality = ~np.isin(quality, _VALID_QUALITY_ARRAY)
    # NaN/Inf is only a value's absence when the source says so (BAD/UNCERTAIN).
    non_finite = ~np.isfinite(values) & (quality >> 5 == 0) & ~unknown_quality
    bad: npt.NDArray[np.bool_] = unknown_quality | non_finite

    columns = ReadingColumns(
        batch_id=batch_id,
        equipment=message.equipment,
        tags=tags,
        units=units,
        tag_idx=tag_idx,
        times_ns=times_ns,
        values=values,
        quality=quality,
        source_idx=np.arange(n, dtype=np.uint32),
        origin=_origin(message.origin, topic, protocol),
        received_ns=received_ns,
    )
    if not bad.any():
        return ParseResult(columns=[columns])

    rejections: list[Rejection] = []
    # Only the (exceptional) bad readings are visited in Python.
    for i in np.flatnonzero(bad).tolist():
        tag = tags[int(tag_idx[i])]
        if unknown_quality[i]:
            reason, detail = R.DEAD_LETTER_REASON_SCHEMA_VIOLATION, f"quality {int(quality[i])} is not a DataQuality"
        else:
            reason, detail = R.DEAD_LETTER_REASON_NON_FINITE_VALUE, f"value {short(float(values[i]))} with GOOD quality"
        rejections.append(Rejection(reason=reason, detail=detail, reading_id=f"{batch_id}:{i}", tag=tag))
    survivors = columns.select(~bad)
    return ParseResult(columns=[survivors] if len(survivors) else [], rejections=rejections)
