"""A circuit breaker for calls to Triton.

``TritonClient`` already retries one request on UNAVAILABLE. The breaker is about the
*stream*: once several calls in a row failed (server down, unreachable, timing out), more
calls only add load and latency, so the breaker opens and calls fail at once with
:class:`CircuitOpen`. The consumer's batch aborts (nothing committed) and is retried after
the processor's growing backoff; readiness reports NOT_SERVING while the breaker is open.
After ``reset_timeout_s`` one probe call is let through (half-open): success closes the
breaker; failure re-opens it for twice as long (capped), so a long outage is probed
ever more rarely instead of every second.

Only availability failures count (UNAVAILABLE, deadline exceeded): a model that rejects an
input is not a reason to stop calling the server.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable

from factorymesh.common.logging import get_logger

log = get_logger(__name__)


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitOpen(Exception):
    """The breaker is open: the call was not made."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"circuit open; next probe in {retry_after_s:.1f}s")
        self.retry_after_s = retry_after_s


class CircuitBreaker:
    def __init__(
        self,
        name: str = "triton",
        *,
        failure_threshold: int = 3,
        reset_timeout_s: float = 1.0,
        max_reset_timeout_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1 or reset_timeout_s <= 0 or max_reset_timeout_s < reset_timeout_s:
            raise ValueError("need failure_threshold >= 1 and 0 < reset_timeout_s <= max_reset_timeout_s")
        self.name = name
        self.failure_threshold = failure_threshold
        self.reset_timeout_s = reset_timeout_s
        self.max_reset_timeout_s = max_reset_timeout_s
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._open_for = reset_timeout_s
        self._probe_in_flight = False
        self.opened_count = 0

    @property
    def state(self) -> BreakerState:
        if self._state is BreakerState.OPEN and self._clock() - self._opened_at >= self._open_for:
            return BreakerState.HALF_OPEN
        return self._state

    @property
    def retry_after_s(self) -> float:
        if self._state is not BreakerState.OPEN:
            return 0.0
        return max(0.0, self._opened_at + self._open_for - self._clock())

    def before_call(self) -> None:
        """Raise :class:`CircuitOpen` unless a call may go now; in half-open, one probe at a time.

        Every permitted call must end in :meth:`record_success` or :meth:`record_failure`
        (or :meth:`release` when it ended for another reason)."""
        state = self.state
        if state is BreakerState.CLOSED:
            return
        if state is BreakerState.HALF_OPEN and not self._probe_in_flight:
            self._probe_in_flight = True
            return
        raise CircuitOpen(self.retry_after_s or self._open_for)

    def record_success(self) -> None:
        if self._state is not BreakerState.CLOSED:
            log.info("circuit_closed", breaker=self.name)
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._open_for = self.reset_timeout_s
        self._probe_in_flight = False

    def record_failure(self) -> None:
        probe_failed = self._probe_in_flight or self.state is BreakerState.HALF_OPEN
        self._probe_in_flight = False
        self._failures += 1
        if probe_failed:
            self._open(min(self.max_reset_timeout_s, self._open_for * 2))
        elif self._state is BreakerState.CLOSED and self._failures >= self.failure_threshold:
            self._open(self.reset_timeout_s)

    def release(self) -> None:
        """A permitted call ended without telling anything about the server (cancelled,
        rejected input): let the next probe through."""
        self._probe_in_flight = False

    def _open(self, period: float) -> None:
        self._state = BreakerState.OPEN
        self._opened_at = self._clock()
        self._open_for = period
        self.opened_count += 1
        log.warning("circuit_opened", breaker=self.name, failures=self._failures, open_for_s=period)
