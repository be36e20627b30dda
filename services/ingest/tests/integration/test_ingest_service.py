"""The ingest service end to end, as a process, on the real broker: every input format,
a malformed-input corpus where every input is accounted for, SIGKILL mid-stream, and
job-order context applied by each reading's own timestamp."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from pathlib import Path

import grpc
import numpy as np
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from ingest_harness import IngestProcess, collect, count_normalized, produce_raw, reading_count, reading_ids

from factorymesh.api.common.v1 import dead_letter_pb2, equipment_pb2, units_pb2
from factorymesh.api.ingest.v1 import ingest_service_pb2, ingest_service_pb2_grpc
from factorymesh.api.mes.v1 import job_order_pb2
from factorymesh.api.telemetry.v1 import reading_batch_pb2, reading_pb2
from factorymesh.common.kafka import KafkaConfig, event_headers
from factorymesh.common.topics import TELEMETRY_RAW
from factorymesh.ingest.formats.sparkplug import sparkplug_b_pb2

pytestmark = pytest.mark.integration
Reason = dead_letter_pb2.DeadLetterReason


@pytest.fixture
async def ingest(kafka_bootstrap: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    service = IngestProcess(kafka_bootstrap, tmp_path)
    await service.start({"FM_MAX_RECORD_BYTES": "200000"})
    yield service
    code = await service.stop()
    assert code in (0, -9), service.log_tail()


def path(enterprise: str, equipment: str = "pump1") -> equipment_pb2.EquipmentPath:
    return equipment_pb2.EquipmentPath(
        enterprise=enterprise, site="site1", area="area1", line="line1", cell="cell1", equipment=equipment
    )


def now_ts(offset_s: float = 0.0) -> Timestamp:
    ts = Timestamp()
    ts.FromNanoseconds(time.time_ns() + int(offset_s * 1e9))
    return ts


def single(enterprise: str, event_id: str, tag: str, value: float, unit: str = "", offset_s: float = 0.0) -> tuple:
    reading = reading_pb2.SensorReading(
        event_id=f"{enterprise}-{event_id}",  # ids are globally unique on the wire
        equipment=path(enterprise),
        tag=tag,
        double_value=value,
        unit=units_pb2.EngineeringUnit(code=unit),
        source_time=now_ts(offset_s),
    )
    key = f"{enterprise}/site1/area1/line1/cell1/pump1".encode()
    return key, reading.SerializeToString(), event_headers(reading, "gateway")


def batch(enterprise: str, batch_id: str, n: int, unit: str = "[psi]") -> tuple:
    start = time.time_ns() - n * 1_000_000
    message = reading_batch_pb2.SensorReadingBatch(
        event_id=f"{enterprise}-{batch_id}",
        equipment=path(enterprise),
        tags=["discharge_pressure"],
        tag_units=[units_pb2.EngineeringUnit(code=unit)],
        tag_indices=[0] * n,
        source_times_unix_nanos=(start + np.arange(n) * 1_000_000).tolist(),
        values=np.linspace(10.0, 100.0, n).tolist(),
    )
    key = f"{enterprise}/site1/area1/line1/cell1/pump1".encode()
    return key, message.SerializeToString(), event_headers(message, "gateway")


def umh(enterprise: str, tag: str, payload: dict | str) -> tuple:
    # UMH: the topic names the tag; the payload's "value" key carries its value.
    key = f"umh.v1.{enterprise}.site1.area1.line1.cell1.pump2._historian.{tag}".encode()
    body = payload if isinstance(payload, str) else json.dumps(payload)
    return key, body.encode(), [("content-type", b"application/json")]


def sparkplug(enterprise: str, kind: str, metrics: list[sparkplug_b_pb2.Payload.Metric], seq: int) -> tuple:
    payload = sparkplug_b_pb2.Payload(timestamp=int(time.time() * 1000), metrics=metrics, seq=seq)
    key = f"spBv1.0/{enterprise}/{kind}/edge1/dev1".encode()
    return key, payload.SerializeToString(), []


async def test_each_input_format_end_to_end(ingest: IngestProcess, kafka_config: KafkaConfig) -> None:
    e = ingest.enterprise
    records = [
        single(e, "s-1", "bearing_temperature", 212.0, "[degF]"),  # 100 °C
        batch(e, "b-1", 1000, "[psi]"),
        umh(e, "flow", {"timestamp_ms": int(time.time() * 1000), "value": 120.5}),
    ]
    await produce_raw(kafka_config, TELEMETRY_RAW.name, records)
    normalized, letters = await collect(kafka_config, e, normalized_readings=1002, dead_letters=0)
    assert not letters, [(d.reason_code, d.reason_detail) for d in letters]

    singles = {m.event_id: m for m in normalized if not hasattr(m, "source_indices")}
    batches = [m for m in normalized if hasattr(m, "source_indices")]
    temp = singles[f"{e}-s-1"]
    assert temp.double_value == pytest.approx(373.15)  # SI: kelvin
    assert temp.unit.code == "K"
    assert temp.original_value.double_value == 212.0
    assert temp.equipment_class == "centrifugal_pump"

    (pressure,) = batches
    assert pressure.event_id == f"{e}-b-1:normalized"
    values = np.asarray(pressure.values)
    np.testing.assert_allclose(values, np.linspace(10.0, 100.0, 1000) * 6894.757293168, rtol=1e-9)  # psi → Pa
    assert pressure.tag_units[0].code == "Pa"

    (flow,) = [m for m in singles.values() if m.tag == "flow"]
    assert flow.equipment.equipment == "pump2"
    assert flow.double_value == pytest.approx(120.5 / 60_000)  # L/min → m³/s


async def test_sparkplug_aliases_learned_from_birth(ingest: IngestProcess, kafka_config: KafkaConfig) -> None:
    e = ingest.enterprise
    Metric = sparkplug_b_pb2.Payload.Metric
    birth = [
        Metric(name="bdSeq", datatype=8, long_value=0),
    ]
    dbirth = [Metric(name="motor_current", alias=7, datatype=10, double_value=11.0)]
    ddata = [Metric(alias=7, datatype=10, double_value=12.5), Metric(alias=99, datatype=10, double_value=1.0)]
    nbirth = sparkplug(e, "NBIRTH", birth, 0)
    records = [
        (f"spBv1.0/{e}/NBIRTH/edge1".encode(), nbirth[1], []),  # node-level: no device in the topic
        sparkplug(e, "DBIRTH", dbirth, 1),
        sparkplug(e, "DDATA", ddata, 2),
    ]
    await produce_raw(kafka_config, TELEMETRY_RAW.name, records)
    # Unknown-tag policy is "reject" and motor_current is not registered for dev1:
    # the registry decides. Both BIRTH and DATA readings are accounted for either way.
    normalized, letters = await collect(kafka_config, e, normalized_readings=0, dead_letters=3, timeout_s=30)
    reasons = Counter(Reason.Name(d.reason_code) for d in letters)
    assert reasons["DEAD_LETTER_REASON_UNKNOWN_TAG"] >= 1  # alias 99 was never born
    assert any("alias 99" in d.reason_detail for d in letters)
    assert sum(reading_count(m) for m in normalized) + len(letters) == 3  # 1 DBIRTH + 2 DDATA metrics


async def test_malformed_corpus_every_input_accounted_for(ingest: IngestProcess, kafka_config: KafkaConfig) -> None:
    e = ingest.enterprise
    key = f"{e}/site1/area1/line1/cell1/pump1".encode()
    good = single(e, "ok-1", "discharge_pressure", 5.0, "bar")
    truncated = (key, good[1][:-7], good[2])
    records = [
        good,
        truncated,  # truncated protobuf
        (key, b"\xff\xfe garbage", good[2]),  # not protobuf at all
        umh(e, "flow", '{"timestamp_ms": 1, "value": '),  # invalid JSON
        (f"umh.v1.{e}.site1.area1.line1.cell1.pump2._historian.flow".encode(), b"\xc3\x28", []),  # invalid UTF-8
        (key, b"x" * 300_000, good[2]),  # huge payload (FM_MAX_RECORD_BYTES is 200 kB here)
        single(e, "bad-range", "discharge_pressure", 900.0, "bar"),  # outside valid range
        single(e, "nan", "discharge_pressure", float("nan"), "bar"),  # NaN with GOOD quality
        single(e, "unknown-tag", "no_such_tag", 1.0, "bar"),  # not in the registry
        single(e, "wrong-unit", "discharge_pressure", 1.0, "[degF]"),  # temperature unit on a pressure tag
        single(e, "future", "discharge_pressure", 3.0, "bar", offset_s=3600),  # an hour ahead
        single(e, "dup", "discharge_pressure", 4.0, "bar"),
        single(e, "dup", "discharge_pressure", 4.0, "bar"),  # same reading id again
        single(e, "late", "discharge_pressure", 6.0, "bar", offset_s=-3600),  # old but allowed
        umh(e, "flow", {"timestamp_ms": int(time.time() * 1000), "value": {"nested": 1}}),  # wrong type
    ]
    await produce_raw(kafka_config, TELEMETRY_RAW.name, records)
    expected_normalized = {f"{e}-ok-1", f"{e}-dup", f"{e}-late"}
    normalized, letters = await collect(kafka_config, e, normalized_readings=3, dead_letters=12)

    ids = [rid for m in normalized for rid in reading_ids(m)]
    assert sorted(ids) == sorted(expected_normalized), ids
    reasons = Counter(Reason.Name(d.reason_code).removeprefix("DEAD_LETTER_REASON_") for d in letters)
    assert reasons == {
        "DECODE_ERROR": 4,
        "MESSAGE_TOO_LARGE": 1,
        "VALUE_OUT_OF_RANGE": 1,
        "NON_FINITE_VALUE": 1,
        "UNKNOWN_TAG": 1,
        "UNIT_CONVERSION_FAILED": 1,
        "TIMESTAMP_OUT_OF_BOUNDS": 1,
        "DUPLICATE": 1,
        "TYPE_MISMATCH": 1,
    }, reasons
    # 15 inputs: 3 normalized + 12 dead letters, nothing lost, nothing twice.
    assert len(ids) + len(letters) == len(records)
    truncated_letter = next(d for d in letters if d.original_value == truncated[1])
    assert truncated_letter.source_topic == TELEMETRY_RAW.name
    assert truncated_letter.failed_service == "ingest"


async def test_sigkill_mid_stream_loses_and_duplicates_nothing(
    kafka_bootstrap: str, kafka_config: KafkaConfig, tmp_path: Path
) -> None:
    service = IngestProcess(kafka_bootstrap, tmp_path)
    e = service.enterprise
    singles = [single(e, f"k-{i}", "flow", float(i % 500), "L/min") for i in range(20_000)]
    batches = [batch(e, f"kb-{i}", 500, "[psi]") for i in range(40)]
    total = 20_000 + 40 * 500

    await service.start()
    try:
        # The gateway keeps sending while ingest runs; ingest is killed as soon as its first
        # transactions are visible, so the kill lands mid-stream by construction.
        async def gateway() -> None:
            records = singles + batches
            for start in range(0, len(records), 2000):
                await produce_raw(kafka_config, TELEMETRY_RAW.name, records[start : start + 2000])

        sending = asyncio.create_task(gateway())
        at_kill = await count_normalized(kafka_config, e, at_least=1)
        await service.kill()
        await sending
        assert at_kill < total, "the kill came after everything was processed: make the stream longer"
        await service.start()
        normalized, letters = await collect(kafka_config, e, normalized_readings=total, dead_letters=0, timeout_s=120)
    finally:
        await service.stop()
    assert not letters, Counter(Reason.Name(d.reason_code) for d in letters)
    ids = [rid for m in normalized for rid in reading_ids(m)]
    assert len(ids) == total, f"{total - len(set(ids))} missing, {len(ids) - len(set(ids))} duplicated"
    assert len(set(ids)) == total


async def test_job_order_context_applied_by_reading_timestamp(ingest: IngestProcess, kafka_config: KafkaConfig) -> None:
    e = ingest.enterprise
    job = job_order_pb2.JobOrder(job_order_id=f"jo-{uuid.uuid4().hex[:6]}", product_id="widget-9", equipment=path(e))
    t0 = time.time() - 60
    async with grpc.aio.insecure_channel(f"127.0.0.1:{ingest.grpc_port}") as channel:
        stub = ingest_service_pb2_grpc.IngestServiceStub(channel)
        for command, at in (
            (job_order_pb2.JobOrderCommand.JOB_ORDER_COMMAND_STORE_AND_START, t0),
            (job_order_pb2.JobOrderCommand.JOB_ORDER_COMMAND_STOP, t0 + 20),
        ):
            when = Timestamp()
            when.FromNanoseconds(int(at * 1e9))
            await stub.ReportJobOrderEvent(
                ingest_service_pb2.ReportJobOrderEventRequest(
                    request_id=uuid.uuid4().hex, command=command, job_order=job, occurred_time=when
                ),
                timeout=10,
            )
    # No wait needed: the replica that answered applied each event once it was durable.
    # Readings before, during and after the job, all sent after the job ended.
    records = [
        single(e, "before", "flow", 1.0, "L/min", offset_s=-70),
        single(e, "during", "flow", 2.0, "L/min", offset_s=-50),
        single(e, "after", "flow", 3.0, "L/min", offset_s=-30),
    ]
    await produce_raw(kafka_config, TELEMETRY_RAW.name, records)
    normalized, _ = await collect(kafka_config, e, normalized_readings=3, dead_letters=0)
    context = {m.event_id.removeprefix(f"{e}-"): m.context for m in normalized}
    assert context["during"].job_order_id == job.job_order_id
    assert context["during"].product_id == "widget-9"
    assert context["before"].job_order_id == ""
    assert context["after"].job_order_id == ""
