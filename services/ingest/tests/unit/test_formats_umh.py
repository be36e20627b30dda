"""Golden cases for United Manufacturing Hub ``_historian`` JSON."""

from __future__ import annotations

import json

import pytest

from factorymesh.api.common.v1 import equipment_pb2, quality_pb2
from factorymesh.api.telemetry.v1 import reading_pb2
from factorymesh.common.kafka import derived_event_id
from factorymesh.ingest.formats import RecordParser
from factorymesh.ingest.model import DeadLetterReason as R
from factorymesh.ingest.model import ParseResult

RAW = "factorymesh.telemetry.raw.v1"
KEY = "umh.v1.acme.berlin.assembly.line4.cell2.press7._historian.head"
TS_MS = 1_700_000_000_123
TS_NS = TS_MS * 1_000_000
PATH = "acme/berlin/assembly/line4/cell2/press7"


def parse(payload: object, key: str | bytes = KEY, *, topic: str = RAW, headers: object = ()) -> ParseResult:
    value = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    raw_key = key if isinstance(key, bytes) else key.encode()
    return RecordParser(clock_ns=lambda: 99).parse(topic, raw_key, value, list(headers))  # type: ignore[call-overload]


def record_rejection(result: ParseResult) -> tuple[int, str]:
    assert result.columns == []
    assert result.texts == []
    assert len(result.rejections) == 1, result
    assert result.rejections[0].reading_id == ""
    return result.rejections[0].reason, result.rejections[0].detail


def readings(result: ParseResult) -> dict[str, float | str]:
    """tag -> value of every reading in the result."""
    out: dict[str, float | str] = {text.tag: text.value for text in result.texts}
    for columns in result.columns:
        for i in range(len(columns)):
            out[columns.tags[int(columns.tag_idx[i])]] = float(columns.values[i])
    return out


def test_multi_tag_payload_maps_location_groups_and_types() -> None:
    result = parse({"timestamp_ms": TS_MS, "temperature": 50.0, "collision": False, "count": 3, "g-code": "G01 X10"})
    assert result.rejections == []
    assert readings(result) == {
        "head.temperature": 50.0,
        "head.collision": 0.0,  # booleans count as numbers (UMH)
        "head.count": 3.0,
        "head.g-code": "G01 X10",
    }
    (columns,) = result.columns
    assert columns.equipment == equipment_pb2.EquipmentPath(
        enterprise="acme", site="berlin", area="assembly", line="line4", cell="cell2", equipment="press7"
    )
    assert columns.units == ["", "", ""]  # UMH carries no unit: the registered unit applies
    assert set(columns.times_ns.tolist()) == {TS_NS}
    assert set(columns.quality.tolist()) == {quality_pb2.DataQuality.DATA_QUALITY_GOOD}
    assert columns.origin.protocol == reading_pb2.SourceProtocol.SOURCE_PROTOCOL_UMH_JSON
    assert columns.origin.source_id == "press7"
    assert columns.origin.source_topic == KEY
    assert columns.received_ns == 99
    (text,) = result.texts
    assert text.time_ns == TS_NS
    assert text.equipment == columns.equipment


def test_reading_ids_are_the_contract_derivation_and_stable() -> None:
    payload = {"timestamp_ms": TS_MS, "temperature": 50.0, "state": "RUN"}
    first, second = parse(payload), parse(payload)
    (columns,) = first.columns
    assert columns.reading_ids == [derived_event_id("reading", PATH, "head.temperature", TS_NS, "press7")]
    assert first.texts[0].reading_id == derived_event_id("reading", PATH, "head.state", TS_NS, "press7")
    assert second.columns[0].reading_ids == columns.reading_ids
    assert second.texts[0].reading_id == first.texts[0].reading_id
    later = parse({"timestamp_ms": TS_MS + 1, "temperature": 50.0})
    assert later.columns[0].reading_ids != columns.reading_ids


def test_umh_core_value_key_takes_the_tag_from_the_topic() -> None:
    result = parse({"timestamp_ms": TS_MS, "value": 3200}, "umh.v1.acme.plant1._historian.spindle.rpm")
    assert readings(result) == {"spindle.rpm": 3200.0}
    assert result.columns[0].equipment == equipment_pb2.EquipmentPath(enterprise="acme", site="plant1")
    assert result.columns[0].origin.source_id == ""  # no originID level in this topic


