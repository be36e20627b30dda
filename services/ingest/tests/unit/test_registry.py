"""The asset & tag registry without Kafka: YAML validation, lookups, revisions, seeding, replay."""

from __future__ import annotations

import asyncio
import textwrap
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError
from google.protobuf.message import Message

from factorymesh.api.telemetry.v1 import reading_pb2, tag_pb2
from factorymesh.common.kafka import derived_event_id
from factorymesh.common.topics import TAG_REGISTRY, TopicSpec
from factorymesh.ingest.registry import (
    InvalidDefinition,
    RegistryFile,
    RegistryFileError,
    RevisionConflict,
    TagDefinition,
    TagRegistry,
    ValueRange,
    data_type_of,
    load_registry_file,
    path_from_key,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "assets.example.yaml"
PRESS7 = "acme/berlin/assembly/line4/cell2/press7"
PUMP2 = "acme/berlin/utilities/coolant/pumphouse/pump2"
T = tag_pb2.TagDataType
UPSERTED = tag_pb2.TagChangeKind.TAG_CHANGE_KIND_UPSERTED
DELETED = tag_pb2.TagChangeKind.TAG_CHANGE_KIND_DELETED


class FakePublisher:
    """Records what would go to Kafka; can fail or hold publishes."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, Message]] = []
        self.fail: Exception | None = None

    async def publish(self, topic: TopicSpec, key: str, message: Message) -> None:
        await asyncio.sleep(0)
        if self.fail is not None:
            raise self.fail
        self.sent.append((topic.name, key, message))

    def events(self) -> list[tag_pb2.TagRegistryEvent]:
        return [m for _, _, m in self.sent if isinstance(m, tag_pb2.TagRegistryEvent)]


class Clock:
    def __init__(self) -> None:
        self.ns = 1_700_000_000_000_000_000

    def __call__(self) -> int:
        self.ns += 1_000
        return self.ns


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "assets.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def definition(tag: str = "temp", equipment_key: str = PRESS7, **fields: object) -> TagDefinition:
    values: dict[str, object] = {"unit": "Cel", "valid_range": ValueRange(-20, 120)}
    values.update(fields)
    return TagDefinition(equipment_key=equipment_key, tag=tag, **values)  # type: ignore[arg-type]


def small_file(revision: int, *, temp_max: float = 120) -> RegistryFile:
    return RegistryFile.model_validate(
        {
            "revision": revision,
            "enterprise": "acme",
            "sites": {
                "berlin": {
                    "areas": {
                        "assembly": {
                            "lines": {
                                "line4": {
                                    "cells": {
                                        "cell2": {
                                            "equipment": {
                                                "press7": {
                                                    "class": "press",
                                                    "tags": {
                                                        "temp": {"unit": "Cel", "valid_range": [-20, temp_max]},
                                                        "state": {"data_type": "string"},
                                                    },
                                                },
                                                "robot1": {"class": "robot"},
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            },
        }
    )


@pytest.fixture
def publisher() -> FakePublisher:
    return FakePublisher()


@pytest.fixture
def registry(publisher: FakePublisher) -> TagRegistry:
    return TagRegistry(publisher=publisher, clock_ns=Clock())


# --------------------------------------------------------------------------- YAML


def test_example_file_loads_with_class_templates_and_overrides() -> None:
    file = load_registry_file(EXAMPLE)
    by_key = {d.key: d for d in file.definitions()}
    assert len(by_key) == 17
    pressure = by_key[f"{PRESS7}/hydraulic.pressure"]
    assert (pressure.unit, pressure.data_type, pressure.equipment_class) == ("bar", T.TAG_DATA_TYPE_DOUBLE, "press")
    assert (pressure.valid_range, pressure.expected_range) == (ValueRange(0, 400), ValueRange(50, 250))
    assert pressure.nominal_sample_rate_hz == 10
    die = by_key[f"{PRESS7}/die.temperature"]
    assert die.unit == "[degF]"
    assert dict(die.source_mappings)["opcua"] == "ns=3;s=Press7.DieTemp"
    assert by_key[f"{PRESS7}/stroke.count"].valid_range == ValueRange(0, None)
    # pump2's own `flow` replaces the class template's as a whole.
    assert by_key[f"{PUMP2}/flow"].valid_range == ValueRange(0, 1200)
    assert by_key["acme/berlin/utilities/coolant/pumphouse/pump1/flow"].valid_range == ValueRange(0, 600)
    assert file.equipment_classes_by_key()[PUMP2] == "pump"


def test_yaml_problems_are_all_reported_with_file_line_and_path(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        revision: 3
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
                          press 7:
                            class: press
                          press8:
                            clas: press
                          press9:
                            tags:
                              oil.temperature:
                                unit: {code: Cel, quantity_kind: temprature}
                              temp:
                                valid_range: [10, 0]
                              limits:
                                valid_range: [0, 100]
                                expected_range: [50, 150]
                              state:
                                data_type: string
                                valid_range: [0, 1]
        """,
    )
    with pytest.raises(RegistryFileError) as caught:
        load_registry_file(path)
    problems = caught.value.problems
    equipment = "sites.berlin.areas.assembly.lines.line4.cells.cell2.equipment"
    expected = [
        f':12:19: {equipment}."press 7" (the key): String should match pattern',
        f":15:21: {equipment}.press8.clas: Extra inputs are not permitted",
        f":19:43: {equipment}.press9.tags.\"oil.temperature\".unit.quantity_kind: unknown quantity kind 'temprature'",
        f":20:23: {equipment}.press9.tags.temp: valid_range: min (10) must be <= max (0)",
        f":22:23: {equipment}.press9.tags.limits: expected_range.max: must lie within valid_range [0, 100]",
        f":25:23: {equipment}.press9.tags.state: valid_range: ranges apply to double and int64 tags only",
    ]
    assert len(problems) == len(expected), problems
    for fragment in expected:
        assert any(fragment in problem and problem.startswith(str(path)) for problem in problems), (fragment, problems)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("enterprise: acme\nsites: {}\n", ":1:1: revision: Field required"),
        ("revision: '7'\nenterprise: acme\n", ":1:1: revision: Input should be a valid integer"),
        ("revision: 0\nenterprise: acme\n", ":1:1: revision: Input should be greater than or equal to 1"),
        ("revision: 1\nenterprise: acme\nenterprise: other\n", ":3:1: duplicate key 'enterprise'"),
        ("revision: 1\nenterprise: [acme\n", ":3:1: expected ',' or ']'"),
        ("- just\n- a list\n", "expected a mapping at the top"),
        ("revision: 1\nenterprise: acme.corp\n", ":2:1: enterprise: String should match pattern"),
    ],
)
def test_yaml_file_level_problems(tmp_path: Path, text: str, fragment: str) -> None:
    with pytest.raises(RegistryFileError) as caught:
        load_registry_file(write(tmp_path, text))
    assert any(fragment in problem for problem in caught.value.problems), caught.value.problems


