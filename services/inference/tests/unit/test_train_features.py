"""Training computes feature windows exactly as ingest does: same statistics, same boundaries, same SI values."""

from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import pytest

from factorymesh.features import STAT_NAMES, finalize, window_features
from factorymesh.inference.modeling.catalog import CLASS_TAGS, HOPPING_60S, TUMBLING_10S, ModelSpec
from factorymesh.inference.train import dataset
from factorymesh.inference.train.testing import write_dataset
from factorymesh.inference.train.windows import feature_table, time_split

S = 1_000_000_000
T0 = 1_736_121_600 * S  # 2025-01-06T00:00:00Z, a multiple of every window step


Stats = dict[tuple[int, int], dict[str, float]]


class Stream(NamedTuple):
    tags: npt.NDArray[np.intp]
    times: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    valid: npt.NDArray[np.bool_]


def _stream(seed: int, seconds: float, n_tags: int = 3) -> Stream:
    """Readings of one equipment at ~2 Hz per tag with jitter, 5 % invalid, starting mid-window."""
    rng = np.random.default_rng(seed)
    n = int(seconds * 2) * n_tags
    times = np.sort(T0 + 3_700_000_000 + rng.integers(0, int(seconds * S), n))
    tags = rng.integers(0, n_tags, n).astype(np.intp)
    values = 1e5 + 50.0 * np.sin(times / S / 30.0) + rng.normal(0.0, 1.0, n) * (1 + tags)
    valid = rng.random(n) > 0.05
    values[~valid & (rng.random(n) < 0.5)] = np.nan  # some invalid readings are not even numbers
    return Stream(tags, times, values, valid)


def _ingest(stream: Stream, size_s: float, hop_s: float, chunks: int) -> Stats:
    from factorymesh.ingest.features.windows import Columns, EquipmentWindows, WindowSpec

    tags, times, values, valid = stream
    spec = WindowSpec.tumbling(size_s) if size_s == hop_s else WindowSpec.hopping(size_s, hop_s)
    state = EquipmentWindows("acme/site/area/line/cell/eq", (spec,), lateness_ns=5 * S)
    for t in range(int(tags.max()) + 1):
        state.tag_id(f"tag{t}")
    closed = []
    for part in np.array_split(np.arange(times.size), chunks):
        state.update(
            Columns(
                tag=tags[part],
                times_ns=times[part],
                values=values[part],
                valid=valid[part] & np.isfinite(values[part]),
                ctx=np.full(part.size, -1, dtype=np.int32),
            )
        )
        closed.append(state.close())
    closed.append(state.close(force=True))
    out: Stats = {}
    for c in closed:
        f = finalize(c.moments)
        for i, key in enumerate(zip(c.tag.tolist(), c.start_ns.tolist(), strict=True)):
            out[key] = {name: float(getattr(f, name)[i]) for name in ("count", "total", *STAT_NAMES)}
    return out


def _batch(stream: Stream, size_s: float, hop_s: float) -> Stats:
    w = window_features(*stream, size_ns=int(size_s * S), step_ns=int(hop_s * S))
    return {
        key: {name: float(getattr(w.features, name)[i]) for name in ("count", "total", *STAT_NAMES)}
        for i, key in enumerate(zip(w.series.tolist(), w.start_ns.tolist(), strict=True))
    }


@pytest.mark.parametrize(("size_s", "hop_s"), [(10.0, 10.0), (60.0, 10.0)])
def test_batch_windows_are_ingest_windows_bit_for_bit(size_s: float, hop_s: float) -> None:
    """In one pass (a stream with nothing late) ingest and training compute identical numbers."""
    stream = _stream(1, 600.0)
    ours = _batch(stream, size_s, hop_s)
    theirs = _ingest(stream, size_s, hop_s, chunks=1)
    assert ours.keys() == theirs.keys()
    for key, stats in ours.items():
        for name, value in stats.items():
            want = theirs[key][name]
            assert value == want or (math.isnan(value) and math.isnan(want)), (key, name, value, want)


def test_streamed_in_batches_ingest_agrees_to_rounding() -> None:
    """Ingest merges batch by batch; the merge is exact up to float rounding."""
    stream = _stream(2, 900.0)
    ours = _batch(stream, 60.0, 10.0)
    theirs = _ingest(stream, 60.0, 10.0, chunks=17)
    assert ours.keys() == theirs.keys()
    for key, stats in ours.items():
        for name, value in stats.items():
            assert value == pytest.approx(theirs[key][name], rel=1e-9, abs=1e-9, nan_ok=True), (key, name)


def test_window_boundaries_are_epoch_aligned_floor_of_time() -> None:
    times = np.array([T0, T0 + 9 * S + S - 1, T0 + 10 * S, -1, -10 * S - 1], dtype=np.int64)
    w = window_features(
        np.zeros(5, dtype=np.intp), times, np.arange(5.0), np.ones(5, bool), size_ns=10 * S, step_ns=10 * S
    )
    # floor(t / size) * size: [T0, T0+10s) holds the first two; t = -1 ns is in [-10 s, 0).
    assert w.start_ns.tolist() == [-20 * S, -10 * S, T0, T0 + 10 * S]
    assert w.features.count.tolist() == [1, 1, 2, 1]
    hop = window_features(
        np.zeros(1, dtype=np.intp), times[:1], np.ones(1), np.ones(1, bool), size_ns=60 * S, step_ns=10 * S
    )
    # A hopping reading is in size / hop windows: those starting at T0 - 50 s ... T0.
    assert hop.start_ns.tolist() == [T0 - k * 10 * S for k in range(5, -1, -1)]


