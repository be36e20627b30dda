"""Test doubles and builders shared by the inference unit tests: a model repository on
disk, feature windows, consumer records, and a fake Triton behind ``InferenceBackend``."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from aiokafka.structs import ConsumerRecord
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from factorymesh.api.common.v1 import equipment_pb2, time_range_pb2
from factorymesh.api.telemetry.v1 import feature_window_pb2
from factorymesh.common.kafka import derived_event_id, event_headers
from factorymesh.common.triton import TritonUnavailable

NS = 1_000_000_000
T0 = 1_750_000_000 * NS  # a multiple of 10 s
TUMBLING = feature_window_pb2.WindowKind.WINDOW_KIND_TUMBLING
HOPPING = feature_window_pb2.WindowKind.WINDOW_KIND_HOPPING
TOPIC = "features"


def pump(equipment: str = "pump-01", site: str = "houston") -> equipment_pb2.EquipmentPath:
    return equipment_pb2.EquipmentPath(
        enterprise="acme", site=site, area="utilities", line="cooling", cell="pumps", equipment=equipment
    )


PUMP = pump()
PUMP_KEY = "acme/houston/utilities/cooling/pumps/pump-01"

ANOMALY_FEATURES = [
    "flow.mean",
    "flow.std",
    "vibration_rms.mean",
    "vibration_rms.kurtosis",
    "bearing_temperature.mean",
    "bearing_temperature.valid_fraction",
]
RUL_FEATURES = ["vibration_rms.mean", "vibration_rms.slope", "bearing_temperature.mean"]


def stats_for(n: int, mean: float = 1.0, std: float = 0.1) -> dict[str, list[float]]:
    return {
        "mean": [mean] * n,
        "std": [std] * n,
        "min": [mean - 5 * std] * n,
        "max": [mean + 5 * std] * n,
        "p01": [mean - 2.3 * std] * n,
        "p99": [mean + 2.3 * std] * n,
    }


def write_model(
    repo: Path,
    name: str,
    version: str = "1",
    *,
    task: str | None = None,
    equipment_class: str = "centrifugal_pump",
    features: Sequence[str] = ANOMALY_FEATURES,
    window: Mapping[str, Any] | None = None,
    stats: Mapping[str, list[float]] | None = None,
    metrics: Mapping[str, Any] | None = None,
) -> Path:
    directory = repo / name / version
    directory.mkdir(parents=True, exist_ok=True)
    (repo / name / "config.pbtxt").write_text(f'name: "{name}"\nbackend: "python"\nmax_batch_size: 64\n')
    metadata = {
        "task": task or name.split("_", 1)[0],
        "equipment_class": equipment_class,
        "features": list(features),
        "window": dict(window or {"kind": "tumbling", "size_s": 10}),
        "training_stats": dict(stats or stats_for(len(features))),
        "metrics": dict(metrics or {"test": {"auc": 0.97}, "n": 100}),
    }
    (directory / "metadata.json").write_text(json.dumps(metadata))
    return directory


def _ts(ns: int) -> Timestamp:
    return Timestamp(seconds=ns // NS, nanos=ns % NS)


def _dur(ns: int) -> Duration:
    return Duration(seconds=ns // NS, nanos=ns % NS)


def window(
    tag: str,
    start_ns: int = T0,
    *,
    equipment: equipment_pb2.EquipmentPath = PUMP,
    equipment_class: str = "centrifugal_pump",
    kind: int = TUMBLING,
    size_s: float = 10,
    hop_s: float | None = None,
    value: float = 1.0,
    **fields: float,
) -> feature_window_pb2.FeatureWindow:
    """A window whose statistics are all ``value`` (unless given), optional ones set."""
    size_ns = round(size_s * NS)
    hop_ns = round((hop_s or size_s) * NS)
    path = "/".join(
        v
        for v in (
            equipment.enterprise,
            equipment.site,
            equipment.area,
            equipment.line,
            equipment.cell,
            equipment.equipment,
        )
        if v
    )
    w = feature_window_pb2.FeatureWindow(
        event_id=derived_event_id("feature-window", path, tag, "fw-2025.1", kind, start_ns, size_ns, hop_ns),
        equipment=equipment,
        tag=tag,
        equipment_class=equipment_class,
        window_kind=kind,  # type: ignore[arg-type]
        window=time_range_pb2.TimeRange(start_time=_ts(start_ns), end_time=_ts(start_ns + size_ns)),
        window_size=_dur(size_ns),
        hop=_dur(hop_ns),
        count=100,
        mean=value,
        std=value,
        min=value,
        max=value,
        rms=value,
        peak_to_peak=value,
        valid_fraction=value,
        feature_set_version="fw-2025.1",
        kurtosis=value,
        skewness=value,
        slope=value,
        crest_factor=value,
    )
    for name, v in fields.items():
        setattr(w, name, v)
    return w


def record(
    message: Any, offset: int, *, partition: int = 0, topic: str = TOPIC, key: str = PUMP_KEY
) -> ConsumerRecord[bytes, bytes]:
    value = message if isinstance(message, bytes) else message.SerializeToString()
    headers = [] if isinstance(message, bytes) else event_headers(message, "ingest")
    return ConsumerRecord(
        topic=topic,
        partition=partition,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=key.encode(),
        value=value,
        checksum=None,
        serialized_key_size=len(key),
        serialized_value_size=len(value),
        headers=headers,
    )


class FakeTriton:
    """Scores like a toy model: anomaly SCORE = mean of the row, THRESHOLD 2, CONTRIBUTIONS = row / n;
    RUL = 100 h (80..120); P_OUT_OF_SPEC = 0.25. Can fail on demand."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, int]] = []
        self.fail_with: Exception | None = None
        self.fail_models: set[str] = set()

    async def infer(
        self,
        model: str,
        inputs: Mapping[str, np.ndarray],
        *,
        outputs: Sequence[str] | None = None,
        version: str = "",
        timeout_s: float | None = None,
    ) -> dict[str, np.ndarray]:
        x = inputs["FEATURES"].astype(np.float64)
        self.calls.append((model, version, len(x)))
        if self.fail_with is not None and (not self.fail_models or model in self.fail_models):
            raise self.fail_with
        b = len(x)
        if model.startswith("anomaly"):
            return {
                "SCORE": x.mean(axis=1, keepdims=True).astype(np.float32),
                "THRESHOLD": np.full((b, 1), 2.0, np.float32),
                "CONTRIBUTIONS": (x / x.shape[1]).astype(np.float32),
            }
        if model.startswith("rul"):
            return {
                "RUL_HOURS": np.full((b, 1), 100.0, np.float32),
                "RUL_LOWER_HOURS": np.full((b, 1), 80.0, np.float32),
                "RUL_UPPER_HOURS": np.full((b, 1), 120.0, np.float32),
            }
        return {"P_OUT_OF_SPEC": np.full((b, 1), 0.25, np.float32)}


UNAVAILABLE = TritonUnavailable("connection refused", "StatusCode.UNAVAILABLE")
