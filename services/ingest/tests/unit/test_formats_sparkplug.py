"""Golden cases for Sparkplug B: topics, datatypes, aliases, seq/bdSeq, BIRTH/DEATH state."""

from __future__ import annotations

import math

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, NumberDataPoint

from factorymesh.api.common.v1 import equipment_pb2, quality_pb2
from factorymesh.api.telemetry.v1 import reading_pb2
from factorymesh.common.kafka import derived_event_id
from factorymesh.ingest.formats import RecordParser
from factorymesh.ingest.formats.sparkplug import GAP_COUNTER, tag_for
from factorymesh.ingest.formats.sparkplug import sparkplug_b_pb2 as spb
from factorymesh.ingest.model import DeadLetterReason as R
from factorymesh.ingest.model import ParseResult

RAW = "factorymesh.telemetry.raw.v1"
T0 = 1_700_000_000_000  # ms
Q = quality_pb2.DataQuality
Metric = spb.Payload.Metric


def unit(code: str) -> spb.Payload.PropertySet:
    return spb.Payload.PropertySet(
        keys=["engUnit"], values=[spb.Payload.PropertyValue(type=spb.String, string_value=code)]
    )


def payload(*metrics: Metric, seq: int | None = None, timestamp: int | None = T0, **fields: object) -> bytes:
    message = spb.Payload(metrics=list(metrics), **fields)  # type: ignore[arg-type]
    if seq is not None:
        message.seq = seq
    if timestamp is not None:
        message.timestamp = timestamp
    return message.SerializeToString()


def node_birth(bd_seq: int = 0, *metrics: Metric) -> bytes:
    return payload(
        Metric(name="bdSeq", datatype=spb.UInt64, long_value=bd_seq),
        Metric(name="Node Control/Rebirth", alias=100, datatype=spb.Boolean, boolean_value=False),
        *metrics,
        seq=0,
    )


class Session:
    """One parser, and a helper to feed it messages of one edge node."""

    def __init__(self, group: str = "acme", node: str = "gw1") -> None:
        self.reader = InMemoryMetricReader()
        self.parser = RecordParser(meter=MeterProvider(metric_readers=[self.reader]).get_meter("test"))
        self.group, self.node = group, node

    def send(self, message_type: str, value: bytes | None, device: str = "") -> ParseResult:
        key = f"spBv1.0/{self.group}/{message_type}/{self.node}" + (f"/{device}" if device else "")
        return self.parser.parse(RAW, key.encode(), value, [])

    def gaps(self) -> dict[tuple[str, str], int]:
        """The OTel counter's data points: (edge node, sequence) -> count."""
        data = self.reader.get_metrics_data()
        out: dict[tuple[str, str], int] = {}
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == GAP_COUNTER:
                        for point in metric.data.data_points:
                            assert isinstance(point, NumberDataPoint)
                            attrs = point.attributes or {}
                            out[(str(attrs["sparkplug.edge_node"]), str(attrs["sparkplug.sequence"]))] = int(
                                point.value
                            )
        return out


def values(result: ParseResult) -> dict[str, float | str]:
    out: dict[str, float | str] = {text.tag: text.value for text in result.texts}
    for columns in result.columns:
        for i in range(len(columns)):
            out[columns.tags[int(columns.tag_idx[i])]] = float(columns.values[i])
    return out


def reasons(result: ParseResult) -> dict[str, int]:
    return {r.tag: r.reason for r in result.rejections}


def record_rejection(result: ParseResult) -> int:
    assert result.columns == []
    assert result.texts == []
    assert len(result.rejections) == 1, result
    assert result.rejections[0].reading_id == ""
    return result.rejections[0].reason


# --------------------------------------------------------------------------- mapping


