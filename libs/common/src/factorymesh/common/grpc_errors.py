"""Domain exceptions that map to gRPC status codes with ``google.rpc`` rich error details.

A servicer raises one of the :class:`ServiceError` subclasses below; the error-mapping
interceptor (:mod:`factorymesh.common.grpc_interceptors`) turns it into the matching status
code, a human readable message, and a ``google.rpc.Status`` carried in the
``grpc-status-details-bin`` trailer (the standard "richer error model" every gRPC language
can decode). Any *other* exception becomes ``INTERNAL`` with a generic message that names
the request id; the exception text and stack never reach the client unless debug info is
explicitly enabled (development only).

Clients decode the details with :func:`rich_status`, :func:`error_details`,
:func:`field_violations`, :func:`retry_after_s`, :func:`error_reason` and
:func:`request_id_of`; they work on ``grpc.aio.AioRpcError`` and on sync ``grpc.RpcError``
calls alike.

Mapping (``ServiceError`` subclass -> code -> details):

=======================  ===================  =============================================
exception                code                 details (besides ErrorInfo / RequestInfo)
=======================  ===================  =============================================
InvalidArgument          INVALID_ARGUMENT     BadRequest.field_violations
NotFound                 NOT_FOUND            ResourceInfo
AlreadyExists            ALREADY_EXISTS       ResourceInfo
FailedPrecondition       FAILED_PRECONDITION  PreconditionFailure.violations
Aborted                  ABORTED              (none)
ResourceExhausted        RESOURCE_EXHAUSTED   RetryInfo (if retry_after_s), QuotaFailure
Unavailable              UNAVAILABLE          RetryInfo (if retry_after_s)
DeadlineExceeded         DEADLINE_EXCEEDED    (none)
PermissionDenied         PERMISSION_DENIED    (none)
Unauthenticated          UNAUTHENTICATED      (none)
Unimplemented            UNIMPLEMENTED        (none)
``NotImplementedError``  UNIMPLEMENTED        (none)
anything else            INTERNAL             DebugInfo only when debug info is enabled
=======================  ===================  =============================================

Every mapped error also carries ``RequestInfo.request_id`` (when a request id is known) and,
when the raiser gave a ``reason``, an ``ErrorInfo(reason, domain="factorymesh", metadata)``
that clients can switch on without parsing messages.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import DecodeError, Message
from google.rpc import error_details_pb2, status_pb2  # no stubs
from grpc_status import rpc_status

if TYPE_CHECKING:
    from pydantic import ValidationError

__all__ = [
    "ERROR_DOMAIN",
    "RICH_STATUS_METADATA_KEY",
    "Aborted",
    "AlreadyExists",
    "DeadlineExceeded",
    "FailedPrecondition",
    "InvalidArgument",
    "NotFound",
    "PermissionDenied",
    "ResourceExhausted",
    "ServiceError",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
    "error_details",
    "error_reason",
    "field_violations",
    "request_id_of",
    "retry_after_s",
    "rich_status",
    "status_for_exception",
]

RICH_STATUS_METADATA_KEY = "grpc-status-details-bin"
ERROR_DOMAIN = "factorymesh"
INTERNAL_MESSAGE = "internal error"

# Detail types we know how to unpack on the client side.
_KNOWN_DETAIL_TYPES: tuple[type[Message], ...] = (
    error_details_pb2.BadRequest,
    error_details_pb2.ResourceInfo,
    error_details_pb2.PreconditionFailure,
    error_details_pb2.QuotaFailure,
    error_details_pb2.RetryInfo,
    error_details_pb2.ErrorInfo,
    error_details_pb2.RequestInfo,
    error_details_pb2.DebugInfo,
    error_details_pb2.Help,
    error_details_pb2.LocalizedMessage,
)


def _pack(message: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def _duration(seconds: float) -> duration_pb2.Duration:
    whole, nanos = divmod(round(seconds * 1_000_000_000), 1_000_000_000)
    return duration_pb2.Duration(seconds=whole, nanos=nanos)


class ServiceError(Exception):
    """Base class for errors a servicer raises on purpose; each subclass fixes the status code.

    ``message`` is sent to the client as the status details, so it must be safe to show.
    ``reason`` (UPPER_SNAKE_CASE) and ``metadata`` become a ``google.rpc.ErrorInfo``.
    """

    code: ClassVar[grpc.StatusCode] = grpc.StatusCode.UNKNOWN
    default_message: ClassVar[str] = "error"

    def __init__(
        self,
        message: str | None = None,
        *,
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
        details: Sequence[Message] = (),
    ) -> None:
        self.message = message or self.default_message
        self.reason = reason
        self.metadata = dict(metadata or {})
        self.extra_details = list(details)
        super().__init__(self.message)

    def detail_messages(self) -> list[Message]:
        """The ``google.rpc`` detail messages for this error (subclasses add their own)."""
        messages: list[Message] = []
        if self.reason:
            messages.append(
                error_details_pb2.ErrorInfo(reason=self.reason, domain=ERROR_DOMAIN, metadata=self.metadata)
            )
        messages.extend(self.extra_details)
        return messages

    def to_status_proto(self, *, request_id: str | None = None) -> status_pb2.Status:
        details = self.detail_messages()
        if request_id:
            details.append(error_details_pb2.RequestInfo(request_id=request_id))
        return status_pb2.Status(
            code=self.code.value[0], message=self.message, details=[_pack(detail) for detail in details]
        )

    def to_grpc_status(self, *, request_id: str | None = None) -> grpc.Status:
        """A ``grpc.Status`` whose trailing metadata carries the rich status."""
        return rpc_status.to_status(self.to_status_proto(request_id=request_id))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class InvalidArgument(ServiceError):
    """The request is malformed; ``field_violations`` are ``(field.path, description)`` pairs."""

    code = grpc.StatusCode.INVALID_ARGUMENT
    default_message = "invalid argument"

    def __init__(
        self,
        message: str | None = None,
        *,
        field_violations: Iterable[tuple[str, str]] = (),
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        self.field_violations = [(str(path), str(description)) for path, description in field_violations]
        if message is None and self.field_violations:
            message = "invalid argument: " + "; ".join(f"{path}: {desc}" for path, desc in self.field_violations)
        super().__init__(message, reason=reason, metadata=metadata)

    @classmethod
    def from_pydantic(cls, error: ValidationError, *, prefix: str = "", message: str | None = None) -> InvalidArgument:
        """Field violations from a pydantic ``ValidationError`` (``loc`` joined with dots)."""
        violations = []
        for item in error.errors():
            path = ".".join(str(part) for part in item["loc"])
            violations.append((f"{prefix}.{path}" if prefix and path else prefix or path, item["msg"]))
        return cls(message, field_violations=violations)

    def detail_messages(self) -> list[Message]:
        messages = super().detail_messages()
        if self.field_violations:
            bad_request = error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=path, description=description)
                    for path, description in self.field_violations
                ]
            )
            messages.insert(0, bad_request)
        return messages


class _ResourceError(ServiceError):
    def __init__(
        self,
        resource_type: str,
        resource_name: str,
        message: str | None = None,
        *,
        owner: str = "",
        description: str = "",
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        self.resource_type = resource_type
        self.resource_name = resource_name
        self.owner = owner
        self.description = description
        super().__init__(
            message or f"{resource_type} {resource_name!r} {self.default_message}", reason=reason, metadata=metadata
        )

    def detail_messages(self) -> list[Message]:
        messages = super().detail_messages()
        info = error_details_pb2.ResourceInfo(
            resource_type=self.resource_type,
            resource_name=self.resource_name,
            owner=self.owner,
            description=self.description,
        )
        messages.insert(0, info)
        return messages


class NotFound(_ResourceError):
    """A named resource does not exist (carries ``ResourceInfo``)."""

    code = grpc.StatusCode.NOT_FOUND
    default_message = "not found"


class AlreadyExists(_ResourceError):
    """The resource a client tried to create already exists (carries ``ResourceInfo``)."""

    code = grpc.StatusCode.ALREADY_EXISTS
    default_message = "already exists"


class FailedPrecondition(ServiceError):
    """The system is not in a state required for the operation.

    ``violations`` are ``(type, subject, description)`` triples, e.g.
    ``("MODEL_STATE", "triton:model_x", "model is not loaded")``.
    """

    code = grpc.StatusCode.FAILED_PRECONDITION
    default_message = "failed precondition"

    def __init__(
        self,
        message: str | None = None,
        *,
        violations: Iterable[tuple[str, str, str]] = (),
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        self.violations = [(str(kind), str(subject), str(desc)) for kind, subject, desc in violations]
        super().__init__(message, reason=reason, metadata=metadata)

    def detail_messages(self) -> list[Message]:
        messages = super().detail_messages()
        if self.violations:
            failure = error_details_pb2.PreconditionFailure(
                violations=[
                    error_details_pb2.PreconditionFailure.Violation(type=kind, subject=subject, description=desc)
                    for kind, subject, desc in self.violations
                ]
            )
            messages.insert(0, failure)
        return messages


class Aborted(ServiceError):
    """A concurrency conflict (e.g. optimistic-lock failure); the client may retry the sequence."""

    code = grpc.StatusCode.ABORTED
    default_message = "aborted"


class _RetryableError(ServiceError):
    def __init__(
        self,
        message: str | None = None,
        *,
        retry_after_s: float | None = None,
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        if retry_after_s is not None and retry_after_s < 0:
            raise ValueError("retry_after_s must be >= 0")
        self.retry_after_s = retry_after_s
        super().__init__(message, reason=reason, metadata=metadata)

    def detail_messages(self) -> list[Message]:
        messages = super().detail_messages()
        if self.retry_after_s is not None:
            messages.insert(0, error_details_pb2.RetryInfo(retry_delay=_duration(self.retry_after_s)))
        return messages


class ResourceExhausted(_RetryableError):
    """A quota or capacity limit was hit; carries ``RetryInfo`` and ``QuotaFailure``.

    ``quota_violations`` are ``(subject, description)`` pairs; when none are given one
    violation is derived from the message (subject ``quota_subject``, default empty).
    """

    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    default_message = "resource exhausted"

    def __init__(
        self,
        message: str | None = None,
        *,
        retry_after_s: float | None = None,
        quota_violations: Iterable[tuple[str, str]] = (),
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        self.quota_violations = [(str(subject), str(desc)) for subject, desc in quota_violations]
        super().__init__(message, retry_after_s=retry_after_s, reason=reason, metadata=metadata)
        if not self.quota_violations:
            self.quota_violations = [("", self.message)]

    def detail_messages(self) -> list[Message]:
        messages = super().detail_messages()
        failure = error_details_pb2.QuotaFailure(
            violations=[
                error_details_pb2.QuotaFailure.Violation(subject=subject, description=desc)
                for subject, desc in self.quota_violations
            ]
        )
        messages.append(failure)
        return messages


class Unavailable(_RetryableError):
    """A dependency or this service is temporarily unavailable; safe to retry (``RetryInfo``)."""

    code = grpc.StatusCode.UNAVAILABLE
    default_message = "service unavailable"


class DeadlineExceeded(ServiceError):
    """The operation could not finish within its deadline."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED
    default_message = "deadline exceeded"