def test_value_key_without_tag_in_topic_is_tag_value() -> None:
    assert readings(parse({"timestamp_ms": TS_MS, "value": 1.5}, "umh.v1.acme._historian")) == {"value": 1.5}


def test_payload_key_with_dots_adds_groups() -> None:
    assert readings(parse({"timestamp_ms": TS_MS, "pos.x": 12.5})) == {"head.pos.x": 12.5}


def test_umh_classic_topic_plus_key() -> None:
    result = parse({"timestamp_ms": TS_MS, "t": 1}, "assembly._historian.oven", topic="umh.v1.acme.berlin")
    assert readings(result) == {"oven.t": 1.0}
    assert result.columns[0].equipment == equipment_pb2.EquipmentPath(enterprise="acme", site="berlin", area="assembly")
    assert result.columns[0].origin.source_topic == "umh.v1.acme.berlin.assembly._historian.oven"


def test_integral_float_timestamp_is_accepted() -> None:
    result = parse(b'{"timestamp_ms": 1.7e12, "t": 1}')
    assert result.columns[0].times_ns.tolist() == [1_700_000_000_000 * 1_000_000]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"{not json", R.DEAD_LETTER_REASON_DECODE_ERROR),
        (b'{"timestamp_ms": 1, "t": "\xff"}', R.DEAD_LETTER_REASON_DECODE_ERROR),  # invalid UTF-8
        (b"\xef\xbb\xbf{}", R.DEAD_LETTER_REASON_DECODE_ERROR),  # BOM: not JSON text
        (b"[" * 100_000 + b"]" * 100_000, R.DEAD_LETTER_REASON_DECODE_ERROR),  # nested too deeply
        (b'{"timestamp_ms": 1, "t": ' + b"9" * 5000 + b"}", R.DEAD_LETTER_REASON_DECODE_ERROR),  # too many digits
        (b"[1, 2]", R.DEAD_LETTER_REASON_SCHEMA_VIOLATION),
        (b'"text"', R.DEAD_LETTER_REASON_SCHEMA_VIOLATION),
        (b'{"timestamp_ms": 1}', R.DEAD_LETTER_REASON_SCHEMA_VIOLATION),  # no tag
        (b'{"timestamp_ms": 1, "t": 1, "t": 2}', R.DEAD_LETTER_REASON_SCHEMA_VIOLATION),  # ambiguous duplicate
        (b'{"t": 1}', R.DEAD_LETTER_REASON_MISSING_REQUIRED_FIELD),
        (b'{"timestamp_ms": "1700000000000", "t": 1}', R.DEAD_LETTER_REASON_TYPE_MISMATCH),
        (b'{"timestamp_ms": true, "t": 1}', R.DEAD_LETTER_REASON_TYPE_MISMATCH),
        (b'{"timestamp_ms": 1.5, "t": 1}', R.DEAD_LETTER_REASON_TYPE_MISMATCH),
        (b'{"timestamp_ms": NaN, "t": 1}', R.DEAD_LETTER_REASON_TYPE_MISMATCH),
        (b'{"timestamp_ms": null, "t": 1}', R.DEAD_LETTER_REASON_TYPE_MISMATCH),
        (b'{"timestamp_ms": 99999999999999999, "t": 1}', R.DEAD_LETTER_REASON_TIMESTAMP_OUT_OF_BOUNDS),
    ],
)
def test_unreadable_payload_is_one_record_rejection(value: bytes, reason: int) -> None:
    assert record_rejection(parse(value))[0] == reason


def test_record_without_value_is_decode_error() -> None:
    result = RecordParser().parse(RAW, KEY.encode(), None, [])
    assert record_rejection(result)[0] == R.DEAD_LETTER_REASON_DECODE_ERROR


@pytest.mark.parametrize(
    ("literal", "other"),
    [(b"NaN", 1), (b"Infinity", 2), (b"-Infinity", 3), (b"1e400", 4)],
)
def test_non_finite_values_are_rejected_per_tag(literal: bytes, other: int) -> None:
    result = parse(b'{"timestamp_ms": 1, "bad": ' + literal + b', "good": ' + str(other).encode() + b"}")
    assert readings(result) == {"head.good": float(other)}
    (rejection,) = result.rejections
    assert rejection.reason == R.DEAD_LETTER_REASON_NON_FINITE_VALUE
    assert rejection.tag == "head.bad"
    assert rejection.reading_id == derived_event_id("reading", PATH, "head.bad", 1_000_000, "press7")


