"""Durability of the local test broker across a hard crash.

Needs the test stack (``scripts/stack.sh test-up`` then ``source .local/test/env``):
  FM_KAFKA_BOOTSTRAP        broker to use (127.0.0.1:19092)
  FM_TEST_SUPERVISOR_CONF   supervisord conf of that stack, to kill/start the broker

Produces N records with an idempotent producer (acks=all), SIGKILLs the broker process,
starts it again through supervisorctl, and checks every record is there exactly once.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

pytestmark = [pytest.mark.integration, pytest.mark.broker_control, pytest.mark.asyncio, pytest.mark.timeout(300)]

N_BEFORE = 600  # records acknowledged before the crash
N_AFTER = 100  # records produced after the restart
PARTITIONS = 3
RESTART_TIMEOUT_S = 180.0


def required_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(
            f"environment variable {name} is not set: start the test stack with "
            "`scripts/stack.sh test-up` and `source .local/test/env` before running this test",
            pytrace=False,
        )
    return value


def required_conf() -> str:
    conf = required_env("FM_TEST_SUPERVISOR_CONF")
    if not Path(conf).is_file():
        pytest.fail(f"FM_TEST_SUPERVISOR_CONF={conf} does not exist: is the test stack up?", pytrace=False)
    return conf


def supervisorctl(conf: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "supervisor.supervisorctl", "-c", conf, *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def broker_pid(conf: str) -> int:
    out = supervisorctl(conf, "pid", "kafka").stdout.strip()
    return int(out) if out.isdigit() else 0


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def wait_broker_serving(bootstrap: str, within_s: float) -> None:
    deadline = time.monotonic() + within_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
        try:
            await asyncio.wait_for(admin.start(), 5)
            cluster = await asyncio.wait_for(admin.describe_cluster(), 5)
            if cluster.get("brokers"):
                return
        except Exception as exc:  # noqa: BLE001 - still booting
            last = exc
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(admin.close(), 5)
        await asyncio.sleep(0.5)
    raise AssertionError(f"broker {bootstrap} not serving {within_s:.0f}s after restart: {last!r}")


async def produce(bootstrap: str, topic: str, values: list[str]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        enable_idempotence=True,
        acks="all",
        request_timeout_ms=30000,
        retry_backoff_ms=200,
    )
    await producer.start()
    try:
        futures = [
            await producer.send(topic, key=v.encode(), value=v.encode(), partition=i % PARTITIONS)
            for i, v in enumerate(values)
        ]
        await producer.flush()
        metadata = await asyncio.gather(*futures)  # every record acknowledged (acks=all)
        assert len(metadata) == len(values)
    finally:
        await producer.stop()


async def consume_all(bootstrap: str, topic: str, within_s: float = 60.0) -> list[str]:
    """Read every partition from offset 0 up to its current end offset."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        values: list[str] = []
        deadline = time.monotonic() + within_s

        async def behind() -> bool:
            return any([await consumer.position(tp) < end[tp] for tp in partitions])

        while await behind():
            assert time.monotonic() < deadline, f"consumed {len(values)} records; end offsets {end}"
            batches = await consumer.getmany(timeout_ms=1000, max_records=1000)
            for records in batches.values():
                values.extend(r.value.decode() for r in records)
        return values
    finally:
        await consumer.stop()


async def test_acked_records_survive_broker_sigkill_exactly_once() -> None:
    bootstrap = required_env("FM_KAFKA_BOOTSTRAP")
    conf = required_conf()
    assert broker_pid(conf) > 0, f"kafka is not running under {conf}: {supervisorctl(conf, 'status').stdout}"

    topic = f"infra-broker-restart-{uuid.uuid4()}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])
    finally:
        await admin.close()

    before = [f"before-{i}" for i in range(N_BEFORE)]
    await produce(bootstrap, topic, before)

    # Crash the broker hard.
    old_pid = broker_pid(conf)
    assert old_pid > 0
    os.kill(old_pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while pid_alive(old_pid) or broker_pid(conf) == old_pid:
        assert time.monotonic() < deadline, f"broker pid {old_pid} still there 30s after SIGKILL"
        await asyncio.sleep(0.2)

    # Start it again (the test stack does not autorestart it; tolerate a stack that does).
    new_pid = broker_pid(conf)
    if new_pid == 0:
        started = supervisorctl(conf, "start", "kafka")
        assert started.returncode == 0 or "already started" in started.stdout, started.stdout + started.stderr
        new_pid = broker_pid(conf)
    assert new_pid > 0, supervisorctl(conf, "status").stdout
    assert new_pid != old_pid, supervisorctl(conf, "status").stdout
    await wait_broker_serving(bootstrap, RESTART_TIMEOUT_S)

    after = [f"after-{i}" for i in range(N_AFTER)]
    await produce(bootstrap, topic, after)

    values = await consume_all(bootstrap, topic)
    counts = collections.Counter(values)
    duplicates = {v: c for v, c in counts.items() if c > 1}
    missing = sorted(set(before + after) - set(counts))
    unexpected = sorted(set(counts) - set(before + after))
    assert not missing, f"{len(missing)} acknowledged records lost, e.g. {missing[:5]}"
    assert not duplicates, f"{len(duplicates)} records duplicated, e.g. {list(duplicates.items())[:5]}"
    assert not unexpected, f"unexpected records {unexpected[:5]}"
    assert len(values) == N_BEFORE + N_AFTER

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        with contextlib.suppress(Exception):  # cleanup only
            await admin.delete_topics([topic])
    finally:
        await admin.close()