class PermissionDenied(ServiceError):
    """The caller is authenticated but not allowed to do this."""

    code = grpc.StatusCode.PERMISSION_DENIED
    default_message = "permission denied"


class Unauthenticated(ServiceError):
    """The caller presented no valid credentials."""

    code = grpc.StatusCode.UNAUTHENTICATED
    default_message = "unauthenticated"


class Unimplemented(ServiceError):
    """The method (or this variant of it) is not implemented."""

    code = grpc.StatusCode.UNIMPLEMENTED
    default_message = "not implemented"


def status_for_exception(
    error: BaseException, *, request_id: str | None = None, include_debug_info: bool = False
) -> grpc.Status:
    """The ``grpc.Status`` (with rich details in trailing metadata) a handler exception maps to.

    Unknown exceptions become ``INTERNAL`` with a generic message naming the request id;
    ``DebugInfo`` (exception text and stack) is attached only when ``include_debug_info``.
    """
    if isinstance(error, ServiceError):
        return error.to_grpc_status(request_id=request_id)
    if isinstance(error, NotImplementedError):
        return Unimplemented("method not implemented").to_grpc_status(request_id=request_id)
    message = INTERNAL_MESSAGE if not request_id else f"{INTERNAL_MESSAGE} (request id {request_id})"
    details: list[Message] = []
    if request_id:
        details.append(error_details_pb2.RequestInfo(request_id=request_id))
    if include_debug_info:
        stack = traceback.format_exception(type(error), error, error.__traceback__)
        details.append(error_details_pb2.DebugInfo(stack_entries=stack, detail=f"{type(error).__name__}: {error}"))
    proto = status_pb2.Status(
        code=grpc.StatusCode.INTERNAL.value[0], message=message, details=[_pack(detail) for detail in details]
    )
    return rpc_status.to_status(proto)


