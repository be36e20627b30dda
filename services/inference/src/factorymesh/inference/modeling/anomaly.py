"""Fitting the anomaly model: robust standardization, operating modes, PCA combined index, threshold.

Unsupervised scoring, supervised threshold: the score only learns what *healthy*
looks like (so it also flags faults nobody labelled), and the labels of the
validation period only choose where to cut it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from factorymesh.inference.modeling import metrics
from factorymesh.inference.modeling.common import Z_CLIP, fill_values, robust_center_scale
from factorymesh.inference.modeling.runtime import AnomalyModel, as_input, impute, standardize

F64 = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class AnomalyOptions:
    # Operating modes (k-means clusters of healthy windows), each with its own PCA:
    # a spindle cycling through its program is several machines, not one.
    modes: int = 1
    # Variance kept in the principal subspace; the rest is the residual (SPE) space.
    variance: float = 0.95
    # Quantile of healthy fit windows that T^2 and SPE are normalized by (control limits).
    limit_quantile: float = 0.99
    # Without enough labelled faults in the validation period, the threshold is this
    # quantile of healthy fit scores (about one false alarm per 200 healthy windows).
    fallback_quantile: float = 0.995
    min_validation_positives: int = 10
    # The threshold flags at most ~5 % of healthy fit windows, whatever the validation says.
    min_threshold_quantile: float = 0.95


def _modes(z: F64, k: int, seed: int) -> tuple[F64, npt.NDArray[np.intp]]:
    """Cluster centers and labels (k-means, deterministic for a seed); never a cluster too small for a PCA."""
    n = z.shape[1]
    while k > 1:
        from sklearn.cluster import KMeans  # type: ignore[import-untyped]  # training only

        km = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(z)
        labels = km.labels_.astype(np.intp)
        if np.bincount(labels, minlength=k).min() >= 3 * n:
            # Order modes by size, then center, so the same data always gives the same params.
            order = np.lexsort((km.cluster_centers_[:, 0], -np.bincount(labels, minlength=k)))
            remap = np.empty(k, dtype=np.intp)
            remap[order] = np.arange(k)
            return np.asarray(km.cluster_centers_[order], dtype=np.float64), remap[labels]
        k -= 1
    return z.mean(axis=0, keepdims=True), np.zeros(z.shape[0], dtype=np.intp)


def _combined_index_root(zc: F64, variance: float, q: float) -> tuple[F64, dict[str, Any]]:
    """M = Phi^(1/2) for one mode's centred data: principal directions weighted by 1/(lambda T2_lim),
    residual directions by 1/SPE_lim."""
    m, n = zc.shape
    cov = zc.T @ zc / max(m - 1, 1)
    # A small ridge keeps directions with (near) zero healthy variance finite.
    cov += np.eye(n) * (1e-6 * max(float(np.trace(cov)) / n, 1e-12))
    lam, vec = np.linalg.eigh(cov)
    lam, vec = lam[::-1], vec[:, ::-1]
    k = int(np.searchsorted(np.cumsum(lam) / lam.sum(), variance) + 1)
    k = min(max(k, 1), n - 1)
    t = zc @ vec
    t2 = np.sum(t[:, :k] ** 2 / lam[:k], axis=1)
    spe = np.sum(t[:, k:] ** 2, axis=1)
    t2_lim = float(np.quantile(t2, q))
    spe_lim = float(np.quantile(spe, q))
    weights = np.concatenate([1.0 / (lam[:k] * t2_lim), np.full(n - k, 1.0 / spe_lim)])
    # V diag(sqrt(w)) V^T: symmetric, and independent of the (arbitrary) eigenvector signs.
    root = (vec * np.sqrt(weights)) @ vec.T
    return root, {"components": k, "t2_limit": t2_lim, "spe_limit": spe_lim, "windows": m}


def fit(
    x_fit: F64,
    healthy_fit: Bools,
    x_val: F64,
    y_val: Bools,
    features: list[str] | tuple[str, ...],
    options: AnomalyOptions,
    seed: int,
) -> tuple[dict[str, npt.NDArray[Any]], dict[str, Any]]:
    """Params for :class:`~factorymesh.inference.modeling.runtime.AnomalyModel`, and a description."""
    healthy = as_input(x_fit[healthy_fit])
    if healthy.shape[0] < 3 * healthy.shape[1]:
        raise ValueError(f"too few healthy windows to fit ({healthy.shape[0]} for {healthy.shape[1]} features)")
    fill = fill_values(healthy, features)
    imputed = impute(healthy, fill)
    center, scale = robust_center_scale(imputed, features)
    z = standardize(imputed, center, scale, Z_CLIP)
    mu, labels = _modes(z, options.modes, seed)
    roots = []
    modes = []
    for c in range(mu.shape[0]):
        root, mode = _combined_index_root(z[labels == c] - mu[c], options.variance, options.limit_quantile)
        roots.append(root)
        modes.append(mode)
    params: dict[str, npt.NDArray[Any]] = {
        "fill": fill,
        "center": center,
        "scale": scale,
        "clip": np.array(Z_CLIP),
        "mu": mu,
        "m": np.stack(roots),
        "threshold": np.array(np.inf),
    }
    model = AnomalyModel(params)
    healthy_scores = model.explain(z)[0]
    val_scores = model.explain(model.transform(x_val))[0] if x_val.shape[0] else np.zeros(0)
    n_pos = int(np.sum(y_val))
    if n_pos >= options.min_validation_positives and x_val.shape[0] - n_pos >= options.min_validation_positives:
        # Never below this quantile of healthy scores: when the validation period is mostly
        # faults nobody could see yet (early wear, slow drift), "flag everything" has the best
        # F1 there, and a detector that always alarms is useless.
        floor = float(np.quantile(healthy_scores, options.min_threshold_quantile))
        above = val_scores >= floor
        threshold, val_f1 = metrics.best_f1_threshold(y_val[above], val_scores[above]) if above.any() else (floor, 0.0)
        threshold = max(threshold, floor)
        how = f"best F1 on the validation period ({n_pos} anomalous windows)"
    else:
        threshold = float(np.quantile(healthy_scores, options.fallback_quantile))
        val_f1 = float("nan")
        how = f"{options.fallback_quantile} quantile of healthy fit scores (only {n_pos} anomalous validation windows)"
    params["threshold"] = np.array(threshold)
    info: dict[str, Any] = {
        "method": "robust z-scores, per-mode PCA combined index (T^2/T2_lim + SPE/SPE_lim), "
        "complete-decomposition contributions",
        "modes": modes,
        "variance_kept": options.variance,
        "limit_quantile": options.limit_quantile,
        "threshold_rule": how,
        "validation_f1": val_f1,
        "healthy_fit_windows": int(healthy.shape[0]),
    }
    return params, info
