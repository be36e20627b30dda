"""The committed model repository honours the contract: names, tensors, metadata, served code, size."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from factorymesh.features import FEATURE_SET_VERSION, STAT_NAMES
from factorymesh.inference.modeling import runtime
from factorymesh.inference.modeling.catalog import default_specs
from factorymesh.inference.modeling.metrics import GATES
from factorymesh.inference.train.repository import config_pbtxt, versions

ROOT = Path(__file__).resolve().parents[4]
REPOSITORY = ROOT / "deploy" / "triton" / "model_repository"
SPECS = default_specs()
MODELS = sorted(SPECS)


def test_the_family_is_complete() -> None:
    assert set(MODELS) == {
        "anomaly_centrifugal_pump",
        "anomaly_induction_motor",
        "anomaly_cnc_spindle",
        "rul_centrifugal_pump",
        "rul_induction_motor",
        "quality_cnc_spindle",
    }
    for name in MODELS:
        assert versions(REPOSITORY / name), f"{name} has no version in {REPOSITORY}"


@pytest.mark.parametrize("name", MODELS)
def test_config_declares_the_contract_tensors(name: str) -> None:
    spec = SPECS[name]
    latest = versions(REPOSITORY / name)[-1]
    meta = json.loads((REPOSITORY / name / str(latest) / "metadata.json").read_text())
    text = (REPOSITORY / name / "config.pbtxt").read_text()
    assert text == config_pbtxt(name, spec.task, meta["features"])  # generated, never hand-edited
    assert f'name: "{name}"' in text
    assert 'backend: "python"' in text
    assert "max_batch_size: 64" in text
    assert "preferred_batch_size: [ 8, 16, 32 ]" in text
    assert "max_queue_delay_microseconds: 2000" in text
    assert "version_policy: { latest: { num_versions: 2 } }" in text
    tensors = dict(re.findall(r'name: "([A-Z_]+)"\s+data_type: TYPE_FP32\s+dims: \[ (\d+) \]', text))
    n = str(len(meta["features"]))
    expected = {"FEATURES": n} | {out: n if out == "CONTRIBUTIONS" else "1" for out in runtime.TASK_OUTPUTS[spec.task]}
    assert tensors == expected


def _versions() -> list[tuple[str, int]]:
    return [(name, v) for name in MODELS for v in versions(REPOSITORY / name)]


@pytest.mark.parametrize(("name", "version"), _versions())
def test_metadata_is_complete(name: str, version: int) -> None:
    spec = SPECS[name]
    directory = REPOSITORY / name / str(version)
    meta: dict[str, Any] = json.loads((directory / "metadata.json").read_text())
    assert meta["model"] == name
    assert meta["version"] == version
    assert meta["task"] == spec.task
    assert meta["equipment_class"] == spec.equipment_class
    n = len(meta["features"])
    for feature in meta["features"]:
        tag, _, stat = feature.rpartition(".")
        assert tag in spec.tags, feature
        assert stat in STAT_NAMES, feature
    assert meta["window"]["kind"] in ("tumbling", "hopping")
    assert meta["window"]["size_s"] in (10, 60)
    assert meta["feature_set_version"] == FEATURE_SET_VERSION
    assert re.fullmatch(r"[0-9a-f]{64}", meta["training_data_sha256"])
    stats = meta["training_stats"]
    assert sorted(stats) == ["max", "mean", "min", "p01", "p99", "std"]
    for values in stats.values():
        assert len(values) == n
        assert all(math.isfinite(v) for v in values)
    assert all(lo <= hi for lo, hi in zip(stats["p01"], stats["p99"], strict=True))
    holdout = meta["metrics"]["holdout"]
    for gate, _ in GATES[spec.task]:
        assert math.isfinite(holdout[gate]), gate
    assert holdout["windows"] > 100  # evaluated on a real held-out period
    assert datetime.fromisoformat(meta["created_at"]).tzinfo is not None
    assert meta["training_cost"]["wall_s"] > 0
    assert meta["training_cost"]["cpu_s"] > 0
    assert meta["promoted"] is True
    assert meta["params_sha256"] == hashlib.sha256((directory / "params.npz").read_bytes()).hexdigest()
    with np.load(directory / "params.npz", allow_pickle=False) as params:
        if spec.task == "anomaly":
            assert meta["threshold"] == float(params["threshold"])
            assert math.isfinite(meta["threshold"])
        elif spec.task == "rul":
            assert meta["interval_coverage"] == 0.9
            assert meta["rul_cap_hours"] == float(params["cap_hours"])
        else:
            assert meta["decision_threshold"] == 0.5


def _module_of(path: Path) -> Any:
    loaded = importlib.util.spec_from_file_location(f"served_{abs(hash(path))}", path)
    assert loaded is not None
    assert loaded.loader is not None
    module = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("name", "version"), _versions())
def test_served_model_py_predicts_like_the_runtime(name: str, version: int) -> None:
    """Each version's model.py (what Triton imports) gives the numbers training evaluated it with."""
    directory = REPOSITORY / name / str(version)
    served, meta = _module_of(directory / "model.py").load_version(directory)
    current, _ = runtime.load_version(directory)
    stats = meta["training_stats"]
    x = np.array([stats["mean"], stats["p01"], stats["p99"], stats["min"], [np.nan] * len(stats["mean"])])
    got, want = served.predict(x), current.predict(x)
    assert sorted(got) == sorted(runtime.TASK_OUTPUTS[meta["task"]])
    for key in got:
        np.testing.assert_array_equal(got[key], want[key])
        assert np.isfinite(got[key]).all()


def test_repository_is_small() -> None:
    """Params and metadata of every committed version stay well below 1 MB in all."""
    total = sum(
        (REPOSITORY / name / str(v) / f).stat().st_size
        for name, v in _versions()
        for f in ("params.npz", "metadata.json")
    )
    assert total < 1_000_000