def test_nbirth_values_are_readings_and_protocol_metrics_are_not() -> None:
    s = Session()
    result = s.send(
        "NBIRTH",
        node_birth(
            3,
            Metric(name="Inputs/Temp", alias=1, datatype=spb.Float, float_value=20.5, properties=unit("Cel")),
            Metric(name="Properties/Hardware Make", alias=2, datatype=spb.String, string_value="ACME"),
        ),
    )
    assert result.rejections == []
    assert values(result) == {"Inputs.Temp": 20.5, "Properties.Hardware_Make": "ACME"}
    (columns,) = result.columns
    assert columns.equipment == equipment_pb2.EquipmentPath(enterprise="acme", site="gw1")
    assert columns.units == ["Cel"]
    assert columns.times_ns.tolist() == [T0 * 1_000_000]
    assert columns.reading_ids == [derived_event_id("reading", "acme/gw1", "Inputs.Temp", T0 * 1_000_000, "acme/gw1")]
    assert columns.origin.protocol == reading_pb2.SourceProtocol.SOURCE_PROTOCOL_SPARKPLUG_B
    assert columns.origin.source_id == "acme/gw1"
    assert columns.origin.source_topic == "spBv1.0/acme/NBIRTH/gw1"
    assert dict(columns.origin.attributes) == {"sparkplug.message_type": "NBIRTH", "sparkplug.bdSeq": "3"}
    (text,) = result.texts
    assert text.origin.source_tag == "Properties/Hardware Make"  # the original name survives in lineage
    assert s.parser.sparkplug.is_online("acme", "gw1") is True


def test_device_messages_map_the_device_below_the_edge_node_and_resolve_aliases() -> None:
    s = Session()
    s.send("NBIRTH", node_birth())
    birth = s.send(
        "DBIRTH",
        payload(
            Metric(name="Speed", alias=7, datatype=spb.Int16, int_value=5, properties=unit("/min")),
            Metric(name="Mode", alias=8, datatype=spb.String, string_value="AUTO"),
            seq=1,
        ),
        device="press7",
    )
    assert values(birth) == {"Speed": 5.0, "Mode": "AUTO"}
    data = s.send(
        "DDATA",
        payload(
            Metric(alias=7, timestamp=T0 + 5, int_value=0xFFFFFFFE),  # Int16 -2, datatype from the DBIRTH
            Metric(alias=8, timestamp=T0 + 5, string_value="MANUAL"),
            seq=2,
        ),
        device="press7",
    )
    assert data.rejections == []
    assert values(data) == {"Speed": -2.0, "Mode": "MANUAL"}
    (columns,) = data.columns
    # No gap in the path: group -> enterprise, edge node -> site, device -> area (docs/formats.md).
    assert columns.equipment == equipment_pb2.EquipmentPath(enterprise="acme", site="gw1", area="press7")
    assert columns.units == ["/min"]  # remembered from the DBIRTH
    assert columns.origin.source_id == "acme/gw1/press7"
    assert columns.origin.source_sequence == 2
    assert columns.reading_ids == [
        derived_event_id("reading", "acme/gw1/press7", "Speed", (T0 + 5) * 1_000_000, "acme/gw1/press7")
    ]


def test_same_message_gives_same_ids_in_a_fresh_process() -> None:
    message = payload(Metric(name="Temp", timestamp=T0, datatype=spb.Double, double_value=1.0), seq=4)
    first = Session().send("NDATA", message)
    second = Session().send("NDATA", message)
    assert first.columns[0].reading_ids == second.columns[0].reading_ids


def test_metric_time_falls_back_to_payload_time_and_is_required() -> None:
    s = Session()
    result = s.send(
        "NDATA", payload(Metric(name="A", double_value=1.0), Metric(name="B", timestamp=T0 + 9, double_value=2.0))
    )
    (columns,) = result.columns
    assert columns.times_ns.tolist() == [T0 * 1_000_000, (T0 + 9) * 1_000_000]
    missing = s.send("NDATA", payload(Metric(name="A", double_value=1.0), timestamp=None))
    assert reasons(missing) == {"A": R.DEAD_LETTER_REASON_MISSING_REQUIRED_FIELD}


@pytest.mark.parametrize(
    ("name", "tag"),
    [
        ("Inputs/Motor 1/Speed", "Inputs.Motor_1.Speed"),
        ("/leading//double/", "leading.double"),
        ("temp.°C", "temp._C"),
        ("plain", "plain"),
    ],
)
def test_metric_names_become_tags(name: str, tag: str) -> None:
    assert tag_for(name) == tag


