"""The model catalog: what each model version in the repository expects and produces.

One Triton model per (task, equipment class); each version directory holds a
``metadata.json`` written by training (``<model>/<version>/metadata.json``):

* ``features`` — ordered ``"<tag>.<stat>"`` names, ``stat`` a ``FeatureWindow`` field;
* ``window`` — ``{"kind": "tumbling", "size_s": 10}`` (``hop_s`` for hopping windows);
* ``training_stats`` — ``{mean, std, min, max, p01, p99}`` lists aligned with ``features``;
* ``metrics``, ``task``, ``equipment_class``.

The service reads these files from the repository directory (the same files Triton
serves, mounted in Kubernetes), and asks Triton only for what is runtime state: which
versions are loaded (READY) and each model's batching configuration.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import tritonclient.grpc.aio as triton_aio
from tritonclient.utils import InferenceServerException

from factorymesh.api.inference.v1 import inference_result_pb2, model_pb2
from factorymesh.api.telemetry.v1 import feature_window_pb2
from factorymesh.common.logging import get_logger
from factorymesh.common.triton import TritonError, map_error
from factorymesh.features import STAT_NAMES

log = get_logger(__name__)

Task = inference_result_pb2.InferenceTask
WindowKind = feature_window_pb2.WindowKind
ModelState = model_pb2.ModelState
FloatArray = npt.NDArray[np.float64]

NS_PER_S = 1_000_000_000
INPUT_NAME = "FEATURES"

# FeatureWindow fields a feature may name; the optional ones are unset when undefined.
STATISTICS = frozenset({"count", *STAT_NAMES})
OPTIONAL_STATISTICS = frozenset({"kurtosis", "skewness", "slope", "crest_factor"})

_TASKS: dict[str, int] = {
    "anomaly": Task.INFERENCE_TASK_ANOMALY_DETECTION,
    "anomaly_detection": Task.INFERENCE_TASK_ANOMALY_DETECTION,
    "rul": Task.INFERENCE_TASK_REMAINING_USEFUL_LIFE,
    "remaining_useful_life": Task.INFERENCE_TASK_REMAINING_USEFUL_LIFE,
    "quality": Task.INFERENCE_TASK_QUALITY_PREDICTION,
    "quality_prediction": Task.INFERENCE_TASK_QUALITY_PREDICTION,
}

# Output tensors of each task (the model contract).
TASK_OUTPUTS: dict[int, tuple[str, ...]] = {
    Task.INFERENCE_TASK_ANOMALY_DETECTION: ("SCORE", "THRESHOLD", "CONTRIBUTIONS"),
    Task.INFERENCE_TASK_REMAINING_USEFUL_LIFE: ("RUL_HOURS", "RUL_LOWER_HOURS", "RUL_UPPER_HOURS"),
    Task.INFERENCE_TASK_QUALITY_PREDICTION: ("P_OUT_OF_SPEC",),
}

# Triton's repository index states -> ours.
_STATES: dict[str, int] = {
    "READY": ModelState.MODEL_STATE_READY,
    "LOADING": ModelState.MODEL_STATE_LOADING,
    "UNLOADING": ModelState.MODEL_STATE_UNLOADING,
    "UNAVAILABLE": ModelState.MODEL_STATE_AVAILABLE,
}


class MetadataError(ValueError):
    """A version's metadata.json is missing, malformed or inconsistent."""


def parse_task(value: str) -> int:
    try:
        return _TASKS[value.strip().lower()]
    except KeyError:
        raise MetadataError(f"unknown task {value!r} (expected one of {sorted(_TASKS)})") from None


def task_name(task: int) -> str:
    names: dict[int, str] = {
        Task.INFERENCE_TASK_ANOMALY_DETECTION: "anomaly",
        Task.INFERENCE_TASK_REMAINING_USEFUL_LIFE: "rul",
        Task.INFERENCE_TASK_QUALITY_PREDICTION: "quality",
    }
    return names.get(task, "unspecified")


