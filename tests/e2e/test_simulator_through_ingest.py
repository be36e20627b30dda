"""End to end, as `make up` wires it: the line simulator publishes its plant in all its formats
(US units in Houston, SI in Stuttgart), the ingest service normalizes, the feature-window
process windows; the test checks normalized values and feature windows against the
simulator's own ground truth, recomputed in-process from the same seed.

Like every ingest integration test it assumes no other ingest deployment consumes the
broker's raw topic (true for `make test`'s own broker): a second pipeline would normalize
the same readings again, and the windows would count them twice."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import os
import signal
import socket
import sys
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import grpc
import numpy as np
import pytest
from aiokafka import AIOKafkaConsumer
from grpc_health.v1 import health_pb2, health_pb2_grpc

from factorymesh.common.kafka import KafkaConfig, decode_event, ensure_topics
from factorymesh.common.topics import DEAD_LETTERS, TELEMETRY_FEATURES, TELEMETRY_NORMALIZED
from factorymesh.line_simulator.faults import Scenario
from factorymesh.line_simulator.plant import default_plant
from factorymesh.line_simulator.simulator import Simulator

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SEED = 7
RATE_HZ = 2.0
DURATION_S = 60
NS = 1_000_000_000
# Metric (simulator) units -> SI, written out so the test does not reuse ingest's converter.
TO_SI = {
    "flow": lambda v: v / 60_000.0,  # L/min -> m³/s
    "suction_pressure": lambda v: v * 1e5,  # bar -> Pa
    "discharge_pressure": lambda v: v * 1e5,
    "current": lambda v: v,  # A
    "bearing_temperature": lambda v: v + 273.15,  # °C -> K
    "winding_temperature": lambda v: v + 273.15,
    "temperature": lambda v: v + 273.15,
    "vibration_rms": lambda v: v / 1000.0,  # mm/s -> m/s
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def start(args: list[str], env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable, *args, env={**os.environ, **env}, stdout=out, stderr=asyncio.subprocess.STDOUT
        )


def tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


async def wait_serving(port: int, process: asyncio.subprocess.Process, log: Path) -> None:
    deadline = time.monotonic() + 60
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        while True:
            assert process.returncode is None, tail(log)
            try:
                reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.aio.AioRpcError:
                pass
            assert time.monotonic() < deadline, tail(log)
            await asyncio.sleep(0.3)


async def read_plant(
    config: KafkaConfig, enterprise: str, features_topic: str, t0_ns: int, t1_ns: int, want_windows: int
) -> tuple[list, list, list]:
    """Normalized readings, feature windows and dead letters of the simulated plant, until quiet."""
    consumer = AIOKafkaConsumer(
        TELEMETRY_NORMALIZED.name,
        features_topic,
        DEAD_LETTERS.name,
        **config.common(),
        group_id=None,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await consumer.start()
    normalized: list = []
    windows: list = []
    letters: list = []
    try:
        deadline = time.monotonic() + 120
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            got = False
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    message = decode_event(record.value, record.headers)
                    if record.topic == DEAD_LETTERS.name:
                        # Ingest's own (an inference service running on a shared broker may
                        # dead-letter windows of this plant too: not this test's subject).
                        if enterprise.encode() in message.original_key and message.failed_service == "ingest":
                            letters.append(message)
                    elif message.equipment.enterprise != enterprise:
                        continue
                    elif record.topic == features_topic:
                        if t0_ns <= message.window.start_time.ToNanoseconds() < t1_ns:
                            windows.append(message)
                    else:
                        normalized.append(message)
                    got = True
            if got:
                quiet_since = time.monotonic()
            elif len(windows) >= want_windows and time.monotonic() - quiet_since > 3:
                break
    finally:
        await consumer.stop()
    return normalized, windows, letters


def readings_of(message: object) -> list[tuple[str, str, int, float, int]]:
    """(equipment key, tag, time ns, SI value, quality) of every reading a normalized message holds."""
    eq = message.equipment  # type: ignore[attr-defined]
    key = "/".join((eq.enterprise, eq.site, eq.area, eq.line, eq.cell, eq.equipment))
    if hasattr(message, "source_indices"):
        qualities = list(message.qualities) or [1] * len(message.values)
        return [
            (key, message.tags[t], int(ts), float(v), int(q))
            for t, ts, v, q in zip(
                message.tag_indices, message.source_times_unix_nanos, message.values, qualities, strict=True
            )
        ]
    return [(key, message.tag, message.source_time.ToNanoseconds(), message.double_value, int(message.quality))]


async def test_simulated_plant_normalizes_and_windows_to_its_ground_truth(
    kafka_bootstrap: str, kafka_config: KafkaConfig, tmp_path: Path
) -> None:
    # A simulated minute a day ago, on a window boundary, published as fast as possible.
    t0_ns = (time.time_ns() // NS - 86_400) // 60 * 60 * NS
    t1_ns = t0_ns + DURATION_S * NS
    run = uuid.uuid4().hex[:8]
    # The demo plant under an enterprise of this run's own, so earlier runs on a shared
    # broker (their readings, their watermarks) cannot touch this one.
    enterprise = f"e2e{run}"
    plant_data = default_plant().to_dict()
    plant_data["enterprise"] = enterprise
    scenario_file = tmp_path / "scenario.json"
    scenario_file.write_text(json.dumps({"plant": plant_data}))
    assets = tmp_path / "assets.yaml"
    demo_assets = (ROOT / "deploy" / "local" / "assets-demo.yaml").read_text()
    assert "\nenterprise: acme\n" in demo_assets
    assets.write_text(demo_assets.replace("\nenterprise: acme\n", f"\nenterprise: {enterprise}\n"))
    grpc_port = free_port()
    features_topic = dataclasses.replace(TELEMETRY_FEATURES, name=f"e2e.features.{run}", partitions=3)
    await ensure_topics(kafka_config, [features_topic])
    common = {"FM_KAFKA_BOOTSTRAP": kafka_bootstrap, "FM_METRICS_PORT": "0", "FM_KAFKA_TOPIC_PARTITIONS": "3"}
    ingest = await start(
        ["-m", "factorymesh.ingest"],
        {
            **common,
            "FM_GRPC_HOST": "127.0.0.1",
            "FM_GRPC_PORT": str(grpc_port),
            "FM_ASSETS_FILE": str(assets),
            "FM_CONSUMER_GROUP": f"e2e-ingest-{run}",
            "FM_TRANSACTIONAL_ID": f"e2e-ingest-{run}",
        },
        tmp_path / "ingest.log",
    )
    features = await start(
        ["-m", "factorymesh.ingest.features"],
        {
            **common,
            "FM_FEATURES_GROUP_ID": f"e2e-features-{run}",
            "FM_FEATURES_TRANSACTIONAL_ID": f"e2e-features-{run}",
            # The simulated minute is published as fast as possible, and UMH records are keyed
            # per tag, so one machine's tags reach ingest through different partitions, far
            # apart in event time. A lateness above the whole minute keeps every reading in
            # its window; the windows then close once the plant went quiet (idle close).
            # (Live at 2 Hz the skew stays well inside the default 5 s lateness.)
            "FM_FEATURES_ALLOWED_LATENESS_S": str(DURATION_S + 30),
            "FM_FEATURES_IDLE_CLOSE_S": "15",
            # Its own output topic: a feature-window process of a running `make up` on the same
            # broker windows this plant too (with the live lateness), into the shared topic.
            "FM_FEATURES_OUTPUT_TOPIC": features_topic.name,
        },
        tmp_path / "features.log",
    )
    try:
        await wait_serving(grpc_port, ingest, tmp_path / "ingest.log")
        simulator = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "factorymesh.line_simulator", "run",
            "--start", datetime.fromtimestamp(t0_ns / NS, UTC).isoformat(),
            "--duration-s", str(DURATION_S), "--rate-hz", str(RATE_HZ), "--seed", str(SEED), "--no-realtime",
            "--scenario", str(scenario_file),
            "--metrics-port", "0",
            env={**os.environ, **common}, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        assert await asyncio.wait_for(simulator.wait(), 120) == 0
        # 59 instruments, tumbling 10 s and hopping 60/10 s windows over one minute.
        normalized, windows, letters = await read_plant(
            kafka_config, enterprise, features_topic.name, t0_ns, t1_ns, want_windows=300
        )
    finally:
        for process in (ingest, features):
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
                await asyncio.wait_for(process.wait(), 60)

    # The same simulation in-process: the ground truth.
    scenario = Scenario.load(scenario_file)
    assert scenario.plant is not None
    truth = Simulator(scenario.plant, seed=SEED, scenario=scenario, start_ns=t0_ns)
    expected: dict[tuple[str, str, int], float] = {}
    good: set[tuple[str, str, int]] = set()  # readings of GOOD quality: the ones windows count
    for tick in truth.generate(DURATION_S, RATE_HZ):
        for block in tick.blocks:
            for i, equipment in enumerate(block.equipment):
                for j, tag in enumerate(block.tags):
                    value = block.metric[i, j]
                    if tag.name in TO_SI and math.isfinite(value):
                        expected[(equipment.key, tag.name, tick.time_ns)] = TO_SI[tag.name](value)
                        if int(block.quality[i, j]) >> 5 == 0:
                            good.add((equipment.key, tag.name, tick.time_ns))

    assert not letters, [(d.reason_code, d.reason_detail) for d in letters[:5]]
    got = {(k, t, ts): (v, q) for m in normalized for k, t, ts, v, q in readings_of(m) if t0_ns <= ts < t1_ns}
    compared = [(got[key][0], value) for key, value in expected.items() if key in got]
    # Every site, format and unit system is represented; values agree after SI conversion.
    sites = {key[0].split("/")[1] for key in got}
    assert sites == {"houston", "stuttgart"}
    assert len(compared) >= 0.9 * len(expected), f"{len(compared)} of {len(expected)} readings arrived"
    observed, truth_values = np.array(compared).T
    np.testing.assert_allclose(observed, truth_values, rtol=1e-6, atol=1e-9)

    # Tumbling 10 s windows: count and mean of every tag against the ground truth's samples.
    by_window: dict[tuple[str, str, int], list[float]] = defaultdict(list)
    for (key, tag, ts), value in expected.items():
        if (key, tag, ts) in good:
            by_window[(key, tag, ts - (ts - t0_ns) % (10 * NS))].append(value)
    checked = 0
    for window in windows:
        if window.window_size.seconds != 10:
            continue
        eq = window.equipment
        key = "/".join((eq.enterprise, eq.site, eq.area, eq.line, eq.cell, eq.equipment))
        samples = by_window.get((key, window.tag, window.window.start_time.ToNanoseconds()))
        if not samples or window.tag not in TO_SI:
            continue
        assert window.count == len(samples)
        assert window.mean == pytest.approx(float(np.mean(samples)), rel=1e-6)
        checked += 1
    assert checked >= 100, f"only {checked} windows could be checked"
