"""Model inputs from readings: one row per (equipment, window), labelled from the ground truth.

Statistics come from :func:`factorymesh.features.window_features`, the computation
ingest streams (same slots, same merge, epoch-aligned ``[k*hop, k*hop + size)``
windows). A row joins the windows of every tag of the equipment that share a start;
a tag without a window there (it sent nothing) leaves NaN in its columns, which the
model reads as "missing" (its ``valid_fraction`` as 0), as it will when served.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from factorymesh.features import window_features
from factorymesh.inference.modeling.catalog import ModelSpec
from factorymesh.inference.train.dataset import Dataset, DatasetError, Labels

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]


@dataclass
class WindowTable:
    """Rows of one model's input, with their labels."""

    spec: ModelSpec
    equipment: list[str]  # names, indexed by ``eq``
    eq: I64
    start_ns: I64
    end_ns: I64
    x: F64  # [rows, features], raw SI statistics, NaN = missing
    anomalous: Bools  # any fault active (or machine down) at any tick of the window
    down: Bools  # the machine was down (failed, under repair) at some tick of the window
    rul_s: F64  # remaining useful life at the window's last tick; NaN: no failure developing
    tool_wear_mm: F64  # highest true flank wear in the window (spindles); NaN elsewhere

    def __len__(self) -> int:
        return int(self.start_ns.shape[0])

    def take(self, mask: Bools) -> WindowTable:
        return WindowTable(
            spec=self.spec,
            equipment=self.equipment,
            eq=self.eq[mask],
            start_ns=self.start_ns[mask],
            end_ns=self.end_ns[mask],
            x=self.x[mask],
            anomalous=self.anomalous[mask],
            down=self.down[mask],
            rul_s=self.rul_s[mask],
            tool_wear_mm=self.tool_wear_mm[mask],
        )


def feature_table(data: Dataset, spec: ModelSpec, expected_rate_hz: float | None = None) -> WindowTable:
    """Every complete window of every equipment of ``spec.equipment_class`` that has labels."""
    r = data.readings
    class_eq = [i for i, cls in enumerate(r.equipment_class) if cls == spec.equipment_class]
    if not class_eq:
        raise DatasetError(f"the dataset has no {spec.equipment_class} equipment")
    missing = [t for t in spec.tags if t not in r.tags]
    if missing:
        raise DatasetError(f"the dataset has no readings of {missing} ({spec.equipment_class})")
    tag_pos = np.full(len(r.tags), -1, dtype=np.int64)
    tag_pos[[r.tags.index(t) for t in spec.tags]] = np.arange(len(spec.tags))
    in_class = np.zeros(len(r.equipment), dtype=np.bool_)
    in_class[class_eq] = True
    keep = in_class[r.eq] & (tag_pos[r.tag] >= 0)
    n_tags = len(spec.tags)
    series = r.eq[keep] * n_tags + tag_pos[r.tag[keep]]
    times = r.times_ns[keep]
    rates = None
    if expected_rate_hz:
        rates = np.full(len(r.equipment) * n_tags, float(expected_rate_hz))
    windows = window_features(
        series,
        times,
        r.values[keep],
        r.valid[keep],
        size_ns=spec.window.size_ns,
        step_ns=spec.window.hop_ns,
        expected_rate_hz=rates,
    )

    # Pivot (series, start) rows into (equipment, start) x (tag, stat) columns.
    w_eq = windows.series // n_tags
    w_tag = windows.series % n_tags
    row_keys, row_of = np.unique(np.stack([w_eq, windows.start_ns]), axis=1, return_inverse=True)
    row_of = row_of.reshape(-1)
    n_stats = len(spec.stats)
    x = np.full((row_keys.shape[1], n_tags * n_stats), np.nan)
    for s, stat in enumerate(spec.stats):
        x[row_of, w_tag * n_stats + s] = getattr(windows.features, stat)
    eq = row_keys[0].astype(np.int64)
    start = row_keys[1].astype(np.int64)
    end = start + spec.window.size_ns

    # Only windows the recording covers completely: a window cut by the start or end of a
    # file has fewer readings than any window in service.
    period = r.sample_period_ns()
    complete = (start >= int(times.min())) & (end <= int(times.max()) + period)
    table = _label(data.labels, r.equipment, spec, eq, start, end, x)
    return table.take(complete & _labelled(data.labels, r.equipment, eq, start, end))


