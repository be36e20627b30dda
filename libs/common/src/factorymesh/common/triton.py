"""A thin, typed wrapper over ``tritonclient.grpc.aio`` for services that call Triton.

What it adds to the raw client:

* readiness checks that fit the gRPC bootstrap (`is_server_live`, `is_model_ready`);
* numpy in, numpy out: ``await client.infer("model", {"INPUT": array})``;
* a deadline on every call and bounded concurrency (Triton queues anyway, but an
  unbounded client turns a slow server into unbounded memory here);
* typed errors mapped from gRPC status codes, so callers retry on
  :class:`TritonUnavailable` and nothing else;
* retries with exponential backoff and full jitter on UNAVAILABLE, because
  neither the client nor a gRPC channel retry policy retries ``ModelInfer``;
* the caller's W3C trace context sent along as ``traceparent``.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import tritonclient.grpc.aio as triton_aio
from tritonclient.grpc import InferInput, InferRequestedOutput
from tritonclient.utils import InferenceServerException, np_to_triton_dtype

from factorymesh.common.logging import get_logger
from factorymesh.common.telemetry import inject_headers

log = get_logger(__name__)


class TritonError(Exception):
    """Base class for Triton call failures."""

    def __init__(self, message: str, status: str | None = None) -> None:
        super().__init__(message)
        self.status = status


class TritonUnavailable(TritonError):
    """The server cannot be reached or is shutting down: retry later."""


class TritonTimeout(TritonError):
    """The call did not finish within its deadline."""


class ModelNotFound(TritonError):
    """The model (or version) is not in the repository or not loaded."""


class InvalidInferenceInput(TritonError):
    """Triton rejected the request's inputs (names, shapes, dtypes)."""


class TritonServerError(TritonError):
    """Any other failure reported by the server."""


_STATUS_TO_ERROR: dict[str, type[TritonError]] = {
    "StatusCode.UNAVAILABLE": TritonUnavailable,
    "StatusCode.DEADLINE_EXCEEDED": TritonTimeout,
    "StatusCode.NOT_FOUND": ModelNotFound,
    "StatusCode.INVALID_ARGUMENT": InvalidInferenceInput,
}


def map_error(error: InferenceServerException) -> TritonError:
    """Translate the client's exception into one of our typed errors."""
    status = error.status()
    message = error.message() or str(error)
    kind = _STATUS_TO_ERROR.get(status or "", TritonServerError)
    # Triton answers an unknown or unloaded model with UNAVAILABLE or INTERNAL
    # depending on the call; the message is the only reliable signal.
    lowered = message.lower()
    if kind in (TritonUnavailable, TritonServerError) and ("unknown model" in lowered or "is not ready" in lowered):
        kind = ModelNotFound
    return kind(message, status)


@dataclass(frozen=True)
class RetryPolicy:
    """Retries on UNAVAILABLE only: exponential backoff, full jitter."""

    attempts: int = 3
    initial_backoff_s: float = 0.05
    max_backoff_s: float = 2.0

    def backoff(self, attempt: int) -> float:
        return random.uniform(0.0, min(self.max_backoff_s, self.initial_backoff_s * 2**attempt))


class TritonClient:
    """Async Triton client; one per process, shared by every task."""

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 5.0,
        max_concurrency: int = 64,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.retry = retry or RetryPolicy()
        self._client = triton_aio.InferenceServerClient(url=url)
        self._slots = asyncio.Semaphore(max_concurrency)

    async def close(self) -> None:
        await self._client.close()

    async def __aenter__(self) -> TritonClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def _call(self, method: str, *args: Any, timeout_s: float | None = None, **kwargs: Any) -> Any:
        try:
            return await getattr(self._client, method)(*args, client_timeout=timeout_s or self.timeout_s, **kwargs)
        except InferenceServerException as error:
            raise map_error(error) from None

    async def is_server_live(self, timeout_s: float | None = None) -> bool:
        """Liveness (``/v2/health/live``): the process answers. False when unreachable."""
        try:
            return bool(await self._call("is_server_live", timeout_s=timeout_s))
        except TritonError:
            return False

    async def is_model_ready(self, model: str, version: str = "", timeout_s: float | None = None) -> bool:
        """Readiness of one model; server readiness is false while any model loads, so use this."""
        try:
            return bool(await self._call("is_model_ready", model, version, timeout_s=timeout_s))
        except TritonError:
            return False

    async def wait_until_ready(self, models: Sequence[str], timeout_s: float = 60.0, poll_s: float = 0.5) -> None:
        """Wait until every model is ready or raise :class:`TritonUnavailable`."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        pending = list(models)
        while True:
            pending = [m for m in pending if not await self.is_model_ready(m)]
            if not pending:
                return
            if asyncio.get_running_loop().time() >= deadline:
                raise TritonUnavailable(f"models not ready after {timeout_s:.0f}s: {', '.join(pending)}")
            await asyncio.sleep(poll_s)

    async def model_metadata(self, model: str, version: str = "") -> dict[str, Any]:
        result: dict[str, Any] = await self._call("get_model_metadata", model, version, as_json=True)
        return result

    async def model_config(self, model: str, version: str = "") -> dict[str, Any]:
        result: dict[str, Any] = await self._call("get_model_config", model, version, as_json=True)
        return dict(result.get("config", result))

    async def load_model(self, model: str) -> None:
        """Load or reload a model (explicit model-control mode): picks up new version directories."""
        await self._call("load_model", model, timeout_s=max(self.timeout_s, 60.0))

    async def unload_model(self, model: str) -> None:
        await self._call("unload_model", model)

    async def infer(
        self,
        model: str,
        inputs: Mapping[str, npt.NDArray[Any]],
        *,
        outputs: Sequence[str] | None = None,
        version: str = "",
        request_id: str = "",
        timeout_s: float | None = None,
    ) -> dict[str, npt.NDArray[Any]]:
        """Run one inference; returns every requested output (all outputs when None) as numpy arrays."""
        infer_inputs = []
        for name, array in inputs.items():
            array = np.ascontiguousarray(array)
            infer_input = InferInput(name, list(array.shape), np_to_triton_dtype(array.dtype))
            infer_input.set_data_from_numpy(array)
            infer_inputs.append(infer_input)
        requested = [InferRequestedOutput(name) for name in outputs] if outputs else None
        headers = {k: v.decode() for k, v in inject_headers([])}

        attempt = 0
        async with self._slots:
            while True:
                try:
                    result = await self._call(
                        "infer",
                        model,
                        infer_inputs,
                        model_version=version,
                        outputs=requested,
                        request_id=request_id,
                        headers=headers,
                        timeout_s=timeout_s,
                    )
                    break
                except TritonUnavailable:
                    attempt += 1
                    if attempt >= self.retry.attempts:
                        raise
                    delay = self.retry.backoff(attempt)
                    log.warning("triton_unavailable_retrying", model=model, attempt=attempt, delay_s=round(delay, 3))
                    await asyncio.sleep(delay)

        response = result.get_response()
        names = outputs or [output.name for output in response.outputs]
        return {name: result.as_numpy(name) for name in names}
