"""Server interceptors every factorymesh gRPC service runs, and the authentication plug.

:func:`default_interceptors` builds the chain the bootstrap installs, outermost first:

1. :class:`RequestIdInterceptor` - takes ``x-request-id`` from the caller (or makes a uuid4),
   exposes it via :func:`current_request_id` and structlog contextvars, and echoes it back in
   the trailing metadata of every response, successful or not.
2. tracing - OpenTelemetry's maintained ``aio_server_interceptor``: a SERVER span per call,
   parented on the caller's W3C ``traceparent``. Health and reflection are not traced.
3. :class:`AccessLogInterceptor` - one ``rpc.access`` line per call with method, peer, final
   status code, duration and request id; it runs inside the span so the logging processors
   can add trace/span ids.
4. :class:`ErrorMappingInterceptor` - turns exceptions into status codes with ``google.rpc``
   rich details (see :mod:`factorymesh.common.grpc_errors`); unknown exceptions become a
   generic ``INTERNAL`` and are logged with their traceback.
5. :class:`AuthInterceptor` (only when an :class:`Authenticator` is configured) - runs right
   before the handler; its ``Unauthenticated``/``PermissionDenied`` pass through step 4, so
   rejections are access-logged, traced and carry rich details like any other error.
   Health and reflection are always exempt.

All interceptors wrap the ``RpcMethodHandler`` (not just the lookup), so they see the whole
call for the four RPC shapes; streaming responses are re-exposed as async generators, and
reader/writer style handlers (``await context.write(...)``) work unchanged. Handlers must be
``async`` (coroutines or async generators), as everywhere on ``grpc.aio``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import hmac
import inspect
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import grpc
import grpc.aio
import structlog
from opentelemetry import metrics, trace
from opentelemetry.instrumentation.grpc import aio_server_interceptor
from opentelemetry.instrumentation.grpc.filters import any_of, negate, service_name

from factorymesh.common.config import PLACEHOLDER_SECRETS
from factorymesh.common.grpc_errors import ServiceError, Unauthenticated, status_for_exception
from factorymesh.common.logging import get_logger

__all__ = [
    "HEALTH_SERVICE",
    "INFRASTRUCTURE_SERVICES",
    "REQUEST_ID_METADATA_KEY",
    "AccessLogInterceptor",
    "AuthInterceptor",
    "Authenticator",
    "CallInfo",
    "ErrorMappingInterceptor",
    "Principal",
    "RequestIdInterceptor",
    "StaticBearerAuthenticator",
    "current_principal",
    "current_request_id",
    "default_interceptors",
    "is_infrastructure_method",
    "service_of",
    "tracing_interceptor",
]

_log = get_logger(__name__)

REQUEST_ID_METADATA_KEY = "x-request-id"
HEALTH_SERVICE = "grpc.health.v1.Health"
INFRASTRUCTURE_SERVICES = frozenset(
    {HEALTH_SERVICE, "grpc.reflection.v1alpha.ServerReflection", "grpc.reflection.v1.ServerReflection"}
)
# A caller's request id is reused only if it is short and boring (it lands in logs and headers).
_REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")
_STATUS_DETAILS_KEY = "grpc-status-details-bin"


def service_of(method: str) -> str:
    """``"/pkg.Service/Method"`` -> ``"pkg.Service"``."""
    return method.lstrip("/").split("/", 1)[0]


def is_infrastructure_method(method: str) -> bool:
    """Health and reflection: exempt from auth and tracing, access-logged at debug level."""
    return service_of(method) in INFRASTRUCTURE_SERVICES


# --------------------------------------------------------------------------- per-call state


@dataclass(frozen=True)
class Principal:
    """Who is calling, as established by the :class:`Authenticator`."""

    subject: str
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass
class _CallState:
    request_id: str
    method: str
    principal: Principal | None = None


_call_state: contextvars.ContextVar[_CallState | None] = contextvars.ContextVar("factorymesh_grpc_call", default=None)


def current_request_id() -> str | None:
    """The request id of the gRPC call being handled by this task, or ``None`` outside a call."""
    state = _call_state.get()
    return state.request_id if state is not None else None


def current_principal() -> Principal | None:
    """The authenticated caller of the current gRPC call; ``None`` without auth or outside a call."""
    state = _call_state.get()
    return state.principal if state is not None else None


def _reset(var: contextvars.ContextVar[Any], token: contextvars.Token[Any]) -> None:
    # An abandoned streaming generator may be finalised from another context; nothing to undo there.
    with contextlib.suppress(ValueError):
        var.reset(token)


# --------------------------------------------------------------------------- handler wrapping

_Around = Callable[[Any], contextlib.AbstractAsyncContextManager[Any]]


async def _unary_result(behavior: Callable[..., Any], request: Any, context: Any) -> Any:
    result = behavior(request, context)
    if inspect.isawaitable(result):
        result = await result
    return result


async def _response_stream(behavior: Callable[..., Any], request: Any, context: Any) -> AsyncIterator[Any]:
    """Normalise a streaming handler (async generator, or coroutine using ``context.write``)."""
    result = behavior(request, context)
    if inspect.isawaitable(result):
        result = await result
    if result is None:
        return
    if hasattr(result, "__aiter__"):
        async for response in result:
            yield response
    else:
        for response in result:
            yield response


def _wrap_method_handler(handler: Any, around: _Around) -> Any:
    """A copy of ``handler`` whose behaviour runs inside ``around(context)``.

    ``around`` is an async context manager factory; the value it yields is the servicer
    context handed on to the wrapped behaviour (so an interceptor can substitute a proxy).
    """
    request_streaming = bool(handler.request_streaming)
    if handler.response_streaming:
        behavior = handler.stream_stream if request_streaming else handler.unary_stream

        async def stream_behavior(request_or_iterator: Any, context: Any) -> AsyncIterator[Any]:
            async with around(context) as inner_context:
                async for response in _response_stream(behavior, request_or_iterator, inner_context):
                    yield response

        factory = grpc.stream_stream_rpc_method_handler if request_streaming else grpc.unary_stream_rpc_method_handler
        return factory(
            stream_behavior,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    unary_behavior = handler.stream_unary if request_streaming else handler.unary_unary

    async def unary_response_behavior(request_or_iterator: Any, context: Any) -> Any:
        async with around(context) as inner_context:
            return await _unary_result(unary_behavior, request_or_iterator, inner_context)

    factory = grpc.stream_unary_rpc_method_handler if request_streaming else grpc.unary_unary_rpc_method_handler
    return factory(
        unary_response_behavior,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


class _WrappingInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]  # grpc ships no type hints
    """Base: wraps each resolved handler in :meth:`around`."""

    def applies_to(self, method: str) -> bool:
        return True

    def on_unimplemented(self, handler_call_details: Any) -> None:
        """Called when no handler exists for the method (the server answers UNIMPLEMENTED)."""

    def around(self, handler_call_details: Any, context: Any) -> contextlib.AbstractAsyncContextManager[Any]:
        raise NotImplementedError

    async def intercept_service(self, continuation: Callable[[Any], Any], handler_call_details: Any) -> Any:
        handler = await continuation(handler_call_details)
        if handler is None:
            self.on_unimplemented(handler_call_details)
            return None
        if not self.applies_to(handler_call_details.method):
            return handler
        return _wrap_method_handler(handler, functools.partial(self.around, handler_call_details))


# --------------------------------------------------------------------------- 1. request id


def _with_request_id(metadata: Iterable[tuple[str, Any]], request_id: str) -> tuple[tuple[str, Any], ...]:
    kept = tuple((key, value) for key, value in metadata if key != REQUEST_ID_METADATA_KEY)
    return (*kept, (REQUEST_ID_METADATA_KEY, request_id))


class _RequestIdContext:
    """Servicer-context proxy that keeps ``x-request-id`` in whatever metadata the handler sends."""

    def __init__(self, inner: Any, request_id: str) -> None:
        self._inner = inner
        self._request_id = request_id

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def set_trailing_metadata(self, metadata: Iterable[tuple[str, Any]]) -> None:
        self._inner.set_trailing_metadata(_with_request_id(metadata, self._request_id))

    async def send_initial_metadata(self, metadata: Iterable[tuple[str, Any]]) -> None:
        await self._inner.send_initial_metadata(_with_request_id(metadata, self._request_id))

    async def abort(self, code: Any, details: str = "", trailing_metadata: Iterable[tuple[str, Any]] = ()) -> None:
        trailing = tuple(trailing_metadata)
        if trailing:
            trailing = _with_request_id(trailing, self._request_id)
        await self._inner.abort(code, details, trailing)

    async def abort_with_status(self, status: Any) -> None:
        await self.abort(status.code, status.details, status.trailing_metadata)


def _incoming_request_id(metadata: Iterable[tuple[str, Any]] | None) -> str | None:
    for key, value in metadata or ():
        if key == REQUEST_ID_METADATA_KEY and isinstance(value, str) and _REQUEST_ID_PATTERN.fullmatch(value):
            return value
    return None


class RequestIdInterceptor(_WrappingInterceptor):
    """Outermost: gives every call a request id (the caller's ``x-request-id`` or a new uuid4)."""

    @contextlib.asynccontextmanager
    async def around(self, handler_call_details: Any, context: Any) -> AsyncIterator[Any]:
        request_id = _incoming_request_id(context.invocation_metadata()) or str(uuid.uuid4())
        state_token = _call_state.set(_CallState(request_id=request_id, method=handler_call_details.method))
        log_tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
        context.set_trailing_metadata(((REQUEST_ID_METADATA_KEY, request_id),))
        try:
            yield _RequestIdContext(context, request_id)
        finally:
            with contextlib.suppress(ValueError):
                structlog.contextvars.reset_contextvars(**log_tokens)
            _reset(_call_state, state_token)


# --------------------------------------------------------------------------- 2. tracing


def tracing_interceptor(tracer_provider: trace.TracerProvider | None = None) -> grpc.aio.ServerInterceptor:
    """OpenTelemetry's aio server interceptor (W3C context from metadata), health/reflection excluded.

    ``tracer_provider`` defaults to the global one set up by ``factorymesh.common.telemetry``.
    """
    not_infrastructure = negate(any_of(*(service_name(name) for name in sorted(INFRASTRUCTURE_SERVICES))))
    return aio_server_interceptor(  # type: ignore[no-untyped-call]
        tracer_provider=tracer_provider, filter_=not_infrastructure
    )


# --------------------------------------------------------------------------- 3. access log

_ERROR_CODES = frozenset({grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DATA_LOSS})
_WARNING_CODES = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED}
)