def test_missing_file_is_a_registry_file_error(tmp_path: Path) -> None:
    with pytest.raises(RegistryFileError, match="cannot read"):
        load_registry_file(tmp_path / "nope.yaml")


def test_empty_sections_are_allowed(tmp_path: Path) -> None:
    path = write(tmp_path, "revision: 1\nenterprise: acme\nequipment_classes:\nsites:\n  berlin:\n    areas:\n")
    assert load_registry_file(path).definitions() == []


# --------------------------------------------------------------------------- lookups and writes


async def test_lookups_after_seeding(registry: TagRegistry) -> None:
    await registry.seed(small_file(5))
    temp = registry.get(PRESS7, "temp")
    assert temp is not None
    assert (temp.unit, temp.valid_range.hi, temp.revision, temp.equipment_class) == ("Cel", 120, 5, "press")
    assert registry.get(PRESS7, "nope") is None
    assert registry.get("acme/other", "temp") is None
    assert sorted(registry.tags_for(PRESS7)) == ["state", "temp"]
    assert registry.tags_for("acme/unknown") == {}
    assert registry.equipment_class(PRESS7) == "press"
    # Known from the YAML even though it has no tags.
    assert registry.equipment_class("acme/berlin/assembly/line4/cell2/robot1") == "robot"
    assert registry.equipment_class("acme/unknown") is None


