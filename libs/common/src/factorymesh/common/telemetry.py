"""OpenTelemetry traces and metrics for a service, and trace propagation over Kafka headers.

* Traces: exported over OTLP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (the
  standard OTel variables configure the exporter); otherwise spans are still
  created, so trace ids reach logs and Kafka headers.
* Metrics: a Prometheus ``/metrics`` endpoint on ``FM_METRICS_PORT`` and, with
  an OTLP endpoint, OTLP export too.
* Kafka: :func:`inject_headers` writes W3C ``traceparent``/``tracestate`` into
  record headers and :func:`extract_context` reads them back, so one trace follows
  a reading from its producer to its last consumer.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from opentelemetry import metrics, trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter, Setter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

KafkaHeaders = Sequence[tuple[str, bytes]]

# W3C trace context only: it is what every Kafka client and Triton understand.
_propagator = TraceContextTextMapPropagator()


@dataclass
class Telemetry:
    """Handles to the providers a service set up; call :meth:`shutdown` on exit to flush."""

    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    metrics_port: int | None

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


def configure_telemetry(service_name: str, metrics_port: int, version: str = "0.1.0") -> Telemetry:
    """Install global tracer and meter providers; start the Prometheus endpoint when ``metrics_port`` > 0."""
    resource = Resource.create({SERVICE_NAME: service_name, SERVICE_VERSION: version})
    otlp = bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"))

    tracer_provider = TracerProvider(resource=resource)
    if otlp:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(tracer_provider)

    readers: list[MetricReader] = []
    bound_port: int | None = None
    if metrics_port > 0:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from prometheus_client import start_http_server

        readers.append(PrometheusMetricReader())
        start_http_server(metrics_port)
        bound_port = metrics_port
    if otlp:
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
    meter_provider = MeterProvider(resource=resource, metric_readers=readers)
    metrics.set_meter_provider(meter_provider)
    return Telemetry(tracer_provider, meter_provider, bound_port)


class _HeaderSetter(Setter[list[tuple[str, bytes]]]):
    def set(self, carrier: list[tuple[str, bytes]], key: str, value: str) -> None:
        carrier[:] = [(k, v) for k, v in carrier if k != key]
        carrier.append((key, value.encode("ascii")))


class _HeaderGetter(Getter[Mapping[str, bytes]]):
    def get(self, carrier: Mapping[str, bytes], key: str) -> list[str] | None:
        value = carrier.get(key)
        return None if value is None else [value.decode("ascii", errors="replace")]

    def keys(self, carrier: Mapping[str, bytes]) -> list[str]:
        return list(carrier)


def inject_headers(headers: list[tuple[str, bytes]], context: Context | None = None) -> list[tuple[str, bytes]]:
    """Write the current (or given) trace context into Kafka record headers, in place; returns them."""
    _propagator.inject(headers, context=context, setter=_HeaderSetter())
    return headers


def extract_context(headers: Iterable[tuple[str, bytes]] | None) -> Context:
    """The trace context carried by Kafka record headers (an empty context when there is none)."""
    return _propagator.extract(dict(headers or ()), getter=_HeaderGetter())
