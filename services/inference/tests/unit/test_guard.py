"""The input guard flags features far from the training distribution, and skips imputed ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from inference_fakes import ANOMALY_FEATURES, write_model

from factorymesh.inference.guard import InputGuard
from factorymesh.inference.models import ModelVersion, load_version

N = len(ANOMALY_FEATURES)


@pytest.fixture
def model(tmp_path: Path) -> ModelVersion:
    # mean 1.0, std 0.1, p01 0.77, p99 1.23 for every feature
    return load_version(write_model(tmp_path, "anomaly_centrifugal_pump"), "anomaly_centrifugal_pump", "1")


def check(model: ModelVersion, row: list[float], imputed: list[bool] | None = None, **kw: float):
    guard = InputGuard(**kw)
    values = np.asarray([row], dtype=np.float32)
    mask = np.asarray([imputed or [False] * N])
    return guard.check_batch(model, values, mask)[0]


def test_training_like_input_passes(model: ModelVersion) -> None:
    result = check(model, [1.0, 1.1, 0.9, 1.05, 0.95, 1.0])
    assert not result.out_of_distribution
    assert result.violations == ()
    assert result.score == pytest.approx(1.0, abs=1e-5)  # max |z| = 0.1 / 0.1


def test_a_feature_beyond_the_fences_is_flagged(model: ModelVersion) -> None:
    # fences: 0.77 - 1.5 * 0.46 = 0.08 .. 1.23 + 0.69 = 1.92; 1.95 is outside, |z| = 9.5
    result = check(model, [1.0, 1.0, 1.95, 1.0, 1.0, 1.0])
    assert result.out_of_distribution
    assert result.violations == ("vibration_rms.mean",)
    assert result.score == pytest.approx(9.5, rel=1e-4)


def test_z_rule_alone_can_flag(model: ModelVersion) -> None:
    # with very wide fences only |z| > max_z decides
    result = check(model, [1.7, 1.0, 1.0, 1.0, 1.0, 1.0], k=100.0, max_z=6.0)
    assert result.violations == ("flow.mean",)
    assert not check(model, [1.55, 1.0, 1.0, 1.0, 1.0, 1.0], k=100.0, max_z=6.0).out_of_distribution


def test_imputed_features_are_not_checked(model: ModelVersion) -> None:
    result = check(model, [1.0, 1.0, 50.0, 1.0, 1.0, 1.0], imputed=[False, False, True, False, False, False])
    assert not result.out_of_distribution


def test_non_finite_and_constant_training_features(tmp_path: Path) -> None:
    stats = {
        "mean": [1.0, 2.0],
        "std": [0.1, 0.0],
        "min": [0.5, 2.0],
        "max": [1.5, 2.0],
        "p01": [0.8, 2.0],
        "p99": [1.2, 2.0],
    }
    model = load_version(
        write_model(tmp_path, "anomaly_x", features=["a.mean", "b.mean"], stats=stats), "anomaly_x", "1"
    )
    guard = InputGuard()
    rows = np.asarray([[np.nan, 2.0], [1.0, 2.1], [1.0, 2.0]], dtype=np.float32)
    results = guard.check_batch(model, rows, np.zeros(rows.shape, dtype=bool))
    assert [r.violations for r in results] == [("a.mean",), ("b.mean",), ()]
    assert results[0].score == pytest.approx(1e6)
