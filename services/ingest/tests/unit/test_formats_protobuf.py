"""Golden cases for format detection and the project protobuf (SensorReading, SensorReadingBatch)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from factorymesh.api.common.v1 import equipment_pb2, quality_pb2, units_pb2
from factorymesh.api.telemetry.v1 import feature_window_pb2, reading_batch_pb2, reading_pb2
from factorymesh.common.kafka import HEADER_MESSAGE_TYPE
from factorymesh.ingest.formats import InputFormat, RecordParser, detect_format, parse_sensor_reading
from factorymesh.ingest.model import DeadLetterReason as R
from factorymesh.ingest.model import ParseResult

TOPIC = "factorymesh.telemetry.raw.v1"
RECEIVED_NS = 1_700_000_000_123_456_789
Q = quality_pb2.DataQuality
EQUIPMENT = equipment_pb2.EquipmentPath(
    enterprise="acme", site="berlin", area="assembly", line="line4", cell="cell2", equipment="press7"
)


def parse(message: object, *, type_name: str | None = None, parser: RecordParser | None = None) -> ParseResult:
    assert hasattr(message, "SerializeToString")
    name = type_name or message.DESCRIPTOR.full_name  # type: ignore[attr-defined]
    parser = parser or RecordParser(clock_ns=lambda: RECEIVED_NS)
    return parser.parse(TOPIC, b"acme/berlin", message.SerializeToString(), [(HEADER_MESSAGE_TYPE, name.encode())])


def reading(**fields: object) -> reading_pb2.SensorReading:
    defaults: dict[str, object] = {
        "event_id": "r-1",
        "equipment": EQUIPMENT,
        "tag": "spindle.temp",
        "double_value": 21.5,
        "unit": units_pb2.EngineeringUnit(code="Cel"),
        "source_time": Timestamp(seconds=1_700_000_000, nanos=5),
    }
    defaults.update(fields)
    return reading_pb2.SensorReading(**defaults)  # type: ignore[arg-type]


def only_rejection(result: ParseResult) -> tuple[int, str]:
    assert result.columns == [], result
    assert result.texts == [], result
    assert len(result.rejections) == 1, result
    return result.rejections[0].reason, result.rejections[0].reading_id


# --------------------------------------------------------------------------- detection


@pytest.mark.parametrize(
    ("topic", "key", "headers", "expected"),
    [
        (
            TOPIC,
            b"acme/berlin",
            [(HEADER_MESSAGE_TYPE, b"factorymesh.telemetry.v1.SensorReading")],
            InputFormat.PROTOBUF,
        ),
        # the header wins even when the key looks like another format
        (TOPIC, b"umh.v1.acme._historian.x", [(HEADER_MESSAGE_TYPE, b"x")], InputFormat.PROTOBUF),
        (TOPIC, b"umh.v1.acme._historian.temp", [], InputFormat.UMH_JSON),
        (TOPIC, b"umh.v1.acme._historian.temp", [("content-type", b"application/json")], InputFormat.UMH_JSON),
        ("umh.v1.acme.berlin", b"_historian.temp", [], InputFormat.UMH_JSON),
        ("umh.messages", b"umh.v1.acme._historian.temp", [], InputFormat.UMH_JSON),
        (TOPIC, b"spBv1.0/acme/NDATA/gw1", [], InputFormat.SPARKPLUG_B),
        (TOPIC, b"acme/berlin", [], None),
        (TOPIC, None, [], None),
        (TOPIC, b"umh.v1", [], None),  # no trailing dot: not a UMH topic
    ],
)
def test_detect_format(topic: str, key: bytes | None, headers: list[tuple[str, bytes]], expected: object) -> None:
    assert detect_format(topic, key, headers) is expected


def test_undetectable_record_is_one_unknown_message_type_rejection() -> None:
    result = RecordParser().parse(TOPIC, b"acme", b"\x00\x01", [])
    assert only_rejection(result) == (R.DEAD_LETTER_REASON_UNKNOWN_MESSAGE_TYPE, "")


def test_payload_over_the_limit_is_message_too_large_before_decoding() -> None:
    parser = RecordParser(max_payload_bytes=16)
    result = parser.parse(TOPIC, None, b"x" * 17, [(HEADER_MESSAGE_TYPE, b"factorymesh.telemetry.v1.SensorReading")])
    assert only_rejection(result) == (R.DEAD_LETTER_REASON_MESSAGE_TOO_LARGE, "")
    assert "17 bytes" in result.rejections[0].detail


# --------------------------------------------------------------------------- SensorReading


def test_double_reading_becomes_one_column_row() -> None:
    result = parse(reading())
    assert result.rejections == []
    assert result.texts == []
    (columns,) = result.columns
    assert len(columns) == 1
    assert columns.reading_ids == ["r-1"]
    assert columns.reading_id(0) == "r-1"
    assert columns.equipment == EQUIPMENT
    assert columns.tags == ["spindle.temp"]
    assert columns.units == ["Cel"]
    assert columns.values.tolist() == [21.5]
    assert columns.times_ns.tolist() == [1_700_000_000_000_000_005]
    assert columns.quality.tolist() == [Q.DATA_QUALITY_GOOD]  # UNSPECIFIED -> GOOD
    assert columns.tag_idx.dtype == np.uint32
    assert columns.source_idx.dtype == np.uint32
    assert columns.origin.protocol == reading_pb2.SourceProtocol.SOURCE_PROTOCOL_FACTORYMESH_PROTOBUF
    assert columns.origin.source_topic == TOPIC
    assert columns.received_ns == RECEIVED_NS


def test_reported_quality_and_origin_are_kept() -> None:
    origin = reading_pb2.ReadingOrigin(
        protocol=reading_pb2.SourceProtocol.SOURCE_PROTOCOL_OPC_UA, source_id="opc.tcp://plc", source_topic="x"
    )
    (columns,) = parse(reading(quality=Q.DATA_QUALITY_UNCERTAIN_SUBSTITUTED, origin=origin)).columns
    assert columns.quality.tolist() == [Q.DATA_QUALITY_UNCERTAIN_SUBSTITUTED]
    assert columns.origin == origin


@pytest.mark.parametrize(("value", "expected"), [(2**53, float(2**53)), (-(2**53), -float(2**53)), (7, 7.0)])
def test_int_reading_within_2_pow_53_is_exact_float(value: int, expected: float) -> None:
    (columns,) = parse(reading(double_value=None, int_value=value)).columns
    assert columns.values.tolist() == [expected]


@pytest.mark.parametrize("value", [2**53 + 1, -(2**53) - 1, 2**63 - 1])
def test_int_reading_beyond_2_pow_53_is_type_mismatch(value: int) -> None:
    result = parse(reading(double_value=None, int_value=value))
    assert only_rejection(result) == (R.DEAD_LETTER_REASON_TYPE_MISMATCH, "r-1")
    assert result.rejections[0].tag == "spindle.temp"


@pytest.mark.parametrize(("value", "expected"), [(True, 1.0), (False, 0.0)])
def test_bool_reading_is_one_or_zero(value: bool, expected: float) -> None:
    (columns,) = parse(reading(double_value=None, bool_value=value)).columns
    assert columns.values.tolist() == [expected]


def test_string_reading_is_a_text_reading() -> None:
    result = parse(reading(double_value=None, string_value="RUNNING", quality=Q.DATA_QUALITY_GOOD))
    assert result.columns == []
    assert result.rejections == []
    (text,) = result.texts
    assert (text.reading_id, text.tag, text.value, text.time_ns) == (
        "r-1",
        "spindle.temp",
        "RUNNING",
        1_700_000_000 * 10**9 + 5,
    )
    assert text.equipment == EQUIPMENT
    assert text.quality == Q.DATA_QUALITY_GOOD


def test_no_value_is_a_nan_reading_only_with_bad_or_uncertain_quality() -> None:
    (columns,) = parse(reading(double_value=None, quality=Q.DATA_QUALITY_BAD_SENSOR_FAILURE)).columns
    assert math.isnan(columns.values[0])
    assert columns.quality.tolist() == [Q.DATA_QUALITY_BAD_SENSOR_FAILURE]
    result = parse(reading(double_value=None))
    assert only_rejection(result) == (R.DEAD_LETTER_REASON_MISSING_REQUIRED_FIELD, "r-1")


def test_nan_with_good_quality_is_non_finite_value() -> None:
    result = parse(reading(double_value=math.inf))
    assert only_rejection(result) == (R.DEAD_LETTER_REASON_NON_FINITE_VALUE, "r-1")


@pytest.mark.parametrize(
    ("fields", "reason", "reading_id"),
    [
        ({"event_id": ""}, R.DEAD_LETTER_REASON_MISSING_REQUIRED_FIELD, ""),
        ({"equipment": None}, R.DEAD_LETTER_REASON_MISSING_REQUIRED_FIELD, "r-1"),
        ({"equipment": equipment_pb2.EquipmentPath(site="berlin")}, R.DEAD_LETTER_REASON_MISSING_REQUIRED_FIELD, "r-1"),
        ({"equipment": equipment_pb2.EquipmentPath(enterprise="ac me")}, R.DEAD_LETTER_REASON_UNKNOWN_EQUIPMENT, "r-1"),
        ({"equipment": equipment_pb2.EquipmentPath(enterprise="a.b")}, R.DEAD_LETTER_REASON_UNKNOWN_EQUIPMENT, "r-1"),
        (
            {"equipment": equipment_pb2.EquipmentPath(enterprise="acme", line="l4")},
            R.DEAD_LETTER_REASON_UNKNOWN_EQUIPMENT,
            "r-1",
        ),
        ({"tag": ""}, R.DEAD_LETTER_REASON_MISSING_REQUIRED_FIELD, "r-1"),
        ({"tag": "spindle temp"}, R.DEAD_LETTER_REASON_SCHEMA_VIOLATION, "r-1"),
        ({"tag": "spindle..temp"}, R.DEAD_LETTER_REASON_SCHEMA_VIOLATION, "r-1"),
        ({"quality": 200}, R.DEAD_LETTER_REASON_SCHEMA_VIOLATION, "r-1"),
        ({"source_time": None}, R.DEAD_LETTER_REASON_MISSING_REQUIRED_FIELD, "r-1"),
        ({"source_time": Timestamp(seconds=10**11)}, R.DEAD_LETTER_REASON_TIMESTAMP_OUT_OF_BOUNDS, "r-1"),
    ],
)
def test_invalid_reading_is_rejected_precisely(fields: dict[str, object], reason: int, reading_id: str) -> None:
    message = reading()
    for name, value in fields.items():
        if value is None:
            message.ClearField(name)
        elif isinstance(value, str | int):
            setattr(message, name, value)
        else:
            getattr(message, name).CopyFrom(value)
    assert only_rejection(parse(message)) == (reason, reading_id)


@pytest.mark.parametrize(
    ("value", "type_name", "reason"),
    [
        (b"\xff\xff\xff", "factorymesh.telemetry.v1.SensorReading", R.DEAD_LETTER_REASON_DECODE_ERROR),
        (None, "factorymesh.telemetry.v1.SensorReading", R.DEAD_LETTER_REASON_DECODE_ERROR),
        (b"", "factorymesh.telemetry.v1.NoSuchThing", R.DEAD_LETTER_REASON_UNKNOWN_MESSAGE_TYPE),
        # a real type in the pool, but not one the raw topic carries
        (b"", feature_window_pb2.FeatureWindow.DESCRIPTOR.full_name, R.DEAD_LETTER_REASON_UNKNOWN_MESSAGE_TYPE),
        (b"", "\udcff", R.DEAD_LETTER_REASON_UNKNOWN_MESSAGE_TYPE),
    ],
)
def test_undecodable_protobuf_record(value: bytes | None, type_name: str, reason: int) -> None:
    header = type_name.encode("utf-8", errors="surrogateescape")
    result = RecordParser().parse(TOPIC, None, value, [(HEADER_MESSAGE_TYPE, header)])
    assert only_rejection(result) == (reason, "")


def test_parse_sensor_reading_for_the_grpc_servicer_keeps_its_protocol() -> None:
    grpc = reading_pb2.SourceProtocol.SOURCE_PROTOCOL_GRPC
    (columns,) = parse_sensor_reading(reading(), received_ns=5, protocol=grpc).columns
    assert columns.origin.protocol == grpc
    assert columns.received_ns == 5


# --------------------------------------------------------------------------- SensorReadingBatch


def batch(n: int, **fields: object) -> reading_batch_pb2.SensorReadingBatch:
    rng = np.random.default_rng(7)
    values = rng.normal(50.0, 10.0, n)
    defaults: dict[str, object] = {
        "event_id": "b-1",
        "equipment": EQUIPMENT,
        "tags": ["vib.x", "vib.y", "current"],
        "tag_units": [units_pb2.EngineeringUnit(code=c) for c in ("mm/s", "mm/s", "A")],
        "tag_indices": (np.arange(n) % 3).tolist(),
        "source_times_unix_nanos": (1_700_000_000 * 10**9 + np.arange(n) * 1_000_000).tolist(),
        "values": values.tolist(),
    }
    defaults.update(fields)
    return reading_batch_pb2.SensorReadingBatch(**defaults)  # type: ignore[arg-type]


def test_batch_of_10000_readings_decodes_to_equal_columns() -> None:
    n = 10_000
    message = batch(n, qualities=[Q.DATA_QUALITY_GOOD] * (n - 1) + [Q.DATA_QUALITY_UNCERTAIN])
    result = parse(message)
    assert result.rejections == []
    assert result.texts == []
    (columns,) = result.columns
    assert len(columns) == n
    assert columns.batch_id == "b-1"
    assert columns.reading_ids is None
    assert columns.reading_id(0) == "b-1:0"
    assert columns.reading_id(n - 1) == f"b-1:{n - 1}"
    assert columns.tags == ["vib.x", "vib.y", "current"]
    assert columns.units == ["mm/s", "mm/s", "A"]
    np.testing.assert_array_equal(columns.values, np.asarray(message.values, dtype=np.float64))
    np.testing.assert_array_equal(columns.times_ns, np.asarray(message.source_times_unix_nanos, dtype=np.int64))
    np.testing.assert_array_equal(columns.tag_idx, np.arange(n) % 3)
    np.testing.assert_array_equal(columns.source_idx, np.arange(n))
    assert columns.quality[-1] == Q.DATA_QUALITY_UNCERTAIN
    assert (columns.quality[:-1] == Q.DATA_QUALITY_GOOD).all()
    assert [columns.values.dtype, columns.times_ns.dtype, columns.tag_idx.dtype, columns.quality.dtype] == [
        np.dtype(np.float64),
        np.dtype(np.int64),
        np.dtype(np.uint32),
        np.dtype(np.int32),
    ]


def test_batch_without_units_and_qualities_means_registered_units_and_good() -> None:
    (columns,) = parse(batch(4, tag_units=[])).columns
    assert columns.units == ["", "", ""]
    assert (columns.quality == Q.DATA_QUALITY_GOOD).all()


def test_batch_per_reading_rejections_keep_the_rest() -> None:
    values = [1.0, math.nan, 3.0, math.inf, math.nan, 6.0]
    qualities = [Q.DATA_QUALITY_GOOD, Q.DATA_QUALITY_GOOD, 99, 0, Q.DATA_QUALITY_BAD, 0]
    result = parse(batch(6, values=values, qualities=qualities))
    (columns,) = result.columns
    # NaN with BAD quality is "no value" and stays; NaN/Inf claimed GOOD and quality 99 do not.
    assert columns.source_idx.tolist() == [0, 4, 5]
    assert [columns.reading_id(i) for i in range(len(columns))] == ["b-1:0", "b-1:4", "b-1:5"]
    assert columns.quality.tolist() == [Q.DATA_QUALITY_GOOD, Q.DATA_QUALITY_BAD, Q.DATA_QUALITY_GOOD]
    rejected = {r.reading_id: (r.reason, r.tag) for r in result.rejections}
    assert rejected == {
        "b-1:1": (R.DEAD_LETTER_REASON_NON_FINITE_VALUE, "vib.y"),
        "b-1:2": (R.DEAD_LETTER_REASON_SCHEMA_VIOLATION, "current"),
        "b-1:3": (R.DEAD_LETTER_REASON_NON_FINITE_VALUE, "vib.x"),
    }


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"event_id": ""}, R.DEAD_LETTER_REASON_MISSING_REQUIRED_FIELD),
        ({"equipment": equipment_pb2.EquipmentPath()}, R.DEAD_LETTER_REASON_MISSING_REQUIRED_FIELD),
        (
            {"equipment": equipment_pb2.EquipmentPath(enterprise="acme", site="b/x")},
            R.DEAD_LETTER_REASON_UNKNOWN_EQUIPMENT,
        ),
        ({"values": [1.0, 2.0]}, R.DEAD_LETTER_REASON_SCHEMA_VIOLATION),  # ragged: 2 values, 3 indices
        ({"source_times_unix_nanos": [1, 2]}, R.DEAD_LETTER_REASON_SCHEMA_VIOLATION),
        ({"qualities": [1, 1]}, R.DEAD_LETTER_REASON_SCHEMA_VIOLATION),
        ({"tag_indices": [0, 1, 3]}, R.DEAD_LETTER_REASON_SCHEMA_VIOLATION),  # index out of range
        ({"tag_units": [units_pb2.EngineeringUnit(code="A")]}, R.DEAD_LETTER_REASON_SCHEMA_VIOLATION),
        ({"tags": ["vib x", "vib.y", "current"]}, R.DEAD_LETTER_REASON_SCHEMA_VIOLATION),
    ],
)
def test_malformed_batch_is_one_record_rejection(fields: dict[str, object], reason: int) -> None:
    message = batch(3)
    for name, value in fields.items():
        if isinstance(value, equipment_pb2.EquipmentPath):
            message.ClearField(name)
            if value.ByteSize():
                message.equipment.CopyFrom(value)
        elif isinstance(value, str):
            setattr(message, name, value)
        else:
            column = getattr(message, name)
            del column[:]
            column.extend(value)
    result = parse(message)
    assert only_rejection(result) == (reason, "")


def test_empty_batch_yields_nothing() -> None:
    assert parse(batch(0, tags=[], tag_units=[])) == ParseResult()
