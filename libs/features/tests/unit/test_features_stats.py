"""The vectorized statistics core against plain reference formulas (math.fsum, no numpy reductions)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from factorymesh.features.stats import Moments, combine, finalize, reduce_readings

# Numeric warnings (overflow, 0/0) would mean a NaN or inf was computed somewhere: fail on them.
pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")


def reference(values: list[float], times_s: list[float], valid: list[bool]) -> dict[str, float | None]:
    """Textbook population formulas, two-pass with exactly rounded sums (math.fsum)."""
    x = [v for v, ok in zip(values, valid, strict=True) if ok]
    t = [s for s, ok in zip(times_s, valid, strict=True) if ok]
    n = len(x)
    out: dict[str, float | None] = {"count": n, "valid_fraction": n / len(values) if values else 0.0}
    if n == 0:
        return out
    mean = math.fsum(x) / n
    d = [v - mean for v in x]
    m2 = math.fsum(e * e for e in d) / n
    m3 = math.fsum(e**3 for e in d) / n
    m4 = math.fsum(e**4 for e in d) / n
    constant = min(x) == max(x)
    out.update(
        mean=mean,
        std=0.0 if constant else math.sqrt(m2),
        min=min(x),
        max=max(x),
        rms=math.sqrt(math.fsum(v * v for v in x) / n),
        kurtosis=None if constant or n < 4 else m4 / (m2 * m2),
        skewness=None if constant or n < 3 else m3 / m2**1.5,
    )
    t_mean = math.fsum(t) / n
    stt = math.fsum((s - t_mean) ** 2 for s in t)
    out["slope"] = None if n < 2 or stt == 0 else math.fsum((s - t_mean) * e for s, e in zip(t, d, strict=True)) / stt
    return out


def one_group(values: list[float], times_s: list[float], valid: list[bool]) -> Moments:
    size = len(values)
    times = np.asarray(times_s, dtype=np.float64)
    return reduce_readings(
        np.zeros(size, dtype=np.intp),
        1,
        np.asarray(values, dtype=np.float64),
        np.asarray(valid, dtype=np.bool_),
        times,
        (times * 1e9).astype(np.int64),
        np.arange(size, dtype=np.int32),
    )


def assert_matches(m: Moments, ref: dict[str, float | None], rtol: float = 1e-9, scale: float = 1.0) -> None:
    f = finalize(m)
    assert int(f.count[0]) == ref["count"]
    assert f.valid_fraction[0] == pytest.approx(ref["valid_fraction"], rel=1e-12)
    if ref["count"] == 0:
        assert f.mean[0] == 0.0
        assert f.std[0] == 0.0
        return
    # Absolute floors: a statistic is compared relative to the data's spread / size, since
    # rounding in x itself (|x| up to 1e5) bounds what any float64 method can reach.
    assert f.mean[0] == pytest.approx(ref["mean"], rel=rtol, abs=1e-12 * scale)
    assert f.std[0] == pytest.approx(ref["std"], rel=1e-7, abs=1e-9 * scale)
    assert f.min[0] == ref["min"]
    assert f.max[0] == ref["max"]
    assert f.rms[0] == pytest.approx(ref["rms"], rel=1e-9)
    assert f.peak_to_peak[0] == ref["max"] - ref["min"]  # type: ignore[operator]
    for name in ("kurtosis", "skewness", "slope"):
        got = float(getattr(f, name)[0])
        want = ref[name]
        if want is None:
            assert math.isnan(got), name
        else:
            assert got == pytest.approx(want, rel=1e-6, abs=1e-6 * (1 + abs(want))), name


offsets = st.sampled_from([0.0, 1e5, -2.5e3, 1e-3])
scales = st.sampled_from([1e-3, 1.0, 1e3])


@st.composite
def samples(draw: st.DrawFn, min_size: int = 1, max_size: int = 60) -> tuple[list[float], list[float], list[bool]]:
    offset = draw(offsets)
    scale = draw(scales)
    size = draw(st.integers(min_size, max_size))
    unit = draw(st.lists(st.floats(-1.0, 1.0), min_size=size, max_size=size))
    values = [offset + scale * u for u in unit]
    # Times within a 10 s window, not necessarily ordered or distinct (ms resolution).
    times = [t / 1000 for t in draw(st.lists(st.integers(0, 9_999), min_size=size, max_size=size))]
    valid = draw(st.lists(st.sampled_from([True, True, True, False]), min_size=size, max_size=size))
    return values, times, valid


@settings(max_examples=200, deadline=None)
@given(samples())
def test_reduce_matches_reference(sample: tuple[list[float], list[float], list[bool]]) -> None:
    values, times, valid = sample
    scale = max((abs(v) for v in values), default=1.0)
    assert_matches(one_group(values, times, valid), reference(values, times, valid), scale=scale)


@settings(max_examples=200, deadline=None)
@given(samples(min_size=2, max_size=80), st.data())
def test_combining_parts_equals_reducing_all(
    sample: tuple[list[float], list[float], list[bool]], data: st.DataObject
) -> None:
    """Any split into parts, merged in any grouping, gives the statistics of the whole."""
    values, times, valid = sample
    cuts = sorted(set(data.draw(st.lists(st.integers(1, len(values) - 1), max_size=4))))
    bounds = [0, *cuts, len(values)]
    parts = [one_group(values[a:b], times[a:b], valid[a:b]) for a, b in itertools.pairwise(bounds)]
    whole = one_group(values, times, valid)
    all_at_once = combine(Moments.concat(parts), np.zeros(len(parts)), np.zeros(len(parts), dtype=np.intp), 1)
    # Left fold vs right fold: ((a+b)+c) vs (a+(b+c)).
    left = parts[0]
    for part in parts[1:]:
        left = combine(Moments.concat([left, part]), np.zeros(2), np.zeros(2, dtype=np.intp), 1)
    right = parts[-1]
    for part in reversed(parts[:-1]):
        right = combine(Moments.concat([part, right]), np.zeros(2), np.zeros(2, dtype=np.intp), 1)
    ref = reference(values, times, valid)
    scale = max((abs(v) for v in values), default=1.0)
    for merged in (all_at_once, left, right):
        assert_matches(merged, ref, scale=scale)
        assert merged.total[0] == whole.total[0]
        assert merged.n[0] == whole.n[0]
        assert merged.last_t[0] == whole.last_t[0]


@settings(max_examples=100, deadline=None)
@given(samples(min_size=2, max_size=40), st.floats(-100.0, 100.0))
def test_time_shift_moves_the_origin_without_changing_the_slope(
    sample: tuple[list[float], list[float], list[bool]], shift: float
) -> None:
    """A part whose times are relative to another origin merges correctly once shifted."""
    values, times, valid = sample
    half = len(values) // 2
    a = one_group(values[:half], times[:half], valid[:half])
    # The second half expressed relative to an origin `shift` seconds later.
    b = one_group(values[half:], [t - shift for t in times[half:]], valid[half:])
    merged = combine(Moments.concat([a, b]), np.array([0.0, shift]), np.zeros(2, dtype=np.intp), 1)
    assert_matches(merged, reference(values, times, valid), scale=max(abs(v) for v in values))


def test_large_offset_small_variance_keeps_its_moments() -> None:
    """Values ~1e5 with std 1e-3: power sums lose everything, central moments do not."""
    rng = np.random.default_rng(42)
    x = 1e5 + rng.normal(0.0, 1e-3, 20_000)
    t = np.linspace(0.0, 10.0, x.size, endpoint=False)
    ref = reference(x.tolist(), t.tolist(), [True] * x.size)
    # Split in 7 uneven parts and merge: the path windows take.
    bounds = [0, 1, 50, 3000, 3001, 9000, 15000, x.size]
    parts = [one_group(x[a:b].tolist(), t[a:b].tolist(), [True] * (b - a)) for a, b in itertools.pairwise(bounds)]
    merged = combine(Moments.concat(parts), np.zeros(7), np.zeros(7, dtype=np.intp), 1)
    f = finalize(merged)
    assert f.std[0] == pytest.approx(ref["std"], rel=1e-8)
    assert f.kurtosis[0] == pytest.approx(ref["kurtosis"], rel=1e-7)
    # Skewness ~0.004 here; even the reference's correctly rounded mean is off by up to
    # ulp(1e5)/2 ~ 7e-12, which moves the skewness by ~3 * 7e-12 / std = 2e-8.
    assert f.skewness[0] == pytest.approx(ref["skewness"], abs=1e-7)
    assert f.slope[0] == pytest.approx(ref["slope"], rel=1e-6, abs=1e-12)
    # The naive formula the core avoids is off by more than the variance itself here
    # (it even comes out negative with this seed).
    true_var = ref["std"] ** 2  # type: ignore[operator]
    naive_var = float(np.mean(x**2) - np.mean(x) ** 2)
    assert abs(naive_var - true_var) > true_var


def test_normal_data_has_pearson_kurtosis_three_and_known_slope() -> None:
    rng = np.random.default_rng(1)
    t = np.linspace(0.0, 10.0, 200_000, endpoint=False)
    x = 2.5 * t + rng.normal(0.0, 1.0, t.size)  # slope 2.5 unit/s; residual kurtosis 3
    m = one_group((x - 2.5 * t).tolist(), t.tolist(), [True] * t.size)
    assert finalize(m).kurtosis[0] == pytest.approx(3.0, abs=0.05)
    assert finalize(one_group(x.tolist(), t.tolist(), [True] * t.size)).slope[0] == pytest.approx(2.5, abs=0.01)


def test_undefined_statistics_are_nan_never_garbage() -> None:
    f = finalize(one_group([7.0, 7.0, 7.0, 7.0, 7.0], [0.0, 1.0, 2.0, 3.0, 4.0], [True] * 5))
    assert f.std[0] == 0.0
    assert f.peak_to_peak[0] == 0.0
    assert f.rms[0] == 7.0
    assert math.isnan(f.kurtosis[0])
    assert math.isnan(f.skewness[0])
    assert f.slope[0] == 0.0
    assert f.crest_factor[0] == 1.0
    f = finalize(one_group([1.0, 2.0, 3.0], [0.0, 1.0, 2.0], [True] * 3))
    assert math.isnan(f.kurtosis[0])
    assert not math.isnan(f.skewness[0])
    f = finalize(one_group([1.0, 2.0], [5.0, 5.0], [True, True]))
    assert math.isnan(f.slope[0])  # two readings at the same instant: no slope
    f = finalize(one_group([0.0, 0.0], [0.0, 1.0], [True, True]))
    assert math.isnan(f.crest_factor[0])  # rms 0
    f = finalize(one_group([float("nan"), 3.0], [0.0, 1.0], [False, False]))
    assert f.count[0] == 0
    assert f.total[0] == 2
    assert f.valid_fraction[0] == 0.0
    assert f.mean[0] == 0.0
    assert f.min[0] == 0.0
    assert f.max[0] == 0.0


def test_constant_parts_with_rounded_means_stay_constant() -> None:
    """0.1 * 3 / 3 != 0.1: merged parts of a constant signal must not grow a fake variance."""
    parts = [one_group([0.1] * k, [float(i) for i in range(k)], [True] * k) for k in (3, 7, 11)]
    merged = combine(Moments.concat(parts), np.zeros(3), np.zeros(3, dtype=np.intp), 1)
    f = finalize(merged)
    assert f.std[0] == 0.0
    assert math.isnan(f.kurtosis[0])


def test_valid_fraction_uses_the_expected_count_when_known() -> None:
    m = one_group([1.0, 2.0, 3.0, 4.0], [0.0, 1.0, 2.0, 3.0], [True, True, True, False])
    assert finalize(m).valid_fraction[0] == 0.75
    assert finalize(m, expected=np.array([10.0])).valid_fraction[0] == pytest.approx(0.3)
    assert finalize(m, expected=np.array([2.0])).valid_fraction[0] == 1.0  # more than expected: capped
    assert finalize(m, expected=np.array([0.0])).valid_fraction[0] == 0.75  # unknown: falls back


def test_groups_are_independent_and_latest_context_wins() -> None:
    group = np.array([0, 1, 0, 1, 2], dtype=np.intp)
    values = np.array([1.0, 10.0, 3.0, 30.0, 5.0])
    times = np.array([2, 1, 1, 3, 9], dtype=np.int64)
    ctx = np.array([7, 8, 9, 10, 11], dtype=np.int32)
    m = reduce_readings(group, 3, values, np.ones(5, dtype=np.bool_), times.astype(np.float64), times, ctx)
    assert m.n.tolist() == [2, 2, 1]
    assert m.mean.tolist() == [2.0, 20.0, 5.0]
    assert m.last_t.tolist() == [2, 3, 9]
    assert m.ctx.tolist() == [7, 10, 11]