# --------------------------------------------------------------------------- datatypes


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        (Metric(datatype=spb.Int8, int_value=0xFFFFFFE9), -23.0),  # Java Tahu: sign-extended to 32 bits
        (Metric(datatype=spb.Int8, int_value=233), -23.0),  # Python Tahu: two's complement of 8 bits
        (Metric(datatype=spb.Int8, int_value=127), 127.0),
        (Metric(datatype=spb.Int32, int_value=0xFFFFFFFF), -1.0),
        (Metric(datatype=spb.Int64, long_value=2**64 - 5), -5.0),
        (Metric(datatype=spb.Int16, long_value=65531), -5.0),
        (Metric(datatype=spb.UInt32, long_value=4_000_000_000), 4e9),  # Java Tahu puts UInt32 in long_value
        (Metric(datatype=spb.UInt64, long_value=2**53), float(2**53)),
        (Metric(datatype=spb.Float, float_value=1.5), 1.5),
        (Metric(datatype=spb.Double, double_value=-2.25), -2.25),
        (Metric(datatype=spb.Boolean, boolean_value=True), 1.0),
        (Metric(datatype=spb.Boolean, boolean_value=False), 0.0),
        (Metric(datatype=spb.String, string_value="RUN"), "RUN"),
        (Metric(datatype=spb.Text, string_value="long text"), "long text"),
        (Metric(datatype=spb.UUID, string_value="0b3f"), "0b3f"),
        (Metric(datatype=spb.DateTime, long_value=T0), "2023-11-14T22:13:20.000+00:00"),
        # no datatype and no BIRTH: inferred from the wire field where that is unambiguous
        (Metric(int_value=42), 42.0),
        (Metric(long_value=7), 7.0),
        (Metric(double_value=0.5), 0.5),
        (Metric(string_value="x"), "x"),
    ],
)
def test_scalar_datatypes(metric: Metric, expected: float | str) -> None:
    metric.name = "m"
    result = Session().send("NDATA", payload(metric))
    assert result.rejections == []
    assert values(result) == {"m": expected}


@pytest.mark.parametrize(
    ("metric", "reason"),
    [
        (
            Metric(datatype=spb.DataSet, dataset_value=spb.Payload.DataSet(num_of_columns=1)),
            R.DEAD_LETTER_REASON_TYPE_MISMATCH,
        ),
        (Metric(datatype=spb.Template, template_value=spb.Payload.Template()), R.DEAD_LETTER_REASON_TYPE_MISMATCH),
        (Metric(datatype=spb.Bytes, bytes_value=b"\x00"), R.DEAD_LETTER_REASON_TYPE_MISMATCH),
        (Metric(datatype=spb.File, bytes_value=b"\x00"), R.DEAD_LETTER_REASON_TYPE_MISMATCH),
        (Metric(datatype=spb.FloatArray, bytes_value=b"\x00\x00\x80\x3f"), R.DEAD_LETTER_REASON_TYPE_MISMATCH),
        (Metric(datatype=spb.Int8, int_value=300), R.DEAD_LETTER_REASON_TYPE_MISMATCH),
        (Metric(datatype=spb.UInt8, int_value=256), R.DEAD_LETTER_REASON_TYPE_MISMATCH),
        (Metric(datatype=spb.UInt64, long_value=2**53 + 1), R.DEAD_LETTER_REASON_TYPE_MISMATCH),
        (Metric(datatype=spb.Double, string_value="1.0"), R.DEAD_LETTER_REASON_TYPE_MISMATCH),
        (Metric(datatype=spb.Boolean, int_value=1), R.DEAD_LETTER_REASON_TYPE_MISMATCH),
        (Metric(datatype=spb.DateTime, long_value=2**62), R.DEAD_LETTER_REASON_TYPE_MISMATCH),
        (Metric(datatype=99, int_value=1), R.DEAD_LETTER_REASON_TYPE_MISMATCH),
        (Metric(int_value=2**32 - 1), R.DEAD_LETTER_REASON_TYPE_MISMATCH),  # sign unknown without BIRTH
        (Metric(datatype=spb.Double, double_value=math.nan), R.DEAD_LETTER_REASON_NON_FINITE_VALUE),
        (Metric(datatype=spb.Float, float_value=math.inf), R.DEAD_LETTER_REASON_NON_FINITE_VALUE),
        (Metric(datatype=spb.Double), R.DEAD_LETTER_REASON_MISSING_REQUIRED_FIELD),  # no value, not is_null
        (
            Metric(datatype=spb.Double, double_value=1.0, properties=spb.Payload.PropertySet(keys=["engUnit"])),
            R.DEAD_LETTER_REASON_SCHEMA_VIOLATION,
        ),
        (
            Metric(
                datatype=spb.Double,
                double_value=1.0,
                properties=spb.Payload.PropertySet(keys=["engUnit"], values=[spb.Payload.PropertyValue(int_value=3)]),
            ),
            R.DEAD_LETTER_REASON_TYPE_MISMATCH,
        ),
    ],
)
def test_unsupported_or_invalid_values_are_rejected_per_metric(metric: Metric, reason: int) -> None:
    metric.name = "bad"
    good = Metric(name="good", datatype=spb.Double, double_value=1.0)
    result = Session().send("NDATA", payload(metric, good))
    assert values(result) == {"good": 1.0}
    (rejection,) = result.rejections
    assert rejection.reason == reason
    assert rejection.tag == "bad"
    assert rejection.reading_id != ""


