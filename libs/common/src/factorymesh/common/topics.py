"""The topic registry: every Kafka topic factorymesh uses, declared once.

Services create their topics from here at start-up (:func:`factorymesh.common.kafka.ensure_topics`,
idempotent) and name them only through these constants. ``docs/topics.md`` is
generated from this module (``scripts/gen_docs.py``) and a unit test keeps it current.

Naming: ``factorymesh.<domain>.<stream>.v<major>``. A breaking change to a
topic's payload is a new topic with the next major version, never an edit in place.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from google.protobuf.message import Message

from factorymesh.api.agents.v1 import agent_decision_pb2, machine_command_pb2
from factorymesh.api.common.v1 import dead_letter_pb2
from factorymesh.api.inference.v1 import inference_result_pb2, model_pb2
from factorymesh.api.mes.v1 import job_order_pb2, shift_pb2
from factorymesh.api.security.v1 import audit_record_pb2
from factorymesh.api.telemetry.v1 import (
    feature_window_pb2,
    normalized_reading_pb2,
    reading_batch_pb2,
    reading_pb2,
    tag_pb2,
)

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS

# The key every telemetry topic uses: per-equipment order is kept because one
# equipment always lands on one partition.
EQUIPMENT_KEY = "ISA-95 equipment path `enterprise/site/area/line/cell/equipment`"


@dataclass(frozen=True)
class TopicSpec:
    """One topic: what travels on it, how long it is kept, and who writes and reads it."""

    name: str
    partitions: int
    key: str
    value_types: tuple[type[Message], ...]
    description: str
    producers: tuple[str, ...]
    consumers: tuple[str, ...]
    cleanup_policy: Literal["delete", "compact"] = "delete"
    retention_ms: int | None = 7 * DAY_MS
    # Payloads in formats other than our protobuf (decoded by the consuming service).
    foreign_formats: tuple[str, ...] = ()
    # "events": every record is an event with a stable `event_id` (field 1). "state": a
    # compacted topic whose record per key IS the current state (no event id: the key and
    # compaction already de-duplicate).
    kind: Literal["events", "state"] = "events"
    extra_config: tuple[tuple[str, str], ...] = ()

    @property
    def value_type_names(self) -> tuple[str, ...]:
        return tuple(cls.DESCRIPTOR.full_name for cls in self.value_types)

    def topic_configs(self) -> dict[str, str]:
        """Topic-level configs passed to CreateTopics."""
        configs: dict[str, str] = {"cleanup.policy": self.cleanup_policy}
        if self.cleanup_policy == "delete" and self.retention_ms is not None:
            configs["retention.ms"] = str(self.retention_ms)
        configs.update(self.extra_config)
        return configs


TELEMETRY_RAW = TopicSpec(
    name="factorymesh.telemetry.raw.v1",
    partitions=12,
    key=EQUIPMENT_KEY,
    value_types=(reading_pb2.SensorReading, reading_batch_pb2.SensorReadingBatch),
    foreign_formats=("UMH historian JSON", "Sparkplug B"),
    description="Raw readings as sensors, edge gateways and the gRPC ingest API deliver them: not yet validated.",
    producers=("edge gateways", "line simulator", "ingest (gRPC)"),
    consumers=("ingest",),
    retention_ms=3 * DAY_MS,
)

TELEMETRY_NORMALIZED = TopicSpec(
    name="factorymesh.telemetry.normalized.v1",
    partitions=12,
    key=EQUIPMENT_KEY,
    value_types=(normalized_reading_pb2.NormalizedReading, normalized_reading_pb2.NormalizedReadingBatch),
    description="Validated, de-duplicated readings in SI units, enriched with job order, product and shift.",
    producers=("ingest",),
    consumers=("ingest (feature windows)", "agent-coordinator"),
    retention_ms=7 * DAY_MS,
)

TELEMETRY_FEATURES = TopicSpec(
    name="factorymesh.telemetry.features.v1",
    partitions=6,
    key=EQUIPMENT_KEY,
    value_types=(feature_window_pb2.FeatureWindow,),
    description="Closed feature windows (count, mean, std, RMS, kurtosis, slope, ...) per equipment and tag.",
    producers=("ingest",),
    consumers=("inference", "agent-coordinator"),
    retention_ms=30 * DAY_MS,
)

TAG_REGISTRY = TopicSpec(
    name="factorymesh.ingest.tag-registry.v1",
    partitions=1,
    key="tag id `<equipment path>/<tag>`; a delete is a DELETED event (its revision survives compaction)",
    value_types=(tag_pb2.TagRegistryEvent,),
    description="The asset and tag registry, compacted: the latest definition of every tag, for every replica.",
    producers=("ingest",),
    consumers=("ingest",),
    cleanup_policy="compact",
    retention_ms=None,
)

MES_JOB_ORDERS = TopicSpec(
    name="factorymesh.mes.job-orders.v1",
    partitions=6,
    key=EQUIPMENT_KEY,
    value_types=(job_order_pb2.JobOrderEvent,),
    description="Job order lifecycle events (OPC UA ISA-95 Job Control style) reported by MES.",
    producers=("ingest (gRPC from MES)",),
    consumers=("ingest (enrichment)", "agent-coordinator"),
    retention_ms=90 * DAY_MS,
)

MES_SHIFTS = TopicSpec(
    name="factorymesh.mes.shifts.v1",
    partitions=1,
    key="site path `enterprise/site`",
    value_types=(shift_pb2.ShiftEvent,),
    description="Shift changes per site reported by MES.",
    producers=("ingest (gRPC from MES)",),
    consumers=("ingest (enrichment)",),
    retention_ms=90 * DAY_MS,
)

INFERENCE_RESULTS = TopicSpec(
    name="factorymesh.inference.results.v1",
    partitions=6,
    key=EQUIPMENT_KEY,
    value_types=(inference_result_pb2.InferenceResult,),
    description="Model outputs per feature window, with model name and version, latency and energy.",
    producers=("inference",),
    consumers=("agent-coordinator",),
    retention_ms=30 * DAY_MS,
)

INFERENCE_ROUTES = TopicSpec(
    name="factorymesh.inference.routes.v1",
    partitions=1,
    key="route name",
    value_types=(model_pb2.ModelRoute,),
    description="Model routes (task, equipment class, equipment prefix -> primary, canary, shadows), compacted.",
    producers=("inference",),
    consumers=("inference",),
    cleanup_policy="compact",
    retention_ms=None,
    kind="state",
)

AGENT_DECISIONS = TopicSpec(
    name="factorymesh.agents.decisions.v1",
    partitions=6,
    key="production line path `enterprise/site/area/line`",
    value_types=(agent_decision_pb2.AgentDecision,),
    description="Every decision an agent takes, with its inputs, the rule that fired and the autonomy path.",
    producers=("agent-coordinator",),
    consumers=("security (audit)", "operators"),
    retention_ms=365 * DAY_MS,
)

MACHINE_COMMANDS = TopicSpec(
    name="factorymesh.agents.commands.v1",
    partitions=6,
    key=EQUIPMENT_KEY,
    value_types=(machine_command_pb2.MachineCommand,),
    description="Commands to MES and machine gateways (work requests, holds, setpoint changes).",
    producers=("agent-coordinator",),
    consumers=("machine gateways", "MES"),
    retention_ms=90 * DAY_MS,
)

AUDIT_RECORDS = TopicSpec(
    name="factorymesh.security.audit.v1",
    partitions=3,
    key="actor id",
    value_types=(audit_record_pb2.AuditRecord,),
    description="Security-relevant actions by people, services and agents.",
    producers=("every service",),
    consumers=("security",),
    retention_ms=365 * DAY_MS,
)

DEAD_LETTERS = TopicSpec(
    name="factorymesh.platform.dead-letters.v1",
    partitions=3,
    key="the original record's key",
    value_types=(dead_letter_pb2.DeadLetter,),
    description="Records no service could process: original bytes and headers, source offset, reason code.",
    producers=("every consuming service",),
    consumers=("operators", "replay tooling"),
    retention_ms=30 * DAY_MS,
)

ALL_TOPICS: tuple[TopicSpec, ...] = (
    TELEMETRY_RAW,
    TELEMETRY_NORMALIZED,
    TELEMETRY_FEATURES,
    TAG_REGISTRY,
    MES_JOB_ORDERS,
    MES_SHIFTS,
    INFERENCE_RESULTS,
    INFERENCE_ROUTES,
    AGENT_DECISIONS,
    MACHINE_COMMANDS,
    AUDIT_RECORDS,
    DEAD_LETTERS,
)


def by_name(name: str) -> TopicSpec:
    for spec in ALL_TOPICS:
        if spec.name == name:
            return spec
    raise KeyError(name)


def topics_for(service: str) -> Iterator[TopicSpec]:
    """Topics a service produces to or consumes from (matched on the first word of each entry)."""
    for spec in ALL_TOPICS:
        if any(entry.split()[0] == service for entry in (*spec.producers, *spec.consumers)):
            yield spec


def markdown_table() -> str:
    """The registry as the Markdown table in docs/topics.md."""

    def retention(spec: TopicSpec) -> str:
        if spec.cleanup_policy == "compact":
            return "compacted"
        if spec.retention_ms is None:
            return "forever"
        days = spec.retention_ms / DAY_MS
        return f"{days:g} d"

    rows = [
        "| Topic | Partitions | Key | Payload | Retention | Producers | Consumers | Purpose |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for spec in ALL_TOPICS:
        payload = "<br>".join(f"`{name}`" for name in spec.value_type_names)
        if spec.foreign_formats:
            payload += "<br>" + "<br>".join(spec.foreign_formats)
        rows.append(
            f"| `{spec.name}` | {spec.partitions} | {spec.key} | {payload} | {retention(spec)} "
            f"| {', '.join(spec.producers)} | {', '.join(spec.consumers)} | {spec.description} |"
        )
    return "\n".join(rows) + "\n"
