"""De-duplication of readings delivered twice by their sources.

What this is for, and what it is not:

* **Not** for Kafka redelivery. A record consumed twice by ingest (a crash before the
  offset commit, a rebalance) is handled by ``TransactionalProcessor``: its outputs of the
  first attempt were never committed, so ``read_committed`` readers see them once.
* **For** the same reading sent twice by the plant: a gateway that retries a publish it
  believes failed, two redundant gateways forwarding the same PLC value, a store-and-forward
  buffer replayed after a network outage. Those are *different* Kafka records with the *same*
  reading id, and only an id memory catches them.

Guarantee: a reading whose id was accepted before is reported as a duplicate as long as
the earlier one is still remembered, i.e. it is not older than ``window_s`` behind the newest
reading time seen (the watermark) and fewer than ``max_ids`` ids were accepted since. Beyond
that it passes as new (at-least-once, never a silent drop: every duplicate the caller gets
back is dead-lettered as ``DUPLICATE``). Configure ``window_s >= max_past_s`` of the validator
to cover every reading validation lets through. Readings already older than the window when
they arrive are checked but not remembered (their duplicates cannot be caught reliably
anyway, and they must not evict recent ids). Run it *after* validation: a reading from the
year 2100 would otherwise move the watermark and expire everything.

Two memories:

* **Batches** (``SensorReadingBatch``: reading ``i`` is ``<batch id>:<i>``): the batch id is
  remembered, not 1,000 reading ids; a batch seen before is all duplicates, in O(1).
  Sources reuse a batch id only when they resend the same batch.
* **Reading ids** (single readings, UMH JSON, Sparkplug): the 64-bit ``hash()`` of each id in a
  ``set`` plus a ring buffer of (hash, time) in arrival order for expiry and eviction. Storing
  hashes instead of strings cuts memory ~2x; two different ids collide with probability
  ~n/2^64 per lookup (n remembered ids: ~5e-14 at 1M), and a collision dead-letters the
  reading as ``DUPLICATE`` (visible, replayable). ``hash()`` of ``str`` is salted per process,
  which is fine for an in-memory set. The common case — no duplicates — runs in C
  (``map(hash)``, ``set.isdisjoint``, ``set.update``); only batches that contain duplicates
  take a Python loop, and each of those duplicates becomes a dead letter anyway.

Transactions: a Kafka transaction that aborts is retried from its first record, and the ids
it recorded must be forgotten or the retry would find every reading "duplicate". Take a
:meth:`Deduplicator.mark` when a transaction starts and :meth:`Deduplicator.rollback` to it
when it aborts.

Not thread-safe; one per pipeline (per event loop).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from factorymesh.ingest.model import ReadingColumns

__all__ = ["Deduplicator", "Mark"]

_NS = 1_000_000_000
_INT64_MIN = int(np.iinfo(np.int64).min)
# Expiry scans the oldest entries in chunks; each entry is scanned O(1) times overall.
_EXPIRY_CHUNK = 4096


@dataclass(frozen=True)
class Mark:
    """A point to :meth:`Deduplicator.rollback` to (taken at the start of a transaction)."""

    reading_seq: int
    batch_seq: int


class Deduplicator:
    """Remembers reading ids (and whole batch ids) for ``window_s`` seconds of reading time."""

    def __init__(self, window_s: float, max_ids: int, *, max_batches: int | None = None) -> None:
        if window_s <= 0 or max_ids <= 0:
            raise ValueError("window_s and max_ids must be > 0")
        self.window_s = window_s
        self.max_ids = max_ids
        # A batch stands for up to ~1,000 readings; by default remember as many batches as
        # the reading-id budget would allow at 100 readings per batch.
        self.max_batches = max_batches if max_batches is not None else max(1024, max_ids // 100)
        self._window_ns = round(window_s * _NS)
        self._watermark = _INT64_MIN
        self._seen: set[int] = set()
        self._ring_hash = np.zeros(max_ids, dtype=np.int64)
        self._ring_time = np.zeros(max_ids, dtype=np.int64)
        self._head = 0  # sequence number of the oldest remembered id
        self._tail = 0  # sequence number the next id gets; entry s lives at s % max_ids
        self._batches: OrderedDict[str, tuple[int, int]] = OrderedDict()  # id -> (time_ns, seq)
        self._batch_seq = 0

    # --- public API ---------------------------------------------------------------------

    @property
    def remembered_ids(self) -> int:
        return self._tail - self._head

    @property
    def remembered_batches(self) -> int:
        return len(self._batches)

    @property
    def watermark_ns(self) -> int:
        """The newest reading time seen (ids older than ``watermark - window`` are forgotten)."""
        return self._watermark

    def filter_columns(self, columns: ReadingColumns) -> npt.NDArray[np.bool_]:
        """First-seen mask for ``columns``: by batch id when the readings came as a batch
        (``reading_ids is None``), else by reading id."""
        if columns.reading_ids is None:
            first = self.filter_batch(columns.batch_id, columns.times_ns)
            return np.full(len(columns), first, dtype=np.bool_)
        return self.filter(columns.reading_ids, columns.times_ns)

    def filter_batch(self, batch_id: str, times_ns: npt.NDArray[np.int64]) -> bool:
        """Whether batch ``batch_id`` is new (then it is remembered); O(1)."""
        self._advance(times_ns)
        if batch_id in self._batches:
            return False
        time_ns = int(times_ns.max()) if times_ns.shape[0] else self._watermark
        if time_ns >= self._cutoff():
            self._batches[batch_id] = (time_ns, self._batch_seq)
            self._batch_seq += 1
            while len(self._batches) > self.max_batches:
                self._batches.popitem(last=False)
        return True

    def filter(self, ids: Sequence[str], times_ns: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        """Mask of the readings seen for the first time (a repeated id within ``ids`` counts
        from its first occurrence); the first-seen ones are remembered."""
        n = len(ids)
        if n != times_ns.shape[0]:
            raise ValueError(f"{n} ids but {times_ns.shape[0]} times")
        if n == 0:
            return np.zeros(0, dtype=np.bool_)
        self._advance(times_ns)
        hashes = list(map(hash, ids))
        seen = self._seen
        if seen.isdisjoint(hashes) and len(set(hashes)) == n:
            mask = np.ones(n, dtype=np.bool_)
        else:
            mask = self._slow_mask(hashes)
        recent = times_ns >= self._cutoff()
        keep = mask & recent
        if keep.any():
            all_hashes = np.fromiter(hashes, dtype=np.int64, count=n)
            self._remember(all_hashes[keep], times_ns[keep])
        return mask

    def mark(self) -> Mark:
        """The current state, to roll back to if the transaction that follows aborts."""
        return Mark(self._tail, self._batch_seq)

    def rollback(self, mark: Mark) -> None:
        """Forget every id and batch remembered since ``mark``."""
        start = max(mark.reading_seq, self._head)
        if start < self._tail:
            positions = np.arange(start, self._tail) % self.max_ids
            self._seen.difference_update(self._ring_hash[positions].tolist())
            self._tail = start
        while self._batches:
            batch_id, (_, seq) = next(reversed(self._batches.items()))
            if seq < mark.batch_seq:
                break
            del self._batches[batch_id]
        self._batch_seq = mark.batch_seq

    # --- internals ----------------------------------------------------------------------

    def _cutoff(self) -> int:
        return self._watermark - self._window_ns if self._watermark != _INT64_MIN else _INT64_MIN

    def _advance(self, times_ns: npt.NDArray[np.int64]) -> None:
        if times_ns.shape[0] == 0:
            return
        newest = int(times_ns.max())
        if newest <= self._watermark:
            return
        self._watermark = newest
        self._expire(self._cutoff())

    def _expire(self, cutoff: int) -> None:
        # Reading ids: drop the oldest-arrived entries while they are older than the cutoff.
        # Arrival order is not time order (late data), so a late entry behind a newer one
        # lives until the newer one expires: remembering longer is the safe direction.
        while self._head < self._tail:
            count = min(self._tail - self._head, _EXPIRY_CHUNK)
            positions = np.arange(self._head, self._head + count) % self.max_ids
            expired = self._ring_time[positions] < cutoff
            stop = count if bool(expired.all()) else int(np.argmin(expired))
            if stop:
                self._seen.difference_update(self._ring_hash[positions[:stop]].tolist())
                self._head += stop
            if stop < count:
                break
        batches = self._batches
        while batches:
            oldest_time_ns = next(iter(batches.values()))[0]
            if oldest_time_ns >= cutoff:
                break
            batches.popitem(last=False)

    def _slow_mask(self, hashes: list[int]) -> npt.NDArray[np.bool_]:
        seen = self._seen
        local: set[int] = set()
        mask = np.empty(len(hashes), dtype=np.bool_)
        for i, h in enumerate(hashes):
            first = h not in seen and h not in local
            mask[i] = first
            if first:
                local.add(h)
        return mask

    def _remember(self, hashes: npt.NDArray[np.int64], times_ns: npt.NDArray[np.int64]) -> None:
        cap = self.max_ids
        if hashes.shape[0] > cap:  # more new ids than the whole budget: keep the last ones
            hashes, times_ns = hashes[-cap:], times_ns[-cap:]
        k = hashes.shape[0]
        overflow = self._tail - self._head + k - cap
        if overflow > 0:  # bounded memory: evict the oldest-arrived ids first
            positions = np.arange(self._head, self._head + overflow) % cap
            self._seen.difference_update(self._ring_hash[positions].tolist())
            self._head += overflow
        positions = np.arange(self._tail, self._tail + k) % cap
        self._ring_hash[positions] = hashes
        self._ring_time[positions] = times_ns
        self._tail += k
        self._seen.update(hashes.tolist())