def test_is_null_is_a_reading_with_bad_quality() -> None:
    s = Session()
    result = s.send(
        "NDATA",
        payload(
            Metric(name="num", datatype=spb.Double, is_null=True),
            Metric(name="txt", datatype=spb.String, is_null=True),
        ),
    )
    (columns,) = result.columns
    assert math.isnan(columns.values[0])
    assert columns.quality.tolist() == [Q.DATA_QUALITY_BAD]
    (text,) = result.texts
    assert text.value == ""
    assert text.quality == Q.DATA_QUALITY_BAD


# --------------------------------------------------------------------------- aliases and session state


def test_alias_without_birth_is_unknown_tag() -> None:
    result = Session().send("NDATA", payload(Metric(alias=5, double_value=1.0), seq=7))
    (rejection,) = result.rejections
    assert rejection.reason == R.DEAD_LETTER_REASON_UNKNOWN_TAG
    assert "alias 5 unknown" in rejection.detail
    assert "no BIRTH seen since restart" in rejection.detail
    assert rejection.tag == "alias:5"
    assert rejection.reading_id != ""


def test_alias_not_declared_in_birth_is_unknown_tag() -> None:
    s = Session()
    s.send("NBIRTH", node_birth(0, Metric(name="A", alias=1, datatype=spb.Double, double_value=0.0)))
    result = s.send("NDATA", payload(Metric(alias=1, double_value=1.0), Metric(alias=2, double_value=2.0), seq=1))
    assert values(result) == {"A": 1.0}
    assert reasons(result) == {"alias:2": R.DEAD_LETTER_REASON_UNKNOWN_TAG}


def test_birth_metric_without_name_is_missing_required_field() -> None:
    result = Session().send("NBIRTH", node_birth(0, Metric(alias=3, datatype=spb.Double, double_value=1.0)))
    assert reasons(result) == {"alias:3": R.DEAD_LETTER_REASON_MISSING_REQUIRED_FIELD}


def test_ndeath_takes_node_and_devices_offline() -> None:
    s = Session()
    s.send("NBIRTH", node_birth(4, Metric(name="A", alias=1, datatype=spb.Double, double_value=0.0)))
    s.send("DBIRTH", payload(Metric(name="D", alias=2, datatype=spb.Double, double_value=0.0), seq=1), device="dev")
    assert s.send("NDEATH", payload(Metric(name="bdSeq", datatype=spb.UInt64, long_value=4), timestamp=None)) == (
        ParseResult()
    )
    assert s.parser.sparkplug.is_online("acme", "gw1") is False
    assert s.parser.sparkplug.is_online("acme", "gw1", "dev") is False
    after = s.send("NDATA", payload(Metric(alias=1, double_value=1.0), Metric(name="A", double_value=2.0), seq=2))
    # aliases died with the session; named values are kept but flagged UNCERTAIN
    assert reasons(after) == {"alias:1": R.DEAD_LETTER_REASON_UNKNOWN_TAG}
    assert "offline" in after.rejections[0].detail
    assert after.columns[0].quality.tolist() == [Q.DATA_QUALITY_UNCERTAIN]
    device = s.send("DDATA", payload(Metric(name="D", double_value=1.0), seq=3), device="dev")
    assert device.columns[0].quality.tolist() == [Q.DATA_QUALITY_UNCERTAIN]
    # a new NBIRTH brings the node back
    back = s.send("NBIRTH", node_birth(5, Metric(name="A", alias=1, datatype=spb.Double, double_value=3.0)))
    assert back.columns[0].quality.tolist() == [Q.DATA_QUALITY_GOOD]
    assert values(s.send("NDATA", payload(Metric(alias=1, double_value=4.0), seq=1))) == {"A": 4.0}


