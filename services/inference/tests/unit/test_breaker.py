"""Circuit breaker states: closed -> open after N failures -> half-open probe -> closed or longer open."""

from __future__ import annotations

import pytest

from factorymesh.inference.breaker import BreakerState, CircuitBreaker, CircuitOpen


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def failing(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        breaker.before_call()
        breaker.record_failure()


def test_opens_after_consecutive_failures_only() -> None:
    breaker = CircuitBreaker(failure_threshold=3, reset_timeout_s=1, clock=Clock())
    failing(breaker, 2)
    breaker.before_call()
    breaker.record_success()  # a success in between resets the count
    failing(breaker, 2)
    assert breaker.state is BreakerState.CLOSED
    failing(breaker, 1)
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(CircuitOpen) as raised:
        breaker.before_call()
    assert raised.value.retry_after_s == pytest.approx(1.0)


def test_half_open_lets_one_probe_through_and_success_closes() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, reset_timeout_s=1, clock=clock)
    failing(breaker, 1)
    clock.now = 1.0
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.before_call()  # the probe
    with pytest.raises(CircuitOpen):
        breaker.before_call()  # a second caller while the probe is out
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    breaker.before_call()


def test_a_failed_probe_reopens_for_twice_as_long_capped() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, reset_timeout_s=1, max_reset_timeout_s=3, clock=clock)
    failing(breaker, 1)
    periods = []
    for _ in range(4):
        start = clock.now
        while breaker.state is BreakerState.OPEN:
            clock.now += 0.25
        periods.append(clock.now - start)
        failing(breaker, 1)  # the probe fails
    assert periods == [1.0, 2.0, 3.0, 3.0]
    assert breaker.opened_count == 5


def test_after_closing_the_next_outage_starts_with_the_short_period_again() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, reset_timeout_s=1, max_reset_timeout_s=8, clock=clock)
    failing(breaker, 1)
    clock.now += 1
    failing(breaker, 1)  # probe fails: 2 s
    clock.now += 2
    breaker.before_call()
    breaker.record_success()
    failing(breaker, 1)
    assert breaker.retry_after_s == pytest.approx(1.0)


def test_release_frees_the_probe_without_a_verdict() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, reset_timeout_s=1, clock=clock)
    failing(breaker, 1)
    clock.now = 5
    breaker.before_call()
    breaker.release()  # e.g. the model rejected the input: says nothing about the server
    breaker.before_call()
    assert breaker.state is BreakerState.HALF_OPEN


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="failure_threshold"):
        CircuitBreaker(failure_threshold=0)
