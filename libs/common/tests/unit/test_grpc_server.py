"""GrpcService bootstrap over a real in-process server: health/readiness, reflection, limits, shutdown."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import grpc.aio
import pytest
from google.protobuf.wrappers_pb2 import StringValue
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from factorymesh.common.config import BaseServiceSettings
from factorymesh.common.grpc_server import LIVENESS_SERVICE, GrpcService, Phase, run_main, server_options

SERVICE = "factorymesh.test.Slow"
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class SlowServicer:
    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.completed = False

    async def Echo(self, request: StringValue, context: Any) -> StringValue:
        if request.value == "slow":
            self.entered.set()
            await self.release.wait()
            self.completed = True
        return StringValue(value=request.value)


def add_slow_to_server(servicer: SlowServicer, server: Any) -> None:
    handler = grpc.unary_unary_rpc_method_handler(
        servicer.Echo, request_deserializer=StringValue.FromString, response_serializer=StringValue.SerializeToString
    )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, {"Echo": handler}),))


def _settings(**overrides: Any) -> BaseServiceSettings:
    values: dict[str, Any] = {
        "kafka_bootstrap": "unused:9092",
        "grpc_host": "127.0.0.1",
        "grpc_port": 0,
        "grpc_shutdown_grace_s": 5.0,
        "environment": "test",
        "service_name": "server-test",
    }
    values.update(overrides)
    return BaseServiceSettings(**values)


def _service(servicer: SlowServicer | None = None, **kwargs: Any) -> GrpcService:
    service = GrpcService(kwargs.pop("settings", None) or _settings(), readiness_interval_s=0.02, **kwargs)
    service.add_servicer(add_slow_to_server, servicer or SlowServicer())
    return service


def _echo(channel: grpc.aio.Channel) -> Any:
    return channel.unary_unary(
        f"/{SERVICE}/Echo",
        request_serializer=StringValue.SerializeToString,
        response_deserializer=StringValue.FromString,
    )


async def _status(channel: grpc.aio.Channel, service: str = "") -> int:
    response = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service))
    return int(response.status)


def _phase(service: GrpcService) -> Phase:  # a call, so mypy does not narrow across awaits
    return service.phase


def _ready(service: GrpcService) -> bool:
    return service.readiness.ready


async def _eventually(predicate: Callable[[], Awaitable[bool]], timeout_s: float = 3.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


async def test_ephemeral_port_reflection_and_options() -> None:
    service = _service()
    assert service.service_names == (SERVICE,)
    async with service, grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        assert service.port > 0
        assert _phase(service) is Phase.SERVING

        async def list_services() -> AsyncIterator[reflection_pb2.ServerReflectionRequest]:
            yield reflection_pb2.ServerReflectionRequest(list_services="")

        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        names = {
            s.name async for r in stub.ServerReflectionInfo(list_services()) for s in r.list_services_response.service
        }
        assert names == {SERVICE, "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"}
        assert (await _echo(channel)(StringValue(value="hi"))).value == "hi"
    assert _phase(service) is Phase.STOPPED

    options = dict(server_options(_settings(grpc_max_message_bytes=1234, grpc_keepalive_time_s=30)))
    assert options["grpc.max_receive_message_length"] == options["grpc.max_send_message_length"] == 1234
    assert options["grpc.keepalive_time_ms"] == 30_000
    assert options["grpc.keepalive_permit_without_calls"] == 1
    assert options["grpc.so_reuseport"] == 0
    assert options["grpc.http2.min_ping_interval_without_data_ms"] == 10_000


async def test_port_in_use_fails_loudly() -> None:
    async with _service() as first:
        second = _service(settings=_settings(grpc_port=first.port))
        with pytest.raises(RuntimeError, match="cannot bind"):
            await second.start()


async def test_health_follows_readiness_checks() -> None:
    kafka_up = asyncio.Event()
    triton: dict[str, bool | None] = {"ok": True}

    async def kafka() -> bool:
        await kafka_up.wait()  # the first pass blocks: still NOT_SERVING
        return True

    async def model() -> bool:
        if triton["ok"] is None:
            raise ConnectionError("triton gone")
        return bool(triton["ok"])

    service = _service()
    service.add_readiness_check("kafka", kafka, timeout_s=5)
    service.add_readiness_check("triton:model_x", model)
    async with service, grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        assert await _status(channel) == NOT_SERVING
        assert await _status(channel, SERVICE) == NOT_SERVING
        assert await _status(channel, LIVENESS_SERVICE) == SERVING
        assert not _ready(service)

        kafka_up.set()

        async def serving() -> bool:
            return bool(await _status(channel) == SERVING and await _status(channel, SERVICE) == SERVING)

        await _eventually(serving)
        assert _ready(service)
        assert service.readiness.checks["triton:model_x"].ok

        triton["ok"] = False  # a dependency going away flips health back

        async def not_serving() -> bool:
            return bool(await _status(channel) == NOT_SERVING and await _status(channel, SERVICE) == NOT_SERVING)

        await _eventually(not_serving)
        assert service.readiness.checks["triton:model_x"].error == "check returned False"
        assert await _status(channel, LIVENESS_SERVICE) == SERVING

        triton["ok"] = True
        await _eventually(serving)
        triton["ok"] = None
        await _eventually(not_serving)
        assert service.readiness.checks["triton:model_x"].error == "ConnectionError: triton gone"


async def test_readiness_check_timeout_counts_as_failure() -> None:
    async def hangs() -> None:
        await asyncio.sleep(10)

    service = _service()
    service.add_readiness_check("slow-dependency", hangs, timeout_s=0.05)
    async with service:
        state = await service.check_readiness()
        assert not state.ready
        assert state.checks["slow-dependency"].error == "timed out after 0.05s"


async def test_graceful_shutdown_drains_then_runs_hooks_in_reverse() -> None:
    servicer = SlowServicer()
    events: list[str] = []
    service = _service(servicer)

    def hook(name: str) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            events.append(f"{name} (in-flight call completed={servicer.completed})")

        return run

    async def consumer_loop() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            events.append("background task cancelled")
            raise

    service.add_shutdown_hook("producer flush", hook("producer flush"))
    service.add_shutdown_hook("consumer stop", hook("consumer stop"))
    service.add_background_task("consumer", consumer_loop)
    await service.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{service.port}")
    try:
        await _eventually(lambda: _is(channel, SERVING))
        watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=""))
        assert (await watch.read()).status == SERVING

        in_flight = asyncio.ensure_future(_echo(channel)(StringValue(value="slow")))
        await servicer.entered.wait()
        stopping = asyncio.create_task(service.stop())

        assert (await watch.read()).status == NOT_SERVING  # health flips first...
        assert await watch.read() is grpc.aio.EOF  # ...and watchers are released, not holding the drain
        assert _phase(service) is Phase.DRAINING
        with pytest.raises(grpc.aio.AioRpcError) as refused:  # new calls are refused
            await _echo(channel)(StringValue(value="late"), timeout=2)
        assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
        assert not stopping.done()
        assert events == []

        servicer.release.set()
        assert (await in_flight).value == "slow"  # the in-flight call completes
        assert await stopping == 0
    finally:
        servicer.release.set()
        await channel.close()
        await service.stop()
    assert events == [
        "background task cancelled",
        "consumer stop (in-flight call completed=True)",
        "producer flush (in-flight call completed=True)",
    ]
    assert _phase(service) is Phase.STOPPED


async def _is(channel: grpc.aio.Channel, status: int) -> bool:
    return await _status(channel) == status


async def test_grace_period_cuts_off_stuck_calls_and_failing_hook_gives_exit_1() -> None:
    servicer = SlowServicer()
    service = _service(servicer, settings=_settings(grpc_shutdown_grace_s=0.1))
    ran: list[str] = []

    async def broken() -> None:
        raise RuntimeError("flush failed")

    async def later() -> None:
        ran.append("first hook")

    service.add_shutdown_hook("first", later)
    service.add_shutdown_hook("broken", broken)
    await service.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        in_flight = asyncio.ensure_future(_echo(channel)(StringValue(value="slow")))
        await servicer.entered.wait()
        assert await service.stop() == 1
        with pytest.raises(grpc.aio.AioRpcError):
            await in_flight
    assert ran == ["first hook"]
    assert not servicer.completed


async def test_max_message_size_enforced() -> None:
    service = _service(settings=_settings(grpc_max_message_bytes=1024))
    async with service, grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        assert (await _echo(channel)(StringValue(value="x" * 100))).value == "x" * 100
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _echo(channel)(StringValue(value="x" * 4096))
    assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_run_stops_on_sigterm_with_exit_0() -> None:
    service = _service()
    running = asyncio.create_task(service.run())

    async def serving() -> bool:
        return _phase(service) is Phase.SERVING

    await _eventually(serving)
    os.kill(os.getpid(), signal.SIGTERM)
    assert await asyncio.wait_for(running, 5) == 0
    assert _phase(service) is Phase.STOPPED


async def test_second_signal_cuts_the_drain_short() -> None:
    servicer = SlowServicer()
    service = _service(servicer, settings=_settings(grpc_shutdown_grace_s=30))
    running = asyncio.create_task(service.run())

    async def serving() -> bool:
        return _phase(service) is Phase.SERVING

    await _eventually(serving)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        in_flight = asyncio.ensure_future(_echo(channel)(StringValue(value="slow")))
        await servicer.entered.wait()
        started = time.monotonic()
        os.kill(os.getpid(), signal.SIGTERM)

        async def draining() -> bool:
            return _phase(service) is Phase.DRAINING

        await _eventually(draining)
        os.kill(os.getpid(), signal.SIGINT)
        assert await asyncio.wait_for(running, 5) == 0
        assert time.monotonic() - started < 5  # far below the 30 s grace
        with pytest.raises(grpc.aio.AioRpcError):
            await in_flight


def test_run_main_exits_with_the_entry_code() -> None:
    async def entry() -> int:
        return 3

    with pytest.raises(SystemExit) as exited:
        run_main(entry)
    assert exited.value.code == 3


async def test_failing_critical_background_task_stops_service_with_exit_1() -> None:
    async def crashes() -> None:
        await asyncio.sleep(0.01)
        raise RuntimeError("consumer died")

    service = _service()
    service.add_background_task("consumer", crashes)
    assert await asyncio.wait_for(service.run(), 5) == 1


async def test_registration_after_start_is_refused() -> None:
    service = _service()
    async with service:
        with pytest.raises(RuntimeError):
            service.add_readiness_check("late", _always_ok)
        with pytest.raises(RuntimeError):
            service.add_servicer(add_slow_to_server, SlowServicer())


async def _always_ok() -> bool:
    return True
