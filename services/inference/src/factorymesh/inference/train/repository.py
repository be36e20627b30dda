"""The Triton model repository: versions, config.pbtxt, promotion, candidates.

Layout (standard Triton, served unchanged by the official image)::

    <repository>/<model>/config.pbtxt
    <repository>/<model>/<N>/model.py        (= modeling/runtime.py, verbatim)
    <repository>/<model>/<N>/params.npz
    <repository>/<model>/<N>/metadata.json

``version_policy: { latest { num_versions: 2 } }``: Triton serves the newest two
versions, so writing version N+1 *is* the promotion (the inference service routes
to the newest READY version) and N stays loaded for rollback and shadow comparison.
Only promoted versions are ever written here; a candidate that loses goes to the
candidates directory with its metrics and the reason.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import math
import os
import shutil
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from factorymesh.inference.modeling import metrics, runtime
from factorymesh.inference.modeling.runtime import TASK_OUTPUTS

SERVED_VERSIONS = 2
RUNTIME_SOURCE = Path(runtime.__file__)


# --------------------------------------------------------------------------- files


def npz_bytes(arrays: Mapping[str, npt.NDArray[Any]]) -> bytes:
    """A .npz (what np.load reads) with fixed timestamps and key order: the same params, the same bytes.

    ``np.savez`` stamps the current time into the zip, so identical models would differ.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for key in sorted(arrays):
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            array = io.BytesIO()
            np.save(array, np.asarray(arrays[key]), allow_pickle=False)  # asarray: keeps 0-d scalars 0-d
            archive.writestr(info, array.getvalue())
    return buffer.getvalue()


