"""The training command: arguments, the per-model loop, promotion, optional Triton load."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from factorymesh.inference.modeling.anomaly import AnomalyOptions
from factorymesh.inference.modeling.catalog import TASKS, ModelSpec, default_specs
from factorymesh.inference.train import dataset as dataset_module
from factorymesh.inference.train.pipeline import Tables, TrainOptions, evaluate_version, train
from factorymesh.inference.train.repository import Decision, place, serving_version, triton_files
from factorymesh.inference.train.windows import time_split

DEFAULT_REPOSITORY = Path("deploy/triton/model_repository")
DEFAULT_CANDIDATES = Path(".local/model-candidates")

# Operating modes of the anomaly model per class: a spindle's machining program (load,
# roughing, finishing, idle) is several distinct steady states; pumps and motors move
# continuously along one operating curve, which one PCA covers.
ANOMALY_MODES = {"centrifugal_pump": 1, "induction_motor": 1, "cnc_spindle": 6}


@dataclass
class Outcome:
    """What happened to one model."""

    name: str
    decision: Decision
    metrics: dict[str, float]
    baseline_metrics: dict[str, float] | None = None
    loaded: dict[str, Any] = field(default_factory=dict)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m factorymesh.inference.train",
        description="Train the industrial models on a telemetry dataset and promote them into the Triton repository.",
    )
    parser.add_argument("--task", choices=[*TASKS, "all"], default="all")
    parser.add_argument("--dataset", type=Path, required=True, help="data CSV, or a directory of CSVs + labels.csv")
    parser.add_argument("--labels", type=Path, default=None, help="labels CSV (default: labels.csv next to the data)")
    parser.add_argument(
        "--equipment-class", action="append", default=None, help="only this class (repeatable; default: every class)"
    )
    parser.add_argument("--repository", type=Path, default=DEFAULT_REPOSITORY, help="Triton model repository")
    parser.add_argument(
        "--candidates-dir", type=Path, default=DEFAULT_CANDIDATES, help="where non-promoted candidates go"
    )
    parser.add_argument("--force", action="store_true", help="promote even when worse than the serving version")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--holdout-fraction", type=float, default=0.3, help="last part of the time span held out")
    parser.add_argument(
        "--validation-fraction", type=float, default=0.3, help="last part of the training span for thresholds"
    )
    parser.add_argument(
        "--expected-rate-hz",
        type=float,
        default=None,
        help="nominal sample rate, when ingest's tag registry knows it (valid_fraction = count / expected)",
    )
    parser.add_argument("--tolerance", type=float, default=0.0, help="how much worse a gate metric may be")
    parser.add_argument("--triton-url", default=None, help="Triton gRPC address: load promoted versions there")
    parser.add_argument(
        "--triton-upload",
        action="store_true",
        help="send the model files with load_model (Triton does not mount --repository)",
    )
    parser.add_argument("--json", action="store_true", help="also print a JSON summary on stdout")
    return parser


def select_specs(task: str, classes: Sequence[str] | None) -> list[ModelSpec]:
    specs = [s for s in default_specs().values() if task in ("all", s.task)]
    if classes:
        known = {s.equipment_class for s in default_specs().values()}
        unknown = sorted(set(classes) - known)
        if unknown:
            raise dataset_module.DatasetError(f"unknown equipment class {unknown} (known: {sorted(known)})")
        specs = [s for s in specs if s.equipment_class in classes]
    if not specs:
        raise dataset_module.DatasetError(f"no {task} model for {list(classes or [])}")
    return specs


def load_in_triton(url: str, model_dir: Path, version: int, upload: bool, name: str | None = None) -> dict[str, Any]:
    """Make Triton (explicit model control) serve the new version now, without a restart.

    Without ``upload`` Triton re-reads the model from its own repository (the one written
    here, mounted there); with it the files travel in the request. ``name`` loads the
    model under another name (tests, side-by-side trials)."""
    import tritonclient.grpc as grpcclient  # the serving client is a dependency of factorymesh-common

    name = name or model_dir.name
    client = grpcclient.InferenceServerClient(url)
    try:
        if upload:
            config, files = triton_files(model_dir, name)
            client.load_model(name, config=config, files=files)
        else:
            client.load_model(name)
        return {"url": url, "ready": bool(client.is_model_ready(name, str(version))), "version": version}
    finally:
        client.close()


def run(args: argparse.Namespace, out: Any = None) -> list[Outcome]:
    out = out or sys.stdout
    specs = select_specs(args.task, args.equipment_class)
    started = time.perf_counter()
    data = dataset_module.load(args.dataset, args.labels)
    print(
        f"dataset: {len(data.readings)} readings of {len(data.readings.equipment)} equipment, "
        f"{len(data.labels)} label rows, sha256 {data.sha256[:12]} ({time.perf_counter() - started:.1f} s)",
        file=out,
    )
    options = TrainOptions(
        seed=args.seed,
        holdout_fraction=args.holdout_fraction,
        validation_fraction=args.validation_fraction,
        expected_rate_hz=args.expected_rate_hz,
        anomaly_by_class={c: replace(AnomalyOptions(), modes=k) for c, k in ANOMALY_MODES.items()},
    )
    # Cuts aligned to the family's largest window, whichever models this run trains: a model
    # trained alone is split exactly as when the whole family is trained.
    align = max(s.window.size_ns for s in (*default_specs().values(), *specs))
    split = time_split(data, options.holdout_fraction, options.validation_fraction, align)
    tables = Tables(data, options.expected_rate_hz)
    outcomes = []
    for spec in specs:
        candidate = train(spec, tables, split, options)
        serving = args.repository / spec.name
        baseline, note = _baseline(serving, tables, split, options)
        decision = place(
            args.repository,
            args.candidates_dir,
            spec.name,
            spec.task,
            candidate.params,
            candidate.metadata,
            baseline,
            note,
            force=args.force,
            tolerance=args.tolerance,
        )
        print(decision.line, file=out)
        outcome = Outcome(spec.name, decision, candidate.metadata["metrics"]["holdout"], baseline)
        if decision.promoted and decision.version is not None and args.triton_url:
            outcome.loaded = load_in_triton(
                args.triton_url, args.repository / spec.name, decision.version, args.triton_upload
            )
            state = "ready" if outcome.loaded["ready"] else "NOT ready"
            print(f"{spec.name}: Triton at {args.triton_url}: version {decision.version} {state}", file=out)
        outcomes.append(outcome)
    if args.json:
        summary = [
            {
                "model": o.name,
                "promoted": o.decision.promoted,
                "version": o.decision.version,
                "path": str(o.decision.path) if o.decision.path else None,
                "metrics": o.metrics,
                "baseline_metrics": o.baseline_metrics,
                "reason": o.decision.line,
            }
            for o in outcomes
        ]
        print(json.dumps(summary), file=out)
    return outcomes


def _baseline(
    model_dir: Path, tables: Tables, split: Any, options: TrainOptions
) -> tuple[dict[str, float] | None, str]:
    """The serving version's metrics on this run's held-out period; its stored metrics when it cannot be re-run."""
    version = serving_version(model_dir)
    if version is None:
        return None, ""
    version_dir = model_dir / str(version)
    try:
        return evaluate_version(version_dir, tables, split, options), "both evaluated on this held-out period"
    except (dataset_module.DatasetError, KeyError, ValueError, OSError) as error:
        try:
            stored = json.loads((version_dir / "metadata.json").read_text())["metrics"]["holdout"]
        except (OSError, ValueError, KeyError):
            return None, f"cannot evaluate it ({error}) and it has no stored metrics"
        return {k: float(v) for k, v in stored.items() if isinstance(v, int | float)}, (
            f"its stored metrics: it cannot run on this dataset ({error})"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        run(args)
    except (dataset_module.DatasetError, ValueError) as error:
        print(f"factorymesh train: {error}", file=sys.stderr)
        return 1
    return 0