async def test_upsert_assigns_revisions_publishes_first_and_is_idempotent(
    registry: TagRegistry, publisher: FakePublisher
) -> None:
    first = await registry.upsert(definition(), changed_by="alice")
    assert first.revision == 1
    assert first.update_time_ns > 0
    [(topic, key, event)] = publisher.sent
    assert (topic, key) == (TAG_REGISTRY.name, f"{PRESS7}/temp")
    assert isinstance(event, tag_pb2.TagRegistryEvent)
    assert event.event_id == derived_event_id("tag-registry", PRESS7, "temp", 1)
    assert (event.change_kind, event.changed_by, event.tag.revision) == (UPSERTED, "alice", 1)
    assert event.change_time.ToNanoseconds() == first.update_time_ns

    # Same content again (a retry): nothing published, same revision.
    again = await registry.upsert(replace(definition(), revision=99), changed_by="alice")
    assert again == first
    assert len(publisher.sent) == 1

    changed = await registry.upsert(definition(valid_range=ValueRange(-20, 150)), changed_by="bob")
    assert changed.revision == 2
    assert registry.get(PRESS7, "temp") == changed
    assert len(publisher.sent) == 2


async def test_an_empty_class_inherits_the_equipments_class(registry: TagRegistry) -> None:
    await registry.upsert(definition(equipment_class="press"), changed_by="a")
    stored = await registry.upsert(definition("pressure", unit="bar"), changed_by="a")
    assert stored.equipment_class == "press"


async def test_publish_failure_applies_nothing(registry: TagRegistry, publisher: FakePublisher) -> None:
    publisher.fail = KafkaConnectionError()
    with pytest.raises(KafkaConnectionError):
        await registry.upsert(definition(), changed_by="a")
    assert registry.get(PRESS7, "temp") is None
    assert registry.revision(PRESS7, "temp") == 0


async def test_delete_publishes_a_deleted_event_and_recreation_continues_the_revision(
    registry: TagRegistry, publisher: FakePublisher
) -> None:
    await registry.upsert(definition(), changed_by="a")
    deleted = await registry.delete(PRESS7, "temp", changed_by="b")
    assert deleted is not None
    assert deleted.revision == 2
    event = publisher.events()[-1]
    assert (event.change_kind, event.tag.revision, event.tag.unit.code) == (DELETED, 2, "Cel")
    assert event.event_id == derived_event_id("tag-registry", PRESS7, "temp", 2)
    assert registry.get(PRESS7, "temp") is None
    assert registry.is_deleted(PRESS7, "temp")
    assert registry.tags_for(PRESS7) == {}
    assert await registry.delete(PRESS7, "temp", changed_by="b") is None  # idempotent

    recreated = await registry.upsert(definition(), changed_by="a")
    # Not revision 1 again: its event id would repeat the first upsert's, and consumers
    # de-duplicating by id would drop the re-creation.
    assert recreated.revision == 3
    assert not registry.is_deleted(PRESS7, "temp")


async def test_expected_revision_is_checked(registry: TagRegistry) -> None:
    await registry.upsert(definition(), changed_by="a")
    with pytest.raises(RevisionConflict, match="expected revision 0, registry has 1"):
        await registry.upsert(definition(unit="K"), changed_by="a", expected_revision=0)
    updated = await registry.upsert(definition(unit="K"), changed_by="a", expected_revision=1)
    assert updated.revision == 2
    with pytest.raises(RevisionConflict):
        await registry.delete(PRESS7, "temp", changed_by="a", expected_revision=1)


