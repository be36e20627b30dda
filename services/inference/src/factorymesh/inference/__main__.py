"""``python -m factorymesh.inference``: the inference service.

One process runs the gRPC API (Predict, models, routes) and the streaming scorer
(feature windows -> Triton -> inference results, exactly once).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Iterable

from opentelemetry import metrics as otel_metrics
from opentelemetry.metrics import CallbackOptions, Observation

from factorymesh.api.inference.v1 import inference_service_pb2_grpc
from factorymesh.common.config import load_settings
from factorymesh.common.grpc_server import GrpcService, run_main
from factorymesh.common.kafka import (
    EventProducer,
    KafkaConfig,
    KafkaReadiness,
    TransactionalProcessor,
    ensure_topics,
    wait_for_kafka,
)
from factorymesh.common.logging import configure_logging, get_logger
from factorymesh.common.telemetry import configure_telemetry
from factorymesh.common.topics import DEAD_LETTERS, INFERENCE_RESULTS, TELEMETRY_FEATURES, TopicSpec
from factorymesh.common.triton import RetryPolicy, TritonClient
from factorymesh.inference.assembler import Assembler
from factorymesh.inference.breaker import BreakerState, CircuitBreaker
from factorymesh.inference.config import InferenceSettings
from factorymesh.inference.energy import EnergyMeter, find_process, is_loopback
from factorymesh.inference.guard import InputGuard
from factorymesh.inference.metrics import RecentLatencies
from factorymesh.inference.models import CatalogRefresher, ModelCatalog, TritonAdmin
from factorymesh.inference.pipeline import InferencePipeline
from factorymesh.inference.router import ROUTES, RouteStore, RoutingTable, default_routes, load_routes_file, stamp
from factorymesh.inference.scorer import Scorer
from factorymesh.inference.servicer import InferenceServicer, ServicerDeps

log = get_logger("factorymesh.inference")

_BREAKER_VALUE = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}


def _topic(spec: TopicSpec, name: str | None) -> TopicSpec:
    return dataclasses.replace(spec, name=name) if name else spec


class TritonReadiness:
    """Ready while the breaker is not open and every routed primary model is loaded."""

    def __init__(
        self, triton: TritonClient, breaker: CircuitBreaker, table: RoutingTable, catalog: ModelCatalog
    ) -> None:
        self._triton = triton
        self._breaker = breaker
        self._table = table
        self._catalog = catalog

    async def __call__(self) -> bool:
        if self._breaker.state is BreakerState.OPEN:
            return False
        models = {
            (model.name, model.version)
            for route in self._table.all()
            if (model := self._catalog.get(route.primary_model_name, route.primary_model_version)) is not None
        }
        if not models:
            return await self._triton.is_server_live(timeout_s=2.0)
        ready = await asyncio.gather(*(self._triton.is_model_ready(n, v, timeout_s=2.0) for n, v in models))
        return all(ready)


async def amain() -> int:
    settings = load_settings(InferenceSettings)
    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    telemetry = configure_telemetry(settings.service_name, settings.metrics_port)
    kafka = KafkaConfig(settings.kafka_bootstrap, settings.kafka_client_id or settings.service_name)
    features = _topic(TELEMETRY_FEATURES, settings.input_topic)
    results = _topic(INFERENCE_RESULTS, settings.output_topic)
    routes_topic = _topic(ROUTES, settings.routes_topic)

    await wait_for_kafka(kafka)  # supervisord / Kubernetes may start us before the broker answers
    await ensure_topics(
        kafka,
        {features, results, routes_topic, DEAD_LETTERS},
        partitions_override=settings.kafka_topic_partitions,
        replication_factor=settings.kafka_replication_factor,
    )
    producer = EventProducer(kafka, producer_name=settings.service_name)
    await producer.start()

    triton = TritonClient(
        settings.triton_url,
        timeout_s=settings.triton_timeout_s,
        max_concurrency=settings.triton_max_concurrency,
        retry=RetryPolicy(attempts=settings.triton_retry_attempts),
    )
    admin = TritonAdmin(settings.triton_url)
    catalog = ModelCatalog(settings.model_repository)
    table = RoutingTable()

    def follow_repository() -> None:
        if settings.default_routes:
            table.set_defaults(default_routes(catalog, settings.default_canary_fraction))

    refresher = CatalogRefresher(catalog, admin, on_change=follow_repository)
    await refresher.refresh()  # Triton may be down: the repository alone gives features and routes
    store = RouteStore(kafka, table, producer, topic=routes_topic)

    breaker = CircuitBreaker(
        failure_threshold=settings.breaker_failures,
        reset_timeout_s=settings.breaker_reset_s,
        max_reset_timeout_s=settings.breaker_max_reset_s,
    )
    pid = settings.triton_pid or (find_process() if is_loopback(settings.triton_url) else None)
    energy = EnergyMeter(
        metrics_url=settings.triton_metrics_url,
        watts_per_core=settings.energy_watts_per_core,
        triton_pid=pid,
        cpu_cores=settings.triton_cpu_cores,
    )
    log.info("energy_sources", metrics_url=settings.triton_metrics_url, triton_pid=pid)
    scorer = Scorer(triton, breaker, energy, timeout_s=settings.triton_timeout_s)
    guard = InputGuard(settings.ood_k, settings.ood_max_z)
    latencies = RecentLatencies()
    pipeline = InferencePipeline(
        catalog=catalog,
        table=table,
        scorer=scorer,
        guard=guard,
        assembler=Assembler(settings.assembly_timeout_s),
        output_topic=results,
        service=settings.service_name,
        min_present_fraction=settings.min_present_fraction,
        latencies=latencies,
    )
    processor = TransactionalProcessor(
        kafka,
        group_id=settings.consumer_group,
        transactional_id=settings.transactional_id,
        inputs=[features],
        service=settings.service_name,
        batch_handler=pipeline,
        on_abort=pipeline.on_abort,
        on_commit=pipeline.on_commit,
        max_batch=settings.max_batch_records,
        retry_backoff_s=settings.retry_backoff_s,
        max_retry_backoff_s=settings.max_retry_backoff_s,
    )

    def observe_breaker(_: CallbackOptions) -> Iterable[Observation]:
        yield Observation(_BREAKER_VALUE[breaker.state], {"breaker": breaker.name})

    def observe_energy(_: CallbackOptions) -> Iterable[Observation]:
        if energy.current is not None:
            yield Observation(
                energy.current.joules,
                {"energy_is_estimate": str(energy.current.is_estimate).lower(), "method": energy.current.method},
            )

    meter = otel_metrics.get_meter("factorymesh.inference")
    meter.create_observable_gauge(
        "factorymesh.inference.breaker_state", [observe_breaker], description="0 closed, 1 half-open, 2 open"
    )
    meter.create_observable_gauge(
        "factorymesh.inference.energy_per_inference",
        [observe_energy],
        unit="J",
        description="Energy per inference over the last sampling interval (Triton-wide)",
    )

    async def seed_routes() -> None:
        if settings.routes_file is None:
            return
        for route in load_routes_file(settings.routes_file):
            if table.stored(route.name) is None:
                await store.publish(stamp(route, f"{settings.service_name} (routes file)"))
                log.info("route_seeded", route=route.name)

    async def score_when_ready() -> None:
        # Windows are routed only with the stored route table loaded.
        await store.caught_up.wait()
        await seed_routes()
        await processor.start()
        log.info("scorer_started", group=settings.consumer_group, transactional_id=settings.transactional_id)
        await processor.run_as_background_task()  # at shutdown: finishes and commits its batch

    servicer = InferenceServicer(
        ServicerDeps(
            catalog=catalog,
            table=table,
            store=store,
            scorer=scorer,
            guard=guard,
            admin=admin,
            latencies=latencies,
            producer=producer,
            results_topic=results,
            min_present_fraction=settings.min_present_fraction,
        )
    )
    service = GrpcService(settings, readiness_interval_s=2.0)
    service.add_servicer(inference_service_pb2_grpc.add_InferenceServiceServicer_to_server, servicer)
    service.add_readiness_check("kafka", KafkaReadiness(kafka))
    service.add_readiness_check("routes", store.ready)
    service.add_readiness_check("triton", TritonReadiness(triton, breaker, table, catalog), timeout_s=3.0)
    service.add_background_task("routes", store.run)
    service.add_background_task("model-catalog", lambda: refresher.run(settings.model_refresh_s))
    service.add_background_task("energy", lambda: energy.run(settings.energy_sample_s), critical=False)
    service.add_background_task("scorer", score_when_ready)
    # Shutdown hooks run in reverse, after the background tasks (the scorer) stopped.
    service.add_shutdown_hook("telemetry flush", lambda: asyncio.to_thread(telemetry.shutdown))
    service.add_shutdown_hook("kafka producer", producer.stop)
    service.add_shutdown_hook("triton", triton.close)
    service.add_shutdown_hook("triton admin", admin.close)
    return await service.run()


def main() -> None:
    with contextlib.suppress(KeyboardInterrupt):
        run_main(amain)


if __name__ == "__main__":
    main()
