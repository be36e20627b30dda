"""Training is deterministic, and what Triton runs is what training evaluated (exported params, model.py)."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from factorymesh.inference.modeling import quality, rul, runtime
from factorymesh.inference.train import main
from factorymesh.inference.train.repository import RUNTIME_SOURCE
from factorymesh.inference.train.testing import write_dataset

MOTOR = "acme/stuttgart/utilities/process-water/drives/motor-01"


@pytest.fixture(scope="module")
def plant_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1.5 h of every class, random faults x3, plus bearings that wear out early (RUL targets)."""
    from factorymesh.inference.train.testing import PUMPS_HOUSTON, PUMPS_STUTTGART
    from factorymesh.line_simulator.faults import FaultEpisode, FaultKind

    wear = [
        FaultEpisode(PUMPS_HOUSTON[0], FaultKind.BEARING_WEAR, 300, 2700, repair_s=600),
        FaultEpisode(PUMPS_STUTTGART[1], FaultKind.BEARING_WEAR, 1800, 4800, repair_s=300),
        FaultEpisode(MOTOR, FaultKind.BEARING_WEAR, 600, 3600, repair_s=600),
    ]
    return write_dataset(
        tmp_path_factory.mktemp("plant"),
        classes=("centrifugal_pump", "induction_motor", "cnc_spindle"),
        duration_s=5400,
        seed=5,
        faults=wear,
        random_faults=True,
        fault_rate_scale=3.0,
    )


def _train(data: Path, repository: Path, *extra: str) -> None:
    args = ["--dataset", str(data), "--repository", str(repository), "--candidates-dir", str(repository.parent / "c")]
    assert main([*args, *extra]) == 0


def test_same_data_same_seed_same_models(plant_data: Path, tmp_path: Path) -> None:
    _train(plant_data, tmp_path / "a" / "repo")
    _train(plant_data, tmp_path / "b" / "repo")
    models = sorted(p.name for p in (tmp_path / "a" / "repo").iterdir())
    assert models == [
        "anomaly_centrifugal_pump",
        "anomaly_cnc_spindle",
        "anomaly_induction_motor",
        "quality_cnc_spindle",
        "rul_centrifugal_pump",
        "rul_induction_motor",
    ]
    for name in models:
        a, b = tmp_path / "a" / "repo" / name, tmp_path / "b" / "repo" / name
        assert (a / "1" / "params.npz").read_bytes() == (b / "1" / "params.npz").read_bytes(), name
        assert (a / "config.pbtxt").read_text() == (b / "config.pbtxt").read_text()
        meta_a, meta_b = (json.loads((d / "1" / "metadata.json").read_text()) for d in (a, b))
        assert meta_a["metrics"] == meta_b["metrics"], name
        assert meta_a["training_stats"] == meta_b["training_stats"], name
        assert meta_a["training_data_sha256"] == meta_b["training_data_sha256"]
        # The served code is the evaluated code.
        assert (a / "1" / "model.py").read_bytes() == RUNTIME_SOURCE.read_bytes()


def test_exported_trees_predict_what_scikit_learn_predicts() -> None:
    from sklearn.ensemble import GradientBoostingRegressor  # type: ignore[import-untyped]

    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 6))
    x[rng.random(x.shape) < 0.02] = np.nan
    # Positive targets: RUL hours are clipped to [0, cap] before fitting.
    y = 5.0 + np.nan_to_num(x[:, 0]) ** 2 + np.nan_to_num(x[:, 1]) + rng.normal(0, 0.1, 400)
    features = [f"t{i}.mean" for i in range(6)]
    params, _ = rul.fit(x[:300], y[:300], x[300:], y[300:], features, rul.RulOptions(cap_hours=100.0), seed=3)
    model = runtime.RulModel(params)
    xi = runtime.impute(runtime.as_input(x), params["fill"])
    reference = GradientBoostingRegressor(
        n_estimators=150, max_depth=3, learning_rate=0.05, subsample=0.8, min_samples_leaf=20, random_state=3
    ).fit(runtime.impute(runtime.as_input(np.concatenate([x[:300], x[300:]])), params["fill"]).astype(np.float32), y)
    np.testing.assert_allclose(model.heads["point"].predict(xi), reference.predict(xi.astype(np.float32)), rtol=1e-9)
    out = model.predict(x)
    assert (out["RUL_LOWER_HOURS"] <= out["RUL_HOURS"]).all()
    assert (out["RUL_HOURS"] <= out["RUL_UPPER_HOURS"]).all()


