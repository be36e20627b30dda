"""Each wire format round-trips: protobuf decode, columnar numpy decode, UMH key + JSON, Sparkplug B decode."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from factorymesh.api.telemetry.v1 import reading_batch_pb2, reading_pb2
from factorymesh.line_simulator import FaultEpisode, FaultKind, Format, Scenario, Simulator, default_plant
from factorymesh.line_simulator.encoders import (
    BATCH_TYPE,
    SINGLE_TYPE,
    BatchEncoder,
    Record,
    SingleReadingEncoder,
    SparkplugEdgeNode,
    UmhEncoder,
    partition_key,
    sparkplug_ids,
)
from factorymesh.line_simulator.kafka_sink import Partitioner
from factorymesh.line_simulator.router import Router
from factorymesh.line_simulator.simulator import GOOD, RANGE_EXCEEDED, EquipmentSample, Tick
from factorymesh.line_simulator.sparkplug_schema import decode_payload
from factorymesh.line_simulator.testing import MOTOR_DE, PUMP_DE, PUMP_US, SPINDLE_US

FACTORYMESH_NS = uuid.UUID("02cedb69-e0cb-5311-a561-7d2a0eb3f715")
SEGMENT = r"[a-zA-Z0-9_-]+"
UMH_KEY = re.compile(rf"^umh\.v1\.(?:{SEGMENT}\.){{6}}_historian\.{SEGMENT}$")


def ticks(n: int, rate_hz: float = 1.0, seed: int = 2, faults: tuple[FaultEpisode, ...] = ()) -> list[Tick]:
    simulator = Simulator(seed=seed, scenario=Scenario(random_faults=False, faults=faults))
    return list(simulator.generate(n / rate_hz, rate_hz))


def sample_of(tick: Tick, key: str) -> EquipmentSample:
    return next(s for s in tick.samples() if s.equipment.key == key)


def test_single_readings_decode_with_derived_ids() -> None:
    tick = ticks(1)[0]
    sample = sample_of(tick, PUMP_US)
    records = SingleReadingEncoder(seed=2).encode(sample)
    assert len(records) == len(sample.tags)
    for j, record in enumerate(records):
        assert record.key == PUMP_US.encode()
        assert record.message_type == SINGLE_TYPE
        assert record.readings == 1
        reading = reading_pb2.SensorReading.FromString(record.value)
        tag = sample.tags[j].name
        source = "line-simulator/2/acme/houston/utilities/cooling"
        expected_id = uuid.uuid5(FACTORYMESH_NS, f"reading|{PUMP_US}|{tag}|{tick.time_ns}|{source}")
        assert reading.event_id == str(expected_id)
        assert reading.tag == tag
        assert reading.double_value == sample.values[j]
        assert reading.unit.code == sample.units[j].code
        assert reading.source_time.seconds * 10**9 + reading.source_time.nanos == tick.time_ns
        assert reading.quality == GOOD
        assert (reading.equipment.site, reading.equipment.cell, reading.equipment.equipment) == (
            "houston",
            "pumps",
            "pump-01",
        )
        assert reading.origin.protocol == reading_pb2.SOURCE_PROTOCOL_FACTORYMESH_PROTOBUF
        assert reading.origin.source_id == source
    # Republishing the same simulated readings gives the same records, byte for byte.
    again = SingleReadingEncoder(seed=2).encode(sample_of(ticks(1)[0], PUMP_US))
    assert again == records


def test_single_readings_skip_what_the_sensor_did_not_send() -> None:
    dropout = (FaultEpisode(PUMP_DE, FaultKind.SENSOR_DROPOUT, 0.0, 10.0, tag="flow"),)
    records = SingleReadingEncoder(seed=2).encode(sample_of(ticks(1, faults=dropout)[0], PUMP_DE))
    assert [reading_pb2.SensorReading.FromString(r.value).tag for r in records] == [
        "suction_pressure",
        "discharge_pressure",
        "current",
        "bearing_temperature",
        "vibration_rms",
    ]


def test_batches_decode_into_numpy_columns() -> None:
    encoder = BatchEncoder(seed=2, batch_size=10, interval_s=60.0)
    run = ticks(5)
    emitted: list[Record] = []
    for tick in run:
        emitted.extend(encoder.encode(sample_of(tick, MOTOR_DE)))
    # 5 tags per tick: a batch is cut as soon as 10 readings are buffered.
    assert [r.readings for r in emitted] == [10, 10]
    emitted.extend(encoder.flush())
    assert [r.readings for r in emitted] == [10, 10, 5]

    batch = reading_batch_pb2.SensorReadingBatch.FromString(emitted[0].value)
    assert emitted[0].message_type == BATCH_TYPE
    assert emitted[0].key == MOTOR_DE.encode()
    tags = np.asarray(batch.tags, dtype=object)[np.asarray(batch.tag_indices, dtype=np.uint32)]
    times = np.asarray(batch.source_times_unix_nanos, dtype=np.int64)
    values = np.asarray(batch.values, dtype=np.float64)
    expected = np.concatenate([sample_of(t, MOTOR_DE).values for t in run[:2]])
    np.testing.assert_array_equal(values, expected)
    assert list(tags[:5]) == ["current", "winding_temperature", "vibration_rms", "speed", "power"]
    assert list(times) == [run[0].time_ns] * 5 + [run[1].time_ns] * 5
    assert [u.code for u in batch.tag_units] == ["A", "Cel", "mm/s", "/min", "kW"]
    assert len(batch.qualities) == 0  # all GOOD
    source = "line-simulator/2/acme/stuttgart/utilities/process-water"
    assert batch.event_id == str(uuid.uuid5(FACTORYMESH_NS, f"reading-batch|{MOTOR_DE}|{source}|{run[0].time_ns}|10"))


def test_batches_are_cut_by_source_time_too() -> None:
    encoder = BatchEncoder(seed=2, batch_size=1000, interval_s=2.0)
    out = [r for tick in ticks(5) for r in encoder.encode(sample_of(tick, PUMP_DE))]
    assert [r.readings for r in out] == [12, 12]  # ticks 0-1, then 2-3; tick 4 still buffered


def _flushed(sample: EquipmentSample) -> bytes:
    encoder = BatchEncoder(seed=2)
    assert encoder.encode(sample) == []
    return encoder.flush()[0].value


def test_batch_keeps_qualities_when_not_all_good() -> None:
    sample = sample_of(ticks(1)[0], PUMP_DE)
    flagged = replace(sample, quality=np.where(np.arange(6) == 5, RANGE_EXCEEDED, GOOD).astype(np.int32))
    batch = reading_batch_pb2.SensorReadingBatch.FromString(_flushed(flagged))
    assert list(batch.qualities) == [GOOD] * 5 + [RANGE_EXCEEDED]


def test_umh_historian_json() -> None:
    tick = ticks(1)[0]
    sample = sample_of(tick, SPINDLE_US)
    records = UmhEncoder().encode(sample)
    assert len(records) == 5
    for j, record in enumerate(records):
        key = record.key.decode()
        assert UMH_KEY.match(key), key
        tag = sample.tags[j].name
        assert key == f"umh.v1.acme.houston.machining.cnc1.mill-1.spindle-01._historian.{tag}"
        payload = json.loads(record.value)
        assert set(payload) == {"timestamp_ms", tag}
        assert payload["timestamp_ms"] == tick.time_ns // 1_000_000
        assert isinstance(payload["timestamp_ms"], int)
        assert payload[tag] == sample.values[j]  # JSON floats round-trip exactly
        assert record.message_type is None


def _decoded(records: list[Record]) -> list[tuple[str, Any]]:
    return [(r.key.decode().split("/")[2], decode_payload(r.value)) for r in records]


def test_sparkplug_session() -> None:
    plant = default_plant()
    devices = [e for e in plant.equipment if e.line == "process-water"]
    node = SparkplugEdgeNode(devices, bd_seq=300)
    assert node.bd_seq == 300 % 256
    run = ticks(3)
    births = node.birth(run[0].time_ns, [sample_of(run[0], d.key) for d in devices])
    kinds = _decoded(births)
    assert [k for k, _ in kinds] == ["NBIRTH"] + ["DBIRTH"] * 4
    assert births[0].key == b"spBv1.0/acme.stuttgart/NBIRTH/utilities.process-water"
    assert births[1].key == b"spBv1.0/acme.stuttgart/DBIRTH/utilities.process-water/pumps.pump-01"

    nbirth = kinds[0][1]
    assert nbirth.seq == 0
    assert nbirth.timestamp == run[0].time_ns // 1_000_000
    metrics = {m.name: m for m in nbirth.metrics}
    assert metrics["bdSeq"].long_value == 44
    assert metrics["bdSeq"].datatype == 4
    assert metrics["Node Control/Rebirth"].boolean_value is False

    aliases: dict[int, tuple[str, str]] = {}
    for i, (_, dbirth) in enumerate(kinds[1:], start=1):
        assert dbirth.seq == i
        device = devices[i - 1]
        sample = sample_of(run[0], device.key)
        for j, metric in enumerate(dbirth.metrics):
            assert metric.name == device.tags[j].name
            assert metric.datatype == 10
            assert metric.double_value == sample.values[j]
            assert (
                dict(zip(metric.properties.keys, [v.string_value for v in metric.properties.values], strict=True))[
                    "engUnit"
                ]
                == sample.units[j].code
            )
            assert metric.alias not in aliases
            aliases[metric.alias] = (device.key, metric.name)
    assert sum(r.readings for r in births) == sum(len(d.tags) for d in devices)

    data = [r for d in devices for r in node.encode(sample_of(run[1], d.key))]
    for i, (kind, ddata) in enumerate(_decoded(data)):
        assert kind == "DDATA"
        assert ddata.seq == 5 + i
        sample = sample_of(run[1], devices[i].key)
        for j, metric in enumerate(ddata.metrics):
            assert not metric.HasField("name")  # aliases only after the birth
            assert aliases[metric.alias] == (devices[i].key, devices[i].tags[j].name)
            assert metric.double_value == sample.values[j]
            assert metric.timestamp == run[1].time_ns // 1_000_000

    death = node.death(run[2].time_ns)
    kind, ndeath = _decoded(death)[0]
    assert kind == "NDEATH"
    assert not ndeath.HasField("seq")
    assert [m.long_value for m in ndeath.metrics if m.name == "bdSeq"] == [44]


def test_sparkplug_seq_wraps_and_partitions_by_edge_node() -> None:
    plant = default_plant()
    router = Router(plant, seed=2, rebirth_s=0)
    records = []
    for tick in ticks(80):
        records.extend(router.encode_tick(tick))
    records.extend(router.close())
    sparkplug = [r for r in records if r.format is Format.SPARKPLUG]
    payloads = [decode_payload(r.value) for r in sparkplug]
    seqs = [p.seq for p in payloads[:-1]]  # NDEATH carries none
    assert seqs == [i % 256 for i in range(len(seqs))]
    assert len(seqs) > 256
    partitioner = Partitioner()
    assert len({partition_key(r.key) for r in sparkplug}) == 1
    assert len({partitioner(r.key, list(range(12)), list(range(12))) for r in sparkplug}) == 1
    others = [r for r in records if r.format is not Format.SPARKPLUG]
    assert all(partition_key(r.key) == r.key for r in others)


def test_sparkplug_device_death_and_rebirth_on_comm_loss() -> None:
    loss = (FaultEpisode(MOTOR_DE, FaultKind.COMM_LOSS, 2.0, 4.0),)
    devices = [e for e in default_plant().equipment if e.line == "process-water"]
    node = SparkplugEdgeNode(devices)
    run = ticks(6, faults=loss)
    node.birth(run[0].time_ns, [sample_of(run[0], d.key) for d in devices])
    kinds = []
    for tick in run[1:]:
        kinds.append([k for k, _ in _decoded(node.encode(sample_of(tick, MOTOR_DE)))])
    assert kinds == [["DDATA"], ["DDEATH"], [], ["DBIRTH"], ["DDATA"]]


def test_sparkplug_flags_clamped_values() -> None:
    devices = [e for e in default_plant().equipment if e.line == "process-water"]
    node = SparkplugEdgeNode(devices)
    run = ticks(2)
    node.birth(run[0].time_ns, [sample_of(run[0], d.key) for d in devices])
    sample = sample_of(run[1], PUMP_DE)
    flagged = replace(sample, quality=np.where(np.arange(6) == 0, RANGE_EXCEEDED, GOOD).astype(np.int32))
    ddata = decode_payload(node.encode(flagged)[0].value)
    first, second = ddata.metrics[0], ddata.metrics[1]
    assert list(first.properties.keys) == ["Quality"]
    assert first.properties.values[0].int_value == 0x54
    assert not second.HasField("properties")


def test_sparkplug_ids_map_back_to_the_equipment_path() -> None:
    for equipment in default_plant().equipment:
        group, node, device = sparkplug_ids(equipment)
        assert "/".join(group.split(".") + node.split(".") + device.split(".")) == equipment.key


def test_router_sends_each_line_in_its_formats() -> None:
    router = Router(default_plant(), seed=2, batch_size=1000, batch_interval_s=1.0)
    run = ticks(3)
    by_tick = [router.encode_tick(t) for t in run]
    formats = {r.format for r in by_tick[0]}
    # Tick 0: batches are still filling; the other three formats are out.
    assert formats == {Format.PROTOBUF, Format.UMH, Format.SPARKPLUG}
    assert Format.BATCH in {r.format for r in by_tick[1]}  # cut by the 1 s interval
    readings = sum(r.readings for records in by_tick for r in records) + sum(r.readings for r in router.close())
    assert readings == sum(t.reading_count for t in run)


def test_router_with_every_format_sends_every_reading_four_times() -> None:
    plant = default_plant().with_formats(list(Format))
    router = Router(plant, seed=2)
    run = ticks(4)
    records = [r for t in run for r in router.encode_tick(t)] + router.close()
    total = sum(t.reading_count for t in run)
    for fmt in Format:
        assert sum(r.readings for r in records if r.format is fmt) == total, fmt


def test_edge_node_rejects_devices_of_another_line() -> None:
    plant = default_plant()
    with pytest.raises(ValueError, match="one line"):
        SparkplugEdgeNode([plant.find(PUMP_DE), plant.find(PUMP_US)])
