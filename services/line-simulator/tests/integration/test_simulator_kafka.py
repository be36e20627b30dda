"""Publishing to the real broker: every format, the expected records byte for byte, and a clean SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

from factorymesh.common.kafka import HEADER_MESSAGE_TYPE, HEADER_PRODUCER, HEADER_TRACEPARENT, KafkaConfig, header
from factorymesh.common.topics import TopicSpec
from factorymesh.line_simulator import Format, Simulator, default_plant
from factorymesh.line_simulator.app import run
from factorymesh.line_simulator.config import LineSimulatorSettings
from factorymesh.line_simulator.encoders import BATCH_TYPE, SINGLE_TYPE
from factorymesh.line_simulator.router import Router
from factorymesh.line_simulator.simulator import NS
from factorymesh.line_simulator.sparkplug_schema import decode_payload

pytestmark = pytest.mark.integration

MakeTopic = Callable[..., Awaitable[TopicSpec]]
Record = Any  # aiokafka ConsumerRecord[bytes, bytes]; aiokafka ships no type information


async def read_topic(
    config: KafkaConfig, topic: str, expected: int, timeout_s: float = 30.0, settle: bool = True
) -> list[Record]:
    """Every record of the topic from the beginning, once ``expected`` arrived (and, with ``settle``,
    nothing more comes)."""
    consumer = AIOKafkaConsumer(topic, **config.common(), group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    records: list[Record] = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout_s
        quiet = 0
        while asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            new = [r for rs in batch.values() for r in rs]
            records.extend(new)
            quiet = 0 if new else quiet + 1
            if len(records) >= expected and (quiet >= 2 or not settle):
                break
    finally:
        await consumer.stop()
    return records


def fmt_of(record: Record) -> Format:
    key = record.key or b""
    if key.startswith(b"umh.v1."):
        return Format.UMH
    if key.startswith(b"spBv1.0/"):
        return Format.SPARKPLUG
    return Format.BATCH if header(record.headers, HEADER_MESSAGE_TYPE) == BATCH_TYPE else Format.PROTOBUF


async def test_publishes_every_format(
    kafka_config: KafkaConfig, make_topic: MakeTopic, tmp_path: Path, otel_tracing: object
) -> None:
    topic = await make_topic("raw", partitions=3)
    labels = tmp_path / "labels.csv"
    settings = LineSimulatorSettings(
        kafka_bootstrap=kafka_config.bootstrap,
        topic=topic.name,
        create_topic=False,
        rate_hz=5.0,
        duration_s=3.0,
        formats="all",
        seed=7,
        metrics_port=0,
        labels_out=labels,
    )
    stats = await run(settings)
    assert stats.ticks == 15
    # Real time: 15 ticks at 5 Hz take ~3 s (the first is due at the next whole second).
    assert 2.0 <= stats.elapsed_s <= 6.0

    # The same run offline: the records the broker must now hold, byte for byte.
    plant = default_plant().with_formats(list(Format))
    simulator = Simulator(plant, seed=7, start_ns=stats.start_ns)
    router = Router(plant, seed=7, bd_seq=(stats.start_ns // NS) % 256)
    expected = [r for tick in simulator.generate(3.0, 5.0) for r in router.encode_tick(tick)] + router.close()
    assert stats.records == len(expected)

    records = await read_topic(kafka_config, topic.name, len(expected))
    assert Counter((r.key, r.value) for r in records) == Counter((r.key, r.value) for r in expected)

    readings = Counter[Format]()
    for record, fmt in ((r, fmt_of(r)) for r in records):
        if fmt in (Format.PROTOBUF, Format.BATCH):
            assert header(record.headers, HEADER_MESSAGE_TYPE) in {SINGLE_TYPE, BATCH_TYPE}
            assert header(record.headers, "fm-schema-version") == "v1"
        else:  # as from a real UMH bridge / Sparkplug gateway: told apart by the key, not a type header
            assert header(record.headers, HEADER_MESSAGE_TYPE) is None
        assert header(record.headers, HEADER_PRODUCER) == "line-simulator"
        # Traces start at the simulator: one span per tick, its context on every record of the tick.
        assert (header(record.headers, HEADER_TRACEPARENT) or "").startswith("00-")
    for r in expected:
        readings[r.format] += r.readings
    # Every format carried every reading: 15 ticks x 59 instruments (no faults this early at seed 7).
    assert set(readings.values()) == {15 * 59}

    # One edge node = one partition, in session order: NBIRTH, DBIRTHs, DDATA..., NDEATH.
    sparkplug = [r for r in records if fmt_of(r) is Format.SPARKPLUG]
    node = {r.key.split(b"/")[3] for r in sparkplug if r.key}
    for name in node:
        session = sorted((r for r in sparkplug if r.key and r.key.split(b"/")[3] == name), key=lambda r: r.offset)
        assert len({r.partition for r in session}) == 1
        kinds = [r.key.split(b"/")[2].decode() for r in session if r.key]
        assert kinds[0] == "NBIRTH"
        assert kinds[-1] == "NDEATH"
        seqs = [decode_payload(r.value).seq for r in session[:-1] if r.value]
        assert seqs == [i % 256 for i in range(len(seqs))]

    assert len(labels.read_text().splitlines()) == 1 + 15 * 11


async def test_sigterm_flushes_and_exits_0(kafka_config: KafkaConfig, make_topic: MakeTopic, tmp_path: Path) -> None:
    topic = await make_topic("raw", partitions=3)
    env = {
        **os.environ,
        "FM_KAFKA_BOOTSTRAP": kafka_config.bootstrap,
        "FM_METRICS_PORT": "0",
        "FM_CREATE_TOPIC": "false",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "factorymesh.line_simulator",
        "--topic",
        topic.name,
        "--rate-hz",
        "4",
        "--formats",
        "all",
        "--seed",
        "3",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        # Wait until it is publishing: its first records are on the topic.
        first = await read_topic(kafka_config, topic.name, expected=1, timeout_s=30, settle=False)
        assert first
        await asyncio.sleep(1.0)
        process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(process.communicate(), timeout=30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, output.decode()
    assert b"simulator_stopped" in output

    records = await read_topic(kafka_config, topic.name, expected=len(first))
    readings = Counter[Format]()
    for record in records:
        fmt = fmt_of(record)
        if fmt is Format.PROTOBUF or fmt is Format.UMH:
            readings[fmt] += 1
        elif fmt is Format.SPARKPLUG and record.value:
            payload = decode_payload(record.value)
            kind = (record.key or b"").split(b"/")[2]
            if kind in (b"DBIRTH", b"DDATA"):
                readings[fmt] += sum(1 for m in payload.metrics if not m.is_null)
        elif fmt is Format.BATCH and record.value:
            from factorymesh.api.telemetry.v1 import reading_batch_pb2

            readings[fmt] += len(reading_batch_pb2.SensorReadingBatch.FromString(record.value).values)
    # The partial batches were flushed on SIGTERM: the columnar format has every reading the others have.
    assert len(set(readings.values())) == 1, readings
    assert readings[Format.BATCH] > 0
    last = max((r for r in records if fmt_of(r) is Format.SPARKPLUG), key=lambda r: r.offset)
    assert (last.key or b"").split(b"/")[2] == b"NDEATH"