def test_ndeath_of_an_older_session_is_ignored() -> None:
    s = Session()
    s.send("NBIRTH", node_birth(8, Metric(name="A", alias=1, datatype=spb.Double, double_value=0.0)))
    s.send("NDEATH", payload(Metric(name="bdSeq", datatype=spb.UInt64, long_value=7), timestamp=None))
    assert s.parser.sparkplug.is_online("acme", "gw1") is True
    result = s.send("NDATA", payload(Metric(alias=1, double_value=1.0), seq=1))
    assert values(result) == {"A": 1.0}
    assert result.columns[0].quality.tolist() == [Q.DATA_QUALITY_GOOD]


def test_ddeath_takes_one_device_offline() -> None:
    s = Session()
    s.send("NBIRTH", node_birth())
    s.send("DBIRTH", payload(Metric(name="D", alias=2, datatype=spb.Double, double_value=0.0), seq=1), device="dev")
    assert s.send("DDEATH", payload(seq=2), device="dev") == ParseResult()
    assert s.parser.sparkplug.is_online("acme", "gw1", "dev") is False
    assert s.parser.sparkplug.is_online("acme", "gw1") is True
    result = s.send("DDATA", payload(Metric(alias=2, double_value=1.0), seq=3), device="dev")
    assert reasons(result) == {"alias:2": R.DEAD_LETTER_REASON_UNKNOWN_TAG}


def test_nbirth_voids_device_aliases_until_their_dbirth() -> None:
    s = Session()
    s.send("NBIRTH", node_birth())
    s.send("DBIRTH", payload(Metric(name="D", alias=2, datatype=spb.Double, double_value=0.0), seq=1), device="dev")
    s.send("NBIRTH", node_birth())  # rebirth
    result = s.send("DDATA", payload(Metric(alias=2, double_value=1.0), seq=1), device="dev")
    assert reasons(result) == {"alias:2": R.DEAD_LETTER_REASON_UNKNOWN_TAG}


# --------------------------------------------------------------------------- seq and bdSeq


def test_seq_gap_is_counted_not_rejected() -> None:
    s = Session()
    s.send("NBIRTH", node_birth())
    assert values(s.send("NDATA", payload(Metric(name="A", double_value=1.0), seq=1))) == {"A": 1.0}
    gapped = s.send("NDATA", payload(Metric(name="A", double_value=2.0), seq=5))  # 2, 3, 4 lost
    assert gapped.rejections == []
    assert values(gapped) == {"A": 2.0}
    assert s.parser.sparkplug.sequence_gaps == {("acme/gw1", "seq"): 1}
    assert s.gaps() == {("acme/gw1", "seq"): 1}


def test_seq_wraps_and_repeats_are_not_gaps() -> None:
    s = Session()
    s.send("NBIRTH", node_birth())
    for seq in [*range(1, 256), 0, 1, 1, 2]:  # 255 -> 0 wraps; 1 twice is a re-delivery
        s.send("NDATA", payload(Metric(name="A", double_value=float(seq)), seq=seq))
    assert s.parser.sparkplug.sequence_gaps == {}
    assert s.gaps() == {}


def test_seq_is_per_edge_node_across_node_and_device_messages() -> None:
    s = Session()
    s.send("NBIRTH", node_birth())
    s.send("DBIRTH", payload(Metric(name="D", alias=2, datatype=spb.Double, double_value=0.0), seq=1), device="a")
    s.send("DDATA", payload(Metric(alias=2, double_value=1.0), seq=2), device="a")
    s.send("NDATA", payload(Metric(name="A", double_value=1.0), seq=3))
    assert s.parser.sparkplug.sequence_gaps == {}
    s.send("DDATA", payload(Metric(alias=2, double_value=1.0), seq=9), device="a")
    assert s.parser.sparkplug.sequence_gaps == {("acme/gw1", "seq"): 1}


