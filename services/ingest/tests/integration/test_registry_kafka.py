"""The tag registry on the real broker: every change lands on the compacted topic, and a
fresh RegistrySync (another replica, or this one after a restart) rebuilds the same registry."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from factorymesh.api.telemetry.v1 import tag_pb2
from factorymesh.common.kafka import HEADER_MESSAGE_TYPE, EventProducer, KafkaConfig, ensure_topics, header
from factorymesh.common.topics import TopicSpec
from factorymesh.ingest.registry import (
    KafkaPublisher,
    RegistryFile,
    RegistrySync,
    TagRegistry,
    ValueRange,
    load_registry_file,
    open_registry,
)

pytestmark = pytest.mark.integration

PRESS7 = "acme/berlin/assembly/line4/cell2/press7"
UPSERTED = tag_pb2.TagChangeKind.TAG_CHANGE_KIND_UPSERTED
DELETED = tag_pb2.TagChangeKind.TAG_CHANGE_KIND_DELETED

ASSETS = """\
revision: {revision}
enterprise: acme
sites:
  berlin:
    areas:
      assembly:
        lines:
          line4:
            cells:
              cell2:
                equipment:
                  press7:
                    class: press
                    tags:
                      temp: {{unit: Cel, valid_range: [-20, {temp_max}]}}
                      pressure: {{unit: bar, valid_range: [0, 400], expected_range: [50, 250]}}
                      state: {{data_type: string}}