@dataclass(frozen=True)
class WindowRequirement:
    """The window a model was trained on; only windows like it are scored by it."""

    kind: int
    size_ns: int
    hop_ns: int

    @classmethod
    def from_metadata(cls, raw: Mapping[str, Any]) -> WindowRequirement:
        kind_name = str(raw.get("kind", "tumbling")).lower()
        kinds = {"tumbling": WindowKind.WINDOW_KIND_TUMBLING, "hopping": WindowKind.WINDOW_KIND_HOPPING}
        if kind_name not in kinds:
            raise MetadataError(f"window.kind {kind_name!r} is not tumbling or hopping")
        try:
            size_s = float(raw["size_s"])
        except (KeyError, TypeError, ValueError):
            raise MetadataError("window.size_s is missing or not a number") from None
        hop_s = float(raw.get("hop_s", size_s)) if kind_name == "hopping" else size_s
        if not (size_s > 0 and hop_s > 0):
            raise MetadataError("window sizes must be > 0")
        return cls(kinds[kind_name], round(size_s * NS_PER_S), round(hop_s * NS_PER_S))

    def matches(self, window: feature_window_pb2.FeatureWindow) -> bool:
        return (
            window.window_kind == self.kind
            and window.window_size.ToNanoseconds() == self.size_ns
            and window.hop.ToNanoseconds() == self.hop_ns
        )

    def describe(self) -> str:
        kind = "tumbling" if self.kind == WindowKind.WINDOW_KIND_TUMBLING else "hopping"
        size = f"{self.size_ns / NS_PER_S:g} s"
        return f"{kind} {size}" if self.hop_ns == self.size_ns else f"{kind} {size} every {self.hop_ns / NS_PER_S:g} s"


@dataclass(frozen=True)
class TrainingStats:
    """Per-feature statistics of the training data, aligned with the feature list."""

    mean: FloatArray
    std: FloatArray
    min: FloatArray
    max: FloatArray
    p01: FloatArray
    p99: FloatArray

    @classmethod
    def from_metadata(cls, raw: Mapping[str, Any], n_features: int) -> TrainingStats:
        arrays: dict[str, FloatArray] = {}
        for name in ("mean", "std", "min", "max", "p01", "p99"):
            values = raw.get(name)
            if not isinstance(values, list) or len(values) != n_features:
                raise MetadataError(f"training_stats.{name} must be a list of {n_features} numbers")
            array = np.asarray(values, dtype=np.float64)
            if not np.all(np.isfinite(array)):
                raise MetadataError(f"training_stats.{name} has non-finite values")
            arrays[name] = array
        return cls(**arrays)


