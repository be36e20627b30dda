"""gRPC server bootstrap on ``grpc.aio`` shared by every factorymesh service.

A service builds one :class:`GrpcService`, registers servicers, readiness checks, background
tasks and shutdown hooks, then awaits :meth:`GrpcService.run` (from ``__main__`` via
:func:`run_main`). See ``docs/grpc-bootstrap.md`` for the full story; in short:

* server options come from :class:`~factorymesh.common.config.BaseServiceSettings`
  (:func:`server_options` documents each value);
* interceptors: request id -> tracing -> access log -> error mapping -> auth
  (:func:`factorymesh.common.grpc_interceptors.default_interceptors`);
* health (``grpc.health.v1``) reports NOT_SERVING until every readiness check passes, and
  flips back when one fails; the ``"liveness"`` entry is SERVING for as long as the process
  runs (point the Kubernetes liveness probe at it, the readiness probe at ``""``);
* reflection lists every registered service;
* SIGTERM/SIGINT: health NOT_SERVING -> stop accepting calls and drain in-flight ones for
  ``grpc_shutdown_grace_s`` -> cancel background tasks -> shutdown hooks in reverse order ->
  exit code 0 (1 when a hook or a critical background task failed). A second signal cuts
  the drain short.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import signal
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType, TracebackType
from typing import Any, NoReturn, Self

import grpc
import grpc.aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from opentelemetry import trace

from factorymesh.common.config import BaseServiceSettings
from factorymesh.common.grpc_interceptors import Authenticator, default_interceptors
from factorymesh.common.logging import get_logger

__all__ = [
    "LIVENESS_SERVICE",
    "CheckResult",
    "GrpcService",
    "Phase",
    "ReadinessCheck",
    "ReadinessState",
    "run_main",
    "server_options",
]

_log = get_logger(__name__)

ServingStatus = health_pb2.HealthCheckResponse.ServingStatus
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING

# Health entry that says only "the process is up": never depends on readiness checks.
LIVENESS_SERVICE = "liveness"
# Servers accept client keepalive pings this often (core default: 5 min, then GOAWAY
# "too_many_pings"); MES clients commonly ping every 10-30 s to survive NAT/firewall idle timers.
MIN_CLIENT_PING_INTERVAL_MS = 10_000

ReadinessCheck = Callable[[], Awaitable[bool | None]]
ShutdownHook = Callable[[], Awaitable[object]]
ServicerAdder = Callable[[Any, Any], None]


def server_options(settings: BaseServiceSettings) -> list[tuple[str, int]]:
    """The channel arguments every factorymesh server runs with (see docs/grpc-bootstrap.md)."""
    return [
        # Same bound both ways: a columnar batch must fit, a runaway message must not OOM the pod.
        ("grpc.max_receive_message_length", settings.grpc_max_message_bytes),
        ("grpc.max_send_message_length", settings.grpc_max_message_bytes),
        # Server pings idle connections to find dead peers (plant-floor NAT, yanked cables)
        # before their half-open sockets pile up; 30 s is below common LB/firewall idle timeouts.
        ("grpc.keepalive_time_ms", int(settings.grpc_keepalive_time_s * 1000)),
        ("grpc.keepalive_timeout_ms", int(settings.grpc_keepalive_timeout_s * 1000)),
        ("grpc.keepalive_permit_without_calls", 1),
        # Keep pinging idle connections: do not stop after N pings without data.
        ("grpc.http2.max_pings_without_data", 0),
        # Tolerate client keepalive pings every >= 10 s, even with no call in flight.
        ("grpc.http2.min_ping_interval_without_data_ms", MIN_CLIENT_PING_INTERVAL_MS),
        # A second process on the same port must fail loudly, not silently share the traffic.
        ("grpc.so_reuseport", 0),
    ]


class Phase(enum.StrEnum):
    CREATED = "created"
    SERVING = "serving"
    DRAINING = "draining"
    STOPPED = "stopped"


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    error: str | None
    duration_ms: float
    checked_at: float  # time.time()


@dataclass(frozen=True)
class ReadinessState:
    """Snapshot for logs/metrics: ``ready`` is what health reports for every service."""

    ready: bool
    checks: Mapping[str, CheckResult] = field(default_factory=dict)
    changed_at: float | None = None  # time.time() of the last ready/not-ready flip


@dataclass(frozen=True)
class _Check:
    name: str
    check: ReadinessCheck
    timeout_s: float


@dataclass(frozen=True)
class _Hook:
    name: str
    hook: ShutdownHook


@dataclass(frozen=True)
class _BackgroundTask:
    name: str
    factory: Callable[[], Coroutine[Any, Any, object]]
    critical: bool


class _HandlerRecorder:
    """Stands in for the server while ``add_XServicer_to_server`` runs; records its handlers."""

    def __init__(self) -> None:
        self.generic_handlers: list[Any] = []
        self.registered: list[tuple[str, dict[str, Any]]] = []
        self.service_names: list[str] = []

    def _note(self, name: str | None) -> None:
        if name and name not in self.service_names:
            self.service_names.append(name)

    def add_generic_rpc_handlers(self, handlers: Iterable[Any]) -> None:
        for handler in handlers:
            self.generic_handlers.append(handler)
            name_of = getattr(handler, "service_name", None)
            self._note(name_of() if callable(name_of) else None)

    def add_registered_method_handlers(self, service_name: str, method_handlers: dict[str, Any]) -> None:
        self.registered.append((service_name, method_handlers))
        self._note(service_name)

    def replay(self, server: grpc.aio.Server) -> None:
        if self.generic_handlers:
            server.add_generic_rpc_handlers(tuple(self.generic_handlers))
        for service_name, method_handlers in self.registered:
            server.add_registered_method_handlers(service_name, method_handlers)


class _HealthServicer(health.aio.HealthServicer):  # type: ignore[misc]  # grpc ships no type hints
    """The standard aio HealthServicer, with ``Watch`` streams ending once shutdown begins.

    Upstream ``Watch`` never returns, so one client doing client-side health checking would hold
    every graceful drain for the full grace period. Here a watcher receives NOT_SERVING and then
    its stream completes with OK, so ``server.stop(grace)`` returns as soon as real work is done.
    """

    async def Watch(self, request: health_pb2.HealthCheckRequest, context: Any) -> None:
        required = ("_server_watchers", "_server_status", "_gracefully_shutting_down")
        if not all(hasattr(self, attr) for attr in required):  # upstream internals changed: fall back
            await super().Watch(request, context)
            return
        condition: asyncio.Condition = self._server_watchers[request.service]
        last_status = None
        try:
            async with condition:
                while True:
                    status = self._server_status.get(request.service, health_pb2.HealthCheckResponse.SERVICE_UNKNOWN)
                    if status != last_status:
                        await context.write(health_pb2.HealthCheckResponse(status=status))
                        last_status = status
                    if self._gracefully_shutting_down:
                        return
                    await condition.wait()
        finally:
            # Keep the shared condition of known services (upstream deletes it and strands the
            # other watchers of the same service); drop those of unknown names so they cannot pile up.
            if request.service not in self._server_status:
                self._server_watchers.pop(request.service, None)


class GrpcService:
    """One gRPC server process: servicers + health + reflection + readiness + graceful shutdown.

    Register everything before :meth:`start` (or :meth:`run`). Usable as an async context
    manager (``async with GrpcService(...) as svc:``) in tests: start on enter, stop on exit.
    """

    def __init__(
        self,
        settings: BaseServiceSettings,
        *,
        auth: Authenticator | None = None,
        readiness_interval_s: float = 5.0,
        readiness_timeout_s: float = 2.0,
        shutdown_hook_timeout_s: float = 10.0,
        shutdown_delay_s: float = 0.0,
        server_credentials: grpc.ServerCredentials | None = None,
        tracer_provider: trace.TracerProvider | None = None,
        include_debug_info: bool = False,
        extra_options: Sequence[tuple[str, int | str]] = (),
    ) -> None:
        """
        Args:
            settings: bind address, message size, keepalive, concurrency and grace come from here.
            auth: authenticates every non-health/reflection call; ``None`` = allow all (logged).
            readiness_interval_s: pause between two readiness passes.
            readiness_timeout_s: default per-check timeout (a check timing out counts as failed).
            shutdown_hook_timeout_s: bound on each shutdown hook and on background-task cancellation.
            shutdown_delay_s: pause between health NOT_SERVING and closing the listener, so that
                load balancers / client-side health checking stop routing here first.
            server_credentials: TLS/mTLS credentials; ``None`` = plaintext (inside the mesh).
            tracer_provider: for the tracing interceptor; ``None`` = the global provider.
            include_debug_info: attach DebugInfo (exception + stack) to INTERNAL errors. Off by
                default: stack traces reach clients only when a developer asks for them.
            extra_options: extra/overriding channel arguments, e.g. ``grpc.max_connection_age_ms``.
        """
        if readiness_interval_s <= 0 or readiness_timeout_s <= 0:
            raise ValueError("readiness interval and timeout must be > 0")
        self.settings = settings
        self._auth = auth
        self._readiness_interval_s = readiness_interval_s
        self._readiness_timeout_s = readiness_timeout_s
        self._shutdown_hook_timeout_s = shutdown_hook_timeout_s
        self._shutdown_delay_s = shutdown_delay_s
        self._server_credentials = server_credentials
        self._tracer_provider = tracer_provider
        self._include_debug_info = include_debug_info
        self._extra_options = list(extra_options)

        self._recorder = _HandlerRecorder()
        self._checks: dict[str, _Check] = {}
        self._hooks: list[_Hook] = []
        self._background: list[_BackgroundTask] = []

        self._phase = Phase.CREATED
        self._server: grpc.aio.Server | None = None
        self._health = _HealthServicer()
        self._port: int | None = None
        self._readiness = ReadinessState(ready=False)
        self._readiness_task: asyncio.Task[None] | None = None
        self._tasks: dict[asyncio.Task[object], _BackgroundTask] = {}
        self._termination_watch: asyncio.Task[None] | None = None
        self._shutdown_requested: asyncio.Event | None = None
        self._stop_task: asyncio.Task[int] | None = None
        self._exit_code = 0
        self._signals_installed: list[signal.Signals] = []
        self._force_task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ registration

    def _require_created(self, what: str) -> None:
        if self._phase is not Phase.CREATED:
            raise RuntimeError(f"{what} must be registered before the server starts")

    def add_servicer(self, add_to_server: ServicerAdder, servicer: Any) -> list[str]:
        """Register a servicer the generated way: ``add_servicer(add_FooServicer_to_server, FooServicer())``.

        Returns the full service names it registered (they get health entries and reflection).
        """
        self._require_created("servicers")
        before = len(self._recorder.service_names)
        add_to_server(servicer, self._recorder)
        return self._recorder.service_names[before:]

    def add_generic_handler(self, handler: grpc.GenericRpcHandler) -> None:
        """Register a hand-built handler (``grpc.method_handlers_generic_handler(...)``)."""
        self._require_created("handlers")
        self._recorder.add_generic_rpc_handlers((handler,))

    def add_readiness_check(self, name: str, check: ReadinessCheck, *, timeout_s: float | None = None) -> None:
        """A named dependency check (``"kafka"``, ``"triton:model_x"``): ready when it returns
        ``True``/``None``; not ready when it returns ``False``, raises or exceeds its timeout."""
        self._require_created("readiness checks")
        if name in self._checks:
            raise ValueError(f"readiness check {name!r} already registered")
        self._checks[name] = _Check(name, check, timeout_s if timeout_s is not None else self._readiness_timeout_s)

    def add_shutdown_hook(self, name: str, hook: ShutdownHook) -> None:
        """Async cleanup run after the server drained, in reverse registration order
        (register the Kafka producer's flush before the consumer's stop: the consumer stops first)."""
        self._hooks.append(_Hook(name, hook))

    def add_background_task(
        self, name: str, factory: Callable[[], Coroutine[Any, Any, object]], *, critical: bool = True
    ) -> None:
        """A coroutine started with the server and cancelled (and awaited) at shutdown.

        If a ``critical`` task fails while serving, the service shuts down with exit code 1
        so the orchestrator restarts it instead of serving with a dead consumer loop.
        """
        self._require_created("background tasks")
        self._background.append(_BackgroundTask(name, factory, critical))

    # ------------------------------------------------------------------ state

    @property
    def phase(self) -> Phase:
        return self._phase

    @property
    def port(self) -> int:
        """The port actually bound (useful with ``grpc_port=0``); only valid after :meth:`start`."""
        if self._port is None:
            raise RuntimeError("server not started")
        return self._port

    @property
    def service_names(self) -> tuple[str, ...]:
        """Full names of the application services (health and reflection excluded)."""
        return tuple(self._recorder.service_names)

    @property
    def readiness(self) -> ReadinessState:
        return self._readiness

    @property
    def health_servicer(self) -> health.aio.HealthServicer:
        return self._health

    @property
    def server(self) -> grpc.aio.Server:
        if self._server is None:
            raise RuntimeError("server not started")
        return self._server

    # ------------------------------------------------------------------ lifecycle

    def _build_server(self) -> grpc.aio.Server:
        interceptors = default_interceptors(
            authenticator=self._auth,
            tracer_provider=self._tracer_provider,
            include_debug_info=self._include_debug_info,
        )
        options: dict[str, int | str] = dict(server_options(self.settings))
        options.update(dict(self._extra_options))
        server = grpc.aio.server(
            interceptors=interceptors,
            options=list(options.items()),
            maximum_concurrent_rpcs=self.settings.grpc_max_concurrent_rpcs,
        )
        self._recorder.replay(server)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        reflection.enable_server_reflection((*self.service_names, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
        return server

    async def start(self) -> int:
        """Bind, start serving (health NOT_SERVING until ready) and start background work.

        Returns the bound port.
        """
        if self._phase is not Phase.CREATED:
            raise RuntimeError(f"cannot start a service in phase {self._phase}")
        self._shutdown_requested = asyncio.Event()
        for name in ("", *self.service_names):
            await self._health.set(name, NOT_SERVING)
        await self._health.set(LIVENESS_SERVICE, SERVING)

        server = self._build_server()
        address = f"{self.settings.grpc_host}:{self.settings.grpc_port}"
        try:
            if self._server_credentials is not None:
                port = int(server.add_secure_port(address, self._server_credentials))
            else:
                port = int(server.add_insecure_port(address))
        except RuntimeError as error:
            port, bind_error = 0, f": {error}"
        else:
            bind_error = ""
        if not port:
            await server.stop(None)  # release the core server; it never started
            raise RuntimeError(f"cannot bind gRPC server to {address}{bind_error}")
        await server.start()
        self._server, self._port, self._phase = server, port, Phase.SERVING

        if self._auth is None:
            _log.warning("grpc.auth.disabled", detail="no authenticator configured: every call is allowed")
        else:
            _log.info("grpc.auth.enabled", authenticator=type(self._auth).__name__)
        _log.info(
            "grpc.server.started",
            address=address,
            port=port,
            tls=self._server_credentials is not None,
            services=list(self.service_names),
            readiness_checks=list(self._checks),
        )
        self._readiness_task = asyncio.create_task(self._readiness_loop(), name="grpc-readiness")
        self._termination_watch = asyncio.create_task(self._watch_termination(server), name="grpc-termination")
        for spec in self._background:
            task: asyncio.Task[object] = asyncio.create_task(spec.factory(), name=spec.name)
            self._tasks[task] = spec
            task.add_done_callback(self._on_background_done)
        return port

    def request_shutdown(self, reason: str = "requested", *, exit_code: int = 0) -> None:
        """Ask :meth:`run` to shut down (what SIGTERM does). Safe to call more than once."""
        self._exit_code = max(self._exit_code, exit_code)
        if self._shutdown_requested is not None and not self._shutdown_requested.is_set():
            _log.info("grpc.shutdown.requested", reason=reason)
            self._shutdown_requested.set()

    async def wait_for_shutdown_request(self) -> None:
        if self._shutdown_requested is None:
            raise RuntimeError("server not started")
        await self._shutdown_requested.wait()

    async def stop(self, grace_s: float | None = None) -> int:
        """Graceful shutdown; idempotent (concurrent callers share one run). Returns the exit code."""
        if self._phase is Phase.CREATED:
            self._phase = Phase.STOPPED
            return self._exit_code
        if self._stop_task is None:
            grace = self.settings.grpc_shutdown_grace_s if grace_s is None else grace_s
            self._stop_task = asyncio.create_task(self._shutdown(grace), name="grpc-shutdown")
        return await asyncio.shield(self._stop_task)

    async def run(self) -> int:
        """Start, serve until SIGTERM/SIGINT (or :meth:`request_shutdown`), shut down; return the exit code."""
        await self.start()
        self._install_signal_handlers()
        try:
            await self.wait_for_shutdown_request()
        finally:
            code = await self.stop()
            self._remove_signal_handlers()
        return code

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # ------------------------------------------------------------------ readiness

    async def _run_check(self, spec: _Check) -> CheckResult:
        started = time.perf_counter()
        error: str | None = None
        try:
            async with asyncio.timeout(spec.timeout_s):
                result = await spec.check()
            ok = result is None or bool(result)
            if not ok:
                error = "check returned False"
        except TimeoutError:
            ok, error = False, f"timed out after {spec.timeout_s:g}s"
        except Exception as raised:  # noqa: BLE001  # a failing dependency is "not ready", not a crash
            ok, error = False, f"{type(raised).__name__}: {raised}"
        return CheckResult(
            ok=ok, error=error, duration_ms=round((time.perf_counter() - started) * 1000, 3), checked_at=time.time()
        )

    async def check_readiness(self) -> ReadinessState:
        """Run every readiness check once, update health, and return the new state."""
        specs = list(self._checks.values())
        results = await asyncio.gather(*(self._run_check(spec) for spec in specs))
        checks = {spec.name: result for spec, result in zip(specs, results, strict=True)}
        ready = all(result.ok for result in results)
        previous = self._readiness
        for name, result in checks.items():
            before = previous.checks.get(name)
            if before is None or before.ok != result.ok:
                emit = _log.info if result.ok else _log.warning
                emit("grpc.readiness.check", check=name, ok=result.ok, error=result.error)
        changed = ready != previous.ready or previous.changed_at is None
        self._readiness = ReadinessState(
            ready=ready,
            checks=MappingProxyType(checks),
            changed_at=time.time() if changed else previous.changed_at,
        )
        if changed and self._phase is Phase.SERVING:
            status = SERVING if ready else NOT_SERVING
            for name in ("", *self.service_names):
                await self._health.set(name, status)
            emit = _log.info if ready else _log.warning
            failing = sorted(name for name, result in checks.items() if not result.ok)
            emit("grpc.readiness.changed", ready=ready, failing=failing)
        return self._readiness

    async def _readiness_loop(self) -> None:
        while True:
            try:
                await self.check_readiness()
            except Exception:  # noqa: BLE001  # keep polling; the next pass may succeed
                _log.exception("grpc.readiness.loop_error")
            await asyncio.sleep(self._readiness_interval_s)

    # ------------------------------------------------------------------ background tasks / crashes

    def _on_background_done(self, task: asyncio.Task[object]) -> None:
        spec = self._tasks.get(task)
        if spec is None or task.cancelled() or self._phase is not Phase.SERVING:
            return
        error = task.exception()
        if error is None:
            _log.info("grpc.background_task.finished", task=spec.name)
            return
        _log.error("grpc.background_task.failed", task=spec.name, critical=spec.critical, exc_info=error)
        if spec.critical:
            self.request_shutdown(f"background task {spec.name!r} failed", exit_code=1)

    async def _watch_termination(self, server: grpc.aio.Server) -> None:
        # grpc.aio shuts a server down by itself if its serving loop crashes.
        with contextlib.suppress(Exception):
            await server.wait_for_termination()
        if self._phase is Phase.SERVING:
            _log.error("grpc.server.terminated_unexpectedly")
            self.request_shutdown("server terminated unexpectedly", exit_code=1)

    # ------------------------------------------------------------------ shutdown

    async def _shutdown(self, grace_s: float) -> int:
        started = time.perf_counter()
        self._phase = Phase.DRAINING
        if self._shutdown_requested is not None:
            self._shutdown_requested.set()
        _log.info("grpc.shutdown.begin", grace_s=grace_s)

        # 1. Say NOT_SERVING everywhere (later sets are ignored) and stop re-evaluating readiness.
        if self._readiness_task is not None:
            self._readiness_task.cancel()
            await asyncio.gather(self._readiness_task, return_exceptions=True)
        await self._health.enter_graceful_shutdown()
        if self._shutdown_delay_s > 0:
            await asyncio.sleep(self._shutdown_delay_s)

        # 2. Stop accepting calls; in-flight calls get `grace_s`, then are cancelled.
        if self._server is not None:
            await self._server.stop(grace_s)
        if self._termination_watch is not None:
            self._termination_watch.cancel()
            await asyncio.gather(self._termination_watch, return_exceptions=True)
        _log.info("grpc.shutdown.drained", elapsed_ms=round((time.perf_counter() - started) * 1000, 1))

        # 3. Cancel background tasks and wait for them to unwind.
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            done, pending = await asyncio.wait(tasks, timeout=self._shutdown_hook_timeout_s)
            for task in pending:
                _log.error("grpc.background_task.stuck", task=self._tasks[task].name)
                self._exit_code = max(self._exit_code, 1)
            for task in done:
                if not task.cancelled() and task.exception() is not None and self._tasks[task].critical:
                    self._exit_code = max(self._exit_code, 1)

        # 4. Shutdown hooks, last registered first.
        for spec in reversed(self._hooks):
            try:
                async with asyncio.timeout(self._shutdown_hook_timeout_s):
                    await spec.hook()
            except Exception:  # noqa: BLE001  # one failing hook must not skip the others
                self._exit_code = max(self._exit_code, 1)
                _log.exception("grpc.shutdown.hook_failed", hook=spec.name)
            else:
                _log.info("grpc.shutdown.hook_done", hook=spec.name)

        self._phase = Phase.STOPPED
        _log.info(
            "grpc.shutdown.complete",
            exit_code=self._exit_code,
            elapsed_ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return self._exit_code

    def _on_signal(self, signum: signal.Signals) -> None:
        if self._phase is Phase.SERVING and self._stop_task is None:
            self.request_shutdown(signum.name)
        elif self._server is not None and self._phase is Phase.DRAINING:
            _log.warning("grpc.shutdown.forced", signal=signum.name)
            # A concurrent stop(0) cancels the remaining in-flight calls; hooks still run.
            if self._force_task is None:
                self._force_task = asyncio.get_running_loop().create_task(self._server.stop(0))

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(signum, self._on_signal, signum)
            except (NotImplementedError, RuntimeError, ValueError):  # not main thread / not Unix
                _log.warning("grpc.signals.unavailable", signal=signum.name)
                continue
            self._signals_installed.append(signum)

    def _remove_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in self._signals_installed:
            loop.remove_signal_handler(signum)
        self._signals_installed.clear()


def run_main(entry: Callable[[], Awaitable[int | None]]) -> NoReturn:
    """Run an async service entry point and exit with its code: ``run_main(amain)`` in ``__main__``."""

    async def _main() -> int | None:
        return await entry()

    raise SystemExit(asyncio.run(_main()) or 0)
