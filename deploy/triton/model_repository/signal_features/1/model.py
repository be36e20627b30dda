"""signal_features, version 1: summary statistics of vibration/current waveforms.

Triton python backend model (numpy only). For an input SIGNAL of shape
[batch, n_samples] (FP32) it returns, per row, with numpy float32 arithmetic:

    MEAN          = np.mean(x, axis=1)
    STD           = np.std(x, axis=1)              (population, ddof=0)
    RMS           = np.sqrt(np.mean(np.square(x), axis=1))
    PEAK_TO_PEAK  = np.ptp(x, axis=1)

each shaped [batch, 1] FP32, i.e. exactly what numpy computes on the same float32 array.
A request with zero samples per row is answered with an error (the statistics are
undefined); other requests of the same batch are unaffected.
"""

from __future__ import annotations

import numpy as np
import triton_python_backend_utils as pb_utils  # provided by the python backend

OUTPUT_NAMES = ("MEAN", "STD", "RMS", "PEAK_TO_PEAK")


def compute_features(x: np.ndarray) -> dict[str, np.ndarray]:
    """Per-row statistics of a [batch, n_samples] float32 array, each [batch, 1] float32."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x[np.newaxis, :]
    mean = np.mean(x, axis=1)
    std = np.std(x, axis=1)
    rms = np.sqrt(np.mean(np.square(x), axis=1))
    ptp = np.ptp(x, axis=1)
    return {
        name: np.ascontiguousarray(value, dtype=np.float32).reshape(-1, 1)
        for name, value in zip(OUTPUT_NAMES, (mean, std, rms, ptp), strict=True)
    }


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        self.model_name = args.get("model_name", "signal_features")

    def execute(self, requests):  # signature fixed by Triton
        responses = []
        for request in requests:
            try:
                signal = pb_utils.get_input_tensor_by_name(request, "SIGNAL").as_numpy()
                if signal.ndim != 2:
                    raise ValueError(f"SIGNAL must be [batch, n_samples], got shape {signal.shape}")
                if signal.shape[1] == 0:
                    raise ValueError("SIGNAL must contain at least one sample per row")
                features = compute_features(signal)
                responses.append(
                    pb_utils.InferenceResponse(
                        output_tensors=[pb_utils.Tensor(name, features[name]) for name in OUTPUT_NAMES]
                    )
                )
            except Exception as exc:  # noqa: BLE001 - one bad request must not fail its batch neighbours
                responses.append(
                    pb_utils.InferenceResponse(
                        output_tensors=[], error=pb_utils.TritonError(f"{self.model_name}: {exc}")
                    )
                )
        return responses

    def finalize(self) -> None:
        pass
