from __future__ import annotations

import pytest
from aiokafka.structs import ConsumerRecord
from google.protobuf.timestamp_pb2 import Timestamp

from factorymesh.api.common.v1 import dead_letter_pb2, equipment_pb2
from factorymesh.api.telemetry.v1 import feature_window_pb2, reading_pb2
from factorymesh.common.kafka import (
    HEADER_MESSAGE_TYPE,
    HEADER_PRODUCER,
    HEADER_SCHEMA_VERSION,
    UndecodableRecord,
    dead_letter_for,
    dead_letter_id,
    decode_event,
    event_headers,
    header,
    schema_version,
)

Reason = dead_letter_pb2.DeadLetterReason


def _reading() -> reading_pb2.SensorReading:
    return reading_pb2.SensorReading(
        event_id="gw-7:42",
        equipment=equipment_pb2.EquipmentPath(
            enterprise="acme", site="dortmund", area="press", line="l1", cell="c2", equipment="pump-3"
        ),
        tag="discharge_pressure",
        double_value=4.25,
        source_time=Timestamp(seconds=1_700_000_000, nanos=5),
    )


def test_headers_name_type_producer_and_version() -> None:
    headers = event_headers(_reading(), "ingest", extra=[("x-site", b"dortmund")])
    assert header(headers, HEADER_MESSAGE_TYPE) == "factorymesh.telemetry.v1.SensorReading"
    assert header(headers, HEADER_PRODUCER) == "ingest"
    assert header(headers, HEADER_SCHEMA_VERSION) == "v1"
    assert header(headers, "x-site") == "dortmund"


def test_extra_headers_cannot_spoof_the_type() -> None:
    headers = event_headers(_reading(), "ingest", extra=[(HEADER_MESSAGE_TYPE, b"evil.Type")])
    assert [v for k, v in headers if k == HEADER_MESSAGE_TYPE] == [b"factorymesh.telemetry.v1.SensorReading"]


def test_round_trip_chooses_the_class_from_the_header() -> None:
    message = _reading()
    decoded = decode_event(message.SerializeToString(), event_headers(message, "t"))
    assert isinstance(decoded, reading_pb2.SensorReading)
    assert decoded == message


@pytest.mark.parametrize(
    ("value", "headers", "accepted", "reason"),
    [
        (
            b"\xff\xff\xff",
            [(HEADER_MESSAGE_TYPE, b"factorymesh.telemetry.v1.SensorReading")],
            (),
            Reason.DEAD_LETTER_REASON_DECODE_ERROR,
        ),
        (
            b"",
            [(HEADER_MESSAGE_TYPE, b"factorymesh.nope.v1.Nothing")],
            (),
            Reason.DEAD_LETTER_REASON_UNKNOWN_MESSAGE_TYPE,
        ),
        (
            b"",
            [],
            (reading_pb2.SensorReading, feature_window_pb2.FeatureWindow),
            Reason.DEAD_LETTER_REASON_UNKNOWN_MESSAGE_TYPE,
        ),
        (
            b"",
            [(HEADER_MESSAGE_TYPE, b"factorymesh.telemetry.v1.FeatureWindow")],
            (reading_pb2.SensorReading,),
            Reason.DEAD_LETTER_REASON_UNKNOWN_MESSAGE_TYPE,
        ),
        (
            None,
            [(HEADER_MESSAGE_TYPE, b"factorymesh.telemetry.v1.SensorReading")],
            (),
            Reason.DEAD_LETTER_REASON_DECODE_ERROR,
        ),
    ],
)
def test_undecodable_records_carry_a_reason(
    value: bytes | None, headers: list[tuple[str, bytes]], accepted: tuple[type, ...], reason: int
) -> None:
    with pytest.raises(UndecodableRecord) as raised:
        decode_event(value, headers, accepted)
    assert raised.value.reason == reason
    assert raised.value.detail


def test_single_type_topic_decodes_without_header() -> None:
    message = _reading()
    assert decode_event(message.SerializeToString(), None, (reading_pb2.SensorReading,)) == message


def test_schema_version_is_the_package_major() -> None:
    assert schema_version("factorymesh.telemetry.v1.SensorReading") == "v1"
    assert schema_version("factorymesh.telemetry.v12.SensorReading") == "v12"
    assert schema_version("Unversioned") == "v0"


def test_dead_letter_keeps_original_bytes_and_position() -> None:
    record = ConsumerRecord(
        topic="raw",
        partition=2,
        offset=99,
        timestamp=0,
        timestamp_type=0,
        key=b"acme/dortmund",
        value=b"\x00garbage",
        checksum=None,
        serialized_key_size=13,
        serialized_value_size=8,
        headers=[("h", b"v")],
    )
    letter = dead_letter_for(record, Reason.DEAD_LETTER_REASON_DECODE_ERROR, "bad bytes", "ingest")
    assert letter.event_id == dead_letter_id("raw", 2, 99, "ingest")
    assert letter.event_id != dead_letter_id("raw", 2, 99, "inference")
    assert (letter.original_key, letter.original_value) == (b"acme/dortmund", b"\x00garbage")
    assert [(h.key, h.value) for h in letter.original_headers] == [("h", b"v")]
    assert letter.reason_code == Reason.DEAD_LETTER_REASON_DECODE_ERROR
    assert letter.failed_service == "ingest"
    assert letter.dead_lettered_at.seconds > 0
