"""Ingest settings: the shared ones (FM_KAFKA_BOOTSTRAP, FM_GRPC_PORT, ...) plus ingest's own."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Literal

from pydantic import Field

from factorymesh.common.config import BaseServiceSettings


class IngestSettings(BaseServiceSettings):
    service_name: str = Field(default="ingest", description="Name in logs, traces, metrics and Kafka headers.")
    grpc_port: int = Field(default=50061, ge=0, le=65535, description="gRPC port of the ingest API.")

    assets_file: Path | None = Field(
        default=None,
        description="YAML asset and tag registry loaded at start (seeds the compacted registry topic).",
    )
    unknown_tag_policy: Literal["reject", "auto_register"] = Field(
        default="reject",
        description="A reading of a tag the registry does not know is dead-lettered (reject) or registers it.",
    )
    max_future_s: float = Field(
        default=300.0, gt=0, description="Readings stamped further than this in the future are rejected."
    )
    max_past_s: float = Field(
        default=7 * 24 * 3600.0, gt=0, description="Readings older than this are rejected (historian backfill limit)."
    )
    dedup_window_s: float = Field(
        default=600.0, gt=0, description="A reading id seen again within this window is a duplicate."
    )
    dedup_max_ids: int = Field(default=2_000_000, gt=0, description="Bound on remembered reading ids (memory).")
    consumer_group: str = Field(default="factorymesh-ingest", description="Kafka consumer group of the normalizer.")
    transactional_id: str = Field(
        default_factory=lambda: f"factorymesh-ingest-{socket.gethostname()}",
        description="Kafka transactional id; stable per replica (the pod name) so a restart fences its predecessor.",
    )
    max_batch_records: int = Field(
        default=1000,
        gt=0,
        description="Records per poll and per transaction: bounds in-flight work; larger = more throughput, "
        "smaller = lower latency (docs/benchmarks.md).",
    )
    max_record_bytes: int = Field(
        default=1_000_000, gt=0, description="Raw records larger than this are dead-lettered (MESSAGE_TOO_LARGE)."
    )
    rate_limit_per_source: float = Field(
        default=50_000.0, gt=0, description="Readings per second one gRPC source may send before RESOURCE_EXHAUSTED."
    )
