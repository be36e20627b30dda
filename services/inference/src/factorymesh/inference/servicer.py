"""The InferenceService gRPC API: on-demand predictions, the model catalog, and routes."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
import numpy as np
from aiokafka.errors import KafkaError
from google.protobuf.timestamp_pb2 import Timestamp

from factorymesh.api.inference.v1 import inference_service_pb2, inference_service_pb2_grpc, model_pb2
from factorymesh.api.telemetry.v1 import feature_window_pb2
from factorymesh.common.grpc_errors import (
    Aborted,
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from factorymesh.common.grpc_interceptors import current_principal
from factorymesh.common.kafka import EventProducer
from factorymesh.common.logging import get_logger
from factorymesh.common.topics import INFERENCE_RESULTS, TopicSpec
from factorymesh.common.triton import ModelNotFound, TritonError, TritonTimeout, TritonUnavailable
from factorymesh.inference import metrics
from factorymesh.inference.assembler import FeatureVector, build_vector, key_of
from factorymesh.inference.breaker import CircuitOpen
from factorymesh.inference.guard import InputGuard
from factorymesh.inference.models import ModelAdmin, ModelCatalog, ModelVersion, task_name, version_key
from factorymesh.inference.router import RouteStore, RoutingTable, canonical, path_gap, stamp, targets
from factorymesh.inference.scorer import Group, ResultContext, Scorer, build_result, record_result_metrics

log = get_logger(__name__)

pb = inference_service_pb2
FeatureWindow = feature_window_pb2.FeatureWindow
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
ROUTE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
T = TypeVar("T")


def page(items: Sequence[T], page_size: int, page_token: str) -> tuple[list[T], str]:
    """One page and the next token (an offset; opaque to clients)."""
    violations = []
    if page_size < 0:
        violations.append(("page_size", "must be >= 0"))
    if page_token and not page_token.isdigit():
        violations.append(("page_token", "is not a token this server returned"))
    if violations:
        raise InvalidArgument(field_violations=violations)
    size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    start = int(page_token or 0)
    chunk = list(items[start : start + size])
    return chunk, str(start + size) if start + size < len(items) else ""


def model_info(catalog: ModelCatalog, model: ModelVersion) -> model_pb2.ModelInfo:
    return model_pb2.ModelInfo(
        name=model.name,
        version=model.version,
        task=model.task,  # type: ignore[arg-type]
        equipment_classes=[model.equipment_class],
        feature_set_version=model.feature_set_version,
        platform=model.platform,
        description=model.description,
        state=catalog.state(model.name, model.version)[0],  # type: ignore[arg-type]
        metrics=dict(model.metrics),
        feature_names=list(model.features),
    )


def _ms_timestamp(ms: int) -> Timestamp:
    ts = Timestamp()
    ts.FromMilliseconds(ms)
    return ts


@dataclass
class ServicerDeps:
    catalog: ModelCatalog
    table: RoutingTable
    store: RouteStore
    scorer: Scorer
    guard: InputGuard
    admin: ModelAdmin
    latencies: metrics.RecentLatencies
    # Predict publishes its result too (when the window has an event id); None = do not.
    producer: EventProducer | None = None
    results_topic: TopicSpec = INFERENCE_RESULTS
    min_present_fraction: float = 0.5


class InferenceServicer(inference_service_pb2_grpc.InferenceServiceServicer):
    def __init__(self, deps: ServicerDeps) -> None:
        self.d = deps

    # ------------------------------------------------------------------ Predict

    async def Predict(self, request: pb.PredictRequest, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        d = self.d
        window = request.window
        violations: list[tuple[str, str]] = []
        if not request.HasField("window"):
            violations.append(("window", "required: the feature window to score"))
        elif not canonical(window.equipment):
            violations.append(("window.equipment", "required: the equipment path of the window"))
        elif (gap := path_gap(window.equipment)) is not None:
            violations.append(("window.equipment", f"path has a gap: {gap} is set below an empty segment"))

        model: ModelVersion | None = None
        route_name, role = "", "primary"
        if request.model_name:
            model = d.catalog.get(request.model_name, request.model_version)
            if model is None:
                if not d.catalog.versions_of(request.model_name):
                    known = ", ".join(d.catalog.names()) or "none"
                    violations.append(("model_name", f"unknown model {request.model_name!r} (known: {known})"))
                else:
                    versions = ", ".join(m.version for m in d.catalog.versions_of(request.model_name))
                    violations.append(
                        ("model_version", f"{request.model_name} has no version {request.model_version!r} ({versions})")
                    )
            elif request.task and request.task != model.task:
                violations.append(("task", f"{model.ref} is a {task_name(model.task)} model"))
        else:
            if not request.task:
                violations.append(("task", "required when model_name is empty (selects the route)"))
            if request.HasField("window") and not window.equipment_class:
                violations.append(("window.equipment_class", "required when model_name is empty (routing key)"))
        if violations:
            raise InvalidArgument(field_violations=violations)

        if model is None:
            route = d.table.select(request.task, window.equipment_class, window.equipment)
            if route is None:
                raise FailedPrecondition(
                    f"no {task_name(request.task)} route for {window.equipment_class} at {canonical(window.equipment)}",
                    violations=[("ROUTE", window.equipment_class, "no route matches; SetRoute or give model_name")],
                )
            target = targets(route, key_of(window).id, with_shadows=False)[0]
            model = d.catalog.get(target.model_name, target.model_version)
            if model is None:
                raise FailedPrecondition(
                    f"route {route.name} names model {target.model_name}, which is not in the repository",
                    violations=[("MODEL", target.model_name, "not in the model repository")],
                )
            route_name, role = route.name, target.role

        windows, vector = self._input(request, model)
        group = Group(model, d.catalog.batching_of(model.name), vector.values[np.newaxis, :], self._mask(model, vector))
        try:
            scored = (await d.scorer.score([group]))[0][0]
        except CircuitOpen as error:
            raise Unavailable("model server unavailable (circuit open)", retry_after_s=error.retry_after_s) from None
        except TritonUnavailable:
            raise Unavailable("model server unavailable", retry_after_s=1.0) from None
        except TritonTimeout:
            raise DeadlineExceeded("the model server did not answer in time") from None
        except ModelNotFound:
            raise FailedPrecondition(
                f"model {model.ref} is not loaded", violations=[("MODEL_STATE", f"triton:{model.ref}", "not loaded")]
            ) from None

        key = key_of(window)
        single_tag = next(iter(model.tags)) if len(model.tags) == 1 else ""
        verdict = d.guard.check_batch(model, group.rows, group.mask())[0]
        now = Timestamp()
        now.GetCurrentTime()
        result = build_result(
            model,
            scored,
            verdict,
            ResultContext(
                window_event_id=windows[single_tag].event_id if single_tag in windows else key.id,
                input_window_ids=vector.input_window_ids,
                equipment=window.equipment,
                equipment_class=window.equipment_class or model.equipment_class,
                tag=single_tag,
                route_name=route_name,
                role=role,
                imputed=vector.imputed,
            ),
            now,
        )
        if window.event_id and d.producer is not None:
            try:
                await d.producer.send(d.results_topic, result, key=canonical(window.equipment))
            except KafkaError:
                # The result id is derived: a client retry publishes the same event.
                raise Unavailable("the result could not be published; retry", retry_after_s=1.0) from None
        record_result_metrics(result, role, scored.energy.method)
        d.latencies.record(model.name, model.version, result.latency_ms)
        return pb.PredictResponse(result=result)

    def _input(self, request: pb.PredictRequest, model: ModelVersion) -> tuple[dict[str, FeatureWindow], FeatureVector]:
        """The windows by tag and the model's input vector, or INVALID_ARGUMENT."""
        window = request.window
        violations: list[tuple[str, str]] = []
        windows: dict[str, FeatureWindow] = {window.tag: window}
        if not model.window.matches(window):
            violations.append(("window.window_size", f"{model.ref} reads {model.window.describe()} windows"))
        key = key_of(window)
        for i, extra in enumerate(request.additional_windows):
            where = f"additional_windows[{i}]"
            if key_of(extra) != key:
                violations.append((where, "must be of the same equipment, window bounds, kind and feature set version"))
            elif extra.tag in windows:
                violations.append((f"{where}.tag", f"tag {extra.tag!r} given twice"))
            else:
                windows[extra.tag] = extra
        if request.features:
            n = len(model.features)
            if len(request.features) != n:
                violations.append(
                    (
                        "features",
                        f"{model.ref} takes {n} features (ModelInfo.feature_names), got {len(request.features)}",
                    )
                )
            for i, value in enumerate(request.features):
                if not math.isfinite(value):
                    violations.append((f"features[{i}]", "must be finite"))
            if violations:
                raise InvalidArgument(field_violations=violations)
            ids = tuple(w.event_id for _, w in sorted(windows.items()) if w.event_id)
            values = np.asarray(request.features, dtype=np.float32)
            return windows, FeatureVector(values, (), 1.0, ids, ())
        vector = build_vector(model, windows)
        if vector.tags_present < self.d.min_present_fraction:
            violations.append(
                (
                    "additional_windows",
                    f"{model.ref} reads tags {', '.join(sorted(model.tags))}; missing {', '.join(vector.missing_tags)}"
                    " (give their windows, or `features`)",
                )
            )
        if violations:
            raise InvalidArgument(field_violations=violations)
        return windows, vector

    @staticmethod
    def _mask(model: ModelVersion, vector: FeatureVector) -> np.ndarray[Any, np.dtype[np.bool_]]:
        imputed = set(vector.imputed)
        return np.array([[name in imputed for name in model.features]], dtype=bool)

    # ------------------------------------------------------------------ models

    async def ListModels(self, request: pb.ListModelsRequest, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        catalog = self.d.catalog
        models = [
            mv
            for name in catalog.names()
            for mv in catalog.versions_of(name)
            if (not request.task or mv.task == request.task)
            and (not request.equipment_class or mv.equipment_class == request.equipment_class)
        ]
        chunk, token = page(models, request.page_size, request.page_token)
        return pb.ListModelsResponse(models=[model_info(catalog, m) for m in chunk], next_page_token=token)

    async def GetModelStatus(
        self, request: pb.GetModelStatusRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> Any:
        d = self.d
        if not request.model_name:
            raise InvalidArgument(field_violations=[("model_name", "required")])
        # Fresh states from Triton, so the answer is not up to a refresh interval old.
        try:
            d.catalog.set_states(await d.admin.repository_index())
        except TritonError as error:
            log.warning("triton_index_unavailable", error=str(error))
        versions = d.catalog.versions_of(request.model_name)
        if not versions:
            raise NotFound("model", request.model_name)
        model = d.catalog.get(request.model_name, request.model_version)
        if model is None:
            raise NotFound("model version", f"{request.model_name}:{request.model_version}")
        state, reason = d.catalog.state(model.name, model.version)
        status = model_pb2.ModelStatus(state=state, reason=reason)  # type: ignore[arg-type]
        if state == model_pb2.ModelState.MODEL_STATE_READY:
            try:
                stats = await d.admin.statistics(model.name, model.version)
                success = stats.get("inference_stats", {}).get("success", {})
                fail = stats.get("inference_stats", {}).get("fail", {})
                status.inference_count = int(success.get("count", 0))
                status.failure_count = int(fail.get("count", 0))
                if int(stats.get("last_inference", 0)):
                    status.last_inference_time.CopyFrom(_ms_timestamp(int(stats["last_inference"])))
            except TritonError as error:
                status.reason = f"statistics unavailable: {error}"
        status.latency_p50_ms, status.latency_p99_ms = d.latencies.percentiles(model.name, model.version)
        return pb.GetModelStatusResponse(
            model=model_info(d.catalog, model),
            status=status,
            versions=[model_info(d.catalog, mv) for mv in sorted(versions, key=lambda m: version_key(m.version))],
        )

    # ------------------------------------------------------------------ routes

    async def SetRoute(self, request: pb.SetRouteRequest, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        d = self.d
        if not request.HasField("route"):
            raise InvalidArgument(field_violations=[("route", "required")])
        route = request.route
        violations = self._route_violations(route)
        if violations:
            raise InvalidArgument(field_violations=violations)
        current = d.table.get(route.name)
        if route.etag and (current is None or current.etag != route.etag):
            raise Aborted(
                f"route {route.name} changed since it was read (etag mismatch); read it again",
                reason="ETAG_MISMATCH",
                metadata={"route": route.name, "current_etag": current.etag if current else ""},
            )
        principal = current_principal()
        stored = stamp(route, principal.subject if principal else "anonymous")
        if not request.validate_only:
            try:
                await d.store.publish(stored)
            except KafkaError:
                raise Unavailable("the route could not be stored; retry", retry_after_s=1.0) from None
            log.info("route_set", route=stored.name, by=stored.updated_by, etag=stored.etag)
        return pb.SetRouteResponse(route=stored)

    def _route_violations(self, route: model_pb2.ModelRoute) -> list[tuple[str, str]]:
        catalog = self.d.catalog
        out: list[tuple[str, str]] = []
        if not ROUTE_NAME.match(route.name):
            out.append(("route.name", "required: 1-128 of [A-Za-z0-9._-], starting with a letter or digit"))
        if not route.task:
            out.append(("route.task", "required"))
        if not route.equipment_class:
            out.append(("route.equipment_class", "required"))
        if (gap := path_gap(route.equipment_prefix)) is not None:
            out.append(("route.equipment_prefix", f"path has a gap: {gap} is set below an empty segment"))

        def check_model(field: str, version_field: str, name: str, version: str) -> ModelVersion | None:
            if not catalog.versions_of(name):
                out.append((field, f"unknown model {name!r}" if name else "required"))
                return None
            model = catalog.get(name, version)
            if model is None:
                out.append((version_field, f"{name} has no version {version!r}"))
                return None
            if route.task and model.task != route.task:
                out.append((field, f"{model.ref} is a {task_name(model.task)} model, the route's task is not"))
            if route.equipment_class and model.equipment_class != route.equipment_class:
                out.append((field, f"{model.ref} is trained for {model.equipment_class}, not {route.equipment_class}"))
            return model

        check_model(
            "route.primary_model_name",
            "route.primary_model_version",
            route.primary_model_name,
            route.primary_model_version,
        )
        if route.HasField("canary"):
            canary = route.canary
            if not 0 < canary.traffic_fraction < 1:
                out.append(("route.canary.traffic_fraction", "must be in (0, 1)"))
            name = canary.model_name or route.primary_model_name
            if name == route.primary_model_name and canary.model_version == route.primary_model_version:
                out.append(("route.canary.model_version", "must differ from the primary's model or version"))
            elif name:
                check_model("route.canary.model_name", "route.canary.model_version", name, canary.model_version)
        for i, shadow in enumerate(route.shadow_models):
            if not 0 < shadow.sample_fraction <= 1:
                out.append((f"route.shadow_models[{i}].sample_fraction", "must be in (0, 1]"))
            check_model(
                f"route.shadow_models[{i}].model_name",
                f"route.shadow_models[{i}].model_version",
                shadow.model_name,
                shadow.model_version,
            )
        return out

    async def ListRoutes(self, request: pb.ListRoutesRequest, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        routes = [
            r
            for r in self.d.table.all()
            if (not request.task or r.task == request.task)
            and (not request.equipment_class or r.equipment_class == request.equipment_class)
        ]
        chunk, token = page(routes, request.page_size, request.page_token)
        return pb.ListRoutesResponse(routes=chunk, next_page_token=token)
