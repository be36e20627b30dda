"""A minimal service built the way every factorymesh service is: settings, logging,
telemetry, topics, a Kafka consumer, and the gRPC bootstrap with a Kafka readiness
check. The health test runs it as its own process and signals it."""

from __future__ import annotations

import asyncio

from aiokafka.errors import KafkaError

from factorymesh.common.config import BaseServiceSettings, load_settings
from factorymesh.common.grpc_server import GrpcService, run_main
from factorymesh.common.kafka import EventConsumer, KafkaConfig, KafkaReadiness
from factorymesh.common.logging import configure_logging, get_logger
from factorymesh.common.telemetry import configure_telemetry

log = get_logger("health-probe")


class ProbeSettings(BaseServiceSettings):
    probe_topic: str
    probe_group: str


async def amain() -> int:
    settings = load_settings(ProbeSettings)
    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    telemetry = configure_telemetry(settings.service_name, settings.metrics_port)
    kafka = KafkaConfig(settings.kafka_bootstrap, settings.kafka_client_id or settings.service_name)
    readiness = KafkaReadiness(kafka, timeout_s=1.0)
    consumer: EventConsumer | None = None

    async def consume() -> None:
        nonlocal consumer
        while consumer is None:  # Kafka may not be reachable yet: keep trying
            candidate = EventConsumer(kafka, settings.probe_group, [settings.probe_topic])
            try:
                await candidate.start()
                consumer = candidate
            except KafkaError:
                await candidate.raw.stop()
                await asyncio.sleep(0.5)
        total = 0
        while True:
            records = await consumer.getmany(timeout_ms=500)
            for record in records:
                consumer.mark_processed(record)  # committed on shutdown, not before
            if records:
                total += len(records)
                log.info("consumed", total=total)

    async def stop_consumer() -> None:
        if consumer is not None:
            await consumer.stop()  # commits the processed offsets

    service = GrpcService(settings, readiness_interval_s=0.5, readiness_timeout_s=2.0)
    service.add_readiness_check("kafka", readiness)
    service.add_background_task("consumer", consume)
    service.add_shutdown_hook("telemetry flush", lambda: asyncio.to_thread(telemetry.shutdown))
    service.add_shutdown_hook("readiness client", readiness.close)
    service.add_shutdown_hook("consumer commit", stop_consumer)
    return await service.run()


if __name__ == "__main__":
    run_main(amain)
