"""Exception -> google.rpc rich status, and the client-side decoders (no server needed)."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2  # type: ignore[import-untyped,unused-ignore]  # no stubs
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from factorymesh.common import grpc_errors as errors


class _FakeRpcError(grpc.RpcError):  # type: ignore[misc]
    """What a client sees: code, details and trailing metadata."""

    def __init__(self, code: grpc.StatusCode, details: str, trailing_metadata: Any) -> None:
        self._code, self._details, self._trailing = code, details, trailing_metadata

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> Any:
        return self._trailing


def _as_client_error(error: BaseException, **kwargs: Any) -> _FakeRpcError:
    status = errors.status_for_exception(error, **kwargs)
    return _FakeRpcError(status.code, status.details, status.trailing_metadata)


def test_invalid_argument_carries_field_violations_and_summary_message() -> None:
    error = errors.InvalidArgument(field_violations=[("reading.value", "must be finite"), ("reading.ts", "required")])
    client = _as_client_error(error, request_id="req-1")
    assert client.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert client.details() == "invalid argument: reading.value: must be finite; reading.ts: required"
    assert errors.field_violations(client) == {"reading.value": "must be finite", "reading.ts": "required"}
    assert errors.request_id_of(client) == "req-1"
    status = errors.rich_status(client)
    assert status is not None
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]


def test_repeated_field_violations_are_joined() -> None:
    client = _as_client_error(errors.InvalidArgument("bad", field_violations=[("a", "x"), ("a", "y")]))
    assert errors.field_violations(client) == {"a": "x; y"}


def test_resource_exhausted_has_retry_info_and_quota_failure() -> None:
    error = errors.ResourceExhausted("too many readings", retry_after_s=1.5, quota_violations=[("line-3", "1000/s")])
    client = _as_client_error(error)
    assert client.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert errors.retry_after_s(client) == pytest.approx(1.5)
    quota = [d for d in errors.error_details(client) if isinstance(d, error_details_pb2.QuotaFailure)]
    assert [(v.subject, v.description) for v in quota[0].violations] == [("line-3", "1000/s")]


def test_unavailable_retry_info_and_reason() -> None:
    client = _as_client_error(errors.Unavailable("triton down", retry_after_s=2, reason="TRITON_DOWN"))
    assert client.code() is grpc.StatusCode.UNAVAILABLE
    assert errors.retry_after_s(client) == 2.0
    assert errors.error_reason(client) == "TRITON_DOWN"
    assert errors.retry_after_s(_as_client_error(errors.Unavailable())) is None


def test_not_found_resource_info_and_precondition_violations() -> None:
    client = _as_client_error(errors.NotFound("machine", "m-17"))
    assert client.code() is grpc.StatusCode.NOT_FOUND
    assert client.details() == "machine 'm-17' not found"
    (info,) = [d for d in errors.error_details(client) if isinstance(d, error_details_pb2.ResourceInfo)]
    assert (info.resource_type, info.resource_name) == ("machine", "m-17")

    failed = errors.FailedPrecondition(
        "model not loaded", violations=[("MODEL_STATE", "triton:model_x", "model is not loaded")]
    )
    client = _as_client_error(failed)
    (pre,) = [d for d in errors.error_details(client) if isinstance(d, error_details_pb2.PreconditionFailure)]
    assert pre.violations[0].subject == "triton:model_x"


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (errors.AlreadyExists("machine", "m-1"), grpc.StatusCode.ALREADY_EXISTS),
        (errors.PermissionDenied(), grpc.StatusCode.PERMISSION_DENIED),
        (errors.Unauthenticated(), grpc.StatusCode.UNAUTHENTICATED),
        (errors.Aborted(), grpc.StatusCode.ABORTED),
        (errors.DeadlineExceeded(), grpc.StatusCode.DEADLINE_EXCEEDED),
        (errors.Unimplemented(), grpc.StatusCode.UNIMPLEMENTED),
        (NotImplementedError("todo"), grpc.StatusCode.UNIMPLEMENTED),
    ],
)
def test_codes(error: BaseException, code: grpc.StatusCode) -> None:
    assert _as_client_error(error).code() is code


def test_unknown_exception_is_internal_without_leaking() -> None:
    boom = RuntimeError("password=hunter2")
    client = _as_client_error(boom, request_id="req-9")
    assert client.code() is grpc.StatusCode.INTERNAL
    assert client.details() == "internal error (request id req-9)"
    assert not any(isinstance(d, error_details_pb2.DebugInfo) for d in errors.error_details(client))
    assert "hunter2" not in repr(errors.rich_status(client))


def test_debug_info_only_on_request() -> None:
    try:
        raise RuntimeError("password=hunter2")
    except RuntimeError as raised:
        client = _as_client_error(raised, include_debug_info=True)
    (debug,) = [d for d in errors.error_details(client) if isinstance(d, error_details_pb2.DebugInfo)]
    assert "hunter2" in debug.detail
    assert any("test_debug_info_only_on_request" in e for e in debug.stack_entries)


def test_from_pydantic() -> None:
    class Reading(BaseModel):
        value: float
        machine: str

    with pytest.raises(ValidationError) as caught:
        Reading.model_validate({"value": "x"})
    error = errors.InvalidArgument.from_pydantic(caught.value, prefix="reading")
    assert set(dict(error.field_violations)) == {"reading.value", "reading.machine"}


def test_decoders_tolerate_plain_errors() -> None:
    plain = _FakeRpcError(grpc.StatusCode.UNKNOWN, "", None)
    assert errors.rich_status(plain) is None
    assert errors.field_violations(plain) == {}
    assert errors.retry_after_s(plain) is None
    assert errors.request_id_of(plain) is None
    garbage = _FakeRpcError(grpc.StatusCode.UNKNOWN, "", (("grpc-status-details-bin", b"\xff\xff"),))
    assert errors.rich_status(garbage) is None


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.text(min_size=1, max_size=20), st.text(max_size=40)),
        min_size=1,
        max_size=5,
        unique_by=lambda v: v[0],
    )
)
def test_field_violations_roundtrip(violations: list[tuple[str, str]]) -> None:
    client = _as_client_error(errors.InvalidArgument("bad", field_violations=violations))
    assert errors.field_violations(client) == dict(violations)


def test_retry_after_rejects_negative() -> None:
    with pytest.raises(ValueError, match="retry_after_s"):
        errors.Unavailable(retry_after_s=-1)