def test_exported_logistic_regression_predicts_what_scikit_learn_predicts() -> None:
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    rng = np.random.default_rng(1)
    x = rng.normal(size=(500, 4)) * [1.0, 1e5, 1e-7, 3.0] + [0.0, 5e5, 0.0, 1.0]
    y = (x[:, 0] + (x[:, 1] - 5e5) / 1e5 + rng.normal(0, 0.5, 500)) > 0
    features = [f"t{i}.mean" for i in range(4)]
    params, _ = quality.fit(x, y, features, quality.QualityOptions(), seed=0)
    z = runtime.standardize(runtime.as_input(x), params["center"], params["scale"], float(params["clip"]))
    reference = LogisticRegression(C=1.0, max_iter=2000, random_state=0).fit(z, y)
    got = runtime.QualityModel(params).predict(x)["P_OUT_OF_SPEC"][:, 0]
    np.testing.assert_allclose(got, reference.predict_proba(z)[:, 1], rtol=1e-9)


class _Tensor:
    def __init__(self, name: str, array: npt.NDArray[Any]) -> None:
        self.name, self.array = name, array

    def as_numpy(self) -> npt.NDArray[Any]:
        return self.array


class _Response:
    def __init__(self, output_tensors: list[_Tensor], error: Any = None) -> None:
        self.outputs = {t.name: t.array for t in output_tensors}
        self.error = error


def fake_pb_utils() -> types.ModuleType:
    """Just enough of Triton's ``triton_python_backend_utils`` to call TritonPythonModel outside Triton."""
    module = types.ModuleType("triton_python_backend_utils")
    module.Tensor = _Tensor  # type: ignore[attr-defined]
    module.InferenceResponse = _Response  # type: ignore[attr-defined]
    module.TritonError = str  # type: ignore[attr-defined]
    module.get_input_tensor_by_name = lambda request, name: request[name]  # type: ignore[attr-defined]
    return module


def test_triton_entry_point_batches_requests_and_isolates_bad_ones(
    plant_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repository = tmp_path / "repo"
    _train(plant_data, repository, "--task", "anomaly", "--equipment-class", "centrifugal_pump")
    model_dir = repository / "anomaly_centrifugal_pump"
    monkeypatch.setitem(sys.modules, "triton_python_backend_utils", fake_pb_utils())
    from factorymesh.inference.train.repository import config_dict

    meta = json.loads((model_dir / "1" / "metadata.json").read_text())
    n = len(meta["features"])
    served = runtime.TritonPythonModel()
    served.initialize(
        {
            "model_repository": str(model_dir),
            "model_version": "1",
            "model_name": model_dir.name,
            "model_config": json.dumps(config_dict(model_dir.name, "anomaly", n)),
        }
    )
    rng = np.random.default_rng(0)
    mean, std = np.array(meta["training_stats"]["mean"]), np.array(meta["training_stats"]["std"])
    a = (mean + rng.normal(size=(3, n)) * std).astype(np.float32)
    a[0, :5] = np.nan
    b = (mean + 10 * std).astype(np.float32)[np.newaxis, :]
    bad = np.zeros((2, n - 1), dtype=np.float32)
    responses = served.execute([{"FEATURES": _Tensor("FEATURES", x)} for x in (a, bad, b)])
    assert responses[1].error is not None
    assert "columns" in responses[1].error
    reference = runtime.load_version(model_dir / "1")[0].predict(np.concatenate([a, b]))
    for response, rows in ((responses[0], slice(0, 3)), (responses[2], slice(3, 4))):
        assert response.error is None
        assert response.outputs["SCORE"].dtype == np.float32
        assert response.outputs["SCORE"].shape == (rows.stop - rows.start, 1)
        assert response.outputs["CONTRIBUTIONS"].shape == (rows.stop - rows.start, n)
        for name in ("SCORE", "THRESHOLD", "CONTRIBUTIONS"):
            np.testing.assert_array_equal(response.outputs[name], reference[name][rows].astype(np.float32))
    # Contributions explain the score: non-negative, summing to it.
    scores = reference["SCORE"][:, 0]
    assert (reference["CONTRIBUTIONS"] >= 0).all()
    np.testing.assert_allclose(reference["CONTRIBUTIONS"].sum(axis=1), scores, rtol=1e-9)
    assert scores[-1] > float(meta["threshold"])  # 10 sigma everywhere is anomalous