def flatten_metrics(raw: Any, prefix: str = "") -> dict[str, float]:
    """Numeric leaves of a nested metrics object as dotted keys (``{"test": {"auc": .9}}`` -> ``test.auc``)."""
    out: dict[str, float] = {}
    if isinstance(raw, Mapping):
        for key, value in raw.items():
            out.update(flatten_metrics(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(raw, int | float) and not isinstance(raw, bool) and math.isfinite(raw) and prefix:
        out[prefix] = float(raw)
    return out


@dataclass(frozen=True)
class ModelVersion:
    """One version of one model, as its metadata describes it."""

    name: str
    version: str
    task: int
    equipment_class: str
    features: tuple[str, ...]
    window: WindowRequirement
    stats: TrainingStats
    metrics: Mapping[str, float] = field(default_factory=dict)
    description: str = ""
    feature_set_version: str = ""
    platform: str = ""
    # Quality models: decision threshold on P_OUT_OF_SPEC; RUL models: interval coverage.
    decision_threshold: float = 0.5
    interval_coverage: float = 0.9

    # Cached: they are read for every window scored (the dataclass is frozen, the values fixed).
    @functools.cached_property
    def parsed_features(self) -> tuple[tuple[str, str], ...]:
        return tuple(_split_feature(name) for name in self.features)

    @functools.cached_property
    def tags(self) -> frozenset[str]:
        return frozenset(tag for tag, _ in self.parsed_features)

    @functools.cached_property
    def features_by_tag(self) -> dict[str, tuple[tuple[int, str], ...]]:
        """tag -> ((feature index, statistic), ...), for filling a vector window by window."""
        out: dict[str, list[tuple[int, str]]] = {}
        for i, (tag, stat) in enumerate(self.parsed_features):
            out.setdefault(tag, []).append((i, stat))
        return {tag: tuple(items) for tag, items in out.items()}

    @property
    def outputs(self) -> tuple[str, ...]:
        return TASK_OUTPUTS[self.task]

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"


def _split_feature(name: str) -> tuple[str, str]:
    tag, _, stat = name.rpartition(".")
    return tag, stat


def load_version(path: Path, name: str, version: str, platform: str = "") -> ModelVersion:
    """Read ``<model>/<version>/metadata.json``; raises :class:`MetadataError`."""
    try:
        raw = json.loads((path / "metadata.json").read_text())
    except OSError as error:
        raise MetadataError(f"{path}/metadata.json: {error}") from None
    except ValueError as error:
        raise MetadataError(f"{path}/metadata.json is not JSON: {error}") from None
    if not isinstance(raw, dict):
        raise MetadataError("metadata.json must hold an object")
    features = raw.get("features")
    if not isinstance(features, list) or not features or not all(isinstance(f, str) for f in features):
        raise MetadataError("features must be a non-empty list of strings")
    for feature in features:
        tag, stat = _split_feature(feature)
        if not tag or stat not in STATISTICS:
            raise MetadataError(f"feature {feature!r} is not '<tag>.<stat>' with stat in {sorted(STATISTICS)}")
    if len(set(features)) != len(features):
        raise MetadataError("features has duplicates")
    task = parse_task(str(raw.get("task") or name.split("_", 1)[0]))
    equipment_class = str(raw.get("equipment_class") or "")
    if not equipment_class:
        raise MetadataError("equipment_class is missing")
    window = WindowRequirement.from_metadata(raw.get("window") or {})
    stats = TrainingStats.from_metadata(raw.get("training_stats") or {}, len(features))
    return ModelVersion(
        name=name,
        version=version,
        task=task,
        equipment_class=equipment_class,
        features=tuple(features),
        window=window,
        stats=stats,
        metrics=flatten_metrics(raw.get("metrics") or {}),
        description=str(raw.get("description") or ""),
        feature_set_version=str(raw.get("feature_set_version") or ""),
        platform=platform,
        decision_threshold=float(raw.get("decision_threshold", raw.get("threshold", 0.5)) or 0.5),
        interval_coverage=float(raw.get("interval_coverage", raw.get("confidence_level", 0.9)) or 0.9),
    )


_BACKEND = re.compile(r'^\s*(?:backend|platform)\s*:\s*"([^"]+)"', re.MULTILINE)


def _platform(model_dir: Path) -> str:
    try:
        match = _BACKEND.search((model_dir / "config.pbtxt").read_text())
    except OSError:
        return ""
    return match.group(1) if match else ""


def version_key(version: str) -> tuple[int, str]:
    """Triton versions are integers; order numerically, anything else after them."""
    return (int(version), "") if version.isdigit() else (1 << 62, version)


@dataclass(frozen=True)
class Batching:
    """What Triton's model config says about batching; requests are cut to these sizes."""

    max_batch_size: int = 32
    preferred: tuple[int, ...] = ()

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Batching:
        max_batch = int(config.get("max_batch_size") or 0)
        dynamic = config.get("dynamic_batching") or {}
        preferred = tuple(sorted(int(size) for size in dynamic.get("preferred_batch_size") or () if int(size) > 0))
        # max_batch_size 0 = the model takes no batch dimension; we always send [B, N], so
        # such a model gets one row per request.
        return cls(max(1, max_batch), tuple(p for p in preferred if p <= max(1, max_batch)))

    def chunk_sizes(self, rows: int) -> list[int]:
        """Cut ``rows`` into requests: the largest preferred size (else the maximum) at a time.

        45 rows with preferred [8, 16, 32] -> [32, 13]: the rest goes as one request, which
        Triton's dynamic batcher may still merge with other requests.
        """
        step = self.preferred[-1] if self.preferred else self.max_batch_size
        sizes = []
        while rows > 0:
            size = min(rows, step)
            sizes.append(size)
            rows -= size
        return sizes


@dataclass
class ModelCatalog:
    """Every model version of the repository plus its Triton state. Rebuilt by :meth:`scan`."""

    repository: Path
    versions: dict[tuple[str, str], ModelVersion] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    states: dict[tuple[str, str], tuple[int, str]] = field(default_factory=dict)
    batching: dict[str, Batching] = field(default_factory=dict)
    # True once Triton's states were read at least once (until then, present = usable).
    states_known: bool = False

    def scan(self) -> None:
        """Re-read every ``<model>/<version>/metadata.json`` (a version without one is not ours)."""
        versions: dict[tuple[str, str], ModelVersion] = {}
        errors: dict[str, str] = {}
        if self.repository.is_dir():
            for model_dir in sorted(p for p in self.repository.iterdir() if p.is_dir()):
                platform = _platform(model_dir)
                for version_dir in sorted(p for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit()):
                    if not (version_dir / "metadata.json").exists():
                        continue
                    try:
                        versions[(model_dir.name, version_dir.name)] = load_version(
                            version_dir, model_dir.name, version_dir.name, platform
                        )
                    except MetadataError as error:
                        errors[f"{model_dir.name}/{version_dir.name}"] = str(error)
        else:
            log.warning("model_repository_missing", path=str(self.repository))
        for where, problem in errors.items():
            if self.errors.get(where) != problem:
                log.error("model_metadata_invalid", version=where, error=problem)
        if set(versions) != set(self.versions):
            log.info("model_catalog_changed", versions=sorted(f"{n}:{v}" for n, v in versions))
        self.versions, self.errors = versions, errors

    def set_states(self, index: Iterable[Mapping[str, Any]]) -> None:
        """Apply Triton's repository index (``[{name, version, state, reason}]``)."""
        states: dict[tuple[str, str], tuple[int, str]] = {}
        for entry in index:
            name, version = str(entry.get("name", "")), str(entry.get("version", ""))
            state = _STATES.get(str(entry.get("state", "")), ModelState.MODEL_STATE_AVAILABLE)
            if version:
                states[(name, version)] = (state, str(entry.get("reason", "")))
        self.states = states
        self.states_known = True

    def names(self) -> list[str]:
        return sorted({name for name, _ in self.versions})

    def versions_of(self, name: str) -> list[ModelVersion]:
        return sorted((mv for (n, _), mv in self.versions.items() if n == name), key=lambda m: version_key(m.version))

    def state(self, name: str, version: str) -> tuple[int, str]:
        if not self.states_known:
            return ModelState.MODEL_STATE_UNSPECIFIED, "Triton model states not read yet"
        return self.states.get((name, version), (ModelState.MODEL_STATE_AVAILABLE, "not loaded in Triton"))

    def is_ready(self, name: str, version: str) -> bool:
        return self.state(name, version)[0] == ModelState.MODEL_STATE_READY

    def get(self, name: str, version: str = "") -> ModelVersion | None:
        """An explicit version, or (empty) the newest READY one — the newest present while
        Triton's states are unknown, so a start without Triton still knows the features."""
        if version:
            return self.versions.get((name, version))
        candidates = self.versions_of(name)
        ready = [mv for mv in candidates if self.is_ready(mv.name, mv.version)]
        if ready:
            return ready[-1]
        return candidates[-1] if candidates else None

    def batching_of(self, name: str) -> Batching:
        return self.batching.get(name, Batching())


class ModelAdmin(Protocol):
    """Triton's model-management calls the service needs (a fake in unit tests)."""

    async def repository_index(self) -> list[dict[str, Any]]: ...

    async def model_config(self, name: str) -> dict[str, Any]: ...

    async def statistics(self, name: str, version: str) -> dict[str, Any]: ...

    async def close(self) -> None: ...


class TritonAdmin:
    """Repository index, model configs and statistics over Triton's gRPC API.

    Separate from ``TritonClient`` (the inference path): these are control-plane calls
    with their own deadline, and they must not queue behind inference concurrency slots."""

    def __init__(self, url: str, timeout_s: float = 3.0) -> None:
        self._client = triton_aio.InferenceServerClient(url=url)
        self.timeout_s = timeout_s

    async def _call(self, method: str, *args: Any) -> Any:
        try:
            return await getattr(self._client, method)(*args, as_json=True, client_timeout=self.timeout_s)
        except InferenceServerException as error:
            raise map_error(error) from None

    async def repository_index(self) -> list[dict[str, Any]]:
        index = await self._call("get_model_repository_index")
        return list(index.get("models", []))

    async def model_config(self, name: str) -> dict[str, Any]:
        config = await self._call("get_model_config", name)
        return dict(config.get("config", config))

    async def statistics(self, name: str, version: str) -> dict[str, Any]:
        stats = await self._call("get_inference_statistics", name, version)
        entries = list(stats.get("model_stats", []))
        return dict(entries[0]) if entries else {}

    async def close(self) -> None:
        await self._client.close()


class CatalogRefresher:
    """Keeps the catalog current: the repository directory, Triton's model states, and
    each ready model's batching config. ``on_change`` runs after every refresh (the
    default routes follow the repository)."""

    def __init__(self, catalog: ModelCatalog, admin: ModelAdmin, on_change: Callable[[], None] | None = None) -> None:
        self.catalog = catalog
        self.admin = admin
        self._on_change = on_change

    async def refresh(self) -> None:
        self.catalog.scan()
        try:
            self.catalog.set_states(await self.admin.repository_index())
            for name in self.catalog.names():
                if name not in self.catalog.batching and any(
                    self.catalog.is_ready(name, mv.version) for mv in self.catalog.versions_of(name)
                ):
                    self.catalog.batching[name] = Batching.from_config(await self.admin.model_config(name))
        except TritonError as error:
            log.warning("triton_model_states_unavailable", error=str(error))
        if self._on_change is not None:
            self._on_change()

    async def run(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.refresh()
            except Exception as error:  # noqa: BLE001 - keep the last catalog; try again next time
                log.error("catalog_refresh_failed", error=repr(error))