"""


async def registry_topic(config: KafkaConfig, unique_name: Callable[[str], str]) -> TopicSpec:
    """A compacted, single-partition topic configured like TAG_REGISTRY, for this test only."""
    spec = TopicSpec(
        name=unique_name("tag-registry"),
        partitions=1,
        key="equipment path + tag",
        value_types=(tag_pb2.TagRegistryEvent,),
        description="test tag registry",
        producers=("tests",),
        consumers=("tests",),
        cleanup_policy="compact",
        retention_ms=None,
    )
    await ensure_topics(config, [spec])
    return spec


async def read_topic(config: KafkaConfig, topic: TopicSpec) -> list[Any]:
    """Every record of a topic, from the beginning to the end offsets as of now."""
    consumer = AIOKafkaConsumer(**config.common(), group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic.name, p) for p in range(topic.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        records: list[Any] = []
        while [tp for tp in partitions if await consumer.position(tp) < end[tp]]:
            batches = await consumer.getmany(timeout_ms=1000)
            records += [r for rs in batches.values() for r in rs]
        return records
    finally:
        await consumer.stop()


def assets(tmp_path: Path, revision: int, temp_max: int = 120) -> Path:
    path = tmp_path / f"assets-{revision}-{temp_max}.yaml"
    path.write_text(textwrap.dedent(ASSETS.format(revision=revision, temp_max=temp_max)))
    return path


def snapshot(registry: TagRegistry) -> list[tuple[Any, ...]]:
    return [(d.key, d.revision, d.unit, d.valid_range, d.equipment_class, d.update_time_ns) for d in registry]


async def eventually(check: Callable[[], bool], timeout_s: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def test_changes_are_published_and_a_restarted_replica_sees_the_same_registry(
    kafka_config: KafkaConfig, unique_name: Callable[[str], str], tmp_path: Path
) -> None:
    topic = await registry_topic(kafka_config, unique_name)
    file: RegistryFile = load_registry_file(assets(tmp_path, 5))
    async with EventProducer(kafka_config) as producer:
        first = TagRegistry(publisher=KafkaPublisher(producer), topic=topic)
        async with RegistrySync(kafka_config, first) as sync:
            assert await sync.ready()
            assert len(first) == 0
            await first.seed(file)
            temp = first.get(PRESS7, "temp")
            assert temp is not None
            await first.upsert(replace(temp, valid_range=ValueRange(-20, 150)), changed_by="grpc:alice")
            await first.delete(PRESS7, "state", changed_by="grpc:bob")
            await first.resolve(PRESS7, "never", unit="bar")  # reject policy: nothing published

    records = await read_topic(kafka_config, topic)
    # 3 seeded (published concurrently, any order) + 1 update + 1 delete, keyed "<equipment path>/<tag>".
    keys = [r.key.decode() for r in records]
    assert sorted(keys[:3]) == sorted(f"{PRESS7}/{t}" for t in ("temp", "pressure", "state"))
    assert keys[3:] == [f"{PRESS7}/temp", f"{PRESS7}/state"]
    assert all(header(r.headers, HEADER_MESSAGE_TYPE) == "factorymesh.telemetry.v1.TagRegistryEvent" for r in records)
    events = [tag_pb2.TagRegistryEvent.FromString(r.value) for r in records]
    assert [e.change_kind for e in events[3:]] == [UPSERTED, DELETED]
    assert (events[3].changed_by, events[3].tag.revision, events[4].tag.revision) == ("grpc:alice", 6, 6)
    assert len(records) == 5

    # A restart: a fresh registry replays the topic and ends up identical.
    restarted = TagRegistry(topic=topic)
    replay = RegistrySync(kafka_config, restarted)
    await replay.start()
    try:
        assert replay.caught_up.is_set()
        assert replay.records_applied == 5
        assert snapshot(restarted) == snapshot(first)
        assert restarted.is_deleted(PRESS7, "state")
        assert restarted.revision(PRESS7, "state") == 6
        assert restarted.equipment_class(PRESS7) == "press"
        stored_temp = restarted.get(PRESS7, "temp")
        assert stored_temp is not None
        assert stored_temp.valid_range == ValueRange(-20, 150)
    finally:
        await replay.stop()


async def test_a_running_replica_follows_live_changes(
    kafka_config: KafkaConfig, unique_name: Callable[[str], str], tmp_path: Path
) -> None:
    topic = await registry_topic(kafka_config, unique_name)
    async with EventProducer(kafka_config) as producer:
        writer = TagRegistry(publisher=KafkaPublisher(producer), topic=topic)
        follower = TagRegistry(topic=topic)
        async with RegistrySync(kafka_config, writer), RegistrySync(kafka_config, follower):
            await writer.seed(load_registry_file(assets(tmp_path, 3)))
            await eventually(lambda: len(follower) == 3)
            await writer.delete(PRESS7, "pressure", changed_by="grpc")
            await eventually(lambda: follower.get(PRESS7, "pressure") is None)
            assert snapshot(follower) == snapshot(writer)


async def test_the_yaml_seed_never_clobbers_newer_changes_across_restarts(
    kafka_config: KafkaConfig, unique_name: Callable[[str], str], tmp_path: Path
) -> None:
    topic = await registry_topic(kafka_config, unique_name)
    async with EventProducer(kafka_config) as producer:
        # First start: an empty topic, so the whole file is written at its revision.
        registry, sync = await open_registry(kafka_config, producer, assets_file=assets(tmp_path, 10), topic=topic)
        try:
            temp = registry.get(PRESS7, "temp")
            assert temp is not None
            assert temp.revision == 10
            # A change over gRPC after the seed.
            changed = await registry.upsert(replace(temp, valid_range=ValueRange(-20, 200)), changed_by="grpc")
            assert changed.revision == 11
        finally:
            await sync.stop()
        assert len(await read_topic(kafka_config, topic)) == 4

        # Restart with the same file: nothing written, the gRPC change survives.
        registry, sync = await open_registry(kafka_config, producer, assets_file=assets(tmp_path, 10), topic=topic)
        try:
            temp = registry.get(PRESS7, "temp")
            assert temp is not None
            assert (temp.revision, temp.valid_range.hi) == (11, 200)
            assert len(await read_topic(kafka_config, topic)) == 4
        finally:
            await sync.stop()

        # Restart with the file bumped past the change: the file wins again.
        registry, sync = await open_registry(
            kafka_config, producer, assets_file=assets(tmp_path, 20, temp_max=130), topic=topic
        )
        try:
            temp = registry.get(PRESS7, "temp")
            assert temp is not None
            assert (temp.revision, temp.valid_range.hi) == (20, 130)
            assert len(await read_topic(kafka_config, topic)) == 7
        finally:
            await sync.stop()