@pytest.mark.parametrize(
    ("fields", "violation"),
    [
        ({"equipment_key": "acme/berlin"}, "equipment"),
        ({"equipment_key": f"{PRESS7[:-1]}!"}, "equipment"),
        ({"tag": "has space"}, "tag"),
        ({"data_type": T.TAG_DATA_TYPE_UNSPECIFIED}, "data_type"),
        ({"valid_range": ValueRange(5, 1)}, "valid_range"),
        ({"valid_range": ValueRange(float("nan"), 1)}, "valid_range.min"),
        ({"expected_range": ValueRange(-50, 50)}, "expected_range.min"),
        ({"data_type": T.TAG_DATA_TYPE_BOOL}, "valid_range"),
        ({"nominal_sample_rate_hz": -1.0}, "nominal_sample_rate_hz"),
        ({"equipment_class": "a class"}, "equipment_class"),
        ({"quantity_kind": 999}, "unit.quantity_kind"),
        ({"source_mappings": (("", "x"),)}, "source_mappings['']"),
    ],
)
async def test_invalid_definitions_are_refused_with_field_paths(
    registry: TagRegistry, fields: dict[str, Any], violation: str
) -> None:
    with pytest.raises(InvalidDefinition) as caught:
        await registry.upsert(definition(**fields), changed_by="a")
    assert violation in [path for path, _ in caught.value.violations]


async def test_the_same_tag_twice_in_one_change_is_refused(registry: TagRegistry) -> None:
    with pytest.raises(InvalidDefinition, match="appears twice"):
        await registry.upsert_many([definition(), definition(unit="K")], changed_by="a")


# --------------------------------------------------------------------------- seeding and replay


async def test_seed_rule_never_clobbers_newer_changes(registry: TagRegistry, publisher: FakePublisher) -> None:
    result = await registry.seed(small_file(10))
    assert sorted(result.written) == [f"{PRESS7}/state", f"{PRESS7}/temp"]
    temp = registry.get(PRESS7, "temp")
    assert temp is not None
    assert temp.revision == 10  # written AT the file's revision

    changed = await registry.upsert(replace(temp, valid_range=ValueRange(-20, 200)), changed_by="grpc")
    assert changed.revision == 11

    # A restart with the same file: nothing written, the gRPC change stays.
    published = len(publisher.sent)
    again = await registry.seed(small_file(10))
    assert again.written == []
    assert len(publisher.sent) == published
    assert registry.get(PRESS7, "temp") == changed

    # The operator bumps the file past the change: the file wins, for every tag in it.
    bumped = await registry.seed(small_file(20, temp_max=130))
    assert sorted(bumped.written) == [f"{PRESS7}/state", f"{PRESS7}/temp"]
    temp = registry.get(PRESS7, "temp")
    assert temp is not None
    assert (temp.revision, temp.valid_range.hi) == (20, 130)


async def test_a_seed_does_not_resurrect_a_deleted_tag_unless_bumped(registry: TagRegistry) -> None:
    await registry.seed(small_file(10))
    await registry.delete(PRESS7, "temp", changed_by="grpc")  # revision 11
    assert (await registry.seed(small_file(10))).written == []
    assert registry.get(PRESS7, "temp") is None
    assert f"{PRESS7}/temp" in (await registry.seed(small_file(12))).written
    assert registry.get(PRESS7, "temp") is not None


async def test_replaying_the_published_events_rebuilds_the_same_registry(
    registry: TagRegistry, publisher: FakePublisher
) -> None:
    await registry.seed(small_file(3))
    await registry.upsert(definition("pressure", unit="bar", valid_range=ValueRange()), changed_by="a")
    await registry.delete(PRESS7, "state", changed_by="a")
    await registry.upsert(definition(valid_range=ValueRange(0, 90)), changed_by="a")

    replica = TagRegistry()  # what RegistrySync does on another replica: apply in topic order
    for event in publisher.events():
        replica.apply(event)
    assert list(replica) == list(registry)
    assert replica.revision(PRESS7, "state") == registry.revision(PRESS7, "state") == 4
    assert replica.is_deleted(PRESS7, "state")
    # Applying the same events again changes nothing (re-delivery after a reconnect).
    for event in publisher.events():
        replica.apply(event)
    assert list(replica) == list(registry)


async def test_a_tombstone_forgets_the_key_entirely(registry: TagRegistry) -> None:
    await registry.seed(small_file(10))
    registry.apply_tombstone(f"{PRESS7}/temp")
    assert registry.get(PRESS7, "temp") is None
    assert registry.revision(PRESS7, "temp") == 0
    # So the YAML may write it again (documented: a purge resets the key).
    assert f"{PRESS7}/temp" in (await registry.seed(small_file(10))).written


