"""The service's metrics (OpenTelemetry; Prometheus on FM_METRICS_PORT).

Every per-result instrument is labelled with model, version and role (primary, canary,
shadow), so a canary's or shadow's latency and score distribution sit next to the
serving version's on one dashboard: that comparison is what decides a promotion.
"""

from __future__ import annotations

import time
from collections import deque

import numpy as np
from opentelemetry import metrics

_meter = metrics.get_meter("factorymesh.inference")

_LATENCY_MS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000]
_UNIT_INTERVAL = [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0]

RESULTS = _meter.create_counter(
    "factorymesh.inference.results", description="Inference results committed, by model, version, role, task"
)
LATENCY = _meter.create_histogram(
    "factorymesh.inference.latency",
    unit="ms",
    description="Triton request latency per result, by model, version and role",
    explicit_bucket_boundaries_advisory=_LATENCY_MS,
)
ANOMALY_SCORE = _meter.create_histogram(
    "factorymesh.inference.anomaly_score",
    description="Anomaly scores, by model, version and role (canary vs serving)",
    explicit_bucket_boundaries_advisory=[*_UNIT_INTERVAL, 1.5, 2, 3, 5, 10, 100],
)
RUL_HOURS = _meter.create_histogram(
    "factorymesh.inference.rul",
    unit="h",
    description="Remaining useful life estimates, by model, version and role",
    explicit_bucket_boundaries_advisory=[1, 5, 10, 24, 48, 100, 250, 500, 1000, 2500, 5000, 10000],
)
DEFECT_PROBABILITY = _meter.create_histogram(
    "factorymesh.inference.defect_probability",
    description="Out-of-spec probabilities, by model, version and role",
    explicit_bucket_boundaries_advisory=_UNIT_INTERVAL,
)
OUT_OF_DISTRIBUTION = _meter.create_counter(
    "factorymesh.inference.out_of_distribution", description="Results whose input failed the guard, by model/version"
)
IMPUTED = _meter.create_counter(
    "factorymesh.inference.imputed", description="Results scored with imputed features (incomplete windows)"
)
ENERGY = _meter.create_histogram(
    "factorymesh.inference.energy",
    unit="J",
    description="Energy per inference, by model, version, energy_is_estimate and method",
    explicit_bucket_boundaries_advisory=[1e-5, 1e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1, 3, 10],
)
ENERGY_TOTAL = _meter.create_counter(
    "factorymesh.inference.energy.total", unit="J", description="Energy of all committed inferences"
)
TRITON_BATCH = _meter.create_histogram(
    "factorymesh.inference.triton_batch_size",
    description="Rows per Triton request (client-side micro-batches)",
    explicit_bucket_boundaries_advisory=[1, 2, 4, 8, 16, 32, 64, 128],
)
TRITON_ERRORS = _meter.create_counter(
    "factorymesh.inference.triton_errors", description="Failed Triton requests, by model and error"
)
SKIPPED = _meter.create_counter(
    "factorymesh.inference.windows_skipped", description="Feature windows no routed model reads, by reason"
)
SHADOW_FAILURES = _meter.create_counter(
    "factorymesh.inference.shadow_failures", description="Shadow calls that failed (no shadow result), by model"
)


class RecentLatencies:
    """The last ``size`` latencies and the last inference time per model version, for
    ``GetModelStatus`` (p50/p99 over the recent past, not since start)."""

    def __init__(self, size: int = 1000) -> None:
        self._size = size
        self._latencies: dict[tuple[str, str], deque[float]] = {}
        self.last_inference: dict[tuple[str, str], float] = {}

    def record(self, model: str, version: str, latency_ms: float, at: float | None = None) -> None:
        key = (model, version)
        self._latencies.setdefault(key, deque(maxlen=self._size)).append(latency_ms)
        self.last_inference[key] = time.time() if at is None else at

    def percentiles(self, model: str, version: str) -> tuple[float, float]:
        values = self._latencies.get((model, version))
        if not values:
            return 0.0, 0.0
        p50, p99 = np.percentile(np.fromiter(values, dtype=np.float64), [50, 99])
        return float(p50), float(p99)
