"""Flow control for the ingest API: per-source token buckets and in-flight windows.

:class:`RateLimiter` answers "may this source send ``cost`` more readings now?" with a
token bucket per source (the authenticated principal, else the peer host). Costs are
*readings*, not messages: one columnar batch of 10,000 readings must weigh what 10,000
single readings weigh, or batching would be a way around the limit.

:class:`InFlightWindow` bounds how much one ``StreamIngest`` call has handed to Kafka
and not yet seen acknowledged (messages and readings). When it is full the servicer
stops reading from the stream, so HTTP/2 flow control pushes back on the client
instead of the server buffering without bound.

Both are plain asyncio objects for one event loop; nothing here is thread-safe.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["InFlightWindow", "RateLimiter"]

_EPSILON = 1e-9


@dataclass
class _Bucket:
    tokens: float
    updated_at: float


class RateLimiter:
    """A token bucket per source: ``rate_per_s`` tokens a second, at most ``burst`` stored.

    A request costing more than ``burst`` is admitted once the bucket is full and leaves
    it in debt (negative tokens), so large batches are never starved and the long-run
    rate still holds: the source then waits until the debt is paid off.

    Buckets of idle sources are evicted least-recently-used beyond ``max_sources``, so a
    flood of distinct peers cannot grow memory without bound. An evicted source starts
    again with a full bucket, which is what it would have had after being idle anyway,
    unless it was evicted while in debt (a bounded leniency we accept).
    """

    def __init__(
        self,
        rate_per_s: float,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_sources: int = 10_000,
    ) -> None:
        if not (rate_per_s > 0 and math.isfinite(rate_per_s)):
            raise ValueError("rate_per_s must be a positive finite number")
        burst = rate_per_s if burst is None else burst
        if not (burst > 0 and math.isfinite(burst)):
            raise ValueError("burst must be a positive finite number")
        if max_sources < 1:
            raise ValueError("max_sources must be >= 1")
        self.rate_per_s = float(rate_per_s)
        self.burst = float(burst)
        self._clock = clock
        self._max_sources = max_sources
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def _bucket(self, source: str) -> _Bucket:
        now = self._clock()
        bucket = self._buckets.get(source)
        if bucket is None:
            bucket = _Bucket(self.burst, now)
            self._buckets[source] = bucket
            while len(self._buckets) > self._max_sources:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(source)
            # max(0, ...): a clock that steps backwards must not drain the bucket.
            elapsed = max(0.0, now - bucket.updated_at)
            bucket.tokens = min(self.burst, bucket.tokens + elapsed * self.rate_per_s)
            bucket.updated_at = now
        return bucket

    def try_acquire(self, source: str, cost: float = 1.0) -> float:
        """Take ``cost`` tokens for ``source``.

        Returns ``0.0`` when admitted (the tokens are taken), otherwise the seconds until
        the same request would be admitted (nothing is taken): the value for ``RetryInfo``.
        """
        if cost < 0 or not math.isfinite(cost):
            raise ValueError("cost must be a finite number >= 0")
        bucket = self._bucket(source)
        needed = min(cost, self.burst)
        # The epsilon: a client that waited exactly the advertised delay must get in, not be
        # told to wait another 1e-15 s because of float rounding in the refill.
        if bucket.tokens + _EPSILON >= needed:
            bucket.tokens -= cost
            return 0.0
        return (needed - bucket.tokens) / self.rate_per_s

    def available(self, source: str) -> float:
        """Tokens ``source`` has right now (negative while in debt)."""
        return self._bucket(source).tokens

    def __len__(self) -> int:
        return len(self._buckets)


class InFlightWindow:
    """Bounds work in flight by count and by weight (readings).

    ``acquire(weight)`` waits until one more item fits under both bounds. An item heavier
    than ``max_weight`` on its own is let through when the window is empty, so a single
    oversized batch cannot wedge the stream forever. The servicer has one acquirer per
    stream (its reader), so fairness between waiters does not arise.
    """

    def __init__(self, max_items: int, max_weight: int) -> None:
        if max_items < 1 or max_weight < 1:
            raise ValueError("max_items and max_weight must be >= 1")
        self.max_items = max_items
        self.max_weight = max_weight
        self.items = 0
        self.weight = 0
        self._changed = asyncio.Condition()

    def _fits(self, weight: int) -> bool:
        if self.items == 0:
            return True
        return self.items < self.max_items and self.weight + weight <= self.max_weight

    async def acquire(self, weight: int) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self._fits(weight))
            self.items += 1
            self.weight += weight

    async def release(self, weight: int) -> None:
        async with self._changed:
            self.items -= 1
            self.weight -= weight
            self._changed.notify_all()