def test_unit_conversions_are_ingests() -> None:
    from factorymesh.ingest.units import default_converter

    converter = default_converter()
    for code, (si, scale, offset) in dataset.UNITS_TO_SI.items():
        conversion = converter.convert(code, code)
        assert (conversion.si_unit, conversion.scale, conversion.offset) == (si, scale, offset), code
    for tag, code in dataset.TICK_UNITS.items():
        assert code in dataset.UNITS_TO_SI, tag


@pytest.fixture(scope="module")
def two_shapes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("shapes")
    classes = ("centrifugal_pump", "cnc_spindle")
    reading = write_dataset(base / "reading", classes=classes, duration_s=900, seed=3, shape="reading")
    tick = write_dataset(base / "tick", classes=classes, duration_s=900, seed=3, shape="tick")
    return reading, tick


def test_reading_and_tick_csv_give_the_same_windows(two_shapes: tuple[Path, Path]) -> None:
    """Site units (psi, degF, gpm...) converted to SI = metric units converted to SI, per window."""
    a, b = (dataset.load(p) for p in two_shapes)
    for spec in (
        ModelSpec("anomaly", "centrifugal_pump", CLASS_TAGS["centrifugal_pump"], STAT_NAMES, TUMBLING_10S),
        ModelSpec("quality", "cnc_spindle", CLASS_TAGS["cnc_spindle"], STAT_NAMES, HOPPING_60S),
    ):
        ta, tb = feature_table(a, spec), feature_table(b, spec)
        assert len(ta) > 50
        assert ta.start_ns.tolist() == tb.start_ns.tolist()
        assert [ta.equipment[e] for e in ta.eq] == [tb.equipment[e] for e in tb.eq]
        np.testing.assert_allclose(ta.x, tb.x, rtol=1e-9, atol=1e-12)
        np.testing.assert_array_equal(ta.anomalous, tb.anomalous)
        # Values are SI: pressures in Pa, temperatures in K, flow in m3/s, speed in rad/s.
        col = {name: i for i, name in enumerate(spec.features)}
        if spec.equipment_class == "centrifugal_pump":
            assert 3e5 < np.nanmedian(ta.x[:, col["discharge_pressure.mean"]]) < 1e6
            assert 300 < np.nanmedian(ta.x[:, col["bearing_temperature.mean"]]) < 360
            assert 0.005 < np.nanmedian(ta.x[:, col["flow.mean"]]) < 0.05
        else:
            assert np.nanmax(ta.x[:, col["speed.max"]]) == pytest.approx(12000 * 2 * math.pi / 60, rel=0.05)
            assert 0 < np.nanmax(ta.x[:, col["tool_wear.max"]]) < 4e-4  # m


def test_windows_are_complete_labelled_and_split_without_overlap(two_shapes: tuple[Path, Path]) -> None:
    data = dataset.load(two_shapes[0])
    spec = ModelSpec("rul", "centrifugal_pump", CLASS_TAGS["centrifugal_pump"], ("mean",), HOPPING_60S)
    table = feature_table(data, spec)
    assert table.start_ns.min() >= data.readings.times_ns.min()
    assert (table.end_ns - table.start_ns == 60 * S).all()
    split = time_split(data, 0.3, 0.3, 60 * S)
    fit, validation, holdout = split.masks(table)
    assert not (fit & validation).any()
    assert not (validation & holdout).any()
    assert table.end_ns[fit].max() <= table.start_ns[validation].min()
    assert table.end_ns[validation].max() <= table.start_ns[holdout].min()
    assert split.holdout_start_ns % (60 * S) == 0


def test_generic_long_csv_with_timestamps_qualities_and_si_values(tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text(
        "timestamp,equipment,equipment_class,tag,value,quality\n"
        "2025-01-06T00:00:01Z,a/b,centrifugal_pump,flow,0.02,0\n"
        "2025-01-06T00:00:02+00:00,a/b,centrifugal_pump,flow,0.03,\n"
        "2025-01-06T00:00:03,a/b,centrifugal_pump,flow,9.99,64\n"  # BAD quality: total only
        "2025-01-06T00:00:04Z,a/b,centrifugal_pump,flow,,0\n"  # no number: invalid
    )
    (tmp_path / "labels.csv").write_text("time_ns,equipment,state,faults\n1736121601000000000,a/b,running,\n")
    data = dataset.load(tmp_path)
    r = data.readings
    assert r.times_ns.tolist() == [T0 + k * S for k in (1, 2, 3, 4)]
    assert r.valid.tolist() == [True, True, False, False]
    w = window_features(r.tag, r.times_ns, r.values, r.valid, size_ns=10 * S, step_ns=10 * S)
    assert w.features.count.tolist() == [2]
    assert w.features.mean[0] == pytest.approx(0.025)
    assert w.features.valid_fraction[0] == 0.5


def test_unknown_units_and_missing_labels_are_explained(tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text("time_ns,equipment,equipment_class,tag,value,unit\n1,a,x,t,1.0,furlong\n")
    with pytest.raises(dataset.DatasetError, match="labels"):
        dataset.load(tmp_path / "data.csv")
    (tmp_path / "labels.csv").write_text("time_ns,equipment,state,faults\n1,a,running,\n")
    with pytest.raises(dataset.DatasetError, match="furlong"):
        dataset.load(tmp_path)
