"""The publishing run: simulate at a rate, encode each line's formats, send to Kafka, stop cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC

from aiokafka.errors import KafkaConnectionError
from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind

from factorymesh.common.kafka import KafkaConfig, ensure_topics
from factorymesh.common.logging import get_logger
from factorymesh.common.topics import TELEMETRY_RAW
from factorymesh.line_simulator.config import LineSimulatorSettings
from factorymesh.line_simulator.faults import Scenario
from factorymesh.line_simulator.kafka_sink import KafkaSink
from factorymesh.line_simulator.output import LabelWriter
from factorymesh.line_simulator.plant import default_plant, parse_formats
from factorymesh.line_simulator.router import Router
from factorymesh.line_simulator.simulator import NS, Simulator
from factorymesh.line_simulator.ticker import Ticker

log = get_logger(__name__)
tracer = trace.get_tracer("factorymesh.line_simulator")
_meter = metrics.get_meter("factorymesh.line_simulator")
TICKS = _meter.create_counter("factorymesh.line_simulator.ticks", description="Simulation ticks published")
LAG = _meter.create_histogram(
    "factorymesh.line_simulator.lag",
    unit="s",
    description="How late a tick was published against its schedule",
    # Healthy lag is milliseconds; the SDK's default buckets start at 5 s.
    explicit_bucket_boundaries_advisory=[0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0],
)


@dataclass(frozen=True)
class RunStats:
    ticks: int
    records: int
    readings: int
    start_ns: int
    elapsed_s: float


def start_ns_of(settings: LineSimulatorSettings) -> int:
    if settings.start is not None:
        start = settings.start if settings.start.tzinfo else settings.start.replace(tzinfo=UTC)
        return int(start.timestamp()) * NS + start.microsecond * 1000
    # The next whole second: ticks land on round timestamps and the first one is not already late.
    return -(-time.time_ns() // NS) * NS


async def _start_producer(sink: KafkaSink, stop: asyncio.Event) -> bool:
    """Connect, retrying while the broker is not up yet (supervisord does not wait for Kafka's readiness)."""
    delay = 0.5
    while not stop.is_set():
        try:
            await sink.start()
            return True
        except KafkaConnectionError as error:
            log.warning("kafka_unavailable", error=str(error), retry_in_s=delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
            delay = min(delay * 2, 10.0)
    return False


async def run(settings: LineSimulatorSettings, stop: asyncio.Event | None = None) -> RunStats:
    """Publish until ``duration_s`` of simulated time has passed or ``stop`` is set (SIGTERM / SIGINT set it)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not the main thread
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    try:
        return await _run(settings, stop)
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


async def _run(settings: LineSimulatorSettings, stop: asyncio.Event) -> RunStats:

    scenario = Scenario.load(settings.scenario) if settings.scenario else Scenario()
    start_ns = start_ns_of(settings)
    plant = scenario.plant or default_plant()
    if settings.formats:
        plant = plant.with_formats(parse_formats(settings.formats))
    simulator = Simulator(
        plant, seed=settings.seed, scenario=scenario, start_ns=start_ns, fault_rate_scale=settings.fault_rate_scale
    )
    router = Router(
        simulator.plant,
        settings.seed,
        batch_size=settings.batch_size,
        batch_interval_s=settings.batch_interval_s,
        # A new session per run: bdSeq from the start second, so a restarted simulator is a new session.
        bd_seq=(start_ns // NS) % 256,
        rebirth_s=settings.sparkplug_rebirth_s,
    )
    config = KafkaConfig(
        bootstrap=settings.kafka_bootstrap,
        client_id=settings.kafka_client_id or settings.service_name,
        security_protocol=settings.kafka_security_protocol,
    )
    if settings.create_topic:
        spec = dataclasses.replace(TELEMETRY_RAW, name=settings.topic)
        await _retrying(
            lambda: ensure_topics(
                config,
                [spec],
                partitions_override=settings.kafka_topic_partitions,
                replication_factor=settings.kafka_replication_factor,
            ),
            stop,
        )
    sink = KafkaSink(config, settings.topic, settings.service_name, settings.max_in_flight)
    labels = LabelWriter(settings.labels_out) if settings.labels_out else None
    ticker = Ticker(settings.rate_hz, start_ns, realtime=settings.realtime)
    total = None if settings.duration_s is None else int(settings.duration_s * NS // ticker.period_ns)
    started = time.monotonic()
    ticks = 0
    if not await _start_producer(sink, stop):
        return RunStats(0, 0, 0, start_ns, 0.0)
    log.info(
        "simulator_started",
        topic=settings.topic,
        rate_hz=settings.rate_hz,
        seed=settings.seed,
        equipment=len(simulator.plant.equipment),
        start_ns=start_ns,
    )
    try:
        while total is None or ticks < total:
            if not await ticker.wait(ticks, stop):
                break
            LAG.record(ticker.lag_s)
            with tracer.start_as_current_span("line_simulator.tick", kind=SpanKind.PRODUCER) as span:
                tick = simulator.step(ticker.due_ns(ticks))
                records = router.encode_tick(tick)
                span.set_attribute("factorymesh.readings", tick.reading_count)
                span.set_attribute("messaging.batch.message_count", len(records))
                await sink.send(records)
            if labels:
                labels.write(tick.labels)
            TICKS.add(1)
            ticks += 1
    finally:
        # Flush what is buffered (partial batches, NDEATH) even when stopping on a signal.
        with tracer.start_as_current_span("line_simulator.close", kind=SpanKind.PRODUCER):
            await sink.send(router.close())
        try:
            await sink.flush()
        finally:
            await sink.stop()
            if labels:
                labels.close()
    elapsed = time.monotonic() - started
    log.info(
        "simulator_stopped", ticks=ticks, records=sink.records, readings=sink.readings, elapsed_s=round(elapsed, 3)
    )
    return RunStats(ticks, sink.records, sink.readings, start_ns, elapsed)


async def _retrying(make: Callable[[], Awaitable[object]], stop: asyncio.Event) -> None:
    """Run an async operation until it succeeds or we are stopped (the broker may still be starting)."""
    delay = 0.5
    while not stop.is_set():
        try:
            await make()
            return
        except (TimeoutError, KafkaConnectionError, OSError) as error:
            log.warning("kafka_unavailable", error=str(error), retry_in_s=delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
            delay = min(delay * 2, 10.0)
