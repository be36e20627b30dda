"""Event-time windows of one equipment: assignment, the watermark, the late rule, closing.

Windows are aligned to the Unix epoch: a window spec (``size``, ``step``) has the
windows ``[k*step, k*step + size)`` for every integer ``k``; tumbling windows
have ``step == size``. ``size`` must be a multiple of ``step``, so a reading in
step slot ``k = floor(t / step)`` belongs to exactly ``J = size / step`` windows,
ending at ``(k+1)*step, ..., (k+J)*step``.

**Watermark and late rule.** Readings of one equipment are taken in log order
(record offset, then position inside a batch). Before reading ``i`` the
watermark is ``W = max(source time of every earlier reading of the equipment)
- allowed_lateness``. A window is *closed* once ``W >= window end``; it is then
emitted exactly once and never amended. Reading ``i`` is added to each of its
windows that is still open and skipped for the ones already closed; it counts as
*late* (metric ``late_readings``, per window kind) when it missed at least one of
its windows, and it leaves windowing altogether when it missed all of them (it
stays on the normalized topic). Because ``W`` is a running maximum over the
readings themselves, the outcome depends only on the order of the log, not on
how records were polled or batched: a replay computes the same windows.

The watermark is per equipment (not per partition) so that a gateway replaying
its store-and-forward buffer after an outage does not see all its readings
dropped because another equipment on the same partition is live. The price is
that an equipment that stops sending never advances its own watermark; the
processor closes such windows after an idle timeout (:meth:`EquipmentWindows.close`
with ``force``).

Per batch, readings are first reduced to (tag, slot, windows-missed) groups with
numpy; only those few groups are expanded to their ``J`` windows and merged into
the open window rows, so a hopping window costs J small group rows, not J copies
of every reading.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from factorymesh.api.telemetry.v1 import feature_window_pb2
from factorymesh.features.stats import F64, I32, I64, NO_TIME, NS_PER_S, Bools, Index, Moments, combine
from factorymesh.features.stats import reduce_readings as _reduce_readings

TUMBLING = feature_window_pb2.WindowKind.WINDOW_KIND_TUMBLING
HOPPING = feature_window_pb2.WindowKind.WINDOW_KIND_HOPPING


@dataclass(frozen=True)
class WindowSpec:
    """One window definition: kind, size and step (hop) in nanoseconds."""

    kind: int
    size_ns: int
    step_ns: int

    def __post_init__(self) -> None:
        if self.size_ns <= 0 or self.step_ns <= 0:
            raise ValueError(f"window size and step must be positive: {self}")
        if self.size_ns % self.step_ns:
            raise ValueError(f"window size must be a multiple of its step: {self}")
        if self.kind == TUMBLING and self.step_ns != self.size_ns:
            raise ValueError(f"a tumbling window's step is its size: {self}")
        if self.kind == HOPPING and self.step_ns >= self.size_ns:
            raise ValueError(f"a hopping window's step must be smaller than its size: {self}")
        if self.kind not in (TUMBLING, HOPPING):
            raise ValueError(f"unknown window kind {self.kind}")

    @classmethod
    def tumbling(cls, size_s: float) -> WindowSpec:
        size = round(size_s * NS_PER_S)
        return cls(TUMBLING, size, size)

    @classmethod
    def hopping(cls, size_s: float, step_s: float) -> WindowSpec:
        return cls(HOPPING, round(size_s * NS_PER_S), round(step_s * NS_PER_S))

    @property
    def windows_per_reading(self) -> int:
        return self.size_ns // self.step_ns

    @property
    def kind_name(self) -> str:
        return "tumbling" if self.kind == TUMBLING else "hopping"

    def missed(self, times_ns: I64, watermark_ns: I64 | int) -> tuple[I64, I64]:
        """Per reading: its step slot ``k`` and how many of its windows are closed at ``watermark_ns``.

        The windows of slot ``k`` end at ``(k+1)*step .. (k+J)*step``; those with
        ``end <= W`` are closed, i.e. ``clip(floor(W/step) - k, 0, J)`` of them,
        and they are always the earliest-ending ones.
        """
        k = times_ns // self.step_ns
        missed = np.clip(np.asarray(watermark_ns) // self.step_ns - k, 0, self.windows_per_reading)
        return k, missed.astype(np.int64)

    def window_starts(self, time_ns: int) -> list[int]:
        """The starts of every window containing ``time_ns`` (a reference for tests and docs)."""
        k = time_ns // self.step_ns
        return [(k - j) * self.step_ns for j in range(self.windows_per_reading - 1, -1, -1)]


def dense_groups(key: I64) -> tuple[Index, I64]:
    """Dense group ids ``0..G-1`` for integer keys, and the sorted distinct keys.

    A bincount over the key range when it is small (the usual case: a batch spans
    a few slots of a few tags), else ``np.unique`` (a sort).
    """
    if key.size == 0:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.int64)
    lo = int(key.min())
    span = int(key.max()) - lo + 1
    if span <= 8 * key.size + 4096:
        shifted = key - lo
        present = np.flatnonzero(np.bincount(shifted, minlength=span))
        remap = np.empty(span, dtype=np.intp)
        remap[present] = np.arange(present.size)
        return remap[shifted], (present + lo).astype(np.int64)
    uniq, inverse = np.unique(key, return_inverse=True)
    return inverse.astype(np.intp), uniq.astype(np.int64)


@dataclass
class Columns:
    """Readings of one equipment in log order; ``tag`` indexes :attr:`EquipmentWindows.tags`."""

    tag: Index
    times_ns: I64
    values: F64
    valid: Bools
    ctx: I32

    def __len__(self) -> int:
        return int(self.times_ns.shape[0])

    @staticmethod
    def concat(parts: list[Columns]) -> Columns:
        return Columns(
            tag=np.concatenate([p.tag for p in parts]).astype(np.intp),
            times_ns=np.concatenate([p.times_ns for p in parts]).astype(np.int64),
            values=np.concatenate([p.values for p in parts]).astype(np.float64),
            valid=np.concatenate([p.valid for p in parts]).astype(np.bool_),
            ctx=np.concatenate([p.ctx for p in parts]).astype(np.int32),
        )


@dataclass
class UpdateResult:
    """What one :meth:`EquipmentWindows.update` did with its readings."""

    readings: int = 0
    # Per window spec (same order as the specs): readings that missed >= 1 of their windows.
    late: list[int] = field(default_factory=list)
    # Readings that missed every window of every spec (out of windowing entirely).
    dropped: int = 0


@dataclass
class ClosedWindows:
    """Windows ready to emit, one row each, ordered by end then tag."""

    spec: npt.NDArray[np.int8]
    tag: Index
    start_ns: I64
    moments: Moments

    def __len__(self) -> int:
        return int(self.start_ns.shape[0])


class EquipmentWindows:
    """The open windows of one equipment (every tag, every window spec) and its watermark.

    Everything here is persisted in the state changelog (see ``codec``): the
    rows' sufficient statistics, ``max_time_ns`` (the watermark before lateness),
    and the small dictionaries the rows refer to (tags, their SI units, production
    contexts), so a restarted processor continues exactly where the last committed
    transaction left it.
    """

    def __init__(self, key: str, specs: tuple[WindowSpec, ...], lateness_ns: int) -> None:
        self.key = key
        self.specs = specs
        self.lateness_ns = lateness_ns
        self.max_time_ns: int = NO_TIME
        self.equipment_class = ""
        self.tags: list[str] = []
        self._tag_ids: dict[str, int] = {}
        # Serialized EngineeringUnit per tag id (the latest one seen) and production
        # contexts (serialized ProductionContext) referenced by Moments.ctx.
        self.units: dict[int, bytes] = {}
        self.contexts: list[bytes] = []
        self._context_ids: dict[bytes, int] = {}
        self.row_spec = np.zeros(0, dtype=np.int8)
        self.row_tag = np.zeros(0, dtype=np.intp)
        self.row_start = np.zeros(0, dtype=np.int64)
        self.moments = Moments.empty()
        self._rows: dict[tuple[int, int, int], int] = {}
        self._size_of_spec = np.array([s.size_ns for s in specs], dtype=np.int64)

    # ------------------------------------------------------------------ dictionaries

    def tag_id(self, tag: str) -> int:
        found = self._tag_ids.get(tag)
        if found is None:
            found = self._tag_ids[tag] = len(self.tags)
            self.tags.append(tag)
        return found

    def context_id(self, context: bytes) -> int:
        """Id of a serialized ProductionContext; -1 for "no context"."""
        if not context:
            return -1
        found = self._context_ids.get(context)
        if found is None:
            found = self._context_ids[context] = len(self.contexts)
            self.contexts.append(context)
        return found

    @property
    def watermark_ns(self) -> int:
        return self.max_time_ns - self.lateness_ns

    @property
    def open_windows(self) -> int:
        return len(self.row_start)

    # ------------------------------------------------------------------ update

    def update(self, cols: Columns) -> UpdateResult:
        """Add readings (in log order) to their open windows; see the module doc for the late rule."""
        result = UpdateResult(readings=len(cols), late=[0] * len(self.specs))
        if len(cols) == 0:
            return result
        times = cols.times_ns
        # Watermark before each reading: the running max of everything before it.
        before = np.empty_like(times)
        before[0] = self.max_time_ns
        if times.size > 1:
            np.maximum(np.maximum.accumulate(times[:-1]), self.max_time_ns, out=before[1:])
        watermark = before - self.lateness_ns
        dropped = np.ones(times.size, dtype=np.bool_)
        for spec_idx, spec in enumerate(self.specs):
            k, missed = spec.missed(times, watermark)
            result.late[spec_idx] = int(np.count_nonzero(missed))
            keep = missed < spec.windows_per_reading
            dropped &= ~keep
            if keep.any():
                self._add(spec_idx, spec, cols, keep, k[keep], missed[keep])
        result.dropped = int(np.count_nonzero(dropped))
        self.max_time_ns = max(self.max_time_ns, int(times.max()))
        return result

    def _add(self, spec_idx: int, spec: WindowSpec, cols: Columns, keep: Bools, k: I64, missed: I64) -> None:
        step = spec.step_ns
        per = spec.windows_per_reading
        tags = cols.tag[keep].astype(np.int64)
        times = cols.times_ns[keep]
        k0 = int(k.min())
        k_span = int(k.max()) - k0 + 1
        # One group per (tag, slot, windows missed): readings that missed a different
        # number of windows feed different window sets.
        group, keys = dense_groups((tags * k_span + (k - k0)) * (per + 1) + missed)
        g_missed = keys % (per + 1)
        rest = keys // (per + 1)
        g_slot = rest % k_span + k0
        g_tag = rest // k_span
        parts = _reduce_readings(
            group,
            keys.size,
            cols.values[keep],
            cols.valid[keep],
            (times - k * step).astype(np.float64) / NS_PER_S,
            times,
            cols.ctx[keep],
        )
        # Expand every group to its open windows j = 0 .. J-missed-1 (window start (k-j)*step).
        reps = per - g_missed
        entry_group = np.repeat(np.arange(keys.size), reps)
        j = np.arange(entry_group.size) - np.repeat(np.cumsum(reps) - reps, reps)
        entry_start = (g_slot[entry_group] - j) * step
        entry_tag = g_tag[entry_group]
        # A part's time origin is its slot start k*step; the window's is (k-j)*step.
        entry_shift = j.astype(np.float64) * (step / NS_PER_S)
        s0 = int(entry_start.min())
        s_span = (int(entry_start.max()) - s0) // step + 1
        window_of_entry, window_keys = dense_groups(entry_tag * s_span + (entry_start - s0) // step)
        w_tag = window_keys // s_span
        w_start = (window_keys % s_span) * step + s0
        rows = self._rows_for(spec_idx, w_tag, w_start)
        n_windows = window_keys.size
        merged = combine(
            Moments.concat([self.moments.take(rows), parts.take(entry_group)]),
            np.concatenate([np.zeros(n_windows), entry_shift]),
            np.concatenate([np.arange(n_windows), window_of_entry]).astype(np.intp),
            n_windows,
        )
        self.moments.put(rows, merged)

    def _rows_for(self, spec_idx: int, tags: I64, starts: I64) -> Index:
        """Row index of each (tag, start) window of a spec, appending empty rows for new ones."""
        rows = np.empty(tags.size, dtype=np.intp)
        new_tags: list[int] = []
        new_starts: list[int] = []
        next_row = len(self.row_start)
        # A loop over distinct windows (tags x a few slots per batch), not over readings.
        for i, (tag, start) in enumerate(zip(tags.tolist(), starts.tolist(), strict=True)):
            key = (spec_idx, tag, start)
            row = self._rows.get(key)
            if row is None:
                row = self._rows[key] = next_row
                next_row += 1
                new_tags.append(tag)
                new_starts.append(start)
            rows[i] = row
        if new_tags:
            count = len(new_tags)
            self.row_spec = np.concatenate([self.row_spec, np.full(count, spec_idx, dtype=np.int8)])
            self.row_tag = np.concatenate([self.row_tag, np.asarray(new_tags, dtype=np.intp)])
            self.row_start = np.concatenate([self.row_start, np.asarray(new_starts, dtype=np.int64)])
            self.moments = Moments.concat([self.moments, Moments.empty(count)])
        return rows

    # ------------------------------------------------------------------ close

    def window_ends(self) -> I64:
        return self.row_start + self._size_of_spec[self.row_spec]

    def close(self, force: bool = False) -> ClosedWindows:
        """Remove and return the windows whose end the watermark has reached.

        ``force`` closes every open window (the equipment went idle) and moves the
        watermark past them, so readings that arrive later for those windows are
        late instead of reopening a window that was already emitted.
        """
        ends = self.window_ends()
        ready = np.ones(ends.size, dtype=np.bool_) if force else ends <= self.watermark_ns
        if force and ends.size:
            self.max_time_ns = max(self.max_time_ns, int(ends.max()) + self.lateness_ns)
        order = np.flatnonzero(ready)
        order = order[np.lexsort((self.row_tag[order], self.row_spec[order], ends[order]))]
        closed = ClosedWindows(
            spec=self.row_spec[order],
            tag=self.row_tag[order],
            start_ns=self.row_start[order],
            moments=self.moments.take(order),
        )
        if order.size:
            self._keep_rows(~ready)
        return closed

    def _keep_rows(self, keep: Bools) -> None:
        self.row_spec = self.row_spec[keep]
        self.row_tag = self.row_tag[keep]
        self.row_start = self.row_start[keep]
        self.moments = self.moments.take(keep)
        self._reindex()

    def _reindex(self) -> None:
        self._rows = {
            (spec, tag, start): row
            for row, (spec, tag, start) in enumerate(
                zip(self.row_spec.tolist(), self.row_tag.tolist(), self.row_start.tolist(), strict=True)
            )
        }

    def context_of(self, ctx_id: int) -> bytes:
        return self.contexts[ctx_id] if 0 <= ctx_id < len(self.contexts) else b""

    def compact_contexts(self) -> None:
        """Forget production contexts no open window refers to (they accumulate over job orders)."""
        used = np.unique(self.moments.ctx[self.moments.ctx >= 0])
        if used.size == len(self.contexts):
            return
        remap = np.full(len(self.contexts) + 1, -1, dtype=np.int32)
        remap[used] = np.arange(used.size, dtype=np.int32)
        self.contexts = [self.contexts[i] for i in used.tolist()]
        self._context_ids = {ctx: i for i, ctx in enumerate(self.contexts)}
        self.moments.ctx = np.where(self.moments.ctx >= 0, remap[self.moments.ctx], -1).astype(np.int32)

    # ------------------------------------------------------------------ restore

    def load_rows(self, spec: npt.NDArray[np.int8], tag: Index, start: I64, moments: Moments) -> None:
        """Replace the open windows (used when restoring a snapshot)."""
        self.row_spec = spec.astype(np.int8)
        self.row_tag = tag.astype(np.intp)
        self.row_start = start.astype(np.int64)
        self.moments = moments
        self._reindex()

    def set_tags(self, tags: list[str]) -> None:
        self.tags = list(tags)
        self._tag_ids = {tag: i for i, tag in enumerate(self.tags)}

    def set_contexts(self, contexts: list[bytes]) -> None:
        self.contexts = list(contexts)
        self._context_ids = {ctx: i for i, ctx in enumerate(self.contexts)}
