"""Runs the real ingest service (``python -m factorymesh.ingest``) as a process for
integration tests, and reads what it wrote back from the real broker.

Tests share the registry's topic names, so each test uses its own enterprise (the
first segment of every equipment path) and filters what it reads by it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from grpc_health.v1 import health_pb2, health_pb2_grpc

from factorymesh.common.kafka import KafkaConfig, decode_event
from factorymesh.common.topics import DEAD_LETTERS, TELEMETRY_NORMALIZED

ASSETS_TEMPLATE = """
revision: 1
enterprise: {enterprise}
equipment_classes:
  centrifugal_pump:
    tags:
      discharge_pressure:
        unit: {{code: bar, quantity_kind: pressure}}
        valid_range: [0, 40]
      bearing_temperature:
        unit: {{code: Cel, quantity_kind: temperature}}
        valid_range: [-40, 200]
      flow:
        unit: {{code: "L/min", quantity_kind: volumetric_flow}}
        valid_range: [0, 5000]
      state:
        data_type: string
sites:
  site1:
    areas:
      area1:
        lines:
          line1:
            cells:
              cell1:
                equipment:
                  pump1:
                    class: centrifugal_pump
                  pump2:
                    class: centrifugal_pump
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class IngestProcess:
    """One ingest service process; restartable with the same group and transactional id."""

    bootstrap: str
    workdir: Path
    enterprise: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:10]}")
    group: str = field(default_factory=lambda: f"ingest-test-{uuid.uuid4().hex[:8]}")
    transactional_id: str = field(default_factory=lambda: f"ingest-test-{uuid.uuid4().hex[:8]}")
    grpc_port: int = field(default_factory=free_port)
    process: asyncio.subprocess.Process | None = None

    @property
    def assets_file(self) -> Path:
        return self.workdir / f"assets-{self.enterprise}.yaml"

    def equipment_key(self, equipment: str = "pump1") -> str:
        return f"{self.enterprise}/site1/area1/line1/cell1/{equipment}"

    async def start(self, extra_env: dict[str, str] | None = None) -> None:
        self.assets_file.write_text(ASSETS_TEMPLATE.format(enterprise=self.enterprise))
        env = {
            **os.environ,
            "FM_KAFKA_BOOTSTRAP": self.bootstrap,
            "FM_GRPC_HOST": "127.0.0.1",
            "FM_GRPC_PORT": str(self.grpc_port),
            "FM_METRICS_PORT": "0",
            "FM_ASSETS_FILE": str(self.assets_file),
            "FM_CONSUMER_GROUP": self.group,
            "FM_TRANSACTIONAL_ID": self.transactional_id,
            "FM_KAFKA_TOPIC_PARTITIONS": "3",
            "FM_MAX_PAST_S": str(30 * 24 * 3600),
            **(extra_env or {}),
        }
        with (self.workdir / f"ingest-{self.enterprise}.log").open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "factorymesh.ingest", env=env, stdout=log, stderr=asyncio.subprocess.STDOUT
            )
        await self.wait_serving()

    async def wait_serving(self, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        async with grpc.aio.insecure_channel(f"127.0.0.1:{self.grpc_port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while True:
                assert self.process is not None
                assert self.process.returncode is None, f"ingest exited:\n{self.log_tail()}"
                try:
                    reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.aio.AioRpcError:
                    pass
                assert time.monotonic() < deadline, "ingest did not become SERVING"
                await asyncio.sleep(0.3)

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> int:
        if self.process is None or self.process.returncode is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), 60)

    def log_tail(self, lines: int = 60) -> str:
        path = self.workdir / f"ingest-{self.enterprise}.log"
        return "".join(path.read_text(errors="replace").splitlines(keepends=True)[-lines:]) if path.exists() else ""


async def produce_raw(config: KafkaConfig, topic: str, records: list[tuple[bytes | None, bytes, list]]) -> None:
    """Write records as a gateway would: plain bytes, our headers only where the format has them."""
    producer = AIOKafkaProducer(**config.common(), enable_idempotence=True, acks="all")
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key, headers=headers) for key, value, headers in records]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def collect(
    config: KafkaConfig,
    enterprise: str,
    *,
    normalized_readings: int,
    dead_letters: int,
    timeout_s: float = 60,
) -> tuple[list, list]:
    """Normalized messages and dead letters of one enterprise, read_committed, until the
    expected numbers arrived and two more seconds passed without more (to catch extras)."""
    consumer = AIOKafkaConsumer(
        TELEMETRY_NORMALIZED.name,
        DEAD_LETTERS.name,
        **config.common(),
        group_id=None,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await consumer.start()
    normalized: list = []
    letters: list = []
    try:
        deadline = time.monotonic() + timeout_s
        settled_at: float | None = None
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=300)
            for records in batches.values():
                for record in records:
                    message = decode_event(record.value, record.headers)
                    if record.topic == DEAD_LETTERS.name:
                        if enterprise.encode() in (message.original_key or b"") or enterprise.encode() in (
                            message.original_value or b""
                        ):
                            letters.append(message)
                    elif message.equipment.enterprise == enterprise:
                        normalized.append(message)
            have = sum(reading_count(m) for m in normalized)
            if have >= normalized_readings and len(letters) >= dead_letters:
                settled_at = settled_at or time.monotonic()
                if time.monotonic() - settled_at > 2.0:
                    break
    finally:
        await consumer.stop()
    return normalized, letters


async def count_normalized(config: KafkaConfig, enterprise: str, at_least: int, timeout_s: float = 60) -> int:
    """Readings of one enterprise visible (committed) on the normalized topic, once >= ``at_least``."""
    consumer = AIOKafkaConsumer(
        TELEMETRY_NORMALIZED.name,
        **config.common(),
        group_id=None,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await consumer.start()
    seen = 0
    try:
        deadline = time.monotonic() + timeout_s
        while seen < at_least and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=100)).values():
                for record in records:
                    message = decode_event(record.value, record.headers)
                    if message.equipment.enterprise == enterprise:
                        seen += reading_count(message)
    finally:
        await consumer.stop()
    return seen


def reading_count(message: object) -> int:
    values = getattr(message, "values", None)
    return len(values) if values is not None else 1


def reading_ids(message: object) -> list[str]:
    """The ids of the readings a normalized message carries."""
    if hasattr(message, "source_indices"):
        if message.reading_ids:  # type: ignore[attr-defined]
            return list(message.reading_ids)  # type: ignore[attr-defined]
        batch = message.source_batch_id  # type: ignore[attr-defined]
        return [f"{batch}:{i}" for i in message.source_indices]  # type: ignore[attr-defined]
    return [message.event_id]  # type: ignore[attr-defined]
