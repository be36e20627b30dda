"""A service process built on factorymesh.common, against the real broker:
health is NOT_SERVING until Kafka is reachable, SERVING once it is, NOT_SERVING
again on SIGTERM; in-flight work drains, consumer offsets are committed before exit;
/metrics answers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import grpc
import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from grpc_health.v1 import health_pb2, health_pb2_grpc

from factorymesh.api.telemetry.v1 import reading_pb2
from factorymesh.common.kafka import EventProducer, KafkaConfig
from factorymesh.common.topics import TopicSpec

pytestmark = pytest.mark.integration

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def tcp_proxy(listen_port: int, target: str) -> AsyncIterator[None]:
    """Forward a local port to the broker: Kafka 'becomes reachable' when this starts."""
    host, port = target.rsplit(":", 1)

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(host, int(port))
        await asyncio.gather(pipe(client_reader, upstream_writer), pipe(upstream_reader, client_writer))

    server = await asyncio.start_server(handle, "127.0.0.1", listen_port)
    try:
        yield
    finally:
        server.close()


async def health(channel: grpc.aio.Channel) -> int | None:
    try:
        reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
        return int(reply.status)
    except grpc.aio.AioRpcError:
        return None  # not listening yet


async def wait_for(predicate: Callable[[], Awaitable[bool]], timeout_s: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


async def committed_total(config: KafkaConfig, group: str, topic: TopicSpec) -> int:
    admin = AIOKafkaAdminClient(**config.common())
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return sum(meta.offset for tp, meta in offsets.items() if tp in {TopicPartition(topic.name, p) for p in range(3)})


async def test_health_follows_kafka_and_sigterm_drains_and_commits(
    kafka_config: KafkaConfig,
    make_topic: Callable[..., Awaitable[TopicSpec]],
    unique_name: Callable[[str], str],
) -> None:
    topic = await make_topic("probe", (reading_pb2.SensorReading,))
    group = unique_name("group")
    async with EventProducer(kafka_config) as producer:
        await producer.send_many(
            topic, [(f"k{i % 5}", reading_pb2.SensorReading(event_id=f"r-{i}", tag="t")) for i in range(25)]
        )

    proxy_port, grpc_port, metrics_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "FM_SERVICE_NAME": "health-probe",
        "FM_KAFKA_BOOTSTRAP": f"127.0.0.1:{proxy_port}",
        "FM_GRPC_HOST": "127.0.0.1",
        "FM_GRPC_PORT": str(grpc_port),
        "FM_METRICS_PORT": str(metrics_port),
        "FM_GRPC_SHUTDOWN_GRACE_S": "5",
        "FM_PROBE_TOPIC": topic.name,
        "FM_PROBE_GROUP": group,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(Path(__file__).with_name("health_probe_service.py")),
        env=env,
        stdout=asyncio.subprocess.PIPE,
    )
    logs: list[dict[str, object]] = []

    async def collect() -> None:
        assert process.stdout is not None
        while line := await process.stdout.readline():
            with contextlib.suppress(ValueError):
                logs.append(json.loads(line))

    collector = asyncio.create_task(collect())
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            await wait_for(lambda: _is(health(channel), NOT_SERVING), 30, "the server to answer")
            # Kafka is unreachable: the service stays NOT_SERVING, however long we look.
            for _ in range(5):
                assert await health(channel) == NOT_SERVING
                await asyncio.sleep(0.3)

            async with tcp_proxy(proxy_port, kafka_config.bootstrap):
                await wait_for(lambda: _is(health(channel), SERVING), 30, "SERVING once Kafka is reachable")

                async def consumed_all() -> bool:
                    return any(entry.get("event") == "consumed" and entry.get("total") == 25 for entry in logs)

                await wait_for(consumed_all, 30, "the service to consume every record")
                assert await committed_total(kafka_config, group, topic) == 0, "nothing committed before shutdown"

                metrics = await asyncio.to_thread(scrape, f"http://127.0.0.1:{metrics_port}/metrics")
                assert b"rpc_server_duration" in metrics

                watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=""))
                assert (await watch.read()).status == SERVING
                process.send_signal(signal.SIGTERM)
                assert (await watch.read()).status == NOT_SERVING
                assert await asyncio.wait_for(process.wait(), 30) == 0

                assert await committed_total(kafka_config, group, topic) == 25
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await collector


def scrape(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - a loopback URL we built
        body: bytes = response.read()
    return body


async def _is(status: Awaitable[int | None], expected: int) -> bool:
    return await status == expected