def json_safe(value: Any) -> Any:
    """NaN / inf are not JSON: they become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.floating | np.integer):
        return json_safe(value.item())
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def metadata_bytes(metadata: Mapping[str, Any]) -> bytes:
    return (json.dumps(json_safe(metadata), indent=1, allow_nan=False) + "\n").encode()


def config_dict(name: str, task: str, n_features: int) -> dict[str, Any]:
    """The model configuration; :func:`config_pbtxt` renders it, and it is also the JSON override
    ``load_model(config=...)`` takes."""
    outputs = [
        {"name": out, "data_type": "TYPE_FP32", "dims": [n_features if out == "CONTRIBUTIONS" else 1]}
        for out in TASK_OUTPUTS[task]
    ]
    return {
        "name": name,
        "backend": "python",
        "max_batch_size": 64,
        "input": [{"name": runtime.INPUT_NAME, "data_type": "TYPE_FP32", "dims": [n_features]}],
        "output": outputs,
        "dynamic_batching": {"preferred_batch_size": [8, 16, 32], "max_queue_delay_microseconds": 2000},
        "instance_group": [{"count": 1, "kind": "KIND_CPU"}],
        "version_policy": {"latest": {"num_versions": SERVED_VERSIONS}},
    }


def config_pbtxt(name: str, task: str, features: list[str]) -> str:
    cfg = config_dict(name, task, len(features))
    lines = [
        f"# {name}: factorymesh {task} model (numpy, python backend). Written by",
        "# `python -m factorymesh.inference.train`; see services/inference/docs/models.md.",
        "#",
        f"# Request:  FEATURES FP32 [batch, {len(features)}], columns in the order of <version>/metadata.json",
        '#           "features" (NaN = missing: valid_fraction -> 0, any other statistic -> training median).',
        "# Response: " + ", ".join(f"{o['name']} FP32 [batch, {o['dims'][0]}]" for o in cfg["output"]),
        "#",
        "# version_policy latest 2: writing version N+1 promotes it; N stays loaded for rollback.",
        f'name: "{name}"',
        'backend: "python"',
        "max_batch_size: 64",
        "",
        "input [",
        "  {",
        f'    name: "{runtime.INPUT_NAME}"',
        "    data_type: TYPE_FP32",
        f"    dims: [ {len(features)} ]",
        "  }",
        "]",
        "",
        "output [",
    ]
    blocks = [
        "\n".join(
            ["  {", f'    name: "{o["name"]}"', "    data_type: TYPE_FP32", f"    dims: [ {o['dims'][0]} ]", "  }"]
        )
        for o in cfg["output"]
    ]
    lines.append(",\n".join(blocks))
    lines += [
        "]",
        "",
        "dynamic_batching {",
        "  preferred_batch_size: [ 8, 16, 32 ]",
        "  max_queue_delay_microseconds: 2000",
        "}",
        "",
        "instance_group [",
        "  {",
        "    count: 1",
        "    kind: KIND_CPU",
        "  }",
        "]",
        "",
        f"version_policy: {{ latest: {{ num_versions: {SERVED_VERSIONS} }} }}",
        "",
    ]
    return "\n".join(lines)


def version_files(params: Mapping[str, npt.NDArray[Any]], metadata: Mapping[str, Any]) -> dict[str, bytes]:
    return {
        "model.py": RUNTIME_SOURCE.read_bytes(),
        "params.npz": npz_bytes(params),
        "metadata.json": metadata_bytes(metadata),
    }


def params_sha256(params: Mapping[str, npt.NDArray[Any]]) -> str:
    return hashlib.sha256(npz_bytes(params)).hexdigest()


# --------------------------------------------------------------------------- versions


def versions(model_dir: Path) -> list[int]:
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit() and int(p.name) > 0)


def serving_version(model_dir: Path) -> int | None:
    """The version the inference service routes to: the newest (version_policy latest)."""
    found = versions(model_dir)
    return found[-1] if found else None


@contextmanager
def model_lock(model_dir: Path) -> Iterator[None]:
    """Two trainings of one model must not pick the same next version number."""
    model_dir.mkdir(parents=True, exist_ok=True)
    # flock on the directory itself: no lock file left behind in the repository.
    fd = os.open(model_dir, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def write_dir(target: Path, files: Mapping[str, bytes]) -> None:
    """Write a directory atomically: staged next to it, then renamed (Triton never sees half a version)."""
    stage = target.with_name(f".{target.name}.staging-{os.getpid()}")
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    for name, content in files.items():
        (stage / name).write_bytes(content)
    os.replace(stage, target)


@dataclass
class Decision:
    promoted: bool
    version: int | None  # the new version when promoted
    path: Path | None  # where the files went (None: nothing written)
    line: str  # one line for the operator


def place(
    repository: Path,
    candidates_dir: Path,
    name: str,
    task: str,
    params: Mapping[str, npt.NDArray[Any]],
    metadata: dict[str, Any],
    baseline_metrics: dict[str, float] | None,
    baseline_note: str,
    *,
    force: bool,
    tolerance: float,
) -> Decision:
    """Write the candidate as the next version (promote) or into the candidates directory."""
    model_dir = repository / name
    features = list(metadata["features"])
    with model_lock(model_dir):
        serving = serving_version(model_dir)
        new_metrics = metadata["metrics"]["holdout"]
        digest = params_sha256(params)
        metadata["params_sha256"] = digest
        if serving is not None:
            old_meta = json.loads((model_dir / str(serving) / "metadata.json").read_text())
            if len(old_meta["features"]) != len(features):
                # config.pbtxt fixes the input width for every served version of a model.
                raise ValueError(
                    f"{name}: {len(features)} features, but served version {serving} has "
                    f"{len(old_meta['features'])}; a different input width is a new model name"
                )
            if old_meta.get("params_sha256") == digest and not force:
                return Decision(False, None, None, f"{name}: unchanged (identical to serving version {serving})")
        if serving is None:
            ok, why = True, "first version"
        elif baseline_metrics is None:
            ok, why = True, f"serving version {serving} has no comparable metrics ({baseline_note})"
        else:
            ok, why = metrics.not_worse(task, new_metrics, baseline_metrics, tolerance)
            why = f"{why} (serving version {serving}{'; ' + baseline_note if baseline_note else ''})"
        metadata["promotion"] = {
            "baseline_version": serving,
            "baseline_metrics": baseline_metrics,
            "rule": f"promote when no gate metric ({', '.join(g for g, _ in metrics.GATES[task])}) is worse "
            f"than the serving version's on the same held-out period (tolerance {tolerance:g}), or --force",
            "reason": why,
            "forced": bool(force and not ok),
        }
        if ok or force:
            version = (serving or 0) + 1
            metadata["version"] = version
            metadata["promoted"] = True
            write_dir(model_dir / str(version), version_files(params, metadata))
            (model_dir / "config.pbtxt").write_text(config_pbtxt(name, task, features))
            verb = "promoted" if ok else "promoted (--force)"
            return Decision(True, version, model_dir / str(version), f"{name}: {verb} as version {version}: {why}")
        metadata["promoted"] = False
        metadata["version"] = None
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        target = candidates_dir / name / f"{stamp}-{digest[:8]}"
        write_dir(target, version_files(params, metadata))
        return Decision(False, None, target, f"{name}: not promoted: {why}; candidate in {target}")


def triton_files(model_dir: Path, name: str | None = None) -> tuple[str, dict[str, bytes]]:
    """The config (JSON) and files of the versions Triton should serve, for ``load_model`` with an
    override: for a Triton that does not mount this repository (a remote or test server).
    ``name`` serves the model under another name (tests)."""
    name = name or model_dir.name
    served = versions(model_dir)[-SERVED_VERSIONS:]
    if not served:
        raise ValueError(f"{model_dir}: no versions")
    meta = json.loads((model_dir / str(served[-1]) / "metadata.json").read_text())
    config = config_dict(name, str(meta["task"]), len(meta["features"]))
    files = {}
    for version in served:
        for file in ("model.py", "params.npz", "metadata.json"):
            files[f"file:{version}/{file}"] = (model_dir / str(version) / file).read_bytes()
    return json.dumps(config), files
