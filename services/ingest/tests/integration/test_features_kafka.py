"""Feature windows on the real broker: normalized batches in, FeatureWindow events out, checked
against numpy; a SIGKILLed processor's successor restores the state changelog and emits every
window exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from factorymesh.api.common.v1 import dead_letter_pb2, equipment_pb2, quality_pb2
from factorymesh.api.telemetry.v1 import feature_window_pb2, normalized_reading_pb2
from factorymesh.common.kafka import (
    HEADER_MESSAGE_TYPE,
    HEADER_PRODUCER,
    EventProducer,
    KafkaConfig,
    header,
)
from factorymesh.common.topics import TopicSpec
from factorymesh.ingest.features import FeatureWindowConfig, FeatureWindowProcessor, WindowSpec, feature_window_id
from factorymesh.ingest.features import emit as emit_module
from factorymesh.ingest.features import processor as processor_module

pytestmark = pytest.mark.integration

S = 1_000_000_000
T0 = 1_735_689_600 * S  # 2025-01-01T00:00:00Z, a multiple of every window step used here
SPECS = (WindowSpec.tumbling(2.0), WindowSpec.hopping(6.0, 2.0))
LATENESS = 1 * S
RATE_HZ = 10
BAD = quality_pb2.DataQuality.Value("DATA_QUALITY_BAD")
GOOD = quality_pb2.DataQuality.DATA_QUALITY_GOOD
EQUIPMENT = {
    "acme/berlin/assembly/line4/cell2/press7": equipment_pb2.EquipmentPath(
        enterprise="acme", site="berlin", area="assembly", line="line4", cell="cell2", equipment="press7"
    ),
    "acme/berlin/assembly/line4/cell2/press8": equipment_pb2.EquipmentPath(
        enterprise="acme", site="berlin", area="assembly", line="line4", cell="cell2", equipment="press8"
    ),
}
TAGS = ("spindle.temp", "spindle.vibration")
VERSION = "fw-2025.1"


@dataclass
class Reading:
    equipment: str
    tag: str
    t: int
    value: float
    quality: int


def make_readings(seconds: float, seed: int) -> list[Reading]:
    """2 equipment x 2 tags at 10 Hz; every 7th reading BAD; values trend so slopes are non-trivial."""
    rng = np.random.default_rng(seed)
    out: list[Reading] = []
    for e_idx, equipment in enumerate(EQUIPMENT):
        for tag_idx, tag in enumerate(TAGS):
            n = int(seconds * RATE_HZ)
            times = T0 + np.arange(n) * (S // RATE_HZ) + e_idx * 1_000_000 + tag_idx * 10_000
            values = 1e5 * tag_idx + 20.0 * e_idx + 0.5 * np.arange(n) / RATE_HZ + rng.normal(0.0, 1.0, n)
            out.extend(
                Reading(equipment, tag, int(t), float(v), BAD if i % 7 == 3 else GOOD)
                for i, (t, v) in enumerate(zip(times, values, strict=True))
            )
    out.sort(key=lambda r: (r.equipment, r.t))
    return out


def batches(readings: list[Reading], size: int, singles_every: int = 5) -> list[tuple[str, Any]]:
    """Columnar batches of ``size`` readings per equipment, every 5th record sent as single readings instead."""
    records: list[tuple[str, Any]] = []
    for equipment in EQUIPMENT:
        mine = [r for r in readings if r.equipment == equipment]
        for n, first in enumerate(range(0, len(mine), size)):
            chunk = mine[first : first + size]
            if n % singles_every == singles_every - 1:
                for i, r in enumerate(chunk):
                    single = normalized_reading_pb2.NormalizedReading(
                        event_id=f"{equipment}:{first + i}",
                        equipment=EQUIPMENT[equipment],
                        tag=r.tag,
                        double_value=r.value,
                        quality=r.quality,  # type: ignore[arg-type]
                    )
                    single.source_time.FromNanoseconds(r.t)
                    single.unit.code = "K"
                    records.append((equipment, single))
                continue
            records.append(
                (
                    equipment,
                    normalized_reading_pb2.NormalizedReadingBatch(
                        event_id=f"{equipment}:{first}:normalized",
                        equipment=EQUIPMENT[equipment],
                        tags=list(TAGS),
                        tag_indices=[TAGS.index(r.tag) for r in chunk],
                        source_times_unix_nanos=[r.t for r in chunk],
                        values=[r.value for r in chunk],
                        qualities=[r.quality for r in chunk],  # type: ignore[misc]
                        equipment_class="press",
                    ),
                )
            )
    return records


def expected_windows(readings: list[Reading], flushed: bool = False) -> dict[str, dict[str, Any]]:
    """event_id -> statistics of every window the final watermark closed (every window when
    ``flushed``: an idle close), computed with numpy."""
    out: dict[str, dict[str, Any]] = {}
    for equipment in EQUIPMENT:
        mine = [r for r in readings if r.equipment == equipment]
        if not mine:
            continue
        watermark = max(r.t for r in mine) + (10**6 * S if flushed else -LATENESS)
        for tag in TAGS:
            rs = [r for r in mine if r.tag == tag]
            t = np.array([r.t for r in rs])
            v = np.array([r.value for r in rs])
            good = np.array([r.quality == GOOD for r in rs])
            for spec in SPECS:
                first = (int(t.min()) // spec.step_ns - spec.windows_per_reading + 1) * spec.step_ns
                for start in range(first, int(t.max()) + 1, spec.step_ns):
                    inside = (t >= start) & (t < start + spec.size_ns)
                    if start + spec.size_ns > watermark or not inside.any():
                        continue
                    x = v[inside & good]
                    ts = (t[inside & good] - start) / S
                    tc = ts - ts.mean()
                    d = x - x.mean()
                    out[feature_window_id(equipment, tag, VERSION, spec.kind, start, spec.size_ns, spec.step_ns)] = {
                        "count": x.size,
                        "valid_fraction": x.size / int(inside.sum()),
                        "mean": x.mean(),
                        "std": x.std(),
                        "min": x.min(),
                        "max": x.max(),
                        "rms": np.sqrt((x * x).mean()),
                        "kurtosis": (d**4).mean() / (d**2).mean() ** 2,
                        "slope": (tc * d).sum() / (tc * tc).sum(),
                        "equipment": equipment,
                        "tag": tag,
                    }
    return out


def assert_window(window: feature_window_pb2.FeatureWindow, want: dict[str, Any]) -> None:
    assert window.count == want["count"]
    assert window.valid_fraction == pytest.approx(want["valid_fraction"], rel=1e-12)
    for name in ("mean", "std", "min", "max", "rms"):
        assert getattr(window, name) == pytest.approx(want[name], rel=1e-9), name
    assert window.kurtosis == pytest.approx(want["kurtosis"], rel=1e-6)
    assert window.slope == pytest.approx(want["slope"], rel=1e-6)
    assert window.tag == want["tag"]
    assert window.equipment == EQUIPMENT[want["equipment"]]


async def produce(config: KafkaConfig, topic: str, records: list[tuple[str, Any]]) -> None:
    async with EventProducer(config, "tests") as producer:
        await producer.send_many(topic, records)


async def read_windows(
    config: KafkaConfig, topic: TopicSpec, until: Callable[[list[Any]], bool], timeout_s: float
) -> list[Any]:
    """Every committed record of ``topic`` from the start, until ``until(records)`` or the timeout."""
    consumer = AIOKafkaConsumer(**config.common(), isolation_level="read_committed", enable_auto_commit=False)
    await consumer.start()
    records: list[Any] = []
    try:
        tps = [TopicPartition(topic.name, p) for p in range(topic.partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not until(records) and asyncio.get_running_loop().time() < deadline:
            fetched = await consumer.getmany(timeout_ms=300)
            for batch in fetched.values():
                records.extend(batch)
    finally:
        await consumer.stop()
    return records


def decode(records: list[Any]) -> list[feature_window_pb2.FeatureWindow]:
    return [feature_window_pb2.FeatureWindow.FromString(r.value) for r in records]


@pytest.mark.parametrize("fail_once", [False, True], ids=["clean", "one-aborted-transaction"])
async def test_windows_from_batches_and_single_readings_match_numpy(
    otel_tracing: object,
    kafka_config: KafkaConfig,
    make_topic: Callable[..., Awaitable[TopicSpec]],
    unique_name: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
    fail_once: bool,
) -> None:
    normalized = await make_topic(
        "normalized",
        (normalized_reading_pb2.NormalizedReading, normalized_reading_pb2.NormalizedReadingBatch),
        partitions=3,
    )
    features = await make_topic("features", (feature_window_pb2.FeatureWindow,), partitions=3)
    dead_letters = await make_topic("dead-letters", (dead_letter_pb2.DeadLetter,), partitions=1)
    readings = make_readings(seconds=14.0, seed=1)
    await produce(kafka_config, normalized.name, batches(readings, size=30))
    # One undecodable record: it must become a dead letter, not stop the processor.
    async with EventProducer(kafka_config, "tests") as producer:
        await producer._producer.send_and_wait(
            normalized.name,
            b"\xff\xff\xff",
            key=b"acme/berlin/assembly/line4/cell2/press7",
            headers=[(HEADER_MESSAGE_TYPE, b"factorymesh.telemetry.v1.NormalizedReadingBatch")],
        )
    want = expected_windows(readings)
    if fail_once:
        # The 5th transaction that closes windows fails after its state was updated in
        # memory: it must be aborted, the state restored from the changelog, and the batch
        # retried, with no trace of the failed attempt in the output.
        real = emit_module.feature_windows
        calls = {"n": 0}

        def flaky(*args: Any, **kwargs: Any) -> list[feature_window_pb2.FeatureWindow]:
            windows = real(*args, **kwargs)
            calls["n"] += bool(windows)
            if calls["n"] == 5 and windows:
                raise RuntimeError("injected failure")
            return windows

        monkeypatch.setattr(processor_module, "feature_windows", flaky)
    processor = FeatureWindowProcessor(
        kafka_config,
        FeatureWindowConfig(
            windows=SPECS,
            allowed_lateness_s=1.0,
            idle_close_s=0,
            retry_backoff_s=0.1,
            group_id=unique_name("group"),
            transactional_id=unique_name("tx"),
            max_poll_records=20,
            poll_timeout_ms=100,
        ),
        input_topic=normalized,
        output_topic=features,
        dead_letter_topic=dead_letters,
    )
    task = asyncio.create_task(processor.run())
    try:
        records = await read_windows(kafka_config, features, lambda rs: len(rs) >= len(want), timeout_s=90)
        await asyncio.sleep(1.0)  # nothing more may come: the watermark closed exactly these
        records = await read_windows(kafka_config, features, lambda rs: False, timeout_s=2)
        letters = await read_windows(kafka_config, dead_letters, lambda rs: len(rs) >= 1, timeout_s=30)
    finally:
        await processor.stop()
        await asyncio.wait_for(task, 30)
    windows = decode(records)
    assert sorted(w.event_id for w in windows) == sorted(want), "exactly the closed windows, each once"
    for record, window in zip(records, windows, strict=True):
        assert header(record.headers, HEADER_MESSAGE_TYPE) == "factorymesh.telemetry.v1.FeatureWindow"
        assert header(record.headers, HEADER_PRODUCER) == "ingest"
        assert header(record.headers, "traceparent")
        assert record.key.decode() == want[window.event_id]["equipment"]
        assert_window(window, want[window.event_id])
        assert window.equipment_class == "press"
    kinds = {w.window_kind for w in windows}
    assert kinds == {feature_window_pb2.WINDOW_KIND_TUMBLING, feature_window_pb2.WINDOW_KIND_HOPPING}
    (letter,) = [dead_letter_pb2.DeadLetter.FromString(r.value) for r in letters]
    assert letter.reason_code == dead_letter_pb2.DEAD_LETTER_REASON_DECODE_ERROR
    assert processor.stats.dead_lettered == 1
    assert processor.stats.readings == len(readings)
    assert processor.stats.late == {}
    assert processor.stats.dropped == 0
    assert processor.stats.aborted == int(fail_once)


def _start_processor(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "factorymesh.ingest.features"],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def test_sigkilled_processor_is_resumed_from_the_changelog_without_loss_or_duplicates(
    kafka_config: KafkaConfig,
    make_topic: Callable[..., Awaitable[TopicSpec]],
    unique_name: Callable[[str], str],
) -> None:
    normalized = await make_topic(
        "normalized",
        (normalized_reading_pb2.NormalizedReading, normalized_reading_pb2.NormalizedReadingBatch),
        partitions=2,
    )
    features = await make_topic("features", (feature_window_pb2.FeatureWindow,), partitions=2)
    dead_letters = await make_topic("dead-letters", (dead_letter_pb2.DeadLetter,), partitions=1)
    # 60 s of data in records of 4 readings, one record per transaction: ~600 small
    # transactions, so the kill lands while the processor is busy (between or inside them).
    readings = make_readings(seconds=60.0, seed=2)
    records = batches(readings, size=4, singles_every=1000)
    want = expected_windows(readings)
    env = {
        "FM_KAFKA_BOOTSTRAP": kafka_config.bootstrap,
        "FM_METRICS_PORT": "0",
        "FM_LOG_LEVEL": "WARNING",
        "FM_FEATURES_INPUT_TOPIC": normalized.name,
        "FM_FEATURES_OUTPUT_TOPIC": features.name,
        "FM_FEATURES_DEAD_LETTER_TOPIC": dead_letters.name,
        "FM_FEATURES_GROUP_ID": unique_name("group"),
        "FM_FEATURES_TRANSACTIONAL_ID": unique_name("tx"),
        # Static membership: the successor takes over the partitions without waiting
        # for the dead member's session to expire.
        "FM_FEATURES_GROUP_INSTANCE_ID": unique_name("member"),
        "FM_FEATURES_TUMBLING_S": "2",
        "FM_FEATURES_HOPPING_SIZE_S": "6",
        "FM_FEATURES_HOPPING_STEP_S": "2",
        "FM_FEATURES_ALLOWED_LATENESS_S": "1",
        "FM_FEATURES_IDLE_CLOSE_S": "0",
        "FM_FEATURES_MAX_POLL_RECORDS": "1",
    }
    await produce(kafka_config, normalized.name, records)
    first = _start_processor(env)
    second: subprocess.Popen[bytes] | None = None
    try:
        early = await read_windows(kafka_config, features, lambda rs: len(rs) >= 20, timeout_s=60)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        assert len(early) >= 20, "the first processor never got going"
        at_kill = await read_windows(kafka_config, features, lambda rs: False, timeout_s=1.5)
        # The successor has work left, and the windows open at the kill hold committed
        # readings it can only know from the changelog (their statistics are checked below).
        assert len(at_kill) < len(want) / 2
        second = _start_processor(env)
        got = await read_windows(kafka_config, features, lambda rs: len(rs) >= len(want), timeout_s=120)
        await asyncio.sleep(1.5)
        got = await read_windows(kafka_config, features, lambda rs: False, timeout_s=2)
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(20)
                if process.poll() is None:
                    process.kill()
                    process.wait()
            if process is not None and process.stderr is not None:
                process.stderr.close()
    windows = decode(got)
    ids = [w.event_id for w in windows]
    assert len(ids) == len(set(ids)), "a window was emitted twice"
    assert set(ids) == set(want), f"missing {len(set(want) - set(ids))}, unexpected {len(set(ids) - set(want))}"
    for window in windows:
        assert_window(window, want[window.event_id])
    assert second is not None
    assert second.returncode == 0


async def test_late_reading_is_counted_not_windowed_and_idle_equipment_is_flushed(
    kafka_config: KafkaConfig,
    make_topic: Callable[..., Awaitable[TopicSpec]],
    unique_name: Callable[[str], str],
) -> None:
    normalized = await make_topic(
        "normalized",
        (normalized_reading_pb2.NormalizedReading, normalized_reading_pb2.NormalizedReadingBatch),
        partitions=1,
    )
    features = await make_topic("features", (feature_window_pb2.FeatureWindow,), partitions=1)
    dead_letters = await make_topic("dead-letters", (dead_letter_pb2.DeadLetter,), partitions=1)
    press7 = next(iter(EQUIPMENT))
    readings = [r for r in make_readings(seconds=10.0, seed=3) if r.equipment == press7]
    late = Reading(press7, TAGS[0], T0 + 1 * S, 1e9, GOOD)  # all its windows closed: must not show up
    await produce(kafka_config, normalized.name, [*batches(readings, size=50, singles_every=1000), *batches([late], 1)])
    want = expected_windows(readings, flushed=True)
    processor = FeatureWindowProcessor(
        kafka_config,
        FeatureWindowConfig(
            windows=SPECS,
            allowed_lateness_s=1.0,
            idle_close_s=1.0,
            group_id=unique_name("group"),
            transactional_id=unique_name("tx"),
            poll_timeout_ms=100,
        ),
        input_topic=normalized,
        output_topic=features,
        dead_letter_topic=dead_letters,
    )
    task = asyncio.create_task(processor.run())
    try:
        records = await read_windows(kafka_config, features, lambda rs: len(rs) >= len(want), timeout_s=60)
        await asyncio.sleep(1.5)
        records = await read_windows(kafka_config, features, lambda rs: False, timeout_s=2)
    finally:
        await processor.stop()
        await asyncio.wait_for(task, 30)
    windows = decode(records)
    assert sorted(w.event_id for w in windows) == sorted(want)
    for window in windows:
        assert_window(window, want[window.event_id])  # the late 1e9 is in none of them
    assert processor.stats.late == {"tumbling": 1, "hopping": 1}
    assert processor.stats.dropped == 1
