"""``python -m factorymesh.ingest.features``: run the feature-window processor on its own.

SIGTERM / SIGINT finish the transaction in flight, then exit 0.
"""

from __future__ import annotations

import asyncio
import signal

from factorymesh.common.config import load_settings
from factorymesh.common.kafka import KafkaConfig, ensure_topics, wait_for_kafka
from factorymesh.common.logging import configure_logging, get_logger
from factorymesh.common.telemetry import configure_telemetry
from factorymesh.common.topics import DEAD_LETTERS, TELEMETRY_FEATURES, TELEMETRY_NORMALIZED, TopicSpec
from factorymesh.ingest.features.config import FeatureWindowSettings
from factorymesh.ingest.features.processor import FeatureWindowProcessor

log = get_logger(__name__)


def _input_topic(name: str | None) -> TopicSpec:
    if not name:
        return TELEMETRY_NORMALIZED
    # Same payload contract as the normalized topic, another name (tests, shadow runs).
    return TopicSpec(
        name=name,
        partitions=TELEMETRY_NORMALIZED.partitions,
        key=TELEMETRY_NORMALIZED.key,
        value_types=TELEMETRY_NORMALIZED.value_types,
        description=TELEMETRY_NORMALIZED.description,
        producers=TELEMETRY_NORMALIZED.producers,
        consumers=TELEMETRY_NORMALIZED.consumers,
    )


async def _main(settings: FeatureWindowSettings) -> None:
    kafka = KafkaConfig(
        bootstrap=settings.kafka_bootstrap,
        client_id=settings.kafka_client_id or f"{settings.service_name}-features",
        security_protocol=settings.kafka_security_protocol,
    )
    input_topic = _input_topic(settings.features_input_topic)
    # Started beside the broker and ingest (supervisord, Kubernetes): wait for Kafka, and create
    # the registry topics this process reads and writes if ingest has not yet.
    await wait_for_kafka(kafka)
    # Overridden topics (tests, shadow runs) are the caller's to create.
    registry_topics = [
        spec
        for spec, override in (
            (TELEMETRY_NORMALIZED, settings.features_input_topic),
            (TELEMETRY_FEATURES, settings.features_output_topic),
            (DEAD_LETTERS, settings.features_dead_letter_topic),
        )
        if not override
    ]
    await ensure_topics(
        kafka,
        registry_topics,
        partitions_override=settings.kafka_topic_partitions,
        replication_factor=settings.kafka_replication_factor,
    )
    processor = FeatureWindowProcessor(
        kafka,
        settings.to_config(),
        input_topic=input_topic,
        output_topic=settings.features_output_topic or TELEMETRY_FEATURES,
        dead_letter_topic=settings.features_dead_letter_topic or DEAD_LETTERS,
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: asyncio.ensure_future(processor.stop()))
    await processor.start()
    log.info("feature_windows_started", group=processor.config.group_id, changelog=processor.config.changelog)
    await processor.run()
    log.info("feature_windows_stopped", **{k: v for k, v in vars(processor.stats).items() if k != "late"})


def main() -> None:
    settings = load_settings(FeatureWindowSettings)
    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    telemetry = configure_telemetry(settings.service_name, settings.metrics_port)
    try:
        asyncio.run(_main(settings))
    finally:
        telemetry.shutdown()


if __name__ == "__main__":
    main()