@pytest.mark.parametrize("bad", [{"x": 1}, [1, 2], None, 2**53 + 1])
def test_nested_null_and_oversized_values_are_type_mismatch_per_tag(bad: object) -> None:
    result = parse({"timestamp_ms": TS_MS, "bad": bad, "good": 7})
    assert readings(result) == {"head.good": 7.0}
    (rejection,) = result.rejections
    assert rejection.reason == R.DEAD_LETTER_REASON_TYPE_MISMATCH
    assert rejection.tag == "head.bad"
    assert rejection.reading_id != ""


def test_payload_key_outside_the_charset_is_rejected_per_tag() -> None:
    result = parse({"timestamp_ms": TS_MS, "bad key": 1, "ok": 2})
    assert readings(result) == {"head.ok": 2.0}
    assert [r.reason for r in result.rejections] == [R.DEAD_LETTER_REASON_SCHEMA_VIOLATION]


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("umh.v1.acme._analytics.x", R.DEAD_LETTER_REASON_UNKNOWN_MESSAGE_TYPE),
        ("umh.v1.acme._local.x", R.DEAD_LETTER_REASON_UNKNOWN_MESSAGE_TYPE),
        ("umh.v1.acme.berlin.temp", R.DEAD_LETTER_REASON_SCHEMA_VIOLATION),  # no _schema segment
        ("umh.v1._historian.temp", R.DEAD_LETTER_REASON_MISSING_REQUIRED_FIELD),  # no enterprise
        ("umh.v1.a.b.c.d.e.f.g._historian.t", R.DEAD_LETTER_REASON_UNKNOWN_EQUIPMENT),  # 7 location levels
        ("umh.v1.ac me._historian.t", R.DEAD_LETTER_REASON_UNKNOWN_EQUIPMENT),
        ("umh.v1.acme..x._historian.t", R.DEAD_LETTER_REASON_UNKNOWN_EQUIPMENT),  # empty level
        ("umh.v1.acme._historian.he ad", R.DEAD_LETTER_REASON_SCHEMA_VIOLATION),
        ("umh.v1.acme._historian.", R.DEAD_LETTER_REASON_SCHEMA_VIOLATION),
        (b"umh.v1.acme._historian.\xff", R.DEAD_LETTER_REASON_DECODE_ERROR),
    ],
)
def test_bad_umh_topic_is_one_record_rejection(key: str | bytes, reason: int) -> None:
    assert record_rejection(parse({"timestamp_ms": TS_MS, "t": 1}, key))[0] == reason


@pytest.mark.parametrize(
    ("headers", "ok"),
    [
        ([("content-type", b"application/json")], True),
        ([("Content-Type", b"application/json; charset=utf-8")], True),
        ([("content-encoding", b"identity")], True),
        ([("content-type", b"text/plain")], False),
        ([("content-encoding", b"gzip")], False),
    ],
)
def test_content_type_and_encoding_headers(headers: list[tuple[str, bytes]], ok: bool) -> None:
    result = parse({"timestamp_ms": TS_MS, "t": 1}, headers=headers)
    if ok:
        assert readings(result) == {"head.t": 1.0}
    else:
        assert record_rejection(result)[0] == R.DEAD_LETTER_REASON_UNSUPPORTED_ENCODING


def test_topic_ending_in_the_payload_key_names_the_tag() -> None:
    """`..._historian[.<group>...].<tag>` with {"<tag>": value}: the last segment is the tag itself."""
    from factorymesh.ingest.formats import RecordParser

    key = b"umh.v1.acme.houston.machining.cnc1.mill-1.spindle-01._historian.spindle.rpm"
    result = RecordParser().parse("raw", key, b'{"timestamp_ms": 1700000000000, "rpm": 3200}', [])
    assert not result.rejections
    (columns,) = result.columns
    assert columns.tags == ["spindle.rpm"]
    plain = RecordParser().parse("raw", key, b'{"timestamp_ms": 1700000000000, "temp": 41.5}', [])
    assert plain.columns[0].tags == ["spindle.rpm.temp"]
