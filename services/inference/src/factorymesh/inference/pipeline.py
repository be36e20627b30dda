"""The streaming path: feature windows in, inference results out, exactly once.

``InferencePipeline`` is the batch handler of a ``TransactionalProcessor``: for every poll
it decodes the windows, lets the :class:`~factorymesh.inference.assembler.Assembler` cut
the poll into done assemblies and held tails, routes each done assembly to its models
(primary or canary, plus sampled shadows), checks every input with the guard, scores the
rows in micro-batches and returns the results with ``hold_from`` for the held tails.

Failure model:

* Triton unavailable / timing out / breaker open for a primary or canary call → the
  handler raises, the transaction aborts (no result, no offset) and the processor retries
  the batch after a growing backoff. Results are derived-id'ed and only ever committed
  once, so a window is answered exactly once however often it is retried.
* A shadow call that fails yields no shadow result (counted): evaluation traffic never
  blocks the serving path.
* Records that can never be scored (undecodable, no equipment or class, a final window
  with too few of a model's tags, a route to a model the repository lacks) go to the
  dead-letter topic in the same transaction — nothing is dropped silently.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord
from google.protobuf.timestamp_pb2 import Timestamp

from factorymesh.api.inference.v1 import inference_result_pb2, model_pb2
from factorymesh.api.telemetry.v1 import feature_window_pb2
from factorymesh.common.kafka import (
    BatchResult,
    DeadLetterReason,
    Output,
    UndecodableRecord,
    dead_letter_for,
    decode_event,
)
from factorymesh.common.logging import get_logger
from factorymesh.common.telemetry import extract_context
from factorymesh.common.topics import DEAD_LETTERS, TopicSpec
from factorymesh.inference import metrics
from factorymesh.inference.assembler import Assembler, Assembly, Entry, FeatureVector, build_vector
from factorymesh.inference.guard import InputGuard
from factorymesh.inference.models import ModelCatalog, ModelVersion
from factorymesh.inference.router import RoutingTable, Target, canonical, path_gap, targets
from factorymesh.inference.scorer import (
    Group,
    ResultContext,
    Scored,
    Scorer,
    build_result,
    record_result_metrics,
)

log = get_logger(__name__)

FeatureWindow = feature_window_pb2.FeatureWindow
Reason = DeadLetterReason


def window_problem(window: FeatureWindow, equipment: str) -> str | None:
    """Why a window can never be routed or identified, or None (``equipment``: its canonical path)."""
    if not window.event_id:
        return "event_id is empty"
    if not equipment:
        return "equipment is empty"
    if (gap := path_gap(window.equipment)) is not None:
        return f"equipment path has a gap before {gap}"
    if not window.equipment_class:
        return "equipment_class is empty (routing key)"
    if not window.HasField("window") or window.window_size.ToNanoseconds() <= 0:
        return "window bounds or size missing"
    return None


@dataclass
class Job:
    """One model call for one assembly."""

    assembly: Assembly
    target: Target
    model: ModelVersion
    vector: FeatureVector


@dataclass
class PipelineStats:
    results: int = 0
    shadow_results: int = 0
    imputed: int = 0
    out_of_distribution: int = 0
    dead_lettered: int = 0
    held_polls: int = 0
    pending_results: list[tuple[inference_result_pb2.InferenceResult, str, str]] = field(default_factory=list)


class InferencePipeline:
    def __init__(
        self,
        *,
        catalog: ModelCatalog,
        table: RoutingTable,
        scorer: Scorer,
        guard: InputGuard,
        assembler: Assembler,
        output_topic: TopicSpec,
        service: str,
        dead_letter_topic: TopicSpec = DEAD_LETTERS,
        min_present_fraction: float = 0.5,
        latencies: metrics.RecentLatencies | None = None,
        clock: Callable[[], Timestamp] | None = None,
    ) -> None:
        self.catalog = catalog
        self.table = table
        self.scorer = scorer
        self.guard = guard
        self.assembler = assembler
        self.output_topic = output_topic
        self.service = service
        self.dead_letter_topic = dead_letter_topic
        self.min_present_fraction = min_present_fraction
        self.latencies = latencies or metrics.RecentLatencies()
        self._now = clock or _now
        self.stats = PipelineStats()
        # Per poll (routes and models may change between polls): routing work done once per
        # equipment instead of once per window.
        self._needs_cache: dict[tuple[object, ...], frozenset[str]] = {}
        self._routes_cache: dict[tuple[str, str], list[model_pb2.ModelRoute]] = {}
        self._models_cache: dict[tuple[str, str], ModelVersion | None] = {}

    # ---------------------------------------------------------------- routing

    def _model(self, name: str, version: str) -> ModelVersion | None:
        key = (name, version)
        if key not in self._models_cache:
            self._models_cache[key] = self.catalog.get(name, version)
        return self._models_cache[key]

    def _routes(self, equipment_class: str, equipment: str, window: FeatureWindow) -> list[model_pb2.ModelRoute]:
        key = (equipment_class, equipment)
        routes = self._routes_cache.get(key)
        if routes is None:
            routes = self._routes_cache[key] = self.table.routes_for(equipment_class, window.equipment)
        return routes

    def needs(self, window: FeatureWindow, equipment: str) -> frozenset[str]:
        """Tags the models routed for this window's equipment and window spec read (all
        possible targets: primary, canary and shadows)."""
        key = (
            window.equipment_class,
            equipment,
            window.window_kind,
            window.window_size.ToNanoseconds(),
            window.hop.ToNanoseconds(),
        )
        cached = self._needs_cache.get(key)
        if cached is not None:
            return cached
        tags: set[str] = set()
        for route in self._routes(window.equipment_class, equipment, window):
            names = [(route.primary_model_name, route.primary_model_version)]
            if route.HasField("canary"):
                names.append((route.canary.model_name or route.primary_model_name, route.canary.model_version))
            names.extend((s.model_name, s.model_version) for s in route.shadow_models)
            for name, version in names:
                model = self._model(name, version)
                if model is not None and model.window.matches(window):
                    tags |= model.tags
        needed = frozenset(tags)
        self._needs_cache[key] = needed
        return needed

    # ---------------------------------------------------------------- handler

    async def __call__(self, records: list[ConsumerRecord[bytes, bytes]]) -> BatchResult:
        self._needs_cache.clear()  # routes or models may have changed since the last poll
        self._routes_cache.clear()
        self._models_cache.clear()
        entries: list[Entry] = []
        letters: list[tuple[TopicPartition, int, Output]] = []
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            try:
                window = decode_event(record.value, record.headers, (FeatureWindow,))
                assert isinstance(window, FeatureWindow)
                equipment = canonical(window.equipment)
                problem = window_problem(window, equipment)
                if problem is not None:
                    raise UndecodableRecord(Reason.DEAD_LETTER_REASON_MISSING_REQUIRED_FIELD, problem)
            except UndecodableRecord as bad:
                letter = dead_letter_for(record, bad.reason, bad.detail, self.service)
                letters.append((tp, record.offset, Output(self.dead_letter_topic, letter, record.key)))
                continue
            entries.append(Entry(tp, record.offset, window, record, equipment))

        plan = self.assembler.plan(entries, self.needs)
        if plan.hold_from:
            self.stats.held_polls += 1
        outputs: list[tuple[TopicPartition, int, Output]] = [
            item for item in letters if not plan.is_held(item[0], item[1])
        ]

        jobs: list[Job] = []
        unscorable: dict[tuple[TopicPartition, int], tuple[Entry, list[str]]] = {}
        for assembly in plan.ready:
            if not assembly.needed:
                metrics.SKIPPED.add(len(assembly.entries), {"reason": "no_route"})
                continue
            windows = assembly.windows
            first = assembly.first
            for route in self._routes(first.equipment_class, assembly.key.equipment, first):
                for target in targets(route, assembly.key.id):
                    model = self._model(target.model_name, target.model_version)
                    if model is None:
                        if target.role != "shadow":
                            wanted = f"{target.model_name}:{target.model_version or 'latest'}"
                            why = f"route {route.name}: model {wanted} is not in the repository"
                            for entry in assembly.entries:
                                unscorable.setdefault((entry.tp, entry.offset), (entry, []))[1].append(why)
                        continue
                    if not model.window.matches(first):
                        continue
                    vector = build_vector(model, windows)
                    if vector.tags_present == 0:
                        continue  # none of this model's tags: the windows are for another model
                    if vector.tags_present < self.min_present_fraction:
                        if target.role != "shadow":
                            why = f"{model.ref}: tags {', '.join(vector.missing_tags)} missing, too few to impute"
                            for entry in assembly.entries:
                                unscorable.setdefault((entry.tp, entry.offset), (entry, []))[1].append(why)
                        continue
                    jobs.append(Job(assembly, target, model, vector))

        for (tp, offset), (entry, reasons) in unscorable.items():
            assert entry.record is not None
            letter = dead_letter_for(
                entry.record, Reason.DEAD_LETTER_REASON_MISSING_REQUIRED_FIELD, "; ".join(reasons), self.service
            )
            outputs.append((tp, offset, Output(self.dead_letter_topic, letter, entry.record.key)))

        results = await self._score(jobs)
        outputs.extend(results)
        outputs.sort(key=lambda item: (item[0].topic, item[0].partition, item[1]))
        self.stats.dead_lettered += len(letters) + len(unscorable)
        return BatchResult([output for _, _, output in outputs], plan.hold_from)

    async def _score(self, jobs: Sequence[Job]) -> list[tuple[TopicPartition, int, Output]]:
        serving = [job for job in jobs if job.target.role != "shadow"]
        shadow = [job for job in jobs if job.target.role == "shadow"]
        serving_groups, serving_index = _group(serving, self.catalog)
        shadow_groups, shadow_index = _group(shadow, self.catalog)

        async def shadows() -> list[list[Scored]] | None:
            if not shadow_groups:
                return []
            try:
                return await self.scorer.score(shadow_groups)
            except Exception as error:  # noqa: BLE001 - shadows never fail the serving path
                for group in shadow_groups:
                    metrics.SHADOW_FAILURES.add(len(group.rows), {"model": group.model.name})
                log.warning("shadow_scoring_failed", error=repr(error))
                return None

        # Shadows run beside the serving calls; a serving failure cancels them (the batch aborts).
        shadow_task = asyncio.create_task(shadows())
        try:
            serving_scored = await self.scorer.score(serving_groups) if serving_groups else []
        except BaseException:
            shadow_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await shadow_task
            raise
        shadow_scored = await shadow_task

        now = self._now()
        out: list[tuple[TopicPartition, int, Output]] = []
        pending = self.stats.pending_results
        for job_list, groups, scored_groups, index in (
            (serving, serving_groups, serving_scored, serving_index),
            (shadow, shadow_groups, shadow_scored or [], shadow_index if shadow_scored else {}),
        ):
            verdicts = [self.guard.check_batch(group.model, group.rows, group.mask()) for group in groups]
            for i, job in enumerate(job_list):
                if i not in index:
                    continue
                g, row = index[i]
                scored = scored_groups[g][row]
                result = build_result(job.model, scored, verdicts[g][row], _context(job), now)
                first = min(job.assembly.entries, key=lambda e: e.offset)
                trace = extract_context(first.record.headers) if first.record is not None else None
                out.append(
                    (
                        first.tp,
                        first.offset,
                        Output(self.output_topic, result, job.assembly.key.equipment, trace_context=trace),
                    )
                )
                pending.append((result, job.target.role, scored.energy.method))
        return out

    # ---------------------------------------------------------------- commit hooks

    def on_commit(self) -> None:
        """The batch's transaction committed: its results count now (never twice)."""
        for result, role, method in self.stats.pending_results:
            record_result_metrics(result, role, method)
            self.latencies.record(result.model_name, result.model_version, result.latency_ms)
            if result.shadow:
                self.stats.shadow_results += 1
            else:
                self.stats.results += 1
            self.stats.imputed += bool(result.imputed_features)
            self.stats.out_of_distribution += result.out_of_distribution
        self.stats.pending_results = []

    def on_abort(self) -> None:
        self.stats.pending_results = []


