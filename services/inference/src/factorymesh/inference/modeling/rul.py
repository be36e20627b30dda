"""Fitting the RUL model: gradient-boosted trees for the point estimate and the interval bounds.

scikit-learn fits; the trees are exported as flat arrays that the numpy runtime walks
(:class:`~factorymesh.inference.modeling.runtime.TreeEnsemble`).

Target: hours until the bearing fails, from the ground truth at the window's last
tick. A machine with no failure developing has no finite RUL; it is trained as
``cap_hours`` (the horizon), the piecewise-linear target usual for RUL (C-MAPSS):
"at least cap_hours" is all the data can say about a healthy machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from factorymesh.inference.modeling.common import fill_values
from factorymesh.inference.modeling.runtime import RulModel, as_input, impute

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class RulOptions:
    cap_hours: float = 4.0
    coverage: float = 0.9  # the interval [lower, upper] should hold the true RUL this often
    n_estimators: int = 150
    max_depth: int = 3
    learning_rate: float = 0.05
    subsample: float = 0.8  # stochastic boosting: less overfitting; deterministic for a seed
    min_samples_leaf: int = 20


def _export(model: Any, prefix: str) -> dict[str, npt.NDArray[Any]]:
    trees = [est.tree_ for est in model.estimators_[:, 0]]
    nodes = max(t.node_count for t in trees)
    shape = (len(trees), nodes)
    feature = np.zeros(shape, dtype=np.int32)
    threshold = np.zeros(shape, dtype=np.float64)
    left = np.full(shape, -1, dtype=np.int32)
    right = np.full(shape, -1, dtype=np.int32)
    value = np.zeros(shape, dtype=np.float64)
    for i, t in enumerate(trees):
        n = t.node_count
        leaf = t.children_left[:n] < 0
        # Leaves keep feature 0: the runtime reads x[feature] for every node it stands on.
        feature[i, :n] = np.where(leaf, 0, t.feature[:n])
        threshold[i, :n] = np.where(leaf, 0.0, t.threshold[:n])
        left[i, :n] = t.children_left[:n]
        right[i, :n] = t.children_right[:n]
        value[i, :n] = t.value[:n, 0, 0]
    return {
        f"{prefix}_feature": feature,
        f"{prefix}_threshold": threshold,
        f"{prefix}_left": left,
        f"{prefix}_right": right,
        f"{prefix}_value": value,
        f"{prefix}_init": np.array(float(np.ravel(model.init_.constant_)[0])),
        f"{prefix}_rate": np.array(float(model.learning_rate)),
        f"{prefix}_depth": np.array(max(int(t.max_depth) for t in trees)),
    }


def fit(
    x: F64,
    target_h: F64,
    x_val: F64,
    target_val_h: F64,
    features: list[str] | tuple[str, ...],
    options: RulOptions,
    seed: int,
) -> tuple[dict[str, npt.NDArray[Any]], dict[str, Any]]:
    """The point estimate learns from the whole training period (fit + validation). The interval's
    quantile models learn from the fit period only, and the validation period widens them
    (conformalized quantile regression, Romano et al. 2019): quantile models alone under-cover
    on data they did not see."""
    from sklearn.ensemble import GradientBoostingRegressor  # type: ignore[import-untyped]  # training only

    fill = fill_values(np.concatenate([x, x_val]), features)
    alpha = (1.0 - options.coverage) / 2.0
    params: dict[str, npt.NDArray[Any]] = {"fill": fill, "cap_hours": np.array(options.cap_hours)}
    heads = {"point": ("squared_error", 0.5), "lower": ("quantile", alpha), "upper": ("quantile", 1.0 - alpha)}
    for name, (loss, quantile) in heads.items():
        rows_x, rows_y = (
            (np.concatenate([x, x_val]), np.concatenate([target_h, target_val_h])) if name == "point" else (x, target_h)
        )
        xi = impute(as_input(rows_x), fill)
        y = np.clip(rows_y, 0.0, options.cap_hours)
        model = GradientBoostingRegressor(
            loss=loss,
            alpha=quantile,
            n_estimators=options.n_estimators,
            max_depth=options.max_depth,
            learning_rate=options.learning_rate,
            subsample=options.subsample,
            min_samples_leaf=options.min_samples_leaf,
            random_state=seed,
        )
        model.fit(xi.astype(np.float32), y)
        params.update(_export(model, name))
    params["adjust_hours"] = np.array(0.0)
    adjust = 0.0
    if x_val.shape[0]:
        # Conformity score: how far the true RUL lies outside [lower, upper] (negative inside).
        # Its finite-sample-corrected coverage quantile is added on both sides.
        out = RulModel(params).predict(x_val)
        y_val = np.clip(target_val_h, 0.0, options.cap_hours)
        lower, upper = out["RUL_LOWER_HOURS"][:, 0], out["RUL_UPPER_HOURS"][:, 0]
        score = np.maximum(lower - y_val, y_val - upper)
        level = min(1.0, np.ceil((score.size + 1) * options.coverage) / score.size)
        adjust = float(np.quantile(score, level))
        params["adjust_hours"] = np.array(adjust)
    info = {
        "method": "gradient-boosted trees (scikit-learn GradientBoostingRegressor, exported to numpy): "
        f"squared error for the estimate, quantile loss at {alpha:g} / {1 - alpha:g} for the interval",
        "cap_hours": options.cap_hours,
        "interval_coverage": options.coverage,
        "n_estimators": options.n_estimators,
        "max_depth": options.max_depth,
        "learning_rate": options.learning_rate,
        "subsample": options.subsample,
        "interval_adjust_hours": adjust,
        "calibration_windows": int(x_val.shape[0]),
        "training_windows": int(x.shape[0] + x_val.shape[0]),
        "developing_windows": int(np.sum(target_h < options.cap_hours) + np.sum(target_val_h < options.cap_hours)),
    }
    return params, info
