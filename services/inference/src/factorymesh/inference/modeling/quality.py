"""Fitting the quality model: logistic regression on standardized window statistics.

Target: the part being machined in the window goes out of tolerance, i.e. the tool's
true flank wear reached ``worn_mm`` (0.25 mm, the simulator's ``tool_worn``; ISO 3685
puts end of life at 0.3 mm). Unweighted classes, so ``P_OUT_OF_SPEC`` is a calibrated
probability rather than a score.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from factorymesh.inference.modeling.common import Z_CLIP, fill_values
from factorymesh.inference.modeling.runtime import as_input, impute, standardize

F64 = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class QualityOptions:
    worn_mm: float = 0.25
    c: float = 1.0  # inverse L2 strength: features are standardized, so 1.0 is a mild prior
    decision_threshold: float = 0.5


def fit(
    x: F64, y: Bools, features: list[str] | tuple[str, ...], options: QualityOptions, seed: int
) -> tuple[dict[str, npt.NDArray[Any]], dict[str, Any]]:
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]  # training only

    if np.unique(y).size < 2:
        raise ValueError("the training period has windows of one class only (in or out of spec)")
    fill = fill_values(x, features)
    xi = impute(as_input(x), fill)
    center = xi.mean(axis=0)
    scale = xi.std(axis=0)
    scale = np.where(scale > 1e-6 * np.abs(center), scale, np.maximum(1e-6 * np.abs(center), 1.0))
    z = standardize(xi, center, scale, Z_CLIP)
    model = LogisticRegression(C=options.c, max_iter=2000, random_state=seed).fit(z, y)
    params: dict[str, npt.NDArray[Any]] = {
        "fill": fill,
        "center": center,
        "scale": scale,
        "clip": np.array(Z_CLIP),
        "coef": np.asarray(model.coef_[0], dtype=np.float64),
        "intercept": np.array(float(model.intercept_[0])),
    }
    info = {
        "method": "logistic regression (scikit-learn, L2, exported to numpy) on standardized features",
        "C": options.c,
        "worn_mm": options.worn_mm,
        "decision_threshold": options.decision_threshold,
        "training_windows": int(x.shape[0]),
        "out_of_spec_windows": int(np.sum(y)),
    }
    return params, info
