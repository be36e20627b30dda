"""Interceptor chain over a real in-process server: request id, errors, auth, tracing, access log."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator, MutableMapping
from typing import Any

import grpc
import grpc.aio
import pytest
import structlog
from google.protobuf.wrappers_pb2 import StringValue
from google.rpc import error_details_pb2  # type: ignore[import-untyped,unused-ignore]  # no stubs
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from factorymesh.common import grpc_errors as errors
from factorymesh.common import grpc_interceptors, grpc_server
from factorymesh.common.config import BaseServiceSettings
from factorymesh.common.grpc_interceptors import (
    REQUEST_ID_METADATA_KEY,
    StaticBearerAuthenticator,
    current_principal,
    current_request_id,
)
from factorymesh.common.grpc_server import GrpcService

SERVICE = "factorymesh.test.Echo"
TOKEN = "line-3-token-0123456789abcdef"  # noqa: S105  # test-only token


def _fail_if_asked(value: str) -> None:
    if value == "invalid":
        raise errors.InvalidArgument(field_violations=[("reading.value", "must be finite"), ("reading.ts", "required")])
    if value == "boom":
        raise RuntimeError("db password hunter2")
    if value == "exhausted":
        raise errors.ResourceExhausted("too many readings", retry_after_s=1.5)


async def _unary(request: StringValue, context: Any) -> StringValue:
    _fail_if_asked(request.value)
    if request.value == "abort":
        await context.abort(grpc.StatusCode.NOT_FOUND, "nope", (("x-custom", "1"),))
    if request.value == "trailer":
        context.set_trailing_metadata((("x-custom", "1"),))
    if request.value == "whoami":
        principal = current_principal()
        return StringValue(value=principal.subject if principal else "")
    logged = structlog.contextvars.get_contextvars().get("request_id")
    return StringValue(value=f"{current_request_id()}|{logged}")


async def _unary_stream(request: StringValue, context: Any) -> AsyncIterator[StringValue]:
    yield StringValue(value="one")
    yield StringValue(value="two")
    _fail_if_asked(request.value)


async def _unary_stream_writer(request: StringValue, context: Any) -> None:
    await context.write(StringValue(value="one"))
    await context.write(StringValue(value="two"))
    _fail_if_asked(request.value)


async def _stream_unary(requests: AsyncIterator[StringValue], context: Any) -> StringValue:
    values = [request.value async for request in requests]
    for value in values:
        _fail_if_asked(value)
    return StringValue(value=",".join(values))


async def _stream_stream(requests: AsyncIterator[StringValue], context: Any) -> AsyncIterator[StringValue]:
    async for request in requests:
        _fail_if_asked(request.value)
        yield StringValue(value=request.value.upper())


def _kw() -> dict[str, Any]:
    return {"request_deserializer": StringValue.FromString, "response_serializer": StringValue.SerializeToString}


def add_echo_to_server(servicer: object, server: Any) -> None:
    """Shaped like a generated ``add_XServicer_to_server``."""
    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(_unary, **_kw()),
        "UnaryStream": grpc.unary_stream_rpc_method_handler(_unary_stream, **_kw()),
        "UnaryStreamWriter": grpc.unary_stream_rpc_method_handler(_unary_stream_writer, **_kw()),
        "StreamUnary": grpc.stream_unary_rpc_method_handler(_stream_unary, **_kw()),
        "StreamStream": grpc.stream_stream_rpc_method_handler(_stream_stream, **_kw()),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    server.add_registered_method_handlers(SERVICE, handlers)


@pytest.fixture
def captured_logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[MutableMapping[str, Any]]]:
    """structlog events; fresh module loggers so cache_logger_on_first_use elsewhere cannot interfere."""
    with structlog.testing.capture_logs() as logs:
        for module in (grpc_interceptors, grpc_server):
            monkeypatch.setattr(module, "_log", structlog.get_logger(module.__name__))
        yield logs


def _settings(**overrides: Any) -> BaseServiceSettings:
    values: dict[str, Any] = {
        "kafka_bootstrap": "unused:9092",
        "grpc_host": "127.0.0.1",
        "grpc_port": 0,
        "grpc_shutdown_grace_s": 1.0,
        "environment": "test",
        "service_name": "interceptor-test",
    }
    values.update(overrides)
    return BaseServiceSettings(**values)


@contextlib.asynccontextmanager
async def _serve(**kwargs: Any) -> AsyncIterator[grpc.aio.Channel]:
    service = GrpcService(_settings(), readiness_interval_s=0.05, **kwargs)
    service.add_servicer(add_echo_to_server, object())
    async with service, grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        yield channel


def _unary_call(channel: grpc.aio.Channel, method: str = "Unary") -> Any:
    return channel.unary_unary(
        f"/{SERVICE}/{method}",
        request_serializer=StringValue.SerializeToString,
        response_deserializer=StringValue.FromString,
    )


def _stream_call(channel: grpc.aio.Channel, kind: str) -> Any:
    factory = {
        "UnaryStream": channel.unary_stream,
        "UnaryStreamWriter": channel.unary_stream,
        "StreamUnary": channel.stream_unary,
        "StreamStream": channel.stream_stream,
    }[kind]
    return factory(
        f"/{SERVICE}/{kind}",
        request_serializer=StringValue.SerializeToString,
        response_deserializer=StringValue.FromString,
    )


async def _requests(*values: str) -> AsyncIterator[StringValue]:
    for value in values:
        yield StringValue(value=value)


# --------------------------------------------------------------------------- request id


async def test_request_id_is_echoed_or_generated() -> None:
    async with _serve() as channel:
        call = _unary_call(channel)(StringValue(value="hi"), metadata=((REQUEST_ID_METADATA_KEY, "mes-42"),))
        response = await call
        assert response.value == "mes-42|mes-42"  # contextvar and structlog contextvars
        assert dict(await call.trailing_metadata())[REQUEST_ID_METADATA_KEY] == "mes-42"

        call = _unary_call(channel)(StringValue(value="hi"))
        generated = dict(await call.trailing_metadata())[REQUEST_ID_METADATA_KEY]
        assert uuid.UUID(generated).version == 4
        assert (await call).value == f"{generated}|{generated}"

        # A hostile id (spaces / newlines) is not reused.
        call = _unary_call(channel)(StringValue(value="hi"), metadata=((REQUEST_ID_METADATA_KEY, "a b"),))
        assert uuid.UUID(dict(await call.trailing_metadata())[REQUEST_ID_METADATA_KEY])

        # Handler-set trailers and handler aborts keep the id.
        call = _unary_call(channel)(StringValue(value="trailer"), metadata=((REQUEST_ID_METADATA_KEY, "r-2"),))
        trailers = dict(await call.trailing_metadata())
        assert trailers["x-custom"] == "1"
        assert trailers[REQUEST_ID_METADATA_KEY] == "r-2"
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _unary_call(channel)(StringValue(value="abort"), metadata=((REQUEST_ID_METADATA_KEY, "r-3"),))
        assert caught.value.code() is grpc.StatusCode.NOT_FOUND
        assert errors.request_id_of(caught.value) == "r-3"


# --------------------------------------------------------------------------- errors


async def test_invalid_argument_unary_has_field_violations_and_request_id() -> None:
    async with _serve() as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _unary_call(channel)(StringValue(value="invalid"), metadata=((REQUEST_ID_METADATA_KEY, "r-1"),))
    error = caught.value
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert errors.field_violations(error) == {"reading.value": "must be finite", "reading.ts": "required"}
    assert errors.request_id_of(error) == "r-1"
    assert any(isinstance(d, error_details_pb2.RequestInfo) for d in errors.error_details(error))


@pytest.mark.parametrize("kind", ["UnaryStream", "UnaryStreamWriter", "StreamUnary", "StreamStream"])
async def test_invalid_argument_streaming_shapes(kind: str) -> None:
    async with _serve() as channel:
        stub = _stream_call(channel, kind)
        received: list[str] = []

        async def consume() -> None:
            if kind == "StreamUnary":
                await stub(_requests("a", "invalid"))
                return
            call = stub(StringValue(value="invalid")) if kind.startswith("Unary") else stub(_requests("a", "invalid"))
            async for response in call:
                received.append(response.value)  # keep what arrived before the error

        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await consume()
        assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert errors.field_violations(caught.value)["reading.value"] == "must be finite"
        expected = {"UnaryStream": ["one", "two"], "UnaryStreamWriter": ["one", "two"], "StreamStream": ["A"]}
        assert received == expected.get(kind, [])


async def test_streaming_happy_paths() -> None:
    async with _serve() as channel:
        assert [r.value async for r in _stream_call(channel, "UnaryStream")(StringValue(value="x"))] == ["one", "two"]
        writer = _stream_call(channel, "UnaryStreamWriter")(StringValue(value="x"))
        assert [r.value async for r in writer] == ["one", "two"]
        assert (await _stream_call(channel, "StreamUnary")(_requests("a", "b"))).value == "a,b"
        assert [r.value async for r in _stream_call(channel, "StreamStream")(_requests("a", "b"))] == ["A", "B"]


async def test_unknown_exception_is_internal_logged_and_not_leaked(
    captured_logs: list[MutableMapping[str, Any]],
) -> None:
    async with _serve() as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _unary_call(channel)(StringValue(value="boom"), metadata=((REQUEST_ID_METADATA_KEY, "r-5"),))
    error = caught.value
    assert error.code() is grpc.StatusCode.INTERNAL
    assert error.details() == "internal error (request id r-5)"
    assert "hunter2" not in str(error.debug_error_string()) + repr(errors.rich_status(error))
    assert not any(isinstance(d, error_details_pb2.DebugInfo) for d in errors.error_details(error))
    (logged,) = [entry for entry in captured_logs if entry["event"] == "rpc.unhandled_exception"]
    assert isinstance(logged["exc_info"], RuntimeError)
    assert logged["log_level"] == "error"


async def test_debug_info_when_enabled() -> None:
    async with _serve(include_debug_info=True) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _unary_call(channel)(StringValue(value="boom"))
    (debug,) = [d for d in errors.error_details(caught.value) if isinstance(d, error_details_pb2.DebugInfo)]
    assert "hunter2" in debug.detail


async def test_resource_exhausted_carries_retry_info() -> None:
    async with _serve() as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _unary_call(channel)(StringValue(value="exhausted"))
    assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert errors.retry_after_s(caught.value) == pytest.approx(1.5)


async def test_unknown_method_is_unimplemented() -> None:
    async with _serve() as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _unary_call(channel, "Nope")(StringValue(value="x"))
    assert caught.value.code() is grpc.StatusCode.UNIMPLEMENTED


# --------------------------------------------------------------------------- auth


async def test_bearer_auth_rejects_and_lets_health_and_reflection_through() -> None:
    auth = StaticBearerAuthenticator({"mes-line-3": TOKEN})
    async with _serve(auth=auth) as channel:
        for metadata, reason in [((), "TOKEN_MISSING"), ((("authorization", "Bearer wrong"),), "TOKEN_INVALID")]:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await _unary_call(channel)(StringValue(value="whoami"), metadata=metadata)
            assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
            assert errors.error_reason(caught.value) == reason
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _stream_call(channel, "StreamUnary")(_requests("a"))
        assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED

        ok = await _unary_call(channel)(StringValue(value="whoami"), metadata=(("authorization", f"Bearer {TOKEN}"),))
        assert ok.value == "mes-line-3"

        health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service="liveness"))
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        reflect = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
            _single(reflection_pb2.ServerReflectionRequest(list_services=""))
        )
        names = [s.name async for r in reflect for s in r.list_services_response.service]
        assert SERVICE in names


async def _single(message: Any) -> AsyncIterator[Any]:
    yield message


def test_static_bearer_refuses_placeholders() -> None:
    with pytest.raises(ValueError, match="placeholder"):
        StaticBearerAuthenticator({"x": "changeme"})
    with pytest.raises(ValueError, match="at least one token"):
        StaticBearerAuthenticator({})


# --------------------------------------------------------------------------- tracing + access log


async def test_server_span_continues_client_trace_and_access_log(
    captured_logs: list[MutableMapping[str, Any]],
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace_id, parent_span_id = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    async with _serve(tracer_provider=provider) as channel:
        await _unary_call(channel)(
            StringValue(value="hi"),
            metadata=(("traceparent", f"00-{trace_id}-{parent_span_id}-01"), (REQUEST_ID_METADATA_KEY, "r-7")),
        )
        for value in ("invalid", "boom"):
            with pytest.raises(grpc.aio.AioRpcError):
                await _unary_call(channel)(StringValue(value=value))
        await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""))

    spans = exporter.get_finished_spans()
    assert [span.name for span in spans] == [f"/{SERVICE}/Unary"] * 3  # health not traced
    ok_span, invalid_span, internal_span = spans
    assert ok_span.kind is trace.SpanKind.SERVER
    assert ok_span.context is not None
    assert ok_span.context.trace_id == int(trace_id, 16)
    assert ok_span.parent is not None
    assert ok_span.parent.span_id == int(parent_span_id, 16)
    assert ok_span.attributes is not None
    assert ok_span.attributes["factorymesh.request_id"] == "r-7"
    # Client errors leave a server span UNSET (semantic conventions); server errors mark it ERROR.
    assert invalid_span.attributes is not None
    assert invalid_span.attributes["rpc.grpc.status_code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert internal_span.status.status_code is trace.StatusCode.ERROR

    access = [entry for entry in captured_logs if entry["event"] == "rpc.access"]
    by_code = {entry["code"]: entry for entry in access}
    assert set(by_code) == {"OK", "INVALID_ARGUMENT", "INTERNAL"}
    assert len(access) == 4  # three calls + the health check
    assert by_code["INTERNAL"]["log_level"] == "error"
    ok = next(entry for entry in access if entry.get("request_id") == "r-7")
    assert ok["method"] == f"/{SERVICE}/Unary"
    assert ok["code"] == "OK"
    assert ok["log_level"] == "info"
    assert ok["peer"].startswith("ipv4:127.0.0.1")
    assert ok["duration_ms"] >= 0
    health_line = next(entry for entry in access if entry["method"].startswith("/grpc.health"))
    assert health_line["log_level"] == "debug"
