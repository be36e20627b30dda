"""InferenceServicer over a real in-process gRPC server (GrpcService, port 0); Triton and Kafka faked."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest
from google.protobuf.message import Message
from inference_fakes import ANOMALY_FEATURES, PUMP, T0, UNAVAILABLE, FakeTriton, window, write_model

from factorymesh.api.common.v1 import equipment_pb2
from factorymesh.api.inference.v1 import inference_service_pb2 as pb
from factorymesh.api.inference.v1 import inference_service_pb2_grpc, model_pb2
from factorymesh.common.config import BaseServiceSettings
from factorymesh.common.grpc_errors import error_reason, field_violations, retry_after_s
from factorymesh.common.grpc_server import GrpcService
from factorymesh.inference.assembler import key_of
from factorymesh.inference.breaker import CircuitBreaker
from factorymesh.inference.energy import EnergyMeter
from factorymesh.inference.guard import InputGuard
from factorymesh.inference.metrics import RecentLatencies
from factorymesh.inference.models import ModelCatalog, Task
from factorymesh.inference.router import RouteStore, RoutingTable, default_routes
from factorymesh.inference.scorer import Scorer
from factorymesh.inference.servicer import InferenceServicer, ServicerDeps

ANOMALY = Task.INFERENCE_TASK_ANOMALY_DETECTION
RUL = Task.INFERENCE_TASK_REMAINING_USEFUL_LIFE


class FakeAdmin:
    def __init__(self, catalog: ModelCatalog) -> None:
        self.catalog = catalog

    async def repository_index(self) -> list[dict[str, Any]]:
        return [{"name": n, "version": v, "state": "READY"} for n, v in self.catalog.versions]

    async def model_config(self, name: str) -> dict[str, Any]:
        return {"max_batch_size": 64, "dynamic_batching": {"preferred_batch_size": [8, 16, 32]}}

    async def statistics(self, name: str, version: str) -> dict[str, Any]:
        return {
            "last_inference": "1750000000000",
            "inference_stats": {"success": {"count": "42"}, "fail": {"count": "3"}},
        }

    async def close(self) -> None:
        pass


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Message, object]] = []

    async def send(self, topic: Any, message: Message, key: object = None, headers: Any = ()) -> None:
        self.sent.append((getattr(topic, "name", topic), message, key))


class Env:
    def __init__(self, repo: Path) -> None:
        write_model(repo, "anomaly_centrifugal_pump", "1", metrics={"test": {"auc": 0.91}})
        write_model(repo, "anomaly_centrifugal_pump", "2", metrics={"test": {"auc": 0.95}})
        write_model(repo, "anomaly_induction_motor", "1", equipment_class="induction_motor")
        write_model(repo, "rul_centrifugal_pump", "1", features=["flow.mean"])
        self.catalog = ModelCatalog(repo)
        self.catalog.scan()
        self.catalog.set_states([{"name": n, "version": v, "state": "READY"} for n, v in self.catalog.versions])
        self.table = RoutingTable()
        self.table.set_defaults(default_routes(self.catalog))
        self.triton = FakeTriton()
        self.producer = FakeProducer()
        self.store = RouteStore(None, self.table, self.producer)  # type: ignore[arg-type]
        self.servicer = InferenceServicer(
            ServicerDeps(
                catalog=self.catalog,
                table=self.table,
                store=self.store,
                scorer=Scorer(
                    self.triton,
                    CircuitBreaker(failure_threshold=1, reset_timeout_s=30, max_reset_timeout_s=30),
                    EnergyMeter(metrics_url=None, watts_per_core=10.0),
                ),
                guard=InputGuard(),
                admin=FakeAdmin(self.catalog),
                latencies=RecentLatencies(),
                producer=self.producer,  # type: ignore[arg-type]
            )
        )
        self.stub: inference_service_pb2_grpc.InferenceServiceStub


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    e = Env(tmp_path)
    service = GrpcService(BaseServiceSettings(kafka_bootstrap="unused:9092", grpc_host="127.0.0.1", grpc_port=0))
    service.add_servicer(inference_service_pb2_grpc.add_InferenceServiceServicer_to_server, e.servicer)
    async with service, grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        e.stub = inference_service_pb2_grpc.InferenceServiceStub(channel)
        yield e


def pump_windows(**overrides: float) -> list[Any]:
    return [window(tag, T0, **overrides) for tag in ("flow", "vibration_rms", "bearing_temperature")]


async def invalid(call: Any) -> dict[str, str]:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT, raised.value.details()
    return field_violations(raised.value)


# ---------------------------------------------------------------- Predict validation


async def test_predict_without_a_window_names_the_field(env: Env) -> None:
    violations = await invalid(env.stub.Predict(pb.PredictRequest(task=ANOMALY)))
    assert set(violations) == {"window"}


async def test_predict_without_equipment_names_the_field(env: Env) -> None:
    w = window("flow")
    w.ClearField("equipment")
    violations = await invalid(env.stub.Predict(pb.PredictRequest(window=w, task=ANOMALY)))
    assert violations == {"window.equipment": "required: the equipment path of the window"}


async def test_predict_with_an_unknown_model_names_the_field(env: Env) -> None:
    violations = await invalid(env.stub.Predict(pb.PredictRequest(window=window("flow"), model_name="nope")))
    assert list(violations) == ["model_name"]
    assert "anomaly_centrifugal_pump" in violations["model_name"]


async def test_predict_with_an_unknown_version_names_the_version_field(env: Env) -> None:
    request = pb.PredictRequest(window=window("flow"), model_name="anomaly_centrifugal_pump", model_version="9")
    assert list(await invalid(env.stub.Predict(request))) == ["model_version"]


async def test_predict_with_the_wrong_feature_count_names_the_field(env: Env) -> None:
    request = pb.PredictRequest(window=window("flow"), model_name="anomaly_centrifugal_pump", features=[1.0, 2.0])
    violations = await invalid(env.stub.Predict(request))
    assert list(violations) == ["features"]
    assert f"takes {len(ANOMALY_FEATURES)} features" in violations["features"]


async def test_predict_collects_several_violations(env: Env) -> None:
    w = window("flow", equipment_class="")
    w.ClearField("equipment")
    violations = await invalid(env.stub.Predict(pb.PredictRequest(window=w)))
    assert set(violations) == {"window.equipment", "task", "window.equipment_class"}


async def test_predict_refuses_foreign_additional_windows_and_too_few_tags(env: Env) -> None:
    other = window("vibration_rms", T0 + 10_000_000_000)
    request = pb.PredictRequest(window=window("flow"), task=ANOMALY, additional_windows=[other])
    violations = await invalid(env.stub.Predict(request))
    assert set(violations) == {"additional_windows[0]", "additional_windows"}


async def test_predict_refuses_a_window_of_the_wrong_kind(env: Env) -> None:
    request = pb.PredictRequest(window=window("flow", size_s=60, hop_s=10, kind=2), task=ANOMALY)
    violations = await invalid(env.stub.Predict(request))
    assert "window.window_size" in violations


# ---------------------------------------------------------------- Predict


async def test_predict_routes_assembles_scores_and_publishes(env: Env) -> None:
    first, *others = pump_windows()
    reply = await env.stub.Predict(pb.PredictRequest(window=first, task=ANOMALY, additional_windows=others))
    result = reply.result
    assert (result.model_name, result.model_version) == ("anomaly_centrifugal_pump", "2")
    assert result.route_name == "default-anomaly_centrifugal_pump"
    assert result.window_event_id == key_of(first).id
    assert sorted(result.input_window_event_ids) == sorted(w.event_id for w in (first, *others))
    assert result.latency_ms > 0
    assert result.HasField("energy_joules")
    assert list(result.imputed_features) == []
    [(topic, published, key)] = env.producer.sent
    assert topic == "factorymesh.inference.results.v1"
    assert published == result
    assert key == "acme/houston/utilities/cooling/pumps/pump-01"


async def test_predict_with_explicit_features_and_model(env: Env) -> None:
    request = pb.PredictRequest(
        window=window("flow"), model_name="anomaly_centrifugal_pump", model_version="1", features=[1.0] * 6
    )
    result = (await env.stub.Predict(request)).result
    assert result.model_version == "1"
    assert result.anomaly.score == pytest.approx(1.0)
    assert result.route_name == ""


async def test_predict_imputes_and_flags_a_missing_tag_and_the_guard_flags_ood(env: Env) -> None:
    flow, vibration, _ = pump_windows()
    vibration.mean = 40.0
    request = pb.PredictRequest(window=flow, task=ANOMALY, additional_windows=[vibration])
    result = (await env.stub.Predict(request)).result
    assert list(result.imputed_features) == ["bearing_temperature.mean", "bearing_temperature.valid_fraction"]
    assert result.out_of_distribution


async def test_predict_single_tag_model_keeps_the_window_id(env: Env) -> None:
    w = window("flow")
    result = (await env.stub.Predict(pb.PredictRequest(window=w, task=RUL))).result
    assert result.model_name == "rul_centrifugal_pump"
    assert result.window_event_id == w.event_id
    assert result.tag == "flow"


async def test_predict_when_triton_is_down_is_unavailable_with_retry_info(env: Env) -> None:
    env.triton.fail_with = UNAVAILABLE
    request = pb.PredictRequest(window=window("flow"), model_name="anomaly_centrifugal_pump", features=[1.0] * 6)
    for _ in range(2):  # the second call finds the breaker open
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await env.stub.Predict(request)
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
        assert retry_after_s(raised.value) is not None


async def test_predict_without_a_route_is_failed_precondition(env: Env) -> None:
    w = window("flow", equipment_class="cnc_spindle")
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await env.stub.Predict(pb.PredictRequest(window=w, task=ANOMALY))
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION


# ---------------------------------------------------------------- models


async def test_list_models_filters_and_pages(env: Env) -> None:
    first = await env.stub.ListModels(pb.ListModelsRequest(page_size=2))
    assert [(m.name, m.version) for m in first.models] == [
        ("anomaly_centrifugal_pump", "1"),
        ("anomaly_centrifugal_pump", "2"),
    ]
    second = await env.stub.ListModels(pb.ListModelsRequest(page_size=2, page_token=first.next_page_token))
    assert [m.name for m in second.models] == ["anomaly_induction_motor", "rul_centrifugal_pump"]
    assert second.next_page_token == ""
    pumps = await env.stub.ListModels(pb.ListModelsRequest(task=ANOMALY, equipment_class="centrifugal_pump"))
    assert {m.version for m in pumps.models} == {"1", "2"}
    model = pumps.models[0]
    assert list(model.feature_names) == ANOMALY_FEATURES
    assert model.state == model_pb2.ModelState.MODEL_STATE_READY
    assert model.metrics["test.auc"] == pytest.approx(0.91)
    bad_page = pb.ListModelsRequest(page_token="x")  # noqa: S106 - a page token, not a secret
    assert set(await invalid(env.stub.ListModels(bad_page))) == {"page_token"}


async def test_get_model_status_has_versions_readiness_metrics_and_statistics(env: Env) -> None:
    reply = await env.stub.GetModelStatus(pb.GetModelStatusRequest(model_name="anomaly_centrifugal_pump"))
    assert reply.model.version == "2"
    assert reply.model.metrics["test.auc"] == pytest.approx(0.95)
    assert [v.version for v in reply.versions] == ["1", "2"]
    assert reply.status.state == model_pb2.ModelState.MODEL_STATE_READY
    assert (reply.status.inference_count, reply.status.failure_count) == (42, 3)
    assert reply.status.last_inference_time.seconds == 1_750_000_000
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await env.stub.GetModelStatus(pb.GetModelStatusRequest(model_name="nope"))
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert list(await invalid(env.stub.GetModelStatus(pb.GetModelStatusRequest()))) == ["model_name"]


# ---------------------------------------------------------------- routes


def houston_route(**kw: Any) -> model_pb2.ModelRoute:
    fields: dict[str, Any] = {
        "name": "anomaly-pumps-houston",
        "task": ANOMALY,
        "equipment_class": "centrifugal_pump",
        "equipment_prefix": equipment_pb2.EquipmentPath(enterprise="acme", site="houston"),
        "primary_model_name": "anomaly_centrifugal_pump",
        "primary_model_version": "1",
    }
    return model_pb2.ModelRoute(**{**fields, **kw})


async def test_set_route_validates_every_field(env: Env) -> None:
    bad = model_pb2.ModelRoute(
        name="bad name!",
        equipment_prefix=equipment_pb2.EquipmentPath(enterprise="acme", area="x"),
        primary_model_name="anomaly_induction_motor",
        canary=model_pb2.CanaryModel(model_version="7", traffic_fraction=1.5),
        shadow_models=[model_pb2.ShadowModel(model_name="ghost", sample_fraction=0)],
    )
    violations = await invalid(env.stub.SetRoute(pb.SetRouteRequest(route=bad)))
    assert set(violations) == {
        "route.name",
        "route.task",
        "route.equipment_class",
        "route.equipment_prefix",
        "route.canary.traffic_fraction",
        "route.canary.model_version",
        "route.shadow_models[0].sample_fraction",
        "route.shadow_models[0].model_name",
    }
    wrong_class = houston_route(equipment_class="induction_motor")
    violations = await invalid(env.stub.SetRoute(pb.SetRouteRequest(route=wrong_class)))
    assert "trained for centrifugal_pump" in violations["route.primary_model_name"]
    same = houston_route(canary=model_pb2.CanaryModel(model_version="1", traffic_fraction=0.1))
    assert "route.canary.model_version" in await invalid(env.stub.SetRoute(pb.SetRouteRequest(route=same)))


async def test_set_route_stores_and_routes_and_checks_the_etag(env: Env) -> None:
    canary = model_pb2.CanaryModel(model_version="2", traffic_fraction=0.25)
    dry = await env.stub.SetRoute(pb.SetRouteRequest(route=houston_route(canary=canary), validate_only=True))
    assert dry.route.etag
    assert env.producer.sent == []
    stored = (await env.stub.SetRoute(pb.SetRouteRequest(route=houston_route(canary=canary)))).route
    assert stored.updated_by == "anonymous"
    assert stored.update_time.seconds > 0
    [(topic, message, key)] = env.producer.sent
    assert (topic, key) == ("factorymesh.inference.routes.v1", "anomaly-pumps-houston")
    assert message == stored
    assert env.table.select(ANOMALY, "centrifugal_pump", PUMP).name == "anomaly-pumps-houston"  # type: ignore[union-attr]

    routes = (await env.stub.ListRoutes(pb.ListRoutesRequest(task=ANOMALY, equipment_class="centrifugal_pump"))).routes
    assert [r.name for r in routes] == ["anomaly-pumps-houston", "default-anomaly_centrifugal_pump"]

    stale = houston_route(etag="not-the-etag")
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await env.stub.SetRoute(pb.SetRouteRequest(route=stale))
    assert raised.value.code() == grpc.StatusCode.ABORTED
    assert error_reason(raised.value) == "ETAG_MISMATCH"
    updated = (await env.stub.SetRoute(pb.SetRouteRequest(route=houston_route(etag=stored.etag)))).route
    assert updated.etag != stored.etag
