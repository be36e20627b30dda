"""factorymesh industrial models: numpy inference, and the Triton python-backend entry point.

This file is the single source of every model's prediction code. Training copies
it verbatim into each version directory as ``model.py``; Triton's python backend
then imports it there, and training, evaluation and the promotion check import it
from the package. So the numbers a version is promoted on are computed by exactly
the code that serves it. It therefore imports nothing but the standard library and
numpy (the official Triton image has both; no scikit-learn, no factorymesh).

A version directory holds ``model.py`` (this file), ``params.npz`` (fitted
arrays) and ``metadata.json`` (the ``task``, ``features`` order, window,
metrics, ...). Every model takes ``FEATURES`` FP32 ``[batch, n_features]`` in
the ``metadata.json`` feature order and answers, per task:

* ``anomaly``: ``SCORE`` [1], ``THRESHOLD`` [1] (anomalous when SCORE >= THRESHOLD),
  ``CONTRIBUTIONS`` [n_features] (non-negative, they sum to SCORE);
* ``rul``: ``RUL_HOURS``, ``RUL_LOWER_HOURS``, ``RUL_UPPER_HOURS`` [1];
* ``quality``: ``P_OUT_OF_SPEC`` [1].

Missing inputs are NaN (an unset optional statistic, or no window for a tag): a
``valid_fraction`` feature becomes 0 (no valid readings), any other feature the
median of the training data. Infinite values are treated as missing.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]

# Bumped when the meaning of params.npz changes; metadata.json records it so an older
# runtime can refuse parameters it would misread.
RUNTIME_FORMAT = 1

TASK_OUTPUTS: dict[str, tuple[str, ...]] = {
    "anomaly": ("SCORE", "THRESHOLD", "CONTRIBUTIONS"),
    "rul": ("RUL_HOURS", "RUL_LOWER_HOURS", "RUL_UPPER_HOURS"),
    "quality": ("P_OUT_OF_SPEC",),
}
INPUT_NAME = "FEATURES"


# --------------------------------------------------------------------------- shared preprocessing


def _scalar(value: npt.NDArray[Any]) -> float:
    """A stored scalar parameter (a 0-d or one-element array) as a float."""
    return float(np.asarray(value).item())


def as_input(features: npt.ArrayLike) -> F64:
    """The model input as float64, after rounding to float32.

    Triton receives FP32; rounding here too makes offline predictions (training,
    evaluation, promotion) bit-for-bit those of the served model.
    """
    x = np.asarray(features, dtype=np.float32)
    if x.ndim == 1:
        x = x[np.newaxis, :]
    if x.ndim != 2:
        raise ValueError(f"FEATURES must be [batch, n_features], got shape {x.shape}")
    return x.astype(np.float64)


def impute(x: F64, fill: F64) -> F64:
    """Replace NaN / inf by ``fill`` per column (a copy)."""
    out = np.array(x, dtype=np.float64, copy=True)
    missing = ~np.isfinite(out)
    if missing.any():
        out[missing] = np.broadcast_to(fill, out.shape)[missing]
    return out


def standardize(x: F64, center: F64, scale: F64, clip: float) -> F64:
    """(x - center) / scale, clipped to +-clip so one wild reading cannot dominate a score."""
    z: F64 = np.clip((x - center) / scale, -clip, clip)
    return z


# --------------------------------------------------------------------------- models


class AnomalyModel:
    """Multivariate statistical process control (PCA, combined T^2 + SPE index), per operating mode.

    Features are imputed, robustly standardized (median / MAD) and clipped. For each
    operating mode ``c`` (k-means cluster of healthy training windows) training stored
    ``mu_c`` and ``M_c = Phi_c^(1/2)``, the square root of the combined-index matrix
    ``Phi = P_res / SPE_limit + P Lambda^-1 P^T / T2_limit`` (Yue & Qin 2001). Then
    ``u = M_c (z - mu_c)``, the mode's index is ``|u|^2`` and the score is the smallest
    over modes (the window is judged against the operating mode it is closest to).
    ``u_i^2`` are the complete-decomposition contributions (Alcala & Qin 2009):
    non-negative, and they sum to the score.
    """

    task = "anomaly"

    def __init__(self, params: Mapping[str, npt.NDArray[Any]]) -> None:
        self.fill = np.asarray(params["fill"], dtype=np.float64)
        self.center = np.asarray(params["center"], dtype=np.float64)
        self.scale = np.asarray(params["scale"], dtype=np.float64)
        self.clip = _scalar(params["clip"])
        self.mu = np.asarray(params["mu"], dtype=np.float64)  # [modes, n]
        self.m = np.asarray(params["m"], dtype=np.float64)  # [modes, n, n], symmetric
        self.threshold = _scalar(params["threshold"])
        self.m_mu = np.einsum("kij,kj->ki", self.m, self.mu)
        self.n_features = int(self.center.shape[0])

    def transform(self, features: npt.ArrayLike) -> F64:
        return standardize(impute(as_input(features), self.fill), self.center, self.scale, self.clip)

    def explain(self, z: F64) -> tuple[F64, F64]:
        """Score and contributions of standardized rows ``z``."""
        u = np.einsum("bj,kij->bki", z, self.m) - self.m_mu[np.newaxis, :, :]
        per_mode = np.einsum("bki,bki->bk", u, u)
        mode = np.argmin(per_mode, axis=1)
        rows = np.arange(z.shape[0])
        contributions = u[rows, mode, :] ** 2
        return per_mode[rows, mode], contributions

    def predict(self, features: npt.ArrayLike) -> dict[str, F64]:
        score, contributions = self.explain(self.transform(features))
        return {
            "SCORE": score[:, np.newaxis],
            "THRESHOLD": np.full((score.shape[0], 1), self.threshold),
            "CONTRIBUTIONS": contributions,
        }


class TreeEnsemble:
    """Gradient-boosted regression trees in flat arrays: ``init + rate * sum(leaf values)``.

    Arrays are ``[trees, nodes]``; ``left == -1`` marks a leaf. A row goes left when
    ``x[feature] <= threshold``, with x rounded to float32 first, as scikit-learn's
    trees compare (so exported trees predict exactly what they predicted in training).
    """

    def __init__(self, params: Mapping[str, npt.NDArray[Any]], prefix: str) -> None:
        self.feature = np.asarray(params[f"{prefix}_feature"], dtype=np.int64)
        self.threshold = np.asarray(params[f"{prefix}_threshold"], dtype=np.float64)
        self.left = np.asarray(params[f"{prefix}_left"], dtype=np.int64)
        self.right = np.asarray(params[f"{prefix}_right"], dtype=np.int64)
        self.value = np.asarray(params[f"{prefix}_value"], dtype=np.float64)
        self.init = _scalar(params[f"{prefix}_init"])
        self.rate = _scalar(params[f"{prefix}_rate"])
        self.depth = int(_scalar(params[f"{prefix}_depth"]))

    def predict(self, x: F64) -> F64:
        x32 = x.astype(np.float32)
        trees = np.arange(self.feature.shape[0])[np.newaxis, :]
        node = np.zeros((x.shape[0], self.feature.shape[0]), dtype=np.int64)
        rows = np.arange(x.shape[0])[:, np.newaxis]
        for _ in range(self.depth):
            leaf = self.left[trees, node] < 0
            go_left = x32[rows, self.feature[trees, node]] <= self.threshold[trees, node]
            node = np.where(leaf, node, np.where(go_left, self.left[trees, node], self.right[trees, node]))
        out: F64 = self.init + self.rate * self.value[trees, node].sum(axis=1)
        return out


class RulModel:
    """Remaining useful life in hours: a point model and two quantile models (the interval).

    The three heads are gradient-boosted trees (squared error; quantile loss at the
    interval's lower and upper quantiles); the interval is widened by ``adjust_hours``
    on each side (conformal calibration on the validation period; it may be negative).
    Outputs are clipped to ``[0, cap]`` (cap = the horizon the model was trained to:
    "no failure developing within it") and ordered, so lower <= point <= upper holds.
    """

    task = "rul"

    def __init__(self, params: Mapping[str, npt.NDArray[Any]]) -> None:
        self.fill = np.asarray(params["fill"], dtype=np.float64)
        self.cap = _scalar(params["cap_hours"])
        self.adjust = _scalar(params["adjust_hours"])
        self.heads = {name: TreeEnsemble(params, name) for name in ("point", "lower", "upper")}
        self.n_features = int(self.fill.shape[0])

    def predict(self, features: npt.ArrayLike) -> dict[str, F64]:
        x = impute(as_input(features), self.fill)
        point = np.clip(self.heads["point"].predict(x), 0.0, self.cap)
        lower = np.clip(self.heads["lower"].predict(x) - self.adjust, 0.0, self.cap)
        upper = np.clip(self.heads["upper"].predict(x) + self.adjust, 0.0, self.cap)
        return {
            "RUL_HOURS": point[:, np.newaxis],
            "RUL_LOWER_HOURS": np.minimum(lower, point)[:, np.newaxis],
            "RUL_UPPER_HOURS": np.maximum(upper, point)[:, np.newaxis],
        }


class QualityModel:
    """Logistic regression on standardized features: P(parts out of specification)."""

    task = "quality"

    def __init__(self, params: Mapping[str, npt.NDArray[Any]]) -> None:
        self.fill = np.asarray(params["fill"], dtype=np.float64)
        self.center = np.asarray(params["center"], dtype=np.float64)
        self.scale = np.asarray(params["scale"], dtype=np.float64)
        self.clip = _scalar(params["clip"])
        self.coef = np.asarray(params["coef"], dtype=np.float64)
        self.intercept = _scalar(params["intercept"])
        self.n_features = int(self.center.shape[0])

    def predict(self, features: npt.ArrayLike) -> dict[str, F64]:
        z = standardize(impute(as_input(features), self.fill), self.center, self.scale, self.clip)
        logit = z @ self.coef + self.intercept
        # The logistic function as tanh: no exp overflow for large |logit|.
        p = 0.5 * (1.0 + np.tanh(0.5 * logit))
        return {"P_OUT_OF_SPEC": p[:, np.newaxis]}


Model = AnomalyModel | RulModel | QualityModel
_MODELS: dict[str, type[AnomalyModel] | type[RulModel] | type[QualityModel]] = {
    "anomaly": AnomalyModel,
    "rul": RulModel,
    "quality": QualityModel,
}


def build_model(task: str, params: Mapping[str, npt.NDArray[Any]]) -> Model:
    if task not in _MODELS:
        raise ValueError(f"unknown task {task!r}")
    return _MODELS[task](params)


def load_version(version_dir: str | os.PathLike[str]) -> tuple[Model, dict[str, Any]]:
    """The model and metadata of one version directory (``params.npz`` + ``metadata.json``)."""
    with open(os.path.join(version_dir, "metadata.json"), encoding="utf-8") as file:
        metadata: dict[str, Any] = json.load(file)
    fmt = int(metadata.get("runtime_format", RUNTIME_FORMAT))
    if fmt > RUNTIME_FORMAT:
        raise ValueError(f"params format {fmt} is newer than this runtime ({RUNTIME_FORMAT})")
    with np.load(os.path.join(version_dir, "params.npz"), allow_pickle=False) as npz:
        params = {key: npz[key] for key in npz.files}
    model = build_model(str(metadata["task"]), params)
    n_features = len(metadata["features"])
    if model.n_features != n_features:
        raise ValueError(f"params have {model.n_features} features, metadata.json lists {n_features}")
    return model, metadata


# --------------------------------------------------------------------------- Triton entry point


class TritonPythonModel:
    """Triton python backend: one ``execute`` call scores every request of a dynamic batch at once."""

    def initialize(self, args: dict[str, str]) -> None:
        # Imported here, not at module level: the module is also imported outside Triton.
        self.pb: Any = importlib.import_module("triton_python_backend_utils")
        self.name = args.get("model_name", "model")
        # Files live next to this version's model.py, wherever the repository is mounted.
        version_dir = os.path.join(args["model_repository"], args["model_version"])
        self.model, self.metadata = load_version(version_dir)
        self.outputs = TASK_OUTPUTS[self.model.task]
        config = json.loads(args["model_config"])
        dims = [int(d) for d in config["input"][0]["dims"]]
        if dims != [self.model.n_features]:
            raise ValueError(f"{self.name}: config.pbtxt FEATURES dims {dims} != {self.model.n_features} features")

    def execute(self, requests: list[Any]) -> list[Any]:  # signature fixed by Triton
        pb = self.pb
        batches: list[F64] = []
        errors: list[str | None] = []
        for request in requests:
            try:
                features = as_input(pb.get_input_tensor_by_name(request, INPUT_NAME).as_numpy())
                if features.shape[1] != self.model.n_features:
                    raise ValueError(f"FEATURES has {features.shape[1]} columns, expected {self.model.n_features}")
                batches.append(features)
                errors.append(None)
            except Exception as exc:  # noqa: BLE001 - one bad request must not fail its batch neighbours
                errors.append(str(exc))
        # One prediction for the whole dynamic batch: numpy is fastest on one large array.
        outputs = self.model.predict(np.concatenate(batches)) if batches else {}
        responses = []
        row = 0
        sizes = iter(b.shape[0] for b in batches)
        for error in errors:
            if error is not None:
                responses.append(pb.InferenceResponse(output_tensors=[], error=pb.TritonError(f"{self.name}: {error}")))
                continue
            size = next(sizes)
            rows = slice(row, row + size)
            row += size
            tensors = [
                pb.Tensor(name, np.ascontiguousarray(outputs[name][rows], dtype=np.float32)) for name in self.outputs
            ]
            responses.append(pb.InferenceResponse(output_tensors=tensors))
        return responses

    def finalize(self) -> None:
        pass