def _group(jobs: Sequence[Job], catalog: ModelCatalog) -> tuple[list[Group], dict[int, tuple[int, int]]]:
    """Rows per model version, and where each job's row went: job index -> (group, row)."""
    by_model: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, job in enumerate(jobs):
        by_model[(job.model.name, job.model.version)].append(i)
    groups: list[Group] = []
    index: dict[int, tuple[int, int]] = {}
    for members in by_model.values():
        model = jobs[members[0]].model
        rows = np.stack([jobs[i].vector.values for i in members])
        names = {name: j for j, name in enumerate(model.features)}
        mask = np.zeros(rows.shape, dtype=bool)
        for r, i in enumerate(members):
            for name in jobs[i].vector.imputed:
                mask[r, names[name]] = True
            index[i] = (len(groups), r)
        groups.append(Group(model=model, batching=catalog.batching_of(model.name), rows=rows, imputed_mask=mask))
    return groups, index


def _context(job: Job) -> ResultContext:
    windows = job.assembly.windows
    single = len(job.model.tags) == 1 and next(iter(job.model.tags)) in windows
    return ResultContext(
        window_event_id=windows[next(iter(job.model.tags))].event_id if single else job.assembly.key.id,
        input_window_ids=job.vector.input_window_ids,
        equipment=job.assembly.first.equipment,
        equipment_class=job.assembly.first.equipment_class,
        tag=next(iter(job.model.tags)) if single else "",
        route_name=job.target.route_name,
        role=job.target.role,
        imputed=job.vector.imputed,
    )


def _now() -> Timestamp:
    now = Timestamp()
    now.GetCurrentTime()
    return now
