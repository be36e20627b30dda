"""Calling Triton: micro-batches, the circuit breaker, and turning outputs into results.

Rows for one model version are cut into requests of Triton's preferred batch size (from
the model's ``dynamic_batching`` config) and sent concurrently; ``TritonClient`` bounds
how many are in flight, sets each request's deadline and retries UNAVAILABLE with
backoff and jitter. The breaker sees every request's outcome.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from google.protobuf.timestamp_pb2 import Timestamp

from factorymesh.api.common.v1 import equipment_pb2, units_pb2
from factorymesh.api.inference.v1 import inference_result_pb2
from factorymesh.common.kafka import derived_event_id
from factorymesh.common.triton import TritonServerError, TritonTimeout, TritonUnavailable
from factorymesh.inference import metrics
from factorymesh.inference.breaker import BreakerState, CircuitBreaker
from factorymesh.inference.energy import EnergyEstimate, EnergyMeter
from factorymesh.inference.guard import GuardResult
from factorymesh.inference.models import INPUT_NAME, Batching, ModelVersion, Task

Array = npt.NDArray[Any]


class InferenceBackend(Protocol):
    """What the scorer needs of a Triton client (``TritonClient`` fits; tests use a fake)."""

    async def infer(
        self,
        model: str,
        inputs: Mapping[str, Array],
        *,
        outputs: Sequence[str] | None = None,
        version: str = "",
        timeout_s: float | None = None,
    ) -> dict[str, Array]: ...


class InvalidModelOutput(TritonServerError):
    """The model answered, but not with the contract's outputs (names or shapes)."""


@dataclass(frozen=True)
class Scored:
    """One row's outputs and what its request cost."""

    outputs: dict[str, Array]
    latency_ms: float
    batch_size: int
    energy: EnergyEstimate


@dataclass
class Group:
    """Rows for one model version."""

    model: ModelVersion
    batching: Batching
    rows: Array  # [B, N] float32
    # [B, N]: features imputed from training means (the guard skips them).
    imputed_mask: Array | None = None

    def mask(self) -> npt.NDArray[np.bool_]:
        return np.zeros(self.rows.shape, dtype=bool) if self.imputed_mask is None else self.imputed_mask


class Scorer:
    def __init__(
        self,
        backend: InferenceBackend,
        breaker: CircuitBreaker,
        energy: EnergyMeter,
        *,
        timeout_s: float = 2.0,
    ) -> None:
        self.backend = backend
        self.breaker = breaker
        self.energy = energy
        self.timeout_s = timeout_s

    async def score(self, groups: Sequence[Group]) -> list[list[Scored]]:
        """Every group's rows scored, in order. Raises on the first failed request (the rest
        are cancelled): a batch is answered whole or not at all."""
        chunks: list[tuple[int, int, int]] = []  # (group, start, stop)
        for g, group in enumerate(groups):
            start = 0
            for size in group.batching.chunk_sizes(len(group.rows)):
                chunks.append((g, start, start + size))
                start += size
        results: dict[tuple[int, int], tuple[dict[str, Array], float]] = {}

        async def run(chunk: tuple[int, int, int]) -> None:
            g, start, stop = chunk
            results[(g, start)] = await self._request(groups[g].model, groups[g].rows[start:stop])

        pending = list(chunks)
        if pending and self.breaker.state is not BreakerState.CLOSED:
            # Half-open: one probe request first; the rest only if it went through.
            await run(pending.pop(0))
        if pending:
            try:
                async with asyncio.TaskGroup() as tasks:
                    for chunk in pending:
                        tasks.create_task(run(chunk))
            except ExceptionGroup as group:
                # The first failure is the one to report (Unavailable, CircuitOpen, ...).
                raise group.exceptions[0] from None

        out: list[list[Scored]] = [[] for _ in groups]
        for g, start, stop in chunks:
            outputs, latency_s = results[(g, start)]
            size = stop - start
            energy = self.energy.per_inference(latency_s, size)
            for i in range(size):
                out[g].append(Scored({k: v[i] for k, v in outputs.items()}, latency_s * 1000, size, energy))
        return out

    async def _request(self, model: ModelVersion, rows: Array) -> tuple[dict[str, Array], float]:
        self.breaker.before_call()
        started = time.perf_counter()
        try:
            outputs = await self.backend.infer(
                model.name,
                {INPUT_NAME: np.ascontiguousarray(rows, dtype=np.float32)},
                outputs=list(model.outputs),
                version=model.version,
                timeout_s=self.timeout_s,
            )
        except (TritonUnavailable, TritonTimeout) as error:
            self.breaker.record_failure()
            metrics.TRITON_ERRORS.add(1, {"model": model.name, "error": type(error).__name__})
            raise
        except BaseException as error:
            self.breaker.release()
            metrics.TRITON_ERRORS.add(1, {"model": model.name, "error": type(error).__name__})
            raise
        latency = time.perf_counter() - started
        self.breaker.record_success()
        metrics.TRITON_BATCH.record(len(rows), {"model": model.name})
        self.energy.count(len(rows))
        return _check_outputs(model, outputs, len(rows)), latency


