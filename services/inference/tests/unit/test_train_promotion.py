"""The promotion rule: the next version is written only when it is not worse than the serving one (or --force)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from factorymesh.inference.modeling import anomaly, metrics
from factorymesh.inference.train import cli
from factorymesh.inference.train.repository import place, versions
from factorymesh.inference.train.testing import pump_faults, write_dataset

NAME = "anomaly_centrifugal_pump"


@pytest.fixture(scope="module")
def pump_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(
        tmp_path_factory.mktemp("pumps"), classes=("centrifugal_pump",), duration_s=3600, faults=pump_faults(3600)
    )


def _run(data: Path, repository: Path, *extra: str) -> tuple[list[cli.Outcome], str]:
    args = cli.build_parser().parse_args(
        [
            "--task",
            "anomaly",
            "--equipment-class",
            "centrifugal_pump",
            "--dataset",
            str(data),
            "--repository",
            str(repository),
            "--candidates-dir",
            str(repository.parent / "candidates"),
            *extra,
        ]
    )
    out = io.StringIO()
    outcomes = cli.run(args, out)
    return outcomes, out.getvalue()


def _sabotage(monkeypatch: pytest.MonkeyPatch) -> None:
    """A training that goes wrong: the threshold ends up far above every score (recall 0)."""
    real = anomaly.fit

    def broken(*args: Any, **kwargs: Any) -> Any:
        params, info = real(*args, **kwargs)
        params["threshold"] = np.array(1e12)
        return params, info

    monkeypatch.setattr(anomaly, "fit", broken)


def test_first_version_then_unchanged_then_worse_then_forced(
    pump_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repository = tmp_path / "repo"
    model_dir = repository / NAME

    # 1. Nothing served yet: version 1 is written and promoted.
    (first,), text = _run(pump_data, repository)
    assert first.decision.promoted
    assert first.decision.version == 1
    assert f"{NAME}: promoted as version 1: first version" in text
    assert versions(model_dir) == [1]
    assert (model_dir / "config.pbtxt").is_file()

    # 2. Same data, same seed: the same params; no new version for nothing.
    (same,), text = _run(pump_data, repository)
    assert not same.decision.promoted
    assert same.decision.path is None
    assert "unchanged" in text
    assert versions(model_dir) == [1]

    # 3. A worse candidate: not promoted, kept with its metrics outside the repository, one line why.
    _sabotage(monkeypatch)
    (worse,), text = _run(pump_data, repository)
    assert not worse.decision.promoted
    assert versions(model_dir) == [1]
    line = text.strip().splitlines()[-1]
    assert line.startswith(f"{NAME}: not promoted: f1 0.0000 < ")
    assert "serving version 1" in line
    assert worse.decision.path is not None
    assert worse.decision.path.is_relative_to(tmp_path / "candidates")
    meta = json.loads((worse.decision.path / "metadata.json").read_text())
    assert meta["promoted"] is False
    assert meta["version"] is None
    assert meta["metrics"]["holdout"]["f1"] == 0.0
    assert meta["promotion"]["baseline_version"] == 1
    # The serving version was re-evaluated on the same held-out period as the candidate.
    assert worse.baseline_metrics == pytest.approx(first.metrics)
    assert (worse.decision.path / "params.npz").is_file()
    assert (worse.decision.path / "model.py").is_file()

    # 4. --force: promoted anyway, and the metadata says so.
    (forced,), text = _run(pump_data, repository, "--force")
    assert forced.decision.promoted
    assert forced.decision.version == 2
    assert "promoted (--force) as version 2" in text
    assert versions(model_dir) == [1, 2]
    meta = json.loads((model_dir / "2" / "metadata.json").read_text())
    assert meta["promoted"] is True
    assert meta["version"] == 2
    assert meta["promotion"]["forced"] is True


def test_place_promotes_equal_or_better_and_honours_tolerance(tmp_path: Path) -> None:
    params = {"x": np.arange(3.0)}

    def meta(f1: float, auc: float) -> dict[str, Any]:
        return {"features": ["a.mean", "b.std"], "metrics": {"holdout": {"f1": f1, "auc": auc}}}

    def decide(candidate: dict[str, Any], baseline: dict[str, float] | None, **kw: Any) -> Any:
        return place(tmp_path / "r", tmp_path / "c", "m", "anomaly", params, candidate, baseline, "", **kw)

    assert decide(meta(0.5, 0.5), None, force=False, tolerance=0.0).version == 1
    params["x"] = params["x"] + 1  # a different model each time (identical params are "unchanged")
    assert decide(meta(0.8, 0.9), {"f1": 0.8, "auc": 0.9}, force=False, tolerance=0.0).version == 2  # equal
    params["x"] = params["x"] + 1
    worse_auc = decide(meta(0.9, 0.89), {"f1": 0.8, "auc": 0.9}, force=False, tolerance=0.0)
    assert not worse_auc.promoted  # better F1 does not buy a worse AUC
    assert "auc 0.8900 < 0.9000" in worse_auc.line
    assert decide(meta(0.9, 0.89), {"f1": 0.8, "auc": 0.9}, force=False, tolerance=0.02).version == 3


def test_rul_gates_are_errors_lower_is_better() -> None:
    ok, why = metrics.not_worse("rul", {"mae_h": 0.5, "rmse_h": 0.7}, {"mae_h": 0.6, "rmse_h": 0.7})
    assert ok
    assert why == "mae_h 0.5000 <= 0.6000, rmse_h 0.7000 <= 0.7000"
    ok, why = metrics.not_worse("rul", {"mae_h": 0.5, "rmse_h": 0.8}, {"mae_h": 0.6, "rmse_h": 0.7})
    assert not ok
    assert "rmse_h 0.8000 > 0.7000" in why


def test_a_different_input_width_is_refused(tmp_path: Path) -> None:
    base = {"metrics": {"holdout": {"f1": 1.0, "auc": 1.0}}}
    place(tmp_path, tmp_path / "c", "m", "anomaly", {"p": np.zeros(1)}, {**base, "features": ["a.mean"]}, None, "",
          force=False, tolerance=0.0)  # fmt: skip
    with pytest.raises(ValueError, match="input width"):
        place(tmp_path, tmp_path / "c", "m", "anomaly", {"p": np.ones(1)}, {**base, "features": ["a.mean", "a.std"]},
              None, "", force=True, tolerance=0.0)  # fmt: skip


def test_metric_functions_agree_with_scikit_learn() -> None:
    from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score  # type: ignore[import-untyped]

    rng = np.random.default_rng(0)
    y = rng.random(500) < 0.3
    score = np.round(y * 0.8 + rng.normal(0, 0.5, 500), 1).astype(np.float64)  # rounded: many ties
    got = metrics.classification(y, score, 0.4)
    assert got["auc"] == pytest.approx(roc_auc_score(y, score), rel=1e-12)
    assert got["precision"] == pytest.approx(precision_score(y, score >= 0.4))
    assert got["recall"] == pytest.approx(recall_score(y, score >= 0.4))
    assert got["f1"] == pytest.approx(f1_score(y, score >= 0.4))
    threshold, best = metrics.best_f1_threshold(y, score)
    assert best == pytest.approx(f1_score(y, score >= threshold))
    assert best == pytest.approx(max(f1_score(y, score >= t) for t in np.unique(score)))
