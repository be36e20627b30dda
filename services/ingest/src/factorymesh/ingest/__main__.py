"""``python -m factorymesh.ingest``: the ingest service.

One process runs the gRPC API (edge gateways, MES) and the normalizer (raw topic →
normalized topic, exactly once). The feature windows run in their own process:
``python -m factorymesh.ingest.features``.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiokafka import AIOKafkaConsumer

from factorymesh.api.ingest.v1 import ingest_service_pb2_grpc
from factorymesh.api.mes.v1 import job_order_pb2, shift_pb2
from factorymesh.common.config import load_settings
from factorymesh.common.grpc_server import GrpcService, run_main
from factorymesh.common.kafka import (
    EventProducer,
    KafkaConfig,
    KafkaReadiness,
    TransactionalProcessor,
    UndecodableRecord,
    decode_event,
    ensure_topics,
    wait_for_kafka,
)
from factorymesh.common.logging import configure_logging, get_logger
from factorymesh.common.telemetry import configure_telemetry
from factorymesh.common.topics import DEAD_LETTERS, MES_JOB_ORDERS, MES_SHIFTS, TELEMETRY_RAW, topics_for
from factorymesh.ingest.config import IngestSettings
from factorymesh.ingest.context import ProductionContextTracker
from factorymesh.ingest.dedup import Deduplicator
from factorymesh.ingest.formats import RecordParser
from factorymesh.ingest.pipeline import Normalizer
from factorymesh.ingest.ratelimit import RateLimiter
from factorymesh.ingest.registry import KafkaPublisher, TagDefinition, open_registry
from factorymesh.ingest.servicer import IngestServicer, ServicerOptions
from factorymesh.ingest.units import default_converter
from factorymesh.ingest.validation import Validator

log = get_logger("factorymesh.ingest")


class ContextFollower:
    """Replays the MES job-order and shift topics into the context tracker, then follows them.

    Every replica reads both topics whole (no consumer group), so each one stamps readings
    with the same job order, product and shift.
    """

    def __init__(self, config: KafkaConfig, tracker: ProductionContextTracker) -> None:
        self._tracker = tracker
        self._consumer = AIOKafkaConsumer(
            MES_JOB_ORDERS.name,
            MES_SHIFTS.name,
            **config.common(),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
        )
        self.caught_up = asyncio.Event()

    async def run(self) -> None:
        await self._consumer.start()
        try:
            await self._consumer.seek_to_beginning()
            partitions = self._consumer.assignment()
            end = await self._consumer.end_offsets(list(partitions))
            while True:
                batches = await self._consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    for record in records:
                        self._apply(record.value, record.headers)
                if not self.caught_up.is_set() and all(
                    await asyncio.gather(*(self._reached(tp, offset) for tp, offset in end.items()))
                ):
                    self.caught_up.set()
                    log.info("production_context_caught_up")
        finally:
            await self._consumer.stop()

    async def _reached(self, tp: object, offset: int) -> bool:
        return int(await self._consumer.position(tp)) >= offset

    def _apply(self, value: bytes | None, headers: list[tuple[str, bytes]] | None) -> None:
        try:
            event = decode_event(value, headers, (job_order_pb2.JobOrderEvent, shift_pb2.ShiftEvent))
            self._tracker.apply(event, replay=True)  # type: ignore[arg-type]
        except (UndecodableRecord, ValueError) as error:
            # Published by our own servicer after validation: a failure here is a bug, not input.
            log.error("production_context_event_skipped", error=str(error))

    async def ready(self) -> bool:
        return self.caught_up.is_set()


async def amain() -> int:
    settings = load_settings(IngestSettings)
    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    telemetry = configure_telemetry(settings.service_name, settings.metrics_port)
    kafka = KafkaConfig(settings.kafka_bootstrap, settings.kafka_client_id or settings.service_name)

    await wait_for_kafka(kafka)  # supervisord / Kubernetes may start us before the broker answers
    await ensure_topics(
        kafka,
        {*topics_for("ingest"), DEAD_LETTERS},
        partitions_override=settings.kafka_topic_partitions,
        replication_factor=settings.kafka_replication_factor,
    )
    producer = EventProducer(kafka, producer_name=settings.service_name)
    await producer.start()
    registry, registry_sync = await open_registry(
        kafka, producer, assets_file=settings.assets_file, unknown_tag_policy=settings.unknown_tag_policy
    )

    converter = default_converter()
    validator = Validator(
        max_future_s=settings.max_future_s,
        max_past_s=settings.max_past_s,
        # Under auto-registration unknown tags pass (flagged) and get registered after the batch.
        unknown_tag_policy="accept" if settings.unknown_tag_policy == "auto_register" else "reject",
        converter=converter,
    )

    def follow_registry(equipment: str, tag: str, definition: TagDefinition | None) -> None:
        if definition is None:
            validator.remove(equipment, tag)
        else:
            validator.upsert(definition.to_proto())

    registry.add_listener(follow_registry)
    tracker = ProductionContextTracker()
    context = ContextFollower(kafka, tracker)

    async def register_unknown(equipment: str, tag: str, unit: str) -> object:
        return await registry.resolve(equipment, tag, unit=unit)

    normalizer = Normalizer(
        parser=RecordParser(max_payload_bytes=settings.max_record_bytes),
        converter=converter,
        validator=validator,
        dedup=Deduplicator(settings.dedup_window_s, settings.dedup_max_ids),
        context=tracker,
        service=settings.service_name,
        equipment_class=lambda eq: registry.equipment_class(eq) or "",
        register_unknown=register_unknown if settings.unknown_tag_policy == "auto_register" else None,
    )
    processor = TransactionalProcessor(
        kafka,
        group_id=settings.consumer_group,
        transactional_id=settings.transactional_id,
        inputs=[TELEMETRY_RAW],
        batch_handler=normalizer,
        on_abort=normalizer.abort,
        service=settings.service_name,
        max_batch=settings.max_batch_records,
    )

    servicer = IngestServicer(
        KafkaPublisher(producer),
        registry,
        RateLimiter(settings.rate_limit_per_source),
        validate_transition=tracker.validate_transition,
        record_context=tracker.apply,
        options=ServicerOptions(service_name=settings.service_name),
    )

    async def normalize_when_ready() -> None:
        # Readings are normalized only with the registry and the production context loaded.
        await context.caught_up.wait()
        await processor.start()
        log.info("normalizer_started", group=settings.consumer_group, transactional_id=settings.transactional_id)
        await processor.run_as_background_task()  # at shutdown: finishes and commits its batch

    service = GrpcService(settings)
    service.add_servicer(ingest_service_pb2_grpc.add_IngestServiceServicer_to_server, servicer)
    service.add_readiness_check("kafka", KafkaReadiness(kafka))
    service.add_readiness_check("tag-registry", registry_sync.ready)
    service.add_readiness_check("production-context", context.ready)
    service.add_background_task("tag-registry-sync", registry_sync.run)
    service.add_background_task("production-context", context.run)
    service.add_background_task("normalizer", normalize_when_ready)
    # Shutdown hooks run in reverse, after the background tasks (the normalizer) stopped.
    service.add_shutdown_hook("telemetry flush", lambda: asyncio.to_thread(telemetry.shutdown))
    service.add_shutdown_hook("kafka producer", producer.stop)
    service.add_shutdown_hook("tag-registry sync", registry_sync.stop)
    return await service.run()


def main() -> None:
    with contextlib.suppress(KeyboardInterrupt):
        run_main(amain)


if __name__ == "__main__":
    main()
