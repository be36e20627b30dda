"""Inference settings: the shared ones (FM_KAFKA_BOOTSTRAP, FM_GRPC_PORT, ...) plus inference's own."""

from __future__ import annotations

import socket
from pathlib import Path

from pydantic import Field

from factorymesh.common.config import BaseServiceSettings


class InferenceSettings(BaseServiceSettings):
    service_name: str = Field(default="inference", description="Name in logs, traces, metrics and Kafka headers.")
    grpc_port: int = Field(default=50071, ge=0, le=65535, description="gRPC port of the inference API.")

    # Triton
    triton_url: str = Field(description="Triton gRPC endpoint `host:port` (required).")
    triton_metrics_url: str | None = Field(
        default=None,
        description="Triton Prometheus metrics `host:port` (or URL); source of energy per inference (docs/energy.md).",
    )
    triton_timeout_s: float = Field(default=2.0, gt=0, description="Deadline of one Triton inference request.")
    triton_max_concurrency: int = Field(default=8, gt=0, description="Triton requests in flight from this replica.")
    triton_retry_attempts: int = Field(
        default=3, ge=1, description="Attempts per request on UNAVAILABLE (exponential backoff, full jitter)."
    )
    model_repository: Path = Field(
        default=Path("deploy/triton/model_repository"),
        description="Triton model repository (or the same files mounted): `<model>/<version>/metadata.json`.",
    )
    model_refresh_s: float = Field(
        default=15.0, gt=0, description="How often the repository and Triton's model states are re-read."
    )

    # Kafka
    consumer_group: str = Field(default="factorymesh-inference", description="Kafka consumer group of the scorer.")
    transactional_id: str = Field(
        default_factory=lambda: f"factorymesh-inference-{socket.gethostname()}",
        description="Kafka transactional id; stable per replica (the pod name) so a restart fences its predecessor.",
    )
    max_batch_records: int = Field(
        default=2000, gt=0, description="Feature windows per poll and per transaction (bigger: fewer commits)."
    )
    retry_backoff_s: float = Field(default=0.5, gt=0, description="First pause after an aborted batch.")
    max_retry_backoff_s: float = Field(
        default=10.0, gt=0, description="Longest pause after consecutive aborts (Triton down); doubles up to this."
    )
    input_topic: str | None = Field(default=None, description="Feature window topic override (tests).")
    output_topic: str | None = Field(default=None, description="Result topic override (tests).")
    routes_topic: str | None = Field(default=None, description="Route table topic override (tests).")

    # Assembly
    assembly_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="An equipment's window whose tags stay incomplete this long (and no later window came) is final.",
    )
    min_present_fraction: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Least share of a model's tags a final window needs to be scored (rest imputed); else dead letter.",
    )

    # Routing
    routes_file: Path | None = Field(
        default=None,
        description="JSON list of ModelRoute (proto JSON), stored at start unless a route of that name exists.",
    )
    default_routes: bool = Field(
        default=True, description="Route every (task, equipment class) of the repository to its model by default."
    )
    default_canary_fraction: float = Field(
        default=0.0,
        ge=0,
        lt=1,
        description="Default routes: share of windows for the newest version while an older one serves (0 = off).",
    )

    # Input guard
    ood_k: float = Field(
        default=1.5, ge=0, description="A feature outside [p01 - k*R, p99 + k*R] (R = p99 - p01) is OOD."
    )
    ood_max_z: float = Field(default=6.0, gt=0, description="A feature with |z| above this (training mean/std) is OOD.")

    # Circuit breaker
    breaker_failures: int = Field(default=3, ge=1, description="Consecutive failed Triton calls that open the breaker.")
    breaker_reset_s: float = Field(default=1.0, gt=0, description="First open period before a probe call.")
    breaker_max_reset_s: float = Field(
        default=30.0, gt=0, description="Longest open period (doubles per failed probe)."
    )

    # Energy
    energy_watts_per_core: float = Field(
        default=10.0, gt=0, description="Estimated power of one busy CPU core (W) when no GPU energy counter exists."
    )
    energy_sample_s: float = Field(default=5.0, gt=0, description="Interval of the energy sampler.")
    triton_pid: int | None = Field(
        default=None, description="PID of a local tritonserver for the CPU-time estimate; found by name when unset."
    )
    triton_cpu_cores: int | None = Field(
        default=None, ge=1, description="Cores of Triton's host, for the utilization estimate (default: this host's)."
    )