def _check_outputs(model: ModelVersion, outputs: Mapping[str, Array], rows: int) -> dict[str, Array]:
    checked: dict[str, Array] = {}
    for name in model.outputs:
        value = outputs.get(name)
        if value is None:
            raise InvalidModelOutput(f"{model.ref}: output {name} missing")
        array = np.asarray(value, dtype=np.float64).reshape(rows, -1)
        width = len(model.features) if name == "CONTRIBUTIONS" else 1
        if array.shape[1] != width:
            raise InvalidModelOutput(f"{model.ref}: output {name} has {array.shape[1]} values per row, not {width}")
        checked[name] = array
    return checked


HOURS = units_pb2.EngineeringUnit(code="h", symbol="h", quantity_kind=units_pb2.QuantityKind.QUANTITY_KIND_TIME)


@dataclass(frozen=True)
class ResultContext:
    """Everything about a result that is not the model's output."""

    window_event_id: str
    input_window_ids: Sequence[str]
    equipment: equipment_pb2.EquipmentPath
    equipment_class: str
    tag: str
    route_name: str
    role: str
    imputed: Sequence[str]


def build_result(
    model: ModelVersion, scored: Scored, guard: GuardResult, ctx: ResultContext, now: Timestamp
) -> inference_result_pb2.InferenceResult:
    result = inference_result_pb2.InferenceResult(
        # Derived: a retried inference of the same window by the same version has the same id.
        event_id=derived_event_id("inference", ctx.window_event_id, model.name, model.version),
        window_event_id=ctx.window_event_id,
        equipment=ctx.equipment,
        model_name=model.name,
        model_version=model.version,
        task=model.task,  # type: ignore[arg-type]
        out_of_distribution=guard.out_of_distribution,
        out_of_distribution_score=guard.score,
        latency_ms=scored.latency_ms,
        energy_joules=scored.energy.joules,
        energy_is_estimate=scored.energy.is_estimate,
        shadow=ctx.role == "shadow",
        inference_time=now,
        tag=ctx.tag,
        equipment_class=ctx.equipment_class,
        route_name=ctx.route_name,
        input_window_event_ids=list(ctx.input_window_ids),
        imputed_features=list(ctx.imputed),
    )
    out = scored.outputs
    if model.task == Task.INFERENCE_TASK_ANOMALY_DETECTION:
        score, threshold = float(out["SCORE"][0]), float(out["THRESHOLD"][0])
        result.anomaly.score = score
        result.anomaly.threshold = threshold
        result.anomaly.is_anomaly = score >= threshold
        for name, value in zip(model.features, out["CONTRIBUTIONS"].tolist(), strict=True):
            result.anomaly.feature_contributions[name] = float(value)
    elif model.task == Task.INFERENCE_TASK_REMAINING_USEFUL_LIFE:
        result.rul.estimate = float(out["RUL_HOURS"][0])
        result.rul.lower_bound = float(out["RUL_LOWER_HOURS"][0])
        result.rul.upper_bound = float(out["RUL_UPPER_HOURS"][0])
        result.rul.confidence_level = model.interval_coverage
        result.rul.unit.CopyFrom(HOURS)
    elif model.task == Task.INFERENCE_TASK_QUALITY_PREDICTION:
        p = float(out["P_OUT_OF_SPEC"][0])
        result.quality.defect_probability = p
        result.quality.threshold = model.decision_threshold
        result.quality.is_defect = p >= model.decision_threshold
    return result


def record_result_metrics(result: inference_result_pb2.InferenceResult, role: str, energy_method: str) -> None:
    """Metrics of one committed result (called after the transaction commits)."""
    labels = {"model": result.model_name, "version": result.model_version, "role": role}
    metrics.RESULTS.add(1, {**labels, "task": inference_result_pb2.InferenceTask.Name(result.task)})
    metrics.LATENCY.record(result.latency_ms, labels)
    which = result.WhichOneof("output")
    if which == "anomaly":
        metrics.ANOMALY_SCORE.record(result.anomaly.score, labels)
    elif which == "rul":
        metrics.RUL_HOURS.record(result.rul.estimate, labels)
    elif which == "quality":
        metrics.DEFECT_PROBABILITY.record(result.quality.defect_probability, labels)
    if result.out_of_distribution:
        metrics.OUT_OF_DISTRIBUTION.add(1, {"model": result.model_name, "version": result.model_version})
    if result.imputed_features:
        metrics.IMPUTED.add(1, {"model": result.model_name, "version": result.model_version})
    if result.HasField("energy_joules"):
        energy_labels = {
            "model": result.model_name,
            "version": result.model_version,
            "energy_is_estimate": str(result.energy_is_estimate).lower(),
            "method": energy_method,
        }
        metrics.ENERGY.record(result.energy_joules, energy_labels)
        metrics.ENERGY_TOTAL.add(result.energy_joules, energy_labels)