def _status_code(value: Any, default: grpc.StatusCode) -> grpc.StatusCode:
    if isinstance(value, grpc.StatusCode):
        return value
    if isinstance(value, int):
        for code in grpc.StatusCode:
            if code.value[0] == value:
                return code
    return default


class AccessLogInterceptor(_WrappingInterceptor):
    """One structured ``rpc.access`` line per call (health/reflection at debug level).

    Level: error for INTERNAL/UNKNOWN/DATA_LOSS, warning for UNAVAILABLE/DEADLINE_EXCEEDED/
    RESOURCE_EXHAUSTED, info otherwise. Also tags the current span with the request id.
    """

    def __init__(self) -> None:
        # OTel semantic convention for RPC servers; the global meter provider delegates
        # to whatever configure_telemetry() installs, even if that happens later.
        self._duration = metrics.get_meter("factorymesh.common.grpc").create_histogram(
            "rpc.server.duration", unit="ms", description="Duration of inbound gRPC calls"
        )

    def on_unimplemented(self, handler_call_details: Any) -> None:
        _log.info("rpc.access", method=handler_call_details.method, code="UNIMPLEMENTED", duration_ms=0.0)

    @contextlib.asynccontextmanager
    async def around(self, handler_call_details: Any, context: Any) -> AsyncIterator[Any]:
        method = handler_call_details.method
        request_id = current_request_id()
        if request_id is not None:
            trace.get_current_span().set_attribute("factorymesh.request_id", request_id)
        started = time.perf_counter()
        fallback = grpc.StatusCode.OK
        try:
            yield context
        except (asyncio.CancelledError, GeneratorExit):
            fallback = grpc.StatusCode.CANCELLED
            raise
        except BaseException:
            fallback = grpc.StatusCode.UNKNOWN
            raise
        finally:
            code = _status_code(context.code(), fallback)
            principal = current_principal()
            if code in _ERROR_CODES:
                emit = _log.error
            elif code in _WARNING_CODES:
                emit = _log.warning
            elif is_infrastructure_method(method):
                emit = _log.debug
            else:
                emit = _log.info
            duration_ms = (time.perf_counter() - started) * 1000
            self._duration.record(duration_ms, {"rpc.method": method, "rpc.grpc.status_code": code.value[0]})
            emit(
                "rpc.access",
                method=method,
                peer=context.peer(),
                code=code.name,
                duration_ms=round(duration_ms, 3),
                request_id=request_id,
                principal=principal.subject if principal is not None else None,
            )


