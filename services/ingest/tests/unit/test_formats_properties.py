"""Property tests: whatever a record holds, ``RecordParser.parse`` returns, and accounts for every reading.

The accounting invariant: a record the parser cannot read yields exactly one
rejection with reading_id "" and nothing else; otherwise every input reading is
exactly one survivor (column row or text reading) or one rejection with an id.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factorymesh.api.common.v1 import equipment_pb2
from factorymesh.api.telemetry.v1 import reading_batch_pb2, reading_pb2
from factorymesh.common.kafka import HEADER_MESSAGE_TYPE
from factorymesh.ingest.formats import RecordParser
from factorymesh.ingest.formats.sparkplug import sparkplug_b_pb2 as spb
from factorymesh.ingest.model import ParseResult

# Modest budgets keep the run short on a shared machine; no deadline, as CI load varies.
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
RAW = "factorymesh.telemetry.raw.v1"
MESSAGE_TYPES = [
    b"factorymesh.telemetry.v1.SensorReading",
    b"factorymesh.telemetry.v1.SensorReadingBatch",
    b"factorymesh.telemetry.v1.Nope",
]
header_names = st.sampled_from([HEADER_MESSAGE_TYPE, "content-type", "content-encoding", "traceparent"]) | st.text(
    max_size=10
)
headers = st.lists(
    st.tuples(header_names, st.sampled_from(MESSAGE_TYPES) | st.binary(max_size=20)),
    max_size=3,
)
keys = (
    st.none()
    | st.binary(max_size=40)
    | st.sampled_from(
        [
            b"umh.v1.acme._historian.t",
            b"umh.v1.acme.b.c.d.e.f._historian.g.t",
            b"spBv1.0/g/NDATA/n",
            b"spBv1.0/g/DDATA/n/d",
        ]
    )
)
topics = st.sampled_from([RAW, "umh.v1.acme", "spBv1.0/g/NBIRTH/n"]) | st.text(max_size=20)


def check_shape(result: ParseResult) -> None:
    """Invariants of every result: equal-length columns, ids present, record rejections alone."""
    assert isinstance(result, ParseResult)
    for columns in result.columns:
        n = len(columns)
        assert n > 0
        for column in (columns.tag_idx, columns.times_ns, columns.quality, columns.source_idx):
            assert column.shape == (n,)
        assert columns.values.dtype == np.float64
        assert columns.times_ns.dtype == np.int64
        assert columns.tag_idx.dtype == np.uint32
        assert len(columns.units) == len(columns.tags)
        assert int(columns.tag_idx.max()) < len(columns.tags)
        if columns.reading_ids is not None:
            assert len(columns.reading_ids) == n
            assert all(columns.reading_ids)
        assert columns.batch_id
        # NaN only ever means "no value", and then the quality says so.
        nan = ~np.isfinite(columns.values)
        assert ((columns.quality[nan] >> 5) != 0).all()
    for text in result.texts:
        assert text.reading_id
    record_level = [r for r in result.rejections if r.reading_id == ""]
    if record_level:
        assert result.columns == []
        assert result.texts == []
        assert len(result.rejections) == 1


def accounted(result: ParseResult, expected: int) -> None:
    """Every one of ``expected`` input readings is a survivor or a per-reading rejection."""
    check_shape(result)
    if len(result.rejections) == 1 and result.rejections[0].reading_id == "":
        return
    assert result.readings + len(result.rejections) == expected, result


# --------------------------------------------------------------------------- anything at all


@SETTINGS
@given(topic=topics, key=keys, value=st.none() | st.binary(max_size=200), hdrs=headers)
def test_any_record_parses_without_raising(topic: str, key: bytes | None, value: bytes | None, hdrs: Any) -> None:
    parser = RecordParser(max_payload_bytes=150)
    check_shape(parser.parse(topic, key, value, hdrs))


# --------------------------------------------------------------------------- UMH JSON

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
json_values = st.recursive(
    json_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
)
tag_keys = st.sampled_from(["temp", "value", "a.b", "g-code", "bad key", "", "x.", "ü"]) | st.text(max_size=6)
timestamps = st.integers(min_value=-(2**64), max_value=2**64) | st.floats() | st.booleans() | st.text(max_size=3)


@SETTINGS
@given(
    tags=st.dictionaries(tag_keys.filter(lambda k: k != "timestamp_ms"), json_values, max_size=6),
    timestamp=st.none() | timestamps,
    key=st.sampled_from(
        ["umh.v1.acme._historian", "umh.v1.acme.berlin.hall._historian.g1.g2", "umh.v1.a._analytics.x"]
    ),
)
def test_umh_payloads_account_for_every_tag(tags: dict[str, Any], timestamp: Any, key: str) -> None:
    payload = dict(tags)
    if timestamp is not None:
        payload["timestamp_ms"] = timestamp
    value = json.dumps(payload).encode()  # allow_nan: NaN/Infinity literals are part of the input space
    result = RecordParser().parse(RAW, key.encode(), value, [])
    accounted(result, expected=len(tags))


# --------------------------------------------------------------------------- protobuf batches


@SETTINGS
@given(
    n=st.integers(min_value=0, max_value=40),
    n_tags=st.integers(min_value=0, max_value=4),
    ragged=st.sampled_from(["none", "times", "indices", "qualities"]),
    data=st.data(),
)
def test_protobuf_batches_account_for_every_reading(n: int, n_tags: int, ragged: str, data: st.DataObject) -> None:
    values = data.draw(st.lists(st.floats(width=64), min_size=n, max_size=n))
    qualities = data.draw(st.sampled_from([[], None])) or data.draw(
        st.lists(st.sampled_from([0, 1, 2, 32, 64, 73, 5, 127]), min_size=n, max_size=n)
    )
    indices = data.draw(st.lists(st.integers(min_value=0, max_value=5), min_size=n, max_size=n))
    times = data.draw(st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1), min_size=n, max_size=n))
    if ragged == "times":
        times = times[:-1] if times else [1]
    elif ragged == "indices":
        indices = [*indices, 0]
    elif ragged == "qualities" and qualities:
        qualities = qualities[1:]
    message = reading_batch_pb2.SensorReadingBatch(
        event_id=data.draw(st.sampled_from(["b-1", ""])),
        equipment=equipment_pb2.EquipmentPath(enterprise="acme", site=data.draw(st.sampled_from(["s1", "s 1", ""]))),
        tags=[f"t{i}" for i in range(n_tags)],
        tag_indices=indices,
        source_times_unix_nanos=times,
        values=values,
        qualities=qualities or [],  # type: ignore[arg-type]  # raw numbers, unknown ones included
    )
    hdrs = [(HEADER_MESSAGE_TYPE, b"factorymesh.telemetry.v1.SensorReadingBatch")]
    result = RecordParser().parse(RAW, b"acme/s1", message.SerializeToString(), hdrs)
    accounted(result, expected=n)
    survivors = {c.reading_id(i) for c in result.columns for i in range(len(c))}
    rejected = {r.reading_id for r in result.rejections if r.reading_id}
    assert not survivors & rejected
    if survivors or rejected:
        assert survivors | rejected == {f"b-1:{i}" for i in range(n)}


@SETTINGS
@given(
    value=st.one_of(
        st.floats().map(lambda v: {"double_value": v}),
        st.integers(min_value=-(2**63), max_value=2**63 - 1).map(lambda v: {"int_value": v}),
        st.booleans().map(lambda v: {"bool_value": v}),
        st.text(max_size=5).map(lambda v: {"string_value": v}),
        st.just({}),
    ),
    quality=st.sampled_from([0, 1, 33, 64, 99]),
    tag=st.sampled_from(["t", "a.b", "", "a b"]),
)
def test_protobuf_single_readings_account_for_the_reading(value: dict[str, Any], quality: int, tag: str) -> None:
    message = reading_pb2.SensorReading(
        event_id="r",
        equipment=equipment_pb2.EquipmentPath(enterprise="acme"),
        tag=tag,
        quality=quality,  # type: ignore[arg-type]
        **value,
    )
    message.source_time.seconds = 1_700_000_000
    hdrs = [(HEADER_MESSAGE_TYPE, b"factorymesh.telemetry.v1.SensorReading")]
    accounted(RecordParser().parse(RAW, None, message.SerializeToString(), hdrs), expected=1)


# --------------------------------------------------------------------------- Sparkplug B

# Names never collide with the protocol metrics (bdSeq, Node Control/*), which are not readings.
metric_names = st.sampled_from(["", "Temp", "Inputs/Speed", "a b/c", "x.y", "ü"]) | st.text(
    alphabet="abc/ _.", max_size=6
)


@st.composite
def metrics(draw: st.DrawFn) -> spb.Payload.Metric:
    metric = spb.Payload.Metric()
    if name := draw(metric_names):
        metric.name = name
    if draw(st.booleans()):
        metric.alias = draw(st.integers(min_value=0, max_value=5))
    if draw(st.booleans()):
        metric.timestamp = draw(st.integers(min_value=0, max_value=2**64 - 1))
    if draw(st.booleans()):
        metric.datatype = draw(st.integers(min_value=0, max_value=40))
    if draw(st.booleans()):
        metric.is_null = True
    kind = draw(
        st.sampled_from(
            ["none", "int", "long", "float", "double", "bool", "string", "bytes", "dataset", "template", "props"]
        )
    )
    if kind == "int":
        metric.int_value = draw(st.integers(min_value=0, max_value=2**32 - 1))
    elif kind == "long":
        metric.long_value = draw(st.integers(min_value=0, max_value=2**64 - 1))
    elif kind == "float":
        metric.float_value = draw(st.floats(width=32))
    elif kind == "double":
        metric.double_value = draw(st.floats())
    elif kind == "bool":
        metric.boolean_value = draw(st.booleans())
    elif kind == "string":
        metric.string_value = draw(st.text(max_size=4))
    elif kind == "bytes":
        metric.bytes_value = draw(st.binary(max_size=4))
    elif kind == "dataset":
        metric.dataset_value.num_of_columns = 1
    elif kind == "template":
        metric.template_value.version = "1"
    elif kind == "props":
        metric.double_value = 1.0
        metric.properties.keys.extend(draw(st.lists(st.sampled_from(["engUnit", "engUnits", "x"]), max_size=2)))
        for _ in range(draw(st.integers(min_value=0, max_value=2))):
            prop = metric.properties.values.add()
            if draw(st.booleans()):
                prop.string_value = draw(st.sampled_from(["Cel", "mm/s", ""]))
            else:
                prop.int_value = 3
    return metric


@st.composite
def sparkplug_messages(draw: st.DrawFn) -> tuple[str, spb.Payload]:
    message_type = draw(st.sampled_from(["NBIRTH", "NDATA", "NDEATH", "DBIRTH", "DDATA", "DDEATH"]))
    payload = spb.Payload(metrics=draw(st.lists(metrics(), max_size=5)))
    if draw(st.booleans()):
        payload.seq = draw(st.integers(min_value=0, max_value=300))
    if draw(st.booleans()):
        payload.timestamp = draw(st.integers(min_value=0, max_value=2**64 - 1))
    if message_type in ("NBIRTH", "NDEATH") and draw(st.booleans()):
        payload.metrics.add(name="bdSeq", datatype=spb.UInt64, long_value=draw(st.integers(0, 300)))
    return message_type, payload


@SETTINGS
@given(messages=st.lists(sparkplug_messages(), min_size=1, max_size=6))
def test_sparkplug_sessions_account_for_every_metric(messages: list[tuple[str, spb.Payload]]) -> None:
    parser = RecordParser()  # one parser across the session: state carries over between messages
    for message_type, payload in messages:
        device = "/dev1" if message_type.startswith("D") else ""
        key = f"spBv1.0/acme/{message_type}/gw1{device}".encode()
        result = parser.parse(RAW, key, payload.SerializeToString(), [])
        if message_type.endswith("DEATH"):
            check_shape(result)
            assert result.readings == 0
            continue
        data_metrics = [m for m in payload.metrics if m.name != "bdSeq"]
        accounted(result, expected=len(data_metrics))
        for columns in result.columns:
            assert not any(math.isinf(v) for v in columns.values.tolist())