def test_bd_seq_gap_is_counted_and_rebirth_is_not() -> None:
    s = Session()
    s.send("NBIRTH", node_birth(1))
    s.send("NBIRTH", node_birth(1))  # rebirth in the same MQTT session: same bdSeq
    s.send("NBIRTH", node_birth(2))  # next session
    assert s.gaps() == {}
    s.send("NBIRTH", node_birth(6))  # sessions 3..5 never seen
    assert s.gaps() == {("acme/gw1", "bdSeq"): 1}
    s.send("NBIRTH", node_birth(7))
    assert s.parser.sparkplug.sequence_gaps == {("acme/gw1", "bdSeq"): 1}


# --------------------------------------------------------------------------- record-level rejections


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("spBv1.0/acme/NCMD/gw1", R.DEAD_LETTER_REASON_UNKNOWN_MESSAGE_TYPE),
        ("spBv1.0/acme/DCMD/gw1/dev", R.DEAD_LETTER_REASON_UNKNOWN_MESSAGE_TYPE),
        ("spBv1.0/STATE/host1", R.DEAD_LETTER_REASON_UNKNOWN_MESSAGE_TYPE),
        ("spBv1.0/acme/NFOO/gw1", R.DEAD_LETTER_REASON_UNKNOWN_MESSAGE_TYPE),
        ("spBv1.0/acme/NDATA", R.DEAD_LETTER_REASON_SCHEMA_VIOLATION),
        ("spBv1.0/acme/NDATA/gw1/dev", R.DEAD_LETTER_REASON_SCHEMA_VIOLATION),  # node type with a device
        ("spBv1.0/acme/DDATA/gw1", R.DEAD_LETTER_REASON_SCHEMA_VIOLATION),  # device type without one
        ("spBv1.0/Plant 1/NDATA/gw1", R.DEAD_LETTER_REASON_UNKNOWN_EQUIPMENT),
        ("spBv1.0/acme/NDATA/", R.DEAD_LETTER_REASON_UNKNOWN_EQUIPMENT),
        ("spBv1.0/acme/DDATA/gw1/dev..1", R.DEAD_LETTER_REASON_UNKNOWN_EQUIPMENT),
    ],
)
def test_bad_topics(key: str, reason: int) -> None:
    result = RecordParser().parse(RAW, key.encode(), payload(Metric(name="A", double_value=1.0)), [])
    assert record_rejection(result) == reason


def test_undecodable_and_unsupported_payloads() -> None:
    s = Session()
    assert record_rejection(s.send("NDATA", b"\xff\xff\xff")) == R.DEAD_LETTER_REASON_DECODE_ERROR
    assert record_rejection(s.send("NDATA", None)) == R.DEAD_LETTER_REASON_DECODE_ERROR
    compressed = payload(uuid="SPBV1.0_COMPRESSED", body=b"\x1f\x8b")
    assert record_rejection(s.send("NDATA", compressed)) == R.DEAD_LETTER_REASON_UNSUPPORTED_ENCODING
    assert record_rejection(s.send("NDATA", payload(seq=300))) == R.DEAD_LETTER_REASON_SCHEMA_VIOLATION
    bad_key = RecordParser().parse(RAW, b"spBv1.0/acme/NDATA/\xff", payload(), [])
    assert record_rejection(bad_key) == R.DEAD_LETTER_REASON_DECODE_ERROR


def test_dotted_ids_spell_the_full_isa95_path() -> None:
    """group/node/device may each carry several levels joined with '.' (the line simulator does)."""
    from factorymesh.ingest.formats import RecordParser
    from factorymesh.ingest.formats.sparkplug import sparkplug_b_pb2 as spb
    from factorymesh.ingest.model import equipment_key

    parser = RecordParser()
    metric = spb.Payload.Metric(name="flow", datatype=10, double_value=3.5, timestamp=1_700_000_000_000)
    nbirth = spb.Payload(timestamp=1_700_000_000_000, seq=0, metrics=[spb.Payload.Metric(name="bdSeq", datatype=8)])
    parser.parse("raw", b"spBv1.0/acme.houston/NBIRTH/utilities.cooling", nbirth.SerializeToString(), [])
    birth = spb.Payload(timestamp=1_700_000_000_000, seq=1, metrics=[metric])
    result = parser.parse(
        "raw", b"spBv1.0/acme.houston/DBIRTH/utilities.cooling/pumps.pump-01", birth.SerializeToString(), []
    )
    assert not result.rejections
    (columns,) = result.columns
    assert equipment_key(columns.equipment) == "acme/houston/utilities/cooling/pumps/pump-01"
