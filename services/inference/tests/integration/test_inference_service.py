"""The inference service as a process, on the real broker and the real Triton, with the
committed models: results carry model, version, latency, energy and window ids; an
out-of-distribution window is flagged; a malformed Predict is INVALID_ARGUMENT with field
violations; and Triton cut off mid-stream (a TCP proxy in between) and back again leaves
every window answered exactly once, with nothing committed while it was away."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from grpc_health.v1 import health_pb2
from inference_harness import (
    REPOSITORY,
    InferenceProcess,
    ModelMeta,
    TcpProxy,
    collect_results,
    ensure_loaded,
    equipment,
    model_meta,
    produce,
    windows_for,
)

from factorymesh.api.inference.v1 import inference_service_pb2 as pb
from factorymesh.api.inference.v1 import inference_service_pb2_grpc
from factorymesh.common.grpc_errors import field_violations
from factorymesh.common.kafka import KafkaConfig

pytestmark = pytest.mark.integration

ANOMALY = "anomaly_centrifugal_pump"
NS = 1_000_000_000
T0 = 1_750_000_000 * NS
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
SERVING = health_pb2.HealthCheckResponse.SERVING


def committed_models() -> list[str]:
    models = sorted(p.parent.parent.name for p in REPOSITORY.glob("*/*/metadata.json"))
    assert ANOMALY in models, f"the committed models are missing from {REPOSITORY}"
    return sorted(set(models))


@pytest.fixture
async def meta(triton_url: str) -> ModelMeta:
    await ensure_loaded(triton_url, committed_models())
    return model_meta(ANOMALY)


@pytest.fixture
async def service(
    kafka_config: KafkaConfig, triton_url: str, tmp_path: Path, meta: ModelMeta
) -> AsyncIterator[InferenceProcess]:
    process = InferenceProcess(kafka_config.bootstrap, triton_url, tmp_path)
    await process.start()
    try:
        yield process
    finally:
        await process.stop()


def groups(meta: ModelMeta, enterprise: str, equipments: int, windows: int, first: int = 0) -> list[list]:
    size_ns = round(float(meta.window["size_s"]) * NS)
    return [
        windows_for(meta, equipment(enterprise, e), T0 + k * size_ns)
        for k in range(first, first + windows)
        for e in range(equipments)
    ]


async def test_results_carry_model_version_latency_energy_and_window_ids(
    service: InferenceProcess, kafka_config: KafkaConfig, meta: ModelMeta
) -> None:
    sent = groups(meta, "acme", equipments=3, windows=4)
    await produce(kafka_config, service.features_topic, [w for g in sent for w in g])
    results = await collect_results(kafka_config, service.results_topic, expected=len(sent))
    assert len(results) == len(sent)
    assert len({r.event_id for r in results}) == len(sent)
    expected_inputs = {tuple(sorted(w.event_id for w in g)) for g in sent}
    assert {tuple(sorted(r.input_window_event_ids)) for r in results} == expected_inputs
    for result in results:
        assert result.model_name == ANOMALY
        assert result.model_version == meta.version
        assert result.latency_ms > 0
        assert result.HasField("energy_joules")
        assert result.energy_joules > 0
        assert result.route_name == f"default-{ANOMALY}"
        assert result.WhichOneof("output") == "anomaly"
        assert len(result.anomaly.feature_contributions) == len(meta.features)
        assert not result.out_of_distribution, list(result.input_window_event_ids)
        assert list(result.imputed_features) == []
        assert not result.shadow


async def test_an_out_of_distribution_window_is_flagged(
    service: InferenceProcess, kafka_config: KafkaConfig, meta: ModelMeta
) -> None:
    feature = next(i for i, s in enumerate(meta.std) if s > 0 and not meta.features[i].endswith("valid_fraction"))
    far = meta.mean[feature] + 50 * meta.std[feature]
    normal = windows_for(meta, equipment("acme", 0), T0)
    odd = windows_for(meta, equipment("acme", 1), T0, overrides={meta.features[feature]: far})
    await produce(kafka_config, service.features_topic, [*normal, *odd])
    results = {r.equipment.equipment: r for r in await collect_results(kafka_config, service.results_topic, 2)}
    assert results["eq1"].out_of_distribution
    assert results["eq1"].out_of_distribution_score > 6
    assert not results["eq0"].out_of_distribution


async def test_predict_validates_with_field_violations_and_scores_a_good_request(
    service: InferenceProcess, meta: ModelMeta
) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.grpc_port}") as channel:
        stub = inference_service_pb2_grpc.InferenceServiceStub(channel)
        first, *others = windows_for(meta, equipment("acme", 0), T0)
        no_equipment = pb.PredictRequest()
        no_equipment.window.CopyFrom(first)
        no_equipment.window.ClearField("equipment")
        no_equipment.model_name = ANOMALY
        no_equipment.features.extend([1.0, 2.0])
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.Predict(no_equipment)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert set(field_violations(raised.value)) == {"window.equipment"}

        wrong_count = pb.PredictRequest(window=first, model_name=ANOMALY, features=[1.0, 2.0])
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.Predict(wrong_count)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert set(field_violations(raised.value)) == {"features"}

        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.Predict(pb.PredictRequest(window=first, model_name="no_such_model"))
        assert set(field_violations(raised.value)) == {"model_name"}

        ok = await stub.Predict(pb.PredictRequest(window=first, additional_windows=others, task=1))
        assert ok.result.model_name == ANOMALY
        assert ok.result.latency_ms > 0
        assert sorted(ok.result.input_window_event_ids) == sorted(w.event_id for w in (first, *others))

        status = await stub.GetModelStatus(pb.GetModelStatusRequest(model_name=ANOMALY))
        assert status.status.state == 3  # READY, from Triton
        assert status.model.metrics
        assert [v.version for v in status.versions][-1] == meta.version


async def committed_offsets(config: KafkaConfig, group: str, topic: str) -> int:
    admin = AIOKafkaAdminClient(**config.common())
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return sum(m.offset for tp, m in offsets.items() if tp in {TopicPartition(topic, p) for p in range(3)})


async def test_triton_unavailable_mid_stream_then_back_every_window_answered_exactly_once(
    kafka_config: KafkaConfig, triton_url: str, tmp_path: Path, meta: ModelMeta
) -> None:
    proxy = TcpProxy(triton_url)
    await proxy.restore()
    process = InferenceProcess(
        kafka_config.bootstrap,
        proxy.url,
        tmp_path,
        extra_env={
            "FM_TRITON_TIMEOUT_S": "1",
            "FM_BREAKER_RESET_S": "0.5",
            "FM_BREAKER_MAX_RESET_S": "2",
            "FM_MAX_RETRY_BACKOFF_S": "2",
        },
    )
    await process.start()
    try:
        before = groups(meta, "acme", equipments=5, windows=2)
        await produce(kafka_config, process.features_topic, [w for g in before for w in g])
        first = await collect_results(kafka_config, process.results_topic, len(before), settle_s=0.5)
        assert len(first) == len(before)
        records_before = sum(len(g) for g in before)
        assert await committed_offsets(kafka_config, process.prefix, process.features_topic) == records_before

        await proxy.cut()
        during = groups(meta, "acme", equipments=5, windows=4, first=2)
        await produce(kafka_config, process.features_topic, [w for g in during for w in g])
        await process.wait_health(NOT_SERVING, timeout_s=30)
        await asyncio.sleep(3)
        # Paused: no result, no offset while Triton is away.
        stalled = await collect_results(kafka_config, process.results_topic, len(before) + 1, timeout_s=2)
        assert len(stalled) == len(before)
        assert await committed_offsets(kafka_config, process.prefix, process.features_topic) == records_before

        await proxy.restore()
        await process.wait_health(SERVING, timeout_s=60)
        results = await collect_results(kafka_config, process.results_topic, len(before) + len(during), settle_s=3)
    finally:
        await process.stop()
        await proxy.cut()

    answered = Counter((r.window_event_id, r.model_name, r.model_version) for r in results)
    assert len(answered) == len(before) + len(during)
    assert set(answered.values()) == {1}, [k for k, n in answered.items() if n > 1]
    assert {tuple(sorted(r.input_window_event_ids)) for r in results} == {
        tuple(sorted(w.event_id for w in g)) for g in (*before, *during)
    }
    log = process.log_tail(2000)
    assert "circuit_opened" in log
    assert "transaction_aborted" in log
