from __future__ import annotations

import json
import logging

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from factorymesh.common.logging import configure_logging, get_logger
from factorymesh.common.telemetry import extract_context, inject_headers


@pytest.fixture
def tracer() -> trace.Tracer:
    return TracerProvider().get_tracer("test")


def _json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_json_logs_carry_trace_and_span_ids(capsys: pytest.CaptureFixture[str], tracer: trace.Tracer) -> None:
    configure_logging("unit-service", "INFO", "json")
    with tracer.start_as_current_span("work") as span:
        get_logger("t").info("inside_span", answer=42)
        context = span.get_span_context()
    line = _json_lines(capsys.readouterr().out)[-1]
    assert line["event"] == "inside_span"
    assert line["answer"] == 42
    assert line["service"] == "unit-service"
    assert line["trace_id"] == format(context.trace_id, "032x")
    assert line["span_id"] == format(context.span_id, "016x")


def test_stdlib_logging_goes_through_structlog(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("unit-service", "INFO", "json")
    logging.getLogger("some.library").warning("library says %s", "hello")
    line = _json_lines(capsys.readouterr().out)[-1]
    assert line["event"] == "library says hello"
    assert line["level"] == "warning"
    assert line["logger"] == "some.library"


def test_trace_context_round_trips_through_kafka_headers(tracer: trace.Tracer) -> None:
    with tracer.start_as_current_span("producer") as span:
        headers = inject_headers([("other", b"x")])
        sent = span.get_span_context()
    assert ("other", b"x") in headers
    traceparent = dict(headers)["traceparent"].decode()
    assert traceparent.startswith(f"00-{sent.trace_id:032x}-{sent.span_id:016x}-")

    received = trace.get_current_span(extract_context(headers)).get_span_context()
    assert received.trace_id == sent.trace_id
    assert received.span_id == sent.span_id
    assert received.is_remote


def test_no_headers_give_an_empty_context() -> None:
    assert not trace.get_current_span(extract_context(None)).get_span_context().is_valid
