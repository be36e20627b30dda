"""Evaluation metrics (numpy), and which of them decide a promotion.

Classification (anomaly, quality): precision, recall, F1 at the model's threshold,
ROC AUC (threshold-free), plus counts. Regression (RUL): MAE and RMSE in hours over
all held-out windows, MAE over windows with a failure developing, and the coverage
of the prediction interval.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

# Metrics a new version must not be worse at than the serving one: (name, higher is better).
GATES: dict[str, tuple[tuple[str, bool], ...]] = {
    "anomaly": (("f1", True), ("auc", True)),
    "quality": (("f1", True), ("auc", True)),
    "rul": (("mae_h", False), ("rmse_h", False)),
}


def roc_auc(y: Bools, score: F64) -> float:
    """Area under the ROC curve (Mann-Whitney U with average ranks for ties); NaN if one class is absent."""
    y = np.asarray(y, dtype=np.bool_)
    n_pos = int(y.sum())
    n_neg = int(y.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        return math.nan
    _, inverse, counts = np.unique(score, return_inverse=True, return_counts=True)
    # Average rank of each distinct value: ranks start at 1.
    ends = np.cumsum(counts)
    avg_rank = ends - (counts - 1) / 2.0
    ranks = avg_rank[inverse.reshape(-1)]
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def classification(y: Bools, score: F64, threshold: float) -> dict[str, float]:
    y = np.asarray(y, dtype=np.bool_)
    predicted = np.asarray(score) >= threshold
    tp = int((predicted & y).sum())
    fp = int((predicted & ~y).sum())
    fn = int((~predicted & y).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "auc": roc_auc(y, np.asarray(score, dtype=np.float64)),
        "threshold": float(threshold),
        "windows": int(y.size),
        "positives": int(y.sum()),
    }


def best_f1_threshold(y: Bools, score: F64) -> tuple[float, float]:
    """The threshold (one of the scores) with the highest F1, and that F1; ties take the higher threshold."""
    y = np.asarray(y, dtype=np.bool_)
    order = np.argsort(-score, kind="stable")
    s = score[order]
    hits = np.cumsum(y[order])
    flagged = np.arange(1, s.size + 1)
    # Only the last of equal scores is a valid cut (">= threshold" flags all of them).
    last = np.append(s[1:] != s[:-1], True)
    total = int(y.sum())
    precision = hits / flagged
    recall = hits / total if total else np.zeros_like(precision)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    f1 = np.where(last, f1, -1.0)
    best = int(np.argmax(f1))  # first maximum = highest score = fewest alarms among equals
    return float(s[best]), float(f1[best])


def regression(y_h: F64, point_h: F64, lower_h: F64, upper_h: F64, developing: Bools) -> dict[str, float]:
    err = point_h - y_h
    dev = np.asarray(developing, dtype=np.bool_)
    return {
        "mae_h": float(np.mean(np.abs(err))) if err.size else math.nan,
        "rmse_h": float(np.sqrt(np.mean(err * err))) if err.size else math.nan,
        "mae_developing_h": float(np.mean(np.abs(err[dev]))) if dev.any() else math.nan,
        "interval_coverage": float(np.mean((y_h >= lower_h) & (y_h <= upper_h))) if err.size else math.nan,
        "windows": int(err.size),
        "developing_windows": int(dev.sum()),
    }


def not_worse(task: str, new: dict[str, float], old: dict[str, float], tolerance: float = 0.0) -> tuple[bool, str]:
    """Whether ``new`` is at least as good as ``old`` on every gate metric, and a one-line reason."""
    parts = []
    ok = True
    for name, higher in GATES[task]:
        a, b = new.get(name, math.nan), old.get(name, math.nan)
        if math.isnan(b):
            parts.append(f"{name} {a:.4f} (serving: n/a)")
            continue
        if math.isnan(a):
            ok = False
            parts.append(f"{name} n/a < {b:.4f}")
            continue
        good = a >= b - tolerance if higher else a <= b + tolerance
        ok &= good
        sign = (">=" if higher else "<=") if good else ("<" if higher else ">")
        parts.append(f"{name} {a:.4f} {sign} {b:.4f}")
    return ok, ", ".join(parts)
