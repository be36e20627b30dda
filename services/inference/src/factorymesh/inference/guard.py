"""The input guard: is a feature vector like the data the model version was trained on?

A model extrapolates silently; a reading from a miscalibrated sensor or an unseen
operating point gets a confident score all the same. Each input is checked against the
version's ``training_stats`` before it is scored. A feature is out of distribution when

* it lies outside ``[p01 - k·R, p99 + k·R]`` with ``R = p99 - p01`` (the training data's
  central 98 % range; the metadata has no quartiles, so this inter-percentile range plays
  the role of the IQR in Tukey's fences), or
* its z-score against the training mean and std exceeds ``max_z`` (a feature whose
  training std is 0 is OOD at any other value), or
* it is not finite.

The result is still scored and published, with ``out_of_distribution = true``, the
largest |z| as ``out_of_distribution_score``, and a metric — never silently.
Imputed features (training means) are not checked.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from factorymesh.inference.models import ModelVersion

# |z| reported for a feature whose training std is 0 (or that is not finite): large, finite.
Z_CAP = 1e6


@dataclass(frozen=True)
class GuardResult:
    out_of_distribution: bool
    # max |z| over the checked features (0 when none was checked).
    score: float
    violations: tuple[str, ...]


class InputGuard:
    def __init__(self, k: float = 1.5, max_z: float = 6.0) -> None:
        self.k = k
        self.max_z = max_z

    def check_batch(
        self, model: ModelVersion, values: npt.NDArray[np.float32], imputed: npt.NDArray[np.bool_]
    ) -> list[GuardResult]:
        """One result per row of ``values`` [B, N]; ``imputed`` [B, N] marks features not to check."""
        x = np.asarray(values, dtype=np.float64)
        stats = model.stats
        spread = stats.p99 - stats.p01
        low = stats.p01 - self.k * spread
        high = stats.p99 + self.k * spread
        finite = np.isfinite(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(stats.std > 0, np.abs(x - stats.mean) / np.where(stats.std > 0, stats.std, 1.0), 0.0)
        constant_off = (stats.std <= 0) & (x != stats.mean)
        z = np.where(constant_off | ~finite, Z_CAP, np.minimum(z, Z_CAP))
        outside = ~finite | (x < low) | (x > high) | (z > self.max_z)
        checked = ~np.asarray(imputed, dtype=bool)
        violation = outside & checked
        scores = np.where(checked, z, 0.0).max(axis=1) if x.shape[1] else np.zeros(x.shape[0])
        results = []
        for row in range(x.shape[0]):
            names = tuple(model.features[i] for i in np.flatnonzero(violation[row]))
            results.append(GuardResult(bool(names), float(scores[row]), names))
        return results
