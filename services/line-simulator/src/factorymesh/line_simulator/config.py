"""Settings of the publishing run (``FM_`` environment variables; CLI flags override them)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from pydantic import Field

from factorymesh.common.config import BaseServiceSettings
from factorymesh.common.topics import TELEMETRY_RAW


class LineSimulatorSettings(BaseServiceSettings):
    service_name: str = Field(default="line-simulator", description="Name in logs, traces, metrics and headers.")
    rate_hz: float = Field(default=1.0, gt=0, le=10_000, description="Samples per second per instrument.")
    duration_s: float | None = Field(
        default=None, gt=0, description="Stop after this much simulated time; unset: run until SIGTERM."
    )
    formats: str | None = Field(
        default=None,
        description="Comma-separated formats every line publishes in (protobuf, batch, umh, sparkplug, all); "
        "unset: each line's own format from the plant.",
    )
    seed: int = Field(default=0, description="Random seed: the same seed, scenario and start give the same data.")
    scenario: Path | None = Field(default=None, description="Scenario JSON: plant, fixed faults, random faults on/off.")
    labels_out: Path | None = Field(default=None, description="Write ground-truth labels (CSV) here.")
    topic: str = Field(default=TELEMETRY_RAW.name, description="Kafka topic all formats are published to.")
    create_topic: bool = Field(default=True, description="Create the topic from the registry spec if missing.")
    batch_size: int = Field(default=1000, ge=1, description="Readings per SensorReadingBatch (format `batch`).")
    batch_interval_s: float = Field(
        default=1.0, gt=0, description="A SensorReadingBatch is sent at least this often (source time)."
    )
    sparkplug_rebirth_s: float = Field(
        default=300.0, ge=0, description="Sparkplug edge nodes re-send NBIRTH/DBIRTH this often (0: never)."
    )
    realtime: bool = Field(default=True, description="Pace ticks on the wall clock; false: as fast as possible.")
    start: datetime | None = Field(
        default=None, description="Simulation start (ISO 8601, UTC); unset: now, rounded up to the second."
    )
    fault_rate_scale: float | None = Field(
        default=None, ge=0, description="Multiply random fault rates (0: none); unset: the scenario's value (1)."
    )
    max_in_flight: int = Field(default=10_000, ge=1, description="Unacknowledged Kafka records before waiting.")