async def test_proto_round_trip() -> None:
    original = definition(
        expected_range=ValueRange(None, 90),
        source_mappings=(("opcua", "ns=3;s=T"),),
        revision=4,
        update_time_ns=1_700_000_000_123_456_789,
        unit_symbol="°C",
        quantity_kind=7,
    )
    message = original.to_proto()
    assert not message.expected_range.HasField("min")
    assert message.equipment == path_from_key(PRESS7)
    assert TagDefinition.from_proto(message) == original


# --------------------------------------------------------------------------- unknown tags


async def test_reject_policy_returns_none_and_publishes_nothing(
    registry: TagRegistry, publisher: FakePublisher
) -> None:
    assert await registry.resolve(PRESS7, "mystery", unit="Cel") is None
    assert publisher.sent == []


async def test_auto_register_defines_the_tag_from_its_first_reading(publisher: FakePublisher) -> None:
    registry = TagRegistry(publisher=publisher, unknown_tag_policy="auto_register")
    await registry.seed(small_file(1))
    reading = reading_pb2.SensorReading(int_value=3)
    first, second = await asyncio.gather(
        registry.resolve(PRESS7, "cycles", unit="{count}", data_type=data_type_of(reading)),
        registry.resolve(PRESS7, "cycles", unit="{count}", data_type=data_type_of(reading)),
    )
    assert first is not None
    assert first == second
    assert (first.unit, first.data_type, first.revision) == ("{count}", T.TAG_DATA_TYPE_INT64, 1)
    assert first.valid_range == ValueRange()  # no range from one reading
    assert first.equipment_class == "press"  # the equipment's known class
    assert [e.tag.tag for e in publisher.events()].count("cycles") == 1  # registered once
    # An invalid key is never registered: that reading is a dead letter for the caller.
    assert await registry.resolve("acme/berlin", "x") is None


def test_data_type_of_each_value_kind() -> None:
    assert data_type_of(reading_pb2.SensorReading(double_value=1)) == T.TAG_DATA_TYPE_DOUBLE
    assert data_type_of(reading_pb2.SensorReading(bool_value=True)) == T.TAG_DATA_TYPE_BOOL
    assert data_type_of(reading_pb2.SensorReading(string_value="x")) == T.TAG_DATA_TYPE_STRING
    assert data_type_of(reading_pb2.SensorReading()) == T.TAG_DATA_TYPE_DOUBLE


# --------------------------------------------------------------------------- paging


async def test_list_page_by_prefix_class_and_keyset(registry: TagRegistry) -> None:
    other = "acme/berlin/assembly/line4/cell3/pump1"
    for tag in ("a", "b", "c"):
        await registry.upsert(definition(tag, equipment_class="press"), changed_by="x")
    for tag in ("a", "z"):
        await registry.upsert(definition(tag, equipment_key=other, equipment_class="pump"), changed_by="x")
    page, more = registry.list_page(limit=2)
    assert [(d.equipment_key, d.tag) for d in page] == [(PRESS7, "a"), (PRESS7, "b")]
    assert more
    page, more = registry.list_page(after=(PRESS7, "b"), limit=2)
    assert [(d.equipment_key, d.tag) for d in page] == [(PRESS7, "c"), (other, "a")]
    page, more = registry.list_page(after=(other, "a"), limit=2)
    assert [d.tag for d in page] == ["z"]
    assert not more
    assert [d.tag for d in registry.list_page(prefix=other.split("/"))[0]] == ["a", "z"]
    assert [d.tag for d in registry.list_page(prefix=("acme", "berlin", "assembly", "line4", "cell3"))[0]] == ["a", "z"]
    assert registry.list_page(prefix=("acme", "paris"))[0] == []
    assert [d.equipment_key for d in registry.list_page(equipment_class="pump")[0]] == [other, other]
    # Keyset paging survives a deletion between pages.
    await registry.delete(PRESS7, "c", changed_by="x")
    page, _ = registry.list_page(after=(PRESS7, "b"), limit=1)
    assert [(d.equipment_key, d.tag) for d in page] == [(other, "a")]
