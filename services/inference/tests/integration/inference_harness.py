"""Runs the real inference service (``python -m factorymesh.inference``) as a process for
integration tests and benchmarks: feature windows in on Kafka, results read back from the
real broker, Triton reached directly or through a TCP proxy the test can cut.

The models are the committed ones in ``deploy/triton/model_repository`` (their
``metadata.json`` tells which tags and statistics to put in the windows); they are loaded
into the running Triton (explicit model-control mode) when they are not loaded yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from aiokafka import AIOKafkaConsumer
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc

from factorymesh.api.common.v1 import equipment_pb2, time_range_pb2
from factorymesh.api.inference.v1 import inference_result_pb2
from factorymesh.api.telemetry.v1 import feature_window_pb2
from factorymesh.common.kafka import EventProducer, KafkaConfig, decode_event, derived_event_id
from factorymesh.common.triton import TritonClient

ROOT = Path(__file__).resolve().parents[4]
REPOSITORY = ROOT / "deploy" / "triton" / "model_repository"
NS = 1_000_000_000
SERVING = health_pb2.HealthCheckResponse.SERVING
KINDS = {
    "tumbling": feature_window_pb2.WindowKind.WINDOW_KIND_TUMBLING,
    "hopping": feature_window_pb2.WindowKind.WINDOW_KIND_HOPPING,
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ------------------------------------------------------------------ models


@dataclass(frozen=True)
class ModelMeta:
    name: str
    version: str
    equipment_class: str
    features: tuple[str, ...]
    window: dict[str, Any]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @property
    def tags(self) -> list[str]:
        return sorted({f.rpartition(".")[0] for f in self.features})


def model_meta(name: str, repository: Path = REPOSITORY) -> ModelMeta:
    """The newest version's metadata of a committed model."""
    versions = sorted((p for p in (repository / name).iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    raw = json.loads((versions[-1] / "metadata.json").read_text())
    return ModelMeta(
        name=name,
        version=versions[-1].name,
        equipment_class=raw["equipment_class"],
        features=tuple(raw["features"]),
        window=raw["window"],
        mean=tuple(raw["training_stats"]["mean"]),
        std=tuple(raw["training_stats"]["std"]),
    )


async def ensure_loaded(triton_url: str, names: Iterable[str]) -> None:
    """Load committed models into the running Triton (explicit mode) unless they are ready."""
    async with TritonClient(triton_url, timeout_s=60) as client:
        for name in names:
            if not await client.is_model_ready(name):
                await client.load_model(name)
            await client.wait_until_ready([name], timeout_s=120)


# ------------------------------------------------------------------ windows


def equipment(enterprise: str, index: int, site: str = "site1") -> equipment_pb2.EquipmentPath:
    return equipment_pb2.EquipmentPath(
        enterprise=enterprise, site=site, area="area1", line="line1", cell="cell1", equipment=f"eq{index}"
    )


def canonical(path: equipment_pb2.EquipmentPath) -> str:
    return "/".join(v for v in (path.enterprise, path.site, path.area, path.line, path.cell, path.equipment) if v)


def windows_for(
    model: ModelMeta,
    path: equipment_pb2.EquipmentPath,
    start_ns: int,
    *,
    overrides: dict[str, float] | None = None,
) -> list[feature_window_pb2.FeatureWindow]:
    """One window per tag the model reads, every statistic at its training mean (in
    distribution), except ``overrides`` (``{"<tag>.<stat>": value}``)."""
    kind = KINDS[model.window.get("kind", "tumbling")]
    size_ns = round(float(model.window["size_s"]) * NS)
    hop_ns = round(float(model.window.get("hop_s", model.window["size_s"])) * NS) if kind == 2 else size_ns
    values = dict(zip(model.features, model.mean, strict=True)) | (overrides or {})
    out = []
    for tag in model.tags:
        w = feature_window_pb2.FeatureWindow(
            event_id=derived_event_id(
                "feature-window", canonical(path), tag, "fw-2025.1", kind, start_ns, size_ns, hop_ns
            ),
            equipment=path,
            tag=tag,
            equipment_class=model.equipment_class,
            window_kind=kind,  # type: ignore[arg-type]
            window=time_range_pb2.TimeRange(
                start_time=Timestamp(seconds=start_ns // NS), end_time=Timestamp(seconds=(start_ns + size_ns) // NS)
            ),
            window_size=Duration(seconds=size_ns // NS),
            hop=Duration(seconds=hop_ns // NS),
            count=100,
            valid_fraction=1.0,
            feature_set_version="fw-2025.1",
        )
        for feature, value in values.items():
            feature_tag, _, stat = feature.rpartition(".")
            if feature_tag == tag:
                setattr(w, stat, round(value) if stat == "count" else value)
        out.append(w)
    return out


async def produce(config: KafkaConfig, topic: str, windows: Sequence[feature_window_pb2.FeatureWindow]) -> None:
    async with EventProducer(config, producer_name="ingest") as producer:
        await producer.send_many(topic, [(canonical(w.equipment), w) for w in windows])


async def collect_results(
    config: KafkaConfig, topic: str, expected: int, *, timeout_s: float = 60, settle_s: float = 2.0
) -> list[inference_result_pb2.InferenceResult]:
    """Every committed result on a topic, until ``expected`` arrived and ``settle_s`` passed
    without more (to catch duplicates that come late)."""
    consumer = AIOKafkaConsumer(
        topic, **config.common(), group_id=None, auto_offset_reset="earliest", isolation_level="read_committed"
    )
    await consumer.start()
    results: list[inference_result_pb2.InferenceResult] = []
    try:
        deadline = time.monotonic() + timeout_s
        settled_at: float | None = None
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            got = [decode_event(r.value, r.headers) for rs in batch.values() for r in rs]
            results += [m for m in got if isinstance(m, inference_result_pb2.InferenceResult)]
            if got:
                settled_at = None
            if len(results) >= expected:
                settled_at = settled_at or time.monotonic()
                if time.monotonic() - settled_at >= settle_s:
                    break
    finally:
        await consumer.stop()
    return results


# ------------------------------------------------------------------ a cuttable TCP proxy


class TcpProxy:
    """Forwards a local port to Triton; :meth:`cut` drops every connection and refuses new
    ones (Triton "goes away" for the service), :meth:`restore` listens again."""

    def __init__(self, target: str, port: int | None = None) -> None:
        self.host, port_text = target.rsplit(":", 1)
        self.target_port = int(port_text)
        self.port = port or free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def restore(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}


# ------------------------------------------------------------------ the service process


@dataclass
class InferenceProcess:
    """One ``python -m factorymesh.inference`` with its own topics, group and transactional id."""

    bootstrap: str
    triton_url: str
    workdir: Path
    prefix: str = field(default_factory=lambda: f"inference-test-{uuid.uuid4().hex[:8]}")
    grpc_port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    process: asyncio.subprocess.Process | None = None

    @property
    def features_topic(self) -> str:
        return f"{self.prefix}.features"

    @property
    def results_topic(self) -> str:
        return f"{self.prefix}.results"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.prefix}.log"

    async def start(self, wait: bool = True) -> None:
        env = {
            **os.environ,
            "FM_KAFKA_BOOTSTRAP": self.bootstrap,
            "FM_TRITON_URL": self.triton_url,
            "FM_GRPC_HOST": "127.0.0.1",
            "FM_GRPC_PORT": str(self.grpc_port),
            "FM_METRICS_PORT": str(self.metrics_port),
            "FM_MODEL_REPOSITORY": str(REPOSITORY),
            "FM_INPUT_TOPIC": self.features_topic,
            "FM_OUTPUT_TOPIC": self.results_topic,
            "FM_ROUTES_TOPIC": f"{self.prefix}.routes",
            "FM_CONSUMER_GROUP": self.prefix,
            "FM_TRANSACTIONAL_ID": self.prefix,
            "FM_KAFKA_TOPIC_PARTITIONS": "3",
            "FM_GRPC_SHUTDOWN_GRACE_S": "2",
            **self.extra_env,
        }
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "factorymesh.inference", env=env, stdout=log, stderr=asyncio.subprocess.STDOUT
            )
        if wait:
            await self.wait_health(SERVING)

    async def health(self) -> int | None:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{self.grpc_port}") as channel:
            try:
                reply = await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service=""), timeout=2
                )
                return int(reply.status)
            except grpc.aio.AioRpcError:
                return None

    async def wait_health(self, status: int, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            assert self.process is not None
            assert self.process.returncode is None, f"inference exited:\n{self.log_tail()}"
            if await self.health() == status:
                return
            assert time.monotonic() < deadline, f"inference never reached health {status}:\n{self.log_tail()}"
            await asyncio.sleep(0.3)

    async def stop(self) -> int:
        if self.process is None or self.process.returncode is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.process.wait(), 60)
        except TimeoutError:
            self.process.kill()
            return await self.process.wait()

    def log_tail(self, lines: int = 60) -> str:
        path = self.log_path
        return "".join(path.read_text(errors="replace").splitlines(keepends=True)[-lines:]) if path.exists() else ""
