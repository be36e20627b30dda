"""Messages published to Kafka are marked with (factorymesh.common.v1.kafka_event)
and carry a stable `string event_id = 1`."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor

import factorymesh.api
from factorymesh.api.agents.v1 import agent_decision_pb2, machine_command_pb2
from factorymesh.api.common.v1 import dead_letter_pb2, options_pb2
from factorymesh.api.inference.v1 import inference_result_pb2
from factorymesh.api.mes.v1 import job_order_pb2, shift_pb2
from factorymesh.api.security.v1 import audit_record_pb2
from factorymesh.api.telemetry.v1 import (
    feature_window_pb2,
    normalized_reading_pb2,
    reading_batch_pb2,
    reading_pb2,
    tag_pb2,
)

# The documented list (docs/contracts.md). Adding a Kafka event means marking
# the message with the option AND adding it here and to the docs.
EXPECTED_KAFKA_EVENTS = {
    dead_letter_pb2.DeadLetter,
    reading_pb2.SensorReading,
    reading_batch_pb2.SensorReadingBatch,
    normalized_reading_pb2.NormalizedReading,
    normalized_reading_pb2.NormalizedReadingBatch,
    feature_window_pb2.FeatureWindow,
    tag_pb2.TagRegistryEvent,
    inference_result_pb2.InferenceResult,
    agent_decision_pb2.AgentDecision,
    machine_command_pb2.MachineCommand,
    audit_record_pb2.AuditRecord,
    job_order_pb2.JobOrderEvent,
    shift_pb2.ShiftEvent,
}


def _all_messages() -> list[Descriptor]:
    found: list[Descriptor] = []

    def visit(descriptor: Descriptor) -> None:
        found.append(descriptor)
        for nested in descriptor.nested_types:
            visit(nested)

    for info in pkgutil.walk_packages(factorymesh.api.__path__, prefix="factorymesh.api."):
        if info.name.endswith("_pb2"):
            module = importlib.import_module(info.name)
            for message in module.DESCRIPTOR.message_types_by_name.values():
                visit(message)
    return found


def _is_kafka_event(descriptor: Descriptor) -> bool:
    return bool(descriptor.GetOptions().Extensions[options_pb2.kafka_event])


def test_discovered_kafka_events_match_the_documented_list() -> None:
    discovered = {d.full_name for d in _all_messages() if _is_kafka_event(d)}
    assert discovered == {cls.DESCRIPTOR.full_name for cls in EXPECTED_KAFKA_EVENTS}


@pytest.mark.parametrize("cls", sorted(EXPECTED_KAFKA_EVENTS, key=lambda c: c.DESCRIPTOR.full_name))
def test_kafka_event_has_event_id_as_field_1(cls: type) -> None:
    descriptor: Descriptor = cls.DESCRIPTOR  # type: ignore[attr-defined]
    assert _is_kafka_event(descriptor)
    field = descriptor.fields_by_number.get(1)
    assert field is not None, f"{descriptor.full_name} has no field 1"
    assert field.name == "event_id"
    assert field.type == FieldDescriptor.TYPE_STRING
    assert not field.is_repeated
    assert field.containing_oneof is None


def test_kafka_event_option_is_only_on_top_level_messages() -> None:
    nested_events = [d.full_name for d in _all_messages() if d.containing_type is not None and _is_kafka_event(d)]
    assert nested_events == []


def test_request_and_response_messages_are_not_kafka_events() -> None:
    bad = [d.full_name for d in _all_messages() if _is_kafka_event(d) and d.name.endswith(("Request", "Response"))]
    assert bad == []
