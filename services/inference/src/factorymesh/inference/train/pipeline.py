"""Training one model: windows, labels, time split, fit, held-out evaluation, metadata.

Evaluation always goes through :mod:`factorymesh.inference.modeling.runtime` (the
served ``model.py``), for the new candidate and for the serving version alike.
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from factorymesh.features import FEATURE_SET_VERSION, STAT_NAMES
from factorymesh.inference.modeling import anomaly, metrics, quality, rul, runtime
from factorymesh.inference.modeling.anomaly import AnomalyOptions
from factorymesh.inference.modeling.catalog import ModelSpec, WindowSpec
from factorymesh.inference.modeling.common import training_stats
from factorymesh.inference.modeling.quality import QualityOptions
from factorymesh.inference.modeling.rul import RulOptions
from factorymesh.inference.train.dataset import Dataset, DatasetError
from factorymesh.inference.train.windows import Split, WindowTable, feature_table

F64 = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
NS_PER_S = 1_000_000_000


@dataclass(frozen=True)
class TrainOptions:
    seed: int = 0
    holdout_fraction: float = 0.3
    validation_fraction: float = 0.3
    expected_rate_hz: float | None = None
    anomaly: AnomalyOptions = field(default_factory=AnomalyOptions)
    # Per equipment class overrides of the anomaly options (operating modes).
    anomaly_by_class: dict[str, AnomalyOptions] = field(default_factory=dict)
    rul: RulOptions = field(default_factory=RulOptions)
    quality: QualityOptions = field(default_factory=QualityOptions)


class Tables:
    """Window statistics per (class, window), computed once for all stats and tags, then sliced."""

    def __init__(self, data: Dataset, expected_rate_hz: float | None) -> None:
        self.data = data
        self.expected_rate_hz = expected_rate_hz
        self._cache: dict[tuple[str, tuple[str, ...], WindowSpec], WindowTable] = {}

    def get(self, equipment_class: str, features: list[str] | tuple[str, ...], window: WindowSpec) -> WindowTable:
        tags = tuple(dict.fromkeys(f.rpartition(".")[0] for f in features))
        key = (equipment_class, tags, window)
        if key not in self._cache:
            spec = ModelSpec("anomaly", equipment_class, tags, STAT_NAMES, window)
            self._cache[key] = feature_table(self.data, spec, self.expected_rate_hz)
        full = self._cache[key]
        columns = {name: i for i, name in enumerate(full.spec.features)}
        unknown = [f for f in features if f not in columns]
        if unknown:
            raise DatasetError(f"features not computable from FeatureWindow statistics: {unknown}")
        sliced = full.take(np.ones(len(full), dtype=np.bool_))
        sliced.x = full.x[:, [columns[f] for f in features]]
        return sliced


@dataclass
class Candidate:
    """A trained model, not yet placed in a repository."""

    spec: ModelSpec
    params: dict[str, npt.NDArray[Any]]
    metadata: dict[str, Any]
    model: runtime.Model


# --------------------------------------------------------------------------- targets


def quality_target(table: WindowTable, worn_mm: float) -> tuple[Bools, Bools]:
    """(usable rows, out of spec): parts are made while the spindle runs; wear must be known."""
    usable = ~table.down & np.isfinite(table.tool_wear_mm)
    return usable, np.where(usable, table.tool_wear_mm, 0.0) >= worn_mm * (1 - 1e-9)


def rul_target(table: WindowTable, cap_hours: float) -> tuple[Bools, F64, Bools]:
    """(usable rows, hours capped, failure developing): a down machine has no RUL to predict."""
    usable = ~table.down
    developing = np.isfinite(table.rul_s) & (table.rul_s > 0)
    hours = np.where(developing, np.minimum(table.rul_s / 3600.0, cap_hours), cap_hours)
    return usable, hours, developing & usable


# --------------------------------------------------------------------------- evaluation


def evaluate(
    task: str, model: runtime.Model, table: WindowTable, options: TrainOptions, cap_hours: float
) -> dict[str, float]:
    """Held-out metrics of any model (candidate or serving) on ``table`` (its own input columns)."""
    out = model.predict(table.x) if len(table) else {}
    if task == "anomaly":
        if not len(table):
            return {}
        return metrics.classification(table.anomalous, out["SCORE"][:, 0], float(out["THRESHOLD"][0, 0]))
    if task == "quality":
        usable, y = quality_target(table, options.quality.worn_mm)
        if not usable.any():
            return {}
        p = out["P_OUT_OF_SPEC"][usable, 0]
        result = metrics.classification(y[usable], p, options.quality.decision_threshold)
        result["brier"] = float(np.mean((p - y[usable]) ** 2))
        return result
    usable, hours, developing = rul_target(table, cap_hours)
    if not usable.any():
        return {}
    return metrics.regression(
        hours[usable],
        out["RUL_HOURS"][usable, 0],
        out["RUL_LOWER_HOURS"][usable, 0],
        out["RUL_UPPER_HOURS"][usable, 0],
        developing[usable],
    )


# --------------------------------------------------------------------------- training


def _cost() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return time.perf_counter(), usage.ru_utime + usage.ru_stime


def train(spec: ModelSpec, tables: Tables, split: Split, options: TrainOptions) -> Candidate:
    wall0, cpu0 = _cost()
    table = tables.get(spec.equipment_class, spec.features, spec.window)
    fit_mask, val_mask, test_mask = split.masks(table)
    train_mask = fit_mask | val_mask
    if not fit_mask.any() or not test_mask.any():
        raise DatasetError(f"{spec.name}: the recording is too short to split by time (no fit or held-out windows)")
    features = list(spec.features)
    info: dict[str, Any]
    cap = options.rul.cap_hours
    if spec.task == "anomaly":
        opts = options.anomaly_by_class.get(spec.equipment_class, options.anomaly)
        params, info = anomaly.fit(
            table.x[fit_mask],
            ~table.anomalous[fit_mask],
            table.x[val_mask],
            table.anomalous[val_mask],
            features,
            opts,
            options.seed,
        )
        stats_rows = fit_mask & ~table.anomalous
    elif spec.task == "rul":
        usable, hours, _ = rul_target(table, cap)
        rows, calibration = fit_mask & usable, val_mask & usable
        params, info = rul.fit(
            table.x[rows], hours[rows], table.x[calibration], hours[calibration], features, options.rul, options.seed
        )
        stats_rows = rows
    else:
        usable, y = quality_target(table, options.quality.worn_mm)
        rows = train_mask & usable
        params, info = quality.fit(table.x[rows], y[rows], features, options.quality, options.seed)
        stats_rows = rows
    model = runtime.build_model(spec.task, params)
    held_out = table.take(test_mask)
    result = evaluate(spec.task, model, held_out, options, cap)
    wall1, cpu1 = _cost()
    metadata: dict[str, Any] = {
        "model": spec.name,
        "version": None,  # set when the version is written
        "task": spec.task,
        "equipment_class": spec.equipment_class,
        "description": _description(spec),
        "features": features,
        "window": spec.window.to_json(),
        "feature_set_version": FEATURE_SET_VERSION,
        "runtime_format": runtime.RUNTIME_FORMAT,
        "training_data_sha256": tables.data.sha256,
        "training_data": {
            "files": [p.name for p in tables.data.files],
            "readings": len(tables.data.readings),
            "sample_period_s": tables.data.readings.sample_period_ns() / NS_PER_S,
            "expected_rate_hz": options.expected_rate_hz,
            "equipment": sorted({table.equipment[e] for e in table.eq.tolist()}),
            "windows": {"fit": int(fit_mask.sum()), "validation": int(val_mask.sum()), "holdout": int(test_mask.sum())},
            "split": {
                "validation_start": _iso(split.validation_start_ns),
                "holdout_start": _iso(split.holdout_start_ns),
                "rule": "by time: fit < validation < held-out; windows straddling a cut are dropped",
            },
        },
        "training_stats": training_stats(table.x[stats_rows]),
        "metrics": {"holdout": result},
        "method": info,
        "seed": options.seed,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "training_cost": {"wall_s": round(wall1 - wall0, 3), "cpu_s": round(cpu1 - cpu0, 3)},
        "promoted": False,
    }
    if spec.task == "anomaly":
        metadata["threshold"] = float(params["threshold"])
    elif spec.task == "quality":
        metadata["decision_threshold"] = options.quality.decision_threshold
    else:
        metadata["interval_coverage"] = options.rul.coverage
        metadata["rul_cap_hours"] = cap
        metadata["unit"] = "h"
    return Candidate(spec, params, metadata, model)


def _description(spec: ModelSpec) -> str:
    what = {
        "anomaly": "Anomaly score (PCA combined index per operating mode) with per-feature contributions",
        "rul": "Remaining useful life of the bearing in hours, with a 90 % interval",
        "quality": "Probability that parts machined in the window are out of specification (tool wear)",
    }[spec.task]
    return f"{what}; {spec.equipment_class}, {spec.window.kind} {spec.window.size_s:g} s windows."


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / NS_PER_S, UTC).isoformat(timespec="seconds")


def spec_of(metadata: dict[str, Any]) -> ModelSpec:
    """A ModelSpec describing an existing version (its features need not be a tags x stats product)."""
    features = [str(f) for f in metadata["features"]]
    tags = tuple(dict.fromkeys(f.rpartition(".")[0] for f in features))
    stats = tuple(dict.fromkeys(f.rpartition(".")[2] for f in features))
    return ModelSpec(
        str(metadata["task"]), str(metadata["equipment_class"]), tags, stats, WindowSpec.from_json(metadata["window"])
    )


def evaluate_version(
    version_dir: os.PathLike[str] | str, tables: Tables, split: Split, options: TrainOptions
) -> dict[str, float]:
    """Metrics of an existing version on this run's held-out period (same data, same labels)."""
    model, metadata = runtime.load_version(version_dir)
    spec = spec_of(metadata)
    table = tables.get(spec.equipment_class, [str(f) for f in metadata["features"]], spec.window)
    held_out = table.take(split.masks(table)[2])
    cap = float(metadata.get("rul_cap_hours", options.rul.cap_hours))
    return evaluate(spec.task, model, held_out, options, cap)
