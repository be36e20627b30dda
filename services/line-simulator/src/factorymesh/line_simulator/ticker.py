"""Rate control: tick k is due at ``start + k / rate``, on the wall clock.

A fixed schedule instead of "sleep one period after each tick" keeps the long-run
rate exact: time spent simulating and publishing is not added to the period. When
the publisher falls behind (a slow broker, a busy box) the ticker does not sleep
until it has caught up, and reports the lag; it never skips ticks, because a
missing tick would be a data gap that no ground-truth label explains. Without
``realtime`` it does not sleep at all (replays and benchmarks, as fast as possible).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from factorymesh.line_simulator.simulator import NS, period_ns


class Ticker:
    def __init__(
        self,
        rate_hz: float,
        start_ns: int,
        *,
        realtime: bool = True,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.period_ns = period_ns(rate_hz)
        self.start_ns = start_ns
        self.realtime = realtime
        self.clock_ns = clock_ns
        self.lag_s = 0.0

    def due_ns(self, k: int) -> int:
        return self.start_ns + k * self.period_ns

    async def wait(self, k: int, stop: asyncio.Event) -> bool:
        """Sleep until tick ``k`` is due. False when ``stop`` was set first."""
        if stop.is_set():
            return False
        if not self.realtime:
            return True
        delay_s = (self.due_ns(k) - self.clock_ns()) / NS
        self.lag_s = max(0.0, -delay_s)
        if delay_s <= 0:
            await asyncio.sleep(0)  # let signal handlers and the producer run even when behind
            return not stop.is_set()
        try:
            await asyncio.wait_for(stop.wait(), timeout=delay_s)
        except TimeoutError:
            return True
        return False
