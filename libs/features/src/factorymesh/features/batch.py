"""Feature windows over a whole recording at once (training data, backfills).

Ingest computes windows incrementally from a stream; training needs the same
windows from a file. This module cuts them exactly as ingest does:

* windows ``[k*step, k*step + size)`` aligned to the Unix epoch (``k`` integer,
  ``size`` a multiple of ``step``; tumbling: ``step == size``), so a reading at
  ``t`` lies in step slot ``floor(t / step)`` and in the ``size / step`` windows
  that end at ``(slot+1)*step ... (slot+J)*step``;
* readings are reduced per (series, slot) with :func:`reduce_readings` (times in
  seconds from the slot start), every slot part is expanded to its windows and
  merged with :func:`combine` (shift = slot start - window start), then
  :func:`finalize` gives the ``FeatureWindow`` statistics.

That is the computation of ``EquipmentWindows.update`` + ``close`` for a stream
that arrives in order (nothing late), with the parts in the same order, so the
results are the same numbers (a unit test in the inference service checks them
against ingest itself). What batch mode cannot know is the streaming
context: readings ingest dead-letters (hard validation failures) or drops as
late never reach a window there; give this function only the readings that
would reach the normalized topic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from factorymesh.features.stats import (
    F64,
    I32,
    I64,
    NS_PER_S,
    Bools,
    Features,
    Index,
    combine,
    finalize,
    reduce_readings,
)


@dataclass(frozen=True)
class WindowedFeatures:
    """One row per (series, window) that received at least one reading, ordered by series then start."""

    series: Index
    start_ns: I64
    size_ns: int
    step_ns: int
    features: Features

    def __len__(self) -> int:
        return int(self.start_ns.shape[0])


def window_features(
    series: Index | I64,
    times_ns: I64,
    values: F64,
    valid: Bools,
    *,
    size_ns: int,
    step_ns: int,
    expected_rate_hz: F64 | None = None,
) -> WindowedFeatures:
    """Statistics of every window of every series (e.g. one series per equipment and tag).

    ``series`` are integer ids ``>= 0``; ``valid`` marks readings that enter the
    statistics (GOOD quality and a finite value, as in ingest); every reading counts
    in the window's total. ``expected_rate_hz[s]`` is series ``s``'s nominal sample
    rate (0 = unknown): ``valid_fraction`` is then ``count / (size x rate)`` capped
    at 1, as ingest computes it with a tag registry that knows the rate; without it,
    ``count / total``. Give each series' readings in time order for results that
    are identical to ingest's to the last bit; any order gives the same values up to
    rounding.
    """
    if size_ns <= 0 or step_ns <= 0 or size_ns % step_ns:
        raise ValueError(f"window size must be a positive multiple of a positive step: {size_ns=} {step_ns=}")
    series = np.asarray(series, dtype=np.int64)
    times_ns = np.asarray(times_ns, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64)
    valid = np.asarray(valid, dtype=np.bool_) & np.isfinite(values)
    if not (series.shape == times_ns.shape == values.shape == valid.shape):
        raise ValueError("series, times_ns, values and valid must have the same length")
    if series.size and int(series.min()) < 0:
        raise ValueError("series ids must be >= 0")
    per = size_ns // step_ns
    if series.size == 0:
        empty = finalize(reduce_readings(*_no_readings()))
        return WindowedFeatures(np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.int64), size_ns, step_ns, empty)

    # 1. One part per (series, step slot): readings reduced with times relative to the slot start.
    slot = times_ns // step_ns  # floor division: correct for times before the epoch too
    k0 = int(slot.min())
    k_span = int(slot.max()) - k0 + 1
    keys, group = np.unique(series * k_span + (slot - k0), return_inverse=True)
    group = group.astype(np.intp)
    g_series = keys // k_span
    g_slot = keys % k_span + k0
    parts = reduce_readings(
        group,
        int(keys.size),
        values,
        valid,
        (times_ns - slot * step_ns).astype(np.float64) / NS_PER_S,
        times_ns,
        np.full(times_ns.size, -1, dtype=np.int32),
    )

    # 2. Every part feeds the J windows that contain its slot; entries are ordered by part,
    #    then j, as ingest orders them, so a window sums its parts in the same order.
    entry_part = np.repeat(np.arange(keys.size), per)
    j = np.tile(np.arange(per, dtype=np.int64), keys.size)
    entry_start = (g_slot[entry_part] - j) * step_ns
    entry_series = g_series[entry_part]
    s0 = int(entry_start.min())
    s_span = (int(entry_start.max()) - s0) // step_ns + 1
    w_keys, window_of_entry = np.unique(entry_series * s_span + (entry_start - s0) // step_ns, return_inverse=True)
    merged = combine(
        parts.take(entry_part),
        j.astype(np.float64) * (step_ns / NS_PER_S),
        window_of_entry.astype(np.intp),
        int(w_keys.size),
    )
    w_series = (w_keys // s_span).astype(np.intp)
    w_start = (w_keys % s_span) * step_ns + s0

    expected = None
    if expected_rate_hz is not None:
        rates = np.asarray(expected_rate_hz, dtype=np.float64)
        expected = (size_ns / NS_PER_S) * rates[w_series]
    return WindowedFeatures(w_series, w_start.astype(np.int64), size_ns, step_ns, finalize(merged, expected))


def _no_readings() -> tuple[Index, int, F64, Bools, F64, I64, I32]:
    return (
        np.zeros(0, dtype=np.intp),
        0,
        np.zeros(0),
        np.zeros(0, dtype=np.bool_),
        np.zeros(0),
        np.zeros(0, dtype=np.int64),
        np.zeros(0, dtype=np.int32),
    )
