"""The model family on a real Triton: every committed model loads and answers with the contract's tensors,
a trained and promoted version is served without a restart, and the anomaly model served by Triton finds
injected faults (precision and recall computed here, on the held-out period of a fresh simulation)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from factorymesh.inference.modeling import runtime
from factorymesh.inference.modeling.catalog import default_specs
from factorymesh.inference.modeling.metrics import classification
from factorymesh.inference.train import dataset, main
from factorymesh.inference.train.cli import load_in_triton
from factorymesh.inference.train.pipeline import Tables
from factorymesh.inference.train.repository import SERVED_VERSIONS, versions
from factorymesh.inference.train.testing import pump_faults, write_dataset
from factorymesh.inference.train.windows import time_split

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[4]
REPOSITORY = ROOT / "deploy" / "triton" / "model_repository"
MODELS = sorted(default_specs())


@pytest.fixture(scope="module")
def client(triton_url: str) -> Iterator[Any]:
    import tritonclient.grpc as grpcclient

    triton = grpcclient.InferenceServerClient(triton_url)
    assert triton.is_server_live()
    yield triton
    triton.close()


def infer(client: Any, name: str, task: str, x: npt.NDArray[Any], version: str) -> dict[str, npt.NDArray[Any]]:
    import tritonclient.grpc as grpcclient

    outputs: dict[str, list[npt.NDArray[Any]]] = {out: [] for out in runtime.TASK_OUTPUTS[task]}
    for start in range(0, x.shape[0], 64):  # max_batch_size
        rows = np.ascontiguousarray(x[start : start + 64], dtype=np.float32)
        tensor = grpcclient.InferInput("FEATURES", list(rows.shape), "FP32")
        tensor.set_data_from_numpy(rows)
        result = client.infer(name, [tensor], model_version=version)
        for out in outputs:
            outputs[out].append(result.as_numpy(out))
    return {out: np.concatenate(parts) for out, parts in outputs.items()}


@pytest.mark.parametrize("name", MODELS)
def test_committed_model_loads_and_answers_with_the_contract_tensors(client: Any, name: str) -> None:
    client.load_model(name)  # explicit model control: (re)load from the server's repository
    served = versions(REPOSITORY / name)[-SERVED_VERSIONS:]
    assert client.is_model_ready(name)
    for version in served:
        assert client.is_model_ready(name, str(version)), f"{name} version {version} not ready"
    latest = served[-1]
    meta = json.loads((REPOSITORY / name / str(latest) / "metadata.json").read_text())
    n = len(meta["features"])
    config = client.get_model_config(name, as_json=True)["config"]
    assert [int(d) for d in config["input"][0]["dims"]] == [n]
    stats = meta["training_stats"]
    x = np.array([stats["mean"], stats["p01"], stats["p99"], [np.nan] * n], dtype=np.float32)
    task = meta["task"]
    got = infer(client, name, task, x, str(latest))
    assert set(got) == set(runtime.TASK_OUTPUTS[task])
    for out, array in got.items():
        assert array.dtype == np.float32
        assert array.shape == (4, n if out == "CONTRIBUTIONS" else 1), out
        assert np.isfinite(array).all(), out
    # Triton runs exactly what training evaluated.
    want = runtime.load_version(REPOSITORY / name / str(latest))[0].predict(x)
    for out, array in got.items():
        np.testing.assert_allclose(array, want[out].astype(np.float32), rtol=1e-6, atol=1e-7)
    if task == "anomaly":
        np.testing.assert_allclose(got["CONTRIBUTIONS"].sum(axis=1), got["SCORE"][:, 0], rtol=1e-4)
        assert got["THRESHOLD"][0, 0] == np.float32(meta["threshold"])
    elif task == "rul":
        assert (got["RUL_LOWER_HOURS"] <= got["RUL_HOURS"]).all()
        assert (got["RUL_HOURS"] <= got["RUL_UPPER_HOURS"]).all()
    else:
        assert ((got["P_OUT_OF_SPEC"] >= 0) & (got["P_OUT_OF_SPEC"] <= 1)).all()


def test_trained_then_promoted_version_is_served_without_restart_and_finds_faults(
    client: Any, triton_url: str, tmp_path: Path
) -> None:
    data_dir = write_dataset(
        tmp_path / "data", classes=("centrifugal_pump",), duration_s=5400, faults=pump_faults(5400), seed=0
    )
    repository = tmp_path / "repo"
    model_dir = repository / "anomaly_centrifugal_pump"
    common = ["--task", "anomaly", "--equipment-class", "centrifugal_pump", "--dataset", str(data_dir)]
    common += ["--repository", str(repository), "--candidates-dir", str(tmp_path / "candidates")]
    # A Triton that does not mount this temporary repository gets the files with the load request,
    # under a name of its own so the committed model it serves is not touched.
    name = f"test_{uuid.uuid4().hex[:8]}_anomaly_centrifugal_pump"
    try:
        assert main(common) == 0
        assert load_in_triton(triton_url, model_dir, 1, upload=True, name=name)["ready"]
        assert main([*common, "--force"]) == 0  # the next version, promoted
        assert versions(model_dir) == [1, 2]
        assert load_in_triton(triton_url, model_dir, 2, upload=True, name=name)["ready"]
        assert client.is_model_ready(name, "2")
        assert client.is_model_ready(name, "1")  # version_policy latest 2: the previous one stays

        # Precision / recall of the served version 2 on the held-out period, computed here.
        data = dataset.load(data_dir)
        meta = json.loads((model_dir / "2" / "metadata.json").read_text())
        split = time_split(data, 0.3, 0.3, 60 * 1_000_000_000)
        spec_window = default_specs()["anomaly_centrifugal_pump"].window
        table = Tables(data, None).get("centrifugal_pump", meta["features"], spec_window)
        held_out = table.take(split.masks(table)[2])
        assert len(held_out) > 400
        assert held_out.anomalous.sum() > 50
        got = infer(client, name, "anomaly", held_out.x, "2")
        result = classification(
            held_out.anomalous, got["SCORE"][:, 0].astype(np.float64), float(got["THRESHOLD"][0, 0])
        )
        assert result["precision"] >= 0.8, result
        assert result["recall"] >= 0.8, result
    finally:
        if client.is_model_ready(name):
            client.unload_model(name)
