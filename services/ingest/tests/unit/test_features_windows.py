"""Window assignment, the watermark / late rule and closing, against a brute-force simulation."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from factorymesh.features.stats import finalize
from factorymesh.ingest.features.windows import (
    HOPPING,
    TUMBLING,
    ClosedWindows,
    Columns,
    EquipmentWindows,
    WindowSpec,
    dense_groups,
)

# Numeric warnings (overflow, 0/0) would mean a NaN or inf was computed somewhere: fail on them.
pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

S = 1_000_000_000
SPECS = (WindowSpec.tumbling(10.0), WindowSpec.hopping(60.0, 10.0))
LATENESS = 5 * S
T0 = 1_700_000_000 * S  # a multiple of every step: windows start at T0 + k * step


def cols(tags: list[int], times: list[int], values: list[float], valid: list[bool] | None = None) -> Columns:
    return Columns(
        tag=np.asarray(tags, dtype=np.intp),
        times_ns=np.asarray(times, dtype=np.int64),
        values=np.asarray(values, dtype=np.float64),
        valid=np.ones(len(tags), dtype=np.bool_) if valid is None else np.asarray(valid, dtype=np.bool_),
        ctx=np.full(len(tags), -1, dtype=np.int32),
    )


def windows_of(closed: list[ClosedWindows]) -> dict[tuple[int, int, int], dict[str, float]]:
    """(spec, tag, start) -> features, over every closed batch."""
    out: dict[tuple[int, int, int], dict[str, float]] = {}
    for c in closed:
        f = finalize(c.moments)
        for i, key in enumerate(zip(c.spec.tolist(), c.tag.tolist(), c.start_ns.tolist(), strict=True)):
            assert key not in out, f"window {key} emitted twice"
            out[key] = {
                "count": int(f.count[i]),
                "total": int(f.total[i]),
                "mean": float(f.mean[i]),
                "std": float(f.std[i]),
                "min": float(f.min[i]),
                "max": float(f.max[i]),
                "slope": float(f.slope[i]),
            }
    return out


def brute_force(
    specs: tuple[WindowSpec, ...], lateness: int, readings: list[tuple[int, int, float, bool]]
) -> tuple[dict[tuple[int, int, int], list[tuple[int, float, bool]]], list[int], int]:
    """The late rule read literally, one reading at a time: window -> readings, late per spec, dropped."""
    members: dict[tuple[int, int, int], list[tuple[int, float, bool]]] = defaultdict(list)
    late = [0] * len(specs)
    dropped = 0
    newest: int | None = None
    for tag, t, v, ok in readings:
        watermark = None if newest is None else newest - lateness
        missed_all = True
        for s_idx, spec in enumerate(specs):
            starts = spec.window_starts(t)
            assert all(start <= t < start + spec.size_ns for start in starts)
            open_starts = [s for s in starts if watermark is None or s + spec.size_ns > watermark]
            late[s_idx] += len(open_starts) < len(starts)
            missed_all &= not open_starts
            for start in open_starts:
                members[(s_idx, tag, start)].append((t, v, ok))
        dropped += missed_all
        newest = t if newest is None else max(newest, t)
    return members, late, dropped


def expected_features(members: list[tuple[int, float, bool]], start: int) -> dict[str, float]:
    x = np.array([v for _, v, ok in members if ok])
    t = np.array([(ts - start) / S for ts, _, ok in members if ok])
    out: dict[str, float] = {"count": x.size, "total": len(members)}
    if x.size:
        out.update(mean=float(x.mean()), std=float(x.std()), min=float(x.min()), max=float(x.max()))
        tc = t - t.mean()
        out["slope"] = float((tc * (x - x.mean())).sum() / (tc * tc).sum()) if (tc * tc).sum() > 1e-19 else math.nan
    return out


def test_spec_validation() -> None:
    assert WindowSpec.tumbling(10).windows_per_reading == 1
    assert WindowSpec.hopping(60, 10).windows_per_reading == 6
    with pytest.raises(ValueError, match="multiple"):
        WindowSpec.hopping(60, 7)
    with pytest.raises(ValueError, match="smaller"):
        WindowSpec.hopping(10, 10)
    with pytest.raises(ValueError, match="positive"):
        WindowSpec.tumbling(0)


@given(st.integers(-(10**12), 10**12), st.integers(-(10**12), 10**12))
def test_missed_counts_the_closed_windows_of_a_reading(offset: int, watermark_offset: int) -> None:
    t = T0 + offset
    watermark = T0 + watermark_offset
    for spec in (*SPECS, WindowSpec.hopping(6.0, 2.0), WindowSpec.tumbling(0.5)):
        k, missed = spec.missed(np.array([t]), np.array([watermark]))
        starts = spec.window_starts(t)
        assert len(starts) == spec.windows_per_reading
        assert all(start <= t < start + spec.size_ns for start in starts)
        assert k[0] == t // spec.step_ns
        assert missed[0] == sum(start + spec.size_ns <= watermark for start in starts)


def test_dense_groups_small_and_sparse_keys() -> None:
    for key in (np.array([5, 3, 5, 9, 3]), np.array([5, 3 * 10**15, 5, -(10**14)])):
        group, uniq = dense_groups(key.astype(np.int64))
        assert uniq.tolist() == sorted(set(key.tolist()))
        assert (uniq[group] == key).all()


reading_lists = st.lists(
    st.tuples(
        st.integers(0, 2),  # tag
        # ms after T0, 150 s of data; half the draws on a 0.5 s grid so that readings land
        # exactly on window boundaries and watermarks equal window ends.
        st.integers(0, 150_000) | st.integers(0, 300).map(lambda h: h * 500),
        st.floats(-1e3, 1e3),
        st.sampled_from([True, True, True, False]),
    ),
    min_size=1,
    max_size=120,
)


@settings(max_examples=150, deadline=None)
@given(reading_lists, st.data())
def test_windows_match_the_late_rule_read_literally(
    raw: list[tuple[int, int, float, bool]], data: st.DataObject
) -> None:
    """Random order (late data included) and random record boundaries: the windows are the brute force ones."""
    readings = [(tag, T0 + ms * 1_000_000, v, ok) for tag, ms, v, ok in raw]
    specs = data.draw(st.sampled_from([SPECS, (WindowSpec.tumbling(2.0), WindowSpec.hopping(6.0, 2.0))]))
    lateness = data.draw(st.sampled_from([0, LATENESS, 20 * S]))
    cuts = sorted(set(data.draw(st.lists(st.integers(1, max(1, len(readings) - 1)), max_size=6))))
    state = EquipmentWindows("acme/press7", specs, lateness)
    closed: list[ClosedWindows] = []
    late = [0] * len(specs)
    dropped = 0
    for a, b in zip([0, *cuts], [*cuts, len(readings)], strict=True):
        chunk = readings[a:b]
        if not chunk:
            continue
        result = state.update(cols(*map(list, zip(*chunk, strict=True))))
        late = [x + y for x, y in zip(late, result.late, strict=True)]
        dropped += result.dropped
        closed.append(state.close())
    watermark = state.watermark_ns
    closed.append(state.close(force=True))
    got = windows_of(closed)
    members, want_late, want_dropped = brute_force(specs, lateness, readings)
    assert late == want_late
    assert dropped == want_dropped
    assert set(got) == set(members)
    for key, window in got.items():
        spec_idx, _tag, start = key
        want = expected_features(members[key], start)
        assert window["count"] == want["count"]
        assert window["total"] == want["total"]
        if want["count"]:
            for name in ("mean", "std", "min", "max"):
                assert window[name] == pytest.approx(want[name], rel=1e-9, abs=1e-9), name
            if math.isnan(want["slope"]):
                assert math.isnan(window["slope"])
            else:
                assert window["slope"] == pytest.approx(want["slope"], rel=1e-6, abs=1e-9)
    # Before the forced close, exactly the windows whose end the watermark reached were out.
    for c in closed[:-1]:
        for spec_idx, start in zip(c.spec.tolist(), c.start_ns.tolist(), strict=True):
            assert start + specs[spec_idx].size_ns <= watermark


def test_late_reading_joins_only_its_open_windows() -> None:
    state = EquipmentWindows("e", SPECS, LATENESS)
    tag = state.tag_id("temp")
    state.update(cols([tag] * 21, [T0 + i * S for i in range(21)], [float(i) for i in range(21)]))
    first = state.close()  # watermark T0 + 15 s: tumbling [0,10) and hopping [-50,10) are out
    assert [(SPECS[s].kind, st_ - T0) for s, st_ in zip(first.spec.tolist(), first.start_ns.tolist(), strict=True)] == [
        (TUMBLING, 0),
        (HOPPING, -50 * S),
    ]
    result = state.update(cols([tag], [T0 + 3 * S], [1000.0]))  # 3 s: late for both kinds...
    assert result.late == [1, 1]
    assert result.dropped == 0
    state.update(cols([tag], [T0 + 200 * S], [0.0]))
    out = windows_of([state.close()])
    assert out[(1, tag, T0 - 40 * S)]["max"] == 1000.0  # [-40 s, 20 s) took it
    assert (0, tag, T0) not in out  # the closed tumbling window was not re-emitted
    result = state.update(cols([tag], [T0 + 3 * S], [5.0]))
    assert result.late == [1, 1]
    assert result.dropped == 1


def test_a_window_closes_when_the_watermark_equals_its_end() -> None:
    state = EquipmentWindows("e", (WindowSpec.tumbling(10.0),), LATENESS)
    tag = state.tag_id("temp")
    state.update(cols([tag, tag], [T0 + 1 * S, T0 + 15 * S - 1], [1.0, 2.0]))  # watermark 10 s - 1 ns
    assert len(state.close()) == 0
    assert state.update(cols([tag], [T0 + 10 * S - 1], [3.0])).late == [0]  # still open
    state.update(cols([tag], [T0 + 15 * S], [4.0]))  # watermark = 10 s = end of [0, 10)
    assert state.update(cols([tag], [T0 + 10 * S - 1], [5.0])).late == [1]  # closed now
    closed = windows_of([state.close()])
    assert closed[(0, tag, T0)]["count"] == 2
    assert closed[(0, tag, T0)]["max"] == 3.0


def test_forced_close_moves_the_watermark_past_the_closed_windows() -> None:
    state = EquipmentWindows("e", SPECS, LATENESS)
    tag = state.tag_id("temp")
    state.update(cols([tag, tag], [T0 + 1 * S, T0 + 2 * S], [1.0, 2.0]))
    assert len(state.close()) == 0
    closed = state.close(force=True)
    assert len(closed) == 7
    assert state.open_windows == 0
    # The same instant again: every window it belongs to was emitted, so it is dropped.
    result = state.update(cols([tag], [T0 + 2 * S], [3.0]))
    assert result.dropped == 1
    assert state.open_windows == 0


def test_windows_are_per_tag_and_carry_invalid_readings_only_in_total() -> None:
    state = EquipmentWindows("e", (WindowSpec.tumbling(10.0),), 0)
    a, b = state.tag_id("a"), state.tag_id("b")
    state.update(
        cols([a, b, a, b, a], [T0, T0 + S, T0 + 2 * S, T0 + 3 * S, T0 + 11 * S], [1.0, 10.0, 3.0, 99.0, 0.0],
             [True, True, True, False, True])
    )  # fmt: skip
    out = windows_of([state.close()])
    assert out[(0, a, T0)]["count"] == 2
    assert out[(0, a, T0)]["mean"] == 2.0
    assert out[(0, b, T0)]["count"] == 1
    assert out[(0, b, T0)]["total"] == 2
    assert out[(0, b, T0)]["max"] == 10.0


def test_one_batch_or_many_gives_identical_windows() -> None:
    """Record boundaries never change a result: the watermark runs per reading, in log order."""
    rng = np.random.default_rng(3)
    n = 5000
    times = T0 + np.sort(rng.integers(0, 120 * S, n)) + rng.integers(-8 * S, 1, n)  # jittered, some late
    tags = rng.integers(0, 4, n)
    values = rng.normal(50.0, 5.0, n)
    valid = rng.random(n) > 0.05
    results = []
    for batch in (n, 1000, 7, 1):
        state = EquipmentWindows("e", SPECS, LATENESS)
        closed = []
        for i in range(0, n, batch):
            s = slice(i, i + batch)
            state.update(Columns(tags[s], times[s], values[s], valid[s], np.full(len(tags[s]), -1, np.int32)))
            closed.append(state.close())
        closed.append(state.close(force=True))
        results.append(windows_of(closed))
    for other in results[1:]:
        assert other.keys() == results[0].keys()
        for key, window in other.items():
            for name, value in window.items():
                assert value == pytest.approx(results[0][key][name], rel=1e-9, abs=1e-12, nan_ok=True), (key, name)
