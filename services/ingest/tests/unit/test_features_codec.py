"""State snapshots, record decoding and FeatureWindow emission."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from factorymesh.api.common.v1 import equipment_pb2, production_context_pb2, quality_pb2, units_pb2
from factorymesh.api.telemetry.v1 import feature_window_pb2, normalized_reading_pb2
from factorymesh.common.kafka import UndecodableRecord
from factorymesh.features.stats import NS_PER_S
from factorymesh.ingest.features.codec import SnapshotError, decode_snapshot, encode_snapshot
from factorymesh.ingest.features.emit import FEATURE_SET_VERSION, feature_window_id, feature_windows
from factorymesh.ingest.features.readings import SingleReadings, batch_columns, equipment_path
from factorymesh.ingest.features.windows import Columns, EquipmentWindows, WindowSpec

# Numeric warnings (overflow, 0/0) would mean a NaN or inf was computed somewhere: fail on them.
pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

S = NS_PER_S
T0 = 1_700_000_000 * S
SPECS = (WindowSpec.tumbling(10.0), WindowSpec.hopping(60.0, 10.0))
PRESS7 = equipment_pb2.EquipmentPath(
    enterprise="acme", site="berlin", area="assembly", line="line4", cell="cell2", equipment="press7"
)
KEY = "acme/berlin/assembly/line4/cell2/press7"
BAD = quality_pb2.DataQuality.Value("DATA_QUALITY_BAD")
GOOD = quality_pb2.DataQuality.DATA_QUALITY_GOOD


def batch(n: int, start_ns: int = T0, **kwargs: object) -> normalized_reading_pb2.NormalizedReadingBatch:
    idx = np.arange(n)
    return normalized_reading_pb2.NormalizedReadingBatch(
        event_id="b:normalized",
        equipment=PRESS7,
        tags=["temp", "speed"],
        tag_units=[units_pb2.EngineeringUnit(code="K"), units_pb2.EngineeringUnit(code="rad/s")],
        tag_indices=(idx % 2).tolist(),
        source_times_unix_nanos=(start_ns + idx * 100_000_000).tolist(),  # 10 Hz
        values=(300.0 + idx).tolist(),
        equipment_class="press",
        **kwargs,  # type: ignore[arg-type]
    )


def filled_state(n: int = 400) -> EquipmentWindows:
    state = EquipmentWindows(KEY, SPECS, 5 * S)
    ctx = production_context_pb2.ProductionContext(job_order_id="JO-1")
    state.update(batch_columns(batch(n, contexts=[ctx]), state))
    return state


def test_snapshot_round_trip_continues_identically() -> None:
    state = filled_state()
    state.close()
    restored, dropped = decode_snapshot(encode_snapshot(state), KEY, SPECS, 5 * S)
    assert dropped == 0
    assert restored.max_time_ns == state.max_time_ns
    assert restored.equipment_class == "press"
    assert restored.tags == state.tags
    assert restored.units == state.units
    assert restored.contexts == state.contexts
    assert restored.open_windows == state.open_windows > 0
    more = batch(300, start_ns=T0 + 40 * S)
    for s in (state, restored):
        s.update(batch_columns(more, s))
    a, b = state.close(force=True), restored.close(force=True)
    assert a.start_ns.tolist() == b.start_ns.tolist()
    assert a.tag.tolist() == b.tag.tolist()
    for name in ("n", "total", "mean", "m2", "m3", "m4", "vmin", "vmax", "t_mean", "t_m2", "c_tv", "last_t", "ctx"):
        np.testing.assert_array_equal(getattr(a.moments, name), getattr(b.moments, name), err_msg=name)


def test_snapshot_drops_rows_of_removed_specs_and_rejects_garbage() -> None:
    data = encode_snapshot(filled_state())
    only_tumbling = (SPECS[0],)
    restored, dropped = decode_snapshot(data, KEY, only_tumbling, 5 * S)
    assert dropped > 0
    assert restored.open_windows > 0
    assert set(restored.row_spec.tolist()) == {0}
    with pytest.raises(SnapshotError):
        decode_snapshot(b"nope", KEY, SPECS, 5 * S)
    with pytest.raises(SnapshotError):
        decode_snapshot(data[:-10], KEY, SPECS, 5 * S)


def test_batch_columns_maps_tags_quality_and_context() -> None:
    state = EquipmentWindows(KEY, SPECS, 0)
    state.tag_id("speed")  # already known: ids must follow the equipment's dictionary
    contexts = [
        production_context_pb2.ProductionContext(job_order_id="JO-1"),
        production_context_pb2.ProductionContext(job_order_id="JO-2"),
    ]
    qualities = [GOOD, BAD, 0, GOOD]  # 0 = not reported: counts as GOOD
    msg = batch(4, qualities=qualities, contexts=contexts, context_indices=[0, 0, 1, 1])
    msg.values[3] = float("nan")
    c = batch_columns(msg, state)
    assert state.tags == ["speed", "temp"]
    assert c.tag.tolist() == [1, 0, 1, 0]
    assert c.valid.tolist() == [True, False, True, False]  # BAD, and NaN
    assert [state.context_of(i) for i in c.ctx.tolist()] == [
        x.SerializeToString() for x in [*contexts[:1] * 2, *contexts[1:] * 2]
    ]
    assert units_pb2.EngineeringUnit.FromString(state.units[1]).code == "K"


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda b: b.tag_indices.append(0), "length"),
        (lambda b: b.tag_indices.__setitem__(0, 7), "tag index"),
        (lambda b: b.qualities.extend([GOOD]), "qualities"),
        (lambda b: b.context_indices.extend([3, 0, 0, 0]), "context index"),
    ],
)
def test_batch_columns_rejects_inconsistent_batches(change: object, match: str) -> None:
    msg = batch(4)
    change(msg)  # type: ignore[operator]
    with pytest.raises(UndecodableRecord, match=match):
        batch_columns(msg, EquipmentWindows(KEY, SPECS, 0))


def test_single_readings_take_numbers_and_skip_text() -> None:
    state = EquipmentWindows(KEY, SPECS, 0)
    singles = SingleReadings()

    def reading(**value: object) -> normalized_reading_pb2.NormalizedReading:
        r = normalized_reading_pb2.NormalizedReading(event_id="r", equipment=PRESS7, tag="state", **value)  # type: ignore[arg-type]
        r.source_time.FromNanoseconds(T0 + 5)
        return r

    assert singles.add(reading(double_value=1.5), state)
    assert singles.add(reading(int_value=3), state)
    assert singles.add(reading(bool_value=True, quality=BAD), state)
    assert not singles.add(reading(string_value="RUNNING"), state)
    c = singles.columns()
    assert c.values.tolist() == [1.5, 3.0, 1.0]
    assert c.valid.tolist() == [True, True, False]
    assert c.times_ns.tolist() == [T0 + 5] * 3
    no_time = normalized_reading_pb2.NormalizedReading(equipment=PRESS7, tag="x", double_value=1.0)
    with pytest.raises(UndecodableRecord, match="source_time"):
        singles.add(no_time, state)


def test_feature_windows_carry_contract_fields() -> None:
    state = filled_state(400)  # 40 s at 10 Hz over 2 tags
    closed = state.close(force=True)
    windows = feature_windows(state, closed, computed_ns=T0 + 99 * S)
    assert len(windows) == len(closed) > 0
    first = windows[0]
    assert first.window_kind == feature_window_pb2.WindowKind.WINDOW_KIND_TUMBLING
    assert first.window.start_time.ToNanoseconds() == T0
    assert first.window.end_time.ToNanoseconds() == T0 + 10 * S
    assert first.window_size.ToNanoseconds() == first.hop.ToNanoseconds() == 10 * S
    assert first.equipment == PRESS7
    assert first.equipment_class == "press"
    assert first.feature_set_version == FEATURE_SET_VERSION
    assert first.context.job_order_id == "JO-1"
    assert first.computed_time.ToNanoseconds() == T0 + 99 * S
    expected_id = str(
        uuid.uuid5(
            uuid.UUID("02cedb69-e0cb-5311-a561-7d2a0eb3f715"),
            f"feature-window|{KEY}|{first.tag}|{FEATURE_SET_VERSION}|1|{T0}|{10 * S}|{10 * S}",
        )
    )
    assert (
        first.event_id == expected_id == feature_window_id(KEY, first.tag, FEATURE_SET_VERSION, 1, T0, 10 * S, 10 * S)
    )
    # temp = 300, 302, ... at 0.0, 0.2, ... s: 50 readings, slope 10 K/s, exact stats.
    temp = next(w for w in windows if w.tag == "temp" and w.window_kind == 1)
    values = 300.0 + np.arange(0, 100, 2)
    assert temp.count == 50
    assert temp.valid_fraction == 1.0
    assert temp.unit.code == "K"
    assert temp.mean == pytest.approx(values.mean())
    assert temp.std == pytest.approx(values.std())
    assert temp.min == 300.0
    assert temp.max == 398.0
    assert temp.peak_to_peak == 98.0
    assert temp.rms == pytest.approx(np.sqrt((values**2).mean()))
    assert temp.slope == pytest.approx(10.0)
    assert temp.kurtosis == pytest.approx(1.8, rel=1e-3)  # uniform: 9/5 - 6/(5(n^2-1))
    assert temp.HasField("skewness")
    assert temp.HasField("crest_factor")
    hopping = [w for w in windows if w.window_kind == feature_window_pb2.WindowKind.WINDOW_KIND_HOPPING]
    assert {w.hop.ToNanoseconds() for w in hopping} == {10 * S}
    assert len({w.event_id for w in windows}) == len(windows)


def test_undefined_statistics_are_unset_in_the_proto() -> None:
    state = EquipmentWindows(KEY, (WindowSpec.tumbling(10.0),), 0)
    tag = state.tag_id("flat")
    state.update(
        Columns(
            tag=np.array([tag, tag], dtype=np.intp),
            times_ns=np.array([T0, T0 + S], dtype=np.int64),
            values=np.array([2.0, 2.0]),
            valid=np.array([True, True]),
            ctx=np.array([-1, -1], dtype=np.int32),
        )
    )
    (window,) = feature_windows(state, state.close(force=True), computed_ns=T0)
    assert not window.HasField("kurtosis")
    assert not window.HasField("skewness")
    assert window.HasField("slope")
    assert window.slope == 0.0
    assert window.std == 0.0
    assert not window.HasField("context")
    assert not window.HasField("unit")


def test_expected_rate_defines_valid_fraction() -> None:
    state = filled_state(400)
    closed = state.close(force=True)
    windows = feature_windows(
        state, closed, computed_ns=T0, expected_rate=lambda eq, tag: 10.0 if tag == "temp" else None
    )
    temp = next(w for w in windows if w.tag == "temp" and w.window_kind == 1)
    speed = next(w for w in windows if w.tag == "speed" and w.window_kind == 1)
    assert temp.valid_fraction == pytest.approx(50 / 100)  # 5 Hz present of 10 Hz expected
    assert speed.valid_fraction == 1.0  # no rate known: valid / present


def test_equipment_path_inverts_the_key() -> None:
    assert equipment_path(KEY) == PRESS7
    assert equipment_path("acme/berlin") == equipment_pb2.EquipmentPath(enterprise="acme", site="berlin")
