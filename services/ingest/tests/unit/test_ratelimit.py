"""Token buckets per source and the in-flight window used by StreamIngest."""

from __future__ import annotations

import asyncio

import pytest

from factorymesh.ingest.ratelimit import InFlightWindow, RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refill_at_the_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(10, burst=20, clock=clock)
    assert limiter.try_acquire("a", 20) == 0.0
    # Empty bucket: 5 tokens take 0.5 s at 10/s, and nothing is taken by the refusal.
    assert limiter.try_acquire("a", 5) == pytest.approx(0.5)
    assert limiter.available("a") == pytest.approx(0.0)
    clock.now += 0.5
    assert limiter.try_acquire("a", 5) == 0.0
    clock.now += 100  # refill stops at the burst
    assert limiter.available("a") == pytest.approx(20)


def test_sources_have_separate_buckets() -> None:
    limiter = RateLimiter(1, burst=1, clock=FakeClock())
    assert limiter.try_acquire("a") == 0.0
    assert limiter.try_acquire("a") > 0
    assert limiter.try_acquire("b") == 0.0


def test_a_request_larger_than_the_burst_is_admitted_when_full_and_leaves_debt() -> None:
    clock = FakeClock()
    limiter = RateLimiter(100, burst=100, clock=clock)
    assert limiter.try_acquire("a", 1000) == 0.0
    assert limiter.available("a") == pytest.approx(-900)
    # The long-run rate holds: paying off 900 of debt and waiting for 1 token takes 9.01 s.
    assert limiter.try_acquire("a", 1) == pytest.approx(9.01)
    clock.now += 9.01
    assert limiter.try_acquire("a", 1) == 0.0
    # A second oversized request must wait for a full bucket, not just for any token.
    assert limiter.try_acquire("a", 1000) == pytest.approx(1.0)


def test_clock_going_backwards_does_not_drain_the_bucket() -> None:
    clock = FakeClock()
    limiter = RateLimiter(10, burst=10, clock=clock)
    limiter.try_acquire("a", 5)
    clock.now -= 60
    assert limiter.available("a") == pytest.approx(5)


def test_idle_sources_are_evicted_lru_beyond_max_sources() -> None:
    limiter = RateLimiter(1, burst=1, clock=FakeClock(), max_sources=2)
    limiter.try_acquire("a")
    limiter.try_acquire("b")
    limiter.try_acquire("a")  # a is now the most recently used
    limiter.try_acquire("c")  # evicts b
    assert len(limiter) == 2
    assert limiter.try_acquire("a") > 0  # a kept its (empty) bucket
    assert limiter.try_acquire("b") == 0.0  # b starts over with a full one


@pytest.mark.parametrize(("rate", "burst"), [(0, None), (-1, None), (float("inf"), None), (1, 0), (1, float("nan"))])
def test_invalid_settings_are_refused(rate: float, burst: float | None) -> None:
    with pytest.raises(ValueError, match="must be"):
        RateLimiter(rate, burst)


def test_negative_cost_is_refused() -> None:
    with pytest.raises(ValueError, match="cost"):
        RateLimiter(1).try_acquire("a", -1)


async def test_window_bounds_items_and_weight() -> None:
    window = InFlightWindow(max_items=2, max_weight=10)
    await window.acquire(4)
    await window.acquire(4)
    third = asyncio.create_task(window.acquire(1))  # over the item bound
    await asyncio.sleep(0.01)
    assert not third.done()
    await window.release(4)
    await asyncio.wait_for(third, 1)
    assert (window.items, window.weight) == (2, 5)

    heavy = asyncio.create_task(window.acquire(7))  # 5 + 7 > 10, and still 4 + 7 > 10 below
    await window.release(1)
    await asyncio.sleep(0.01)
    assert not heavy.done()
    await window.release(4)
    await asyncio.wait_for(heavy, 1)
    assert (window.items, window.weight) == (1, 7)


async def test_window_lets_an_oversized_item_through_when_empty() -> None:
    window = InFlightWindow(max_items=4, max_weight=10)
    await asyncio.wait_for(window.acquire(50), 1)
    blocked = asyncio.create_task(window.acquire(1))
    await asyncio.sleep(0.01)
    assert not blocked.done()
    await window.release(50)
    await asyncio.wait_for(blocked, 1)