def _per_equipment(labels: Labels, names: list[str]) -> dict[int, tuple[I64, npt.NDArray[np.intp]]]:
    """Equipment id (readings numbering) -> (sorted label times, label row indices)."""
    out = {}
    for i, name in enumerate(names):
        if name not in labels.equipment:
            continue
        rows = np.flatnonzero(labels.eq == labels.equipment.index(name))
        rows = rows[np.argsort(labels.times_ns[rows], kind="stable")]
        out[i] = (labels.times_ns[rows], rows)
    return out


def _labelled(labels: Labels, names: list[str], eq: I64, start: I64, end: I64) -> Bools:
    ok = np.zeros(eq.shape[0], dtype=np.bool_)
    for e, (times, _) in _per_equipment(labels, names).items():
        mine = eq == e
        ok[mine] = np.searchsorted(times, end[mine], "left") > np.searchsorted(times, start[mine], "left")
    return ok


def _label(labels: Labels, names: list[str], spec: ModelSpec, eq: I64, start: I64, end: I64, x: F64) -> WindowTable:
    n = eq.shape[0]
    anomalous = np.zeros(n, dtype=np.bool_)
    down = np.zeros(n, dtype=np.bool_)
    rul = np.full(n, np.nan)
    wear = np.full(n, np.nan)
    for e, (times, rows) in _per_equipment(labels, names).items():
        mine = np.flatnonzero(eq == e)
        lo = np.searchsorted(times, start[mine], "left")
        hi = np.searchsorted(times, end[mine], "left")
        has = hi > lo
        # Counts over [lo, hi) from cumulative sums: "any tick in the window".
        for flags, out in ((labels.anomalous[rows], anomalous), (labels.down[rows], down)):
            cum = np.concatenate([[0], np.cumsum(flags)])
            out[mine] = has & (cum[hi] > cum[lo])
        last = np.clip(hi - 1, 0, max(times.size - 1, 0))
        if times.size:
            rul[mine] = np.where(has, labels.rul_s[rows][last], np.nan)
            wear_rows = labels.tool_wear_mm[rows]
            if np.isfinite(wear_rows).any():
                # Highest wear in the window: windows are short against a tool's life, and
                # a tool change inside a window leaves the worn tool's parts in it.
                filled = np.where(np.isfinite(wear_rows), wear_rows, -np.inf)
                wear[mine] = [
                    float(filled[a:b].max()) if b > a else np.nan for a, b in zip(lo.tolist(), hi.tolist(), strict=True)
                ]
                wear[mine] = np.where(np.isfinite(wear[mine]), wear[mine], np.nan)
    return WindowTable(
        spec=spec,
        equipment=names,
        eq=eq,
        start_ns=start,
        end_ns=end,
        x=x,
        anomalous=anomalous,
        down=down,
        rul_s=rul,
        tool_wear_mm=wear,
    )


@dataclass(frozen=True)
class Split:
    """Train / held-out by time. ``fit`` and ``validation`` partition the training period."""

    validation_start_ns: int
    holdout_start_ns: int

    def masks(self, table: WindowTable) -> tuple[Bools, Bools, Bools]:
        """(fit, validation, holdout): a window straddling a cut belongs to neither side (no leakage)."""
        fit = table.end_ns <= self.validation_start_ns
        validation = (table.start_ns >= self.validation_start_ns) & (table.end_ns <= self.holdout_start_ns)
        holdout = table.start_ns >= self.holdout_start_ns
        return fit, validation, holdout


def time_split(data: Dataset, holdout_fraction: float, validation_fraction: float, align_ns: int) -> Split:
    """Cut the recording's time span: the last ``holdout_fraction`` is held out; the last
    ``validation_fraction`` of what remains tunes thresholds. Cuts are aligned to
    ``align_ns`` (the largest window), so every model of a run shares them."""
    if not 0.0 < holdout_fraction < 1.0 or not 0.0 <= validation_fraction < 1.0:
        raise ValueError("holdout_fraction must be in (0, 1) and validation_fraction in [0, 1)")
    t0 = int(data.readings.times_ns.min())
    t1 = int(data.readings.times_ns.max())
    holdout = t0 + round((t1 - t0) * (1.0 - holdout_fraction))
    holdout -= holdout % align_ns
    validation = t0 + round((holdout - t0) * (1.0 - validation_fraction))
    validation -= validation % align_ns
    return Split(validation, holdout)
