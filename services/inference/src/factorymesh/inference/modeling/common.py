"""Helpers shared by the fitting code (training only: prediction lives in runtime.py)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from factorymesh.inference.modeling.runtime import as_input

F64 = npt.NDArray[np.float64]

# |z| beyond this is "very far" already; clipping keeps one wild statistic (a spike's
# kurtosis) from drowning every other feature in a score or a logistic sum.
Z_CLIP = 20.0
# valid_fraction is ~1 in healthy data (often exactly): its spread says nothing about how
# far a drop is. One reading in ten missing or bad = one standard unit.
VALID_FRACTION_SCALE = 0.1


def fill_values(x: F64, features: list[str] | tuple[str, ...]) -> F64:
    """What a missing input becomes: 0 for valid_fraction (no valid readings), else the training median."""
    x = as_input(x)
    with np.errstate(all="ignore"):
        finite = np.where(np.isfinite(x), x, np.nan)
        all_missing = np.all(np.isnan(finite), axis=0)
        median = np.nanmedian(np.where(all_missing[np.newaxis, :], 0.0, finite), axis=0)
    fill: F64 = np.where(_is_valid_fraction(features), 0.0, median)
    return fill


def robust_center_scale(x: F64, features: list[str] | tuple[str, ...]) -> tuple[F64, F64]:
    """Median and a scale for standardizing: 1.4826 MAD (= std for normal data, robust to the
    faults hiding in "healthy" data), else the std, else 1; valid_fraction at least 0.1."""
    center = np.median(x, axis=0)
    scale = 1.4826 * np.median(np.abs(x - center), axis=0)
    std = np.std(x, axis=0)
    scale = np.where(scale > 0, scale, np.where(std > 0, std, 1.0))
    # A scale below float32 resolution of the center would turn rounding into "anomalies".
    scale = np.maximum(scale, 1e-6 * np.abs(center))
    scale = np.where(_is_valid_fraction(features), np.maximum(scale, VALID_FRACTION_SCALE), scale)
    return center, scale


def _is_valid_fraction(features: list[str] | tuple[str, ...]) -> npt.NDArray[np.bool_]:
    return np.array([f.rpartition(".")[2] == "valid_fraction" for f in features], dtype=np.bool_)


def training_stats(x: F64) -> dict[str, list[float]]:
    """Per-feature mean, std, min, max, 1st / 99th percentile of the raw training inputs (NaN-aware;
    0 where a feature was never present), for the serving side's out-of-distribution guard."""
    x = as_input(x)
    finite = np.where(np.isfinite(x), x, np.nan)
    empty = np.all(np.isnan(finite), axis=0)
    safe = np.where(empty[np.newaxis, :], 0.0, finite)
    with np.errstate(all="ignore"):
        stats = {
            "mean": np.nanmean(safe, axis=0),
            "std": np.nanstd(safe, axis=0),
            "min": np.nanmin(safe, axis=0),
            "max": np.nanmax(safe, axis=0),
            "p01": np.nanpercentile(safe, 1, axis=0),
            "p99": np.nanpercentile(safe, 99, axis=0),
        }
    return {k: [float(v) for v in np.nan_to_num(a, nan=0.0, posinf=0.0, neginf=0.0)] for k, a in stats.items()}