# --------------------------------------------------------------------------- 4. exception mapping


def _unwrap_single(error: BaseException) -> BaseException:
    """A TaskGroup failing with exactly one exception maps like that exception."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


def _merge_trailing(
    existing: Iterable[tuple[str, Any]] | None, status_metadata: Iterable[tuple[str, Any]]
) -> tuple[tuple[str, Any], ...]:
    kept = tuple((key, value) for key, value in existing or () if key != _STATUS_DETAILS_KEY)
    return (*kept, *status_metadata)


class ErrorMappingInterceptor(_WrappingInterceptor):
    """Exceptions from handlers (and from :class:`AuthInterceptor`) -> status + rich details.

    ``include_debug_info`` attaches ``google.rpc.DebugInfo`` (exception text and stack) to
    INTERNAL errors; the bootstrap enables it only in the ``development`` environment.
    """

    def __init__(self, *, include_debug_info: bool = False) -> None:
        self._include_debug_info = include_debug_info

    @contextlib.asynccontextmanager
    async def around(self, handler_call_details: Any, context: Any) -> AsyncIterator[Any]:
        try:
            yield context
        except grpc.aio.AbortError:
            raise  # the handler already chose a status via context.abort()
        except Exception as raised:
            if context.done():
                raise  # status already sent; nothing left to map
            error = _unwrap_single(raised)
            method = handler_call_details.method
            if isinstance(error, ServiceError | NotImplementedError):
                _log.debug("rpc.error", method=method, error=repr(error))
            else:
                _log.error("rpc.unhandled_exception", method=method, exc_info=raised)
            status = status_for_exception(
                error, request_id=current_request_id(), include_debug_info=self._include_debug_info
            )
            trailing = _merge_trailing(context.trailing_metadata(), status.trailing_metadata)
            await context.abort(status.code, status.details, trailing)


# --------------------------------------------------------------------------- 5. authentication


@dataclass(frozen=True)
class CallInfo:
    """What an :class:`Authenticator` may look at."""

    method: str
    metadata: grpc.aio.Metadata
    peer: str
    auth_context: Mapping[str, Sequence[bytes]]

    def header(self, key: str) -> str | None:
        value = self.metadata.get(key.lower())
        return value if isinstance(value, str) else None


@runtime_checkable
class Authenticator(Protocol):
    """Establishes who is calling; raise ``Unauthenticated`` or ``PermissionDenied`` to reject."""

    async def authenticate(self, call: CallInfo) -> Principal: ...


class StaticBearerAuthenticator:
    """``authorization: Bearer <token>`` checked against static tokens (``{subject: token}``).

    Several tokens allow rotation without downtime. Comparison uses ``hmac.compare_digest``
    against every configured token. Placeholder or empty tokens are refused at construction.
    The security service will replace this with JWT / mTLS behind the same protocol.
    """

    def __init__(self, tokens: Mapping[str, str]) -> None:
        if not tokens:
            raise ValueError("StaticBearerAuthenticator needs at least one token")
        for subject, token in tokens.items():
            if token.strip().lower() in PLACEHOLDER_SECRETS or token != token.strip():
                raise ValueError(f"bearer token for {subject!r} is empty, a placeholder or has surrounding spaces")
        self._tokens = [(subject, token.encode()) for subject, token in tokens.items()]

    async def authenticate(self, call: CallInfo) -> Principal:
        header = call.header("authorization")
        if header is None:
            raise Unauthenticated("missing bearer token", reason="TOKEN_MISSING")
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("authorization header is not 'Bearer <token>'", reason="TOKEN_MALFORMED")
        presented = token.encode()
        matched: str | None = None
        for subject, expected in self._tokens:  # no early exit: same work whichever token matches
            if hmac.compare_digest(presented, expected) and matched is None:
                matched = subject
        if matched is None:
            raise Unauthenticated("invalid bearer token", reason="TOKEN_INVALID")
        return Principal(subject=matched, attributes={"authenticator": "static-bearer"})


class AuthInterceptor(_WrappingInterceptor):
    """Innermost: runs the :class:`Authenticator` before the handler; health/reflection exempt."""

    def __init__(self, authenticator: Authenticator) -> None:
        self._authenticator = authenticator

    def applies_to(self, method: str) -> bool:
        return not is_infrastructure_method(method)

    @contextlib.asynccontextmanager
    async def around(self, handler_call_details: Any, context: Any) -> AsyncIterator[Any]:
        call = CallInfo(
            method=handler_call_details.method,
            metadata=grpc.aio.Metadata.from_tuple(context.invocation_metadata() or ()),
            peer=context.peer(),
            auth_context=context.auth_context(),
        )
        principal = await self._authenticator.authenticate(call)
        if not isinstance(principal, Principal):
            raise Unauthenticated("not authenticated", reason="NO_PRINCIPAL")
        state = _call_state.get()
        token = None
        if state is None:  # chain built without RequestIdInterceptor
            state = _CallState(request_id=str(uuid.uuid4()), method=handler_call_details.method)
            token = _call_state.set(state)
        state.principal = principal
        try:
            yield context
        finally:
            if token is not None:
                _reset(_call_state, token)


# --------------------------------------------------------------------------- the chain


def default_interceptors(
    *,
    authenticator: Authenticator | None = None,
    tracer_provider: trace.TracerProvider | None = None,
    include_debug_info: bool = False,
) -> list[grpc.aio.ServerInterceptor]:
    """The interceptor chain, outermost first (see the module docstring for why this order)."""
    chain: list[grpc.aio.ServerInterceptor] = [
        RequestIdInterceptor(),
        tracing_interceptor(tracer_provider),
        AccessLogInterceptor(),
        ErrorMappingInterceptor(include_debug_info=include_debug_info),
    ]
    if authenticator is not None:
        chain.append(AuthInterceptor(authenticator))
    return chain