# --------------------------------------------------------------------------- client side


def _trailing_metadata(error: grpc.RpcError) -> Iterable[tuple[str, Any]]:
    getter = getattr(error, "trailing_metadata", None)
    if getter is None:
        return ()
    metadata = getter()
    return metadata if metadata is not None else ()


def rich_status(error: grpc.RpcError) -> status_pb2.Status | None:
    """The ``google.rpc.Status`` from an RPC error's trailers, or ``None`` if it has none."""
    for key, value in _trailing_metadata(error):
        if key == RICH_STATUS_METADATA_KEY and isinstance(value, bytes):
            try:
                return status_pb2.Status.FromString(value)
            except DecodeError:
                return None
    return None


def error_details(error: grpc.RpcError) -> list[Message]:
    """The unpacked detail messages (BadRequest, RetryInfo, ...) of an RPC error; unknown types skipped."""
    status = rich_status(error)
    if status is None:
        return []
    unpacked: list[Message] = []
    for packed in status.details:
        for detail_type in _KNOWN_DETAIL_TYPES:
            if packed.Is(detail_type.DESCRIPTOR):
                message = detail_type()
                packed.Unpack(message)
                unpacked.append(message)
                break
    return unpacked


def field_violations(error: grpc.RpcError) -> dict[str, str]:
    """``{field path: description}`` from the error's ``BadRequest``.

    Several descriptions for the same path are joined with ``"; "``.
    """
    violations: dict[str, str] = {}
    for detail in error_details(error):
        if isinstance(detail, error_details_pb2.BadRequest):
            for violation in detail.field_violations:
                if violation.field in violations:
                    violations[violation.field] += "; " + violation.description
                else:
                    violations[violation.field] = violation.description
    return violations


def retry_after_s(error: grpc.RpcError) -> float | None:
    """The server's ``RetryInfo`` delay in seconds, or ``None`` when it gave none."""
    for detail in error_details(error):
        if isinstance(detail, error_details_pb2.RetryInfo):
            return float(detail.retry_delay.seconds + detail.retry_delay.nanos / 1e9)
    return None


def error_reason(error: grpc.RpcError) -> str | None:
    """The ``ErrorInfo.reason`` (machine-readable, UPPER_SNAKE_CASE), or ``None``."""
    for detail in error_details(error):
        if isinstance(detail, error_details_pb2.ErrorInfo):
            return str(detail.reason)
    return None


def request_id_of(error: grpc.RpcError) -> str | None:
    """The server's request id for a failed call (``x-request-id`` trailer or ``RequestInfo``)."""
    for key, value in _trailing_metadata(error):
        if key == "x-request-id" and isinstance(value, str):
            return value
    for detail in error_details(error):
        if isinstance(detail, error_details_pb2.RequestInfo) and detail.request_id:
            return str(detail.request_id)
    return None
