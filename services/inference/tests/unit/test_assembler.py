"""Assembly of per-tag windows into feature vectors: completeness, held tails, finality, imputation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from aiokafka import TopicPartition
from inference_fakes import ANOMALY_FEATURES, NS, PUMP, T0, TOPIC, pump, window, write_model

from factorymesh.inference.assembler import Assembler, Entry, build_vector, key_of
from factorymesh.inference.models import load_version

TP0 = TopicPartition(TOPIC, 0)
TP1 = TopicPartition(TOPIC, 1)
TAGS = frozenset({"flow", "vibration_rms", "bearing_temperature"})


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def entries(*windows: object, tp: TopicPartition = TP0, first_offset: int = 0) -> list[Entry]:
    return [Entry(tp, first_offset + i, w) for i, w in enumerate(windows)]  # type: ignore[arg-type]


def needs_all(_: object, __: str) -> frozenset[str]:
    return TAGS


def group(start: int = T0, tags: tuple[str, ...] = ("flow", "vibration_rms", "bearing_temperature"), **kw: object):
    return [window(tag, start, **kw) for tag in tags]  # type: ignore[arg-type]


def test_complete_group_in_one_poll_is_ready_and_nothing_is_held() -> None:
    plan = Assembler(30).plan(entries(*group()), needs_all)
    assert [sorted(a.windows) for a in plan.ready] == [["bearing_temperature", "flow", "vibration_rms"]]
    assert plan.hold_from == {}
    assert not plan.ready[0].final


def test_group_cut_by_the_poll_is_held_then_completed_by_the_next_poll() -> None:
    assembler = Assembler(30)
    first, second = group(T0), group(T0 + 10 * NS)
    # Poll 1: the whole first group and one tag of the second.
    plan = assembler.plan(entries(*first, second[0]), needs_all)
    assert [a.key.start_ns for a in plan.ready] == [T0]
    assert plan.hold_from == {TP0: 3}
    # Poll 2 starts at the held offset and brings the rest.
    plan = assembler.plan(entries(*second, first_offset=3), needs_all)
    assert [a.key.start_ns for a in plan.ready] == [T0 + 10 * NS]
    assert plan.hold_from == {}
    assert assembler.waiting == 0


def test_a_dropped_tag_is_final_once_a_later_window_of_the_equipment_arrives() -> None:
    assembler = Assembler(30)
    incomplete = group(T0, ("flow", "vibration_rms"))  # bearing_temperature dropped out
    plan = assembler.plan(entries(*incomplete), needs_all)
    assert plan.ready == []
    assert plan.hold_from == {TP0: 0}
    # Re-polled together with the next window: the old one can no longer complete.
    plan = assembler.plan(entries(*incomplete, *group(T0 + 10 * NS)), needs_all)
    assert [(a.key.start_ns, a.final, sorted(a.missing)) for a in plan.ready] == [
        (T0, True, ["bearing_temperature"]),
        (T0 + 10 * NS, False, []),
    ]
    assert plan.hold_from == {}


def test_a_later_window_of_another_spec_or_equipment_does_not_finalize() -> None:
    assembler = Assembler(30)
    incomplete = group(T0, ("flow",))
    other_equipment = group(T0 + 10 * NS, equipment=pump("pump-02"))
    hopping = group(T0 + 10 * NS, size_s=60, hop_s=10, kind=2)
    plan = assembler.plan(entries(*incomplete, *other_equipment, *hopping), needs_all)
    # pump-01's window stays open (held); the rest lies behind it on the partition.
    assert plan.ready == []
    assert plan.hold_from == {TP0: 0}


def test_an_incomplete_window_is_final_after_the_timeout() -> None:
    clock = Clock()
    assembler = Assembler(30, clock=clock)
    incomplete = entries(*group(T0, ("flow",)))
    assert assembler.plan(incomplete, needs_all).hold_from == {TP0: 0}
    clock.now += 29.9
    assert assembler.plan(incomplete, needs_all).hold_from == {TP0: 0}
    clock.now += 0.1
    plan = assembler.plan(incomplete, needs_all)
    assert [a.final for a in plan.ready] == [True]
    assert plan.hold_from == {}
    assert assembler.waiting == 0


def test_a_complete_group_behind_a_held_one_is_held_too() -> None:
    # pump-02's group is complete, but it lies after pump-01's incomplete one on the same
    # partition: committing it would commit pump-01's first record as well.
    incomplete = group(T0, ("flow", "vibration_rms"))
    complete_after = group(T0, equipment=pump("pump-02"))
    plan = Assembler(30).plan(entries(*incomplete, *complete_after), needs_all)
    assert plan.ready == []
    assert plan.hold_from == {TP0: 0}


def test_interleaved_groups_hold_back_to_the_earliest_record() -> None:
    # pump-02 (complete) starts before pump-01 (incomplete) but ends after its first record.
    a = group(T0, equipment=pump("pump-02"))
    b = group(T0, ("flow",))
    plan = Assembler(30).plan(entries(a[0], b[0], a[1], a[2]), needs_all)
    assert plan.ready == []
    assert plan.hold_from == {TP0: 0}


def test_partitions_are_independent() -> None:
    plan = Assembler(30).plan(
        [*entries(*group(T0, ("flow",)), tp=TP0), *entries(*group(T0, equipment=pump("pump-09")), tp=TP1)], needs_all
    )
    assert [a.tp for a in plan.ready] == [TP1]
    assert plan.hold_from == {TP0: 0}


def test_windows_no_model_needs_are_done_at_once() -> None:
    plan = Assembler(30).plan(entries(*group(T0, ("flow",))), lambda _, __: frozenset())
    assert len(plan.ready) == 1
    assert not plan.ready[0].needed
    assert plan.hold_from == {}


def test_the_plan_does_not_depend_on_how_records_were_polled() -> None:
    groups = [w for i in range(4) for w in group(T0 + i * 10 * NS)]
    whole = Assembler(30).plan(entries(*groups), needs_all)
    assembler = Assembler(30)
    ready = []
    offset = 0
    while offset < len(groups):
        batch = entries(*groups[offset : offset + 5], first_offset=offset)
        plan = assembler.plan(batch, needs_all)
        ready += [a.key for a in plan.ready]
        offset = plan.hold_from.get(TP0, offset + len(batch))
    assert ready == [a.key for a in whole.ready]


@pytest.fixture
def model(tmp_path: Path):
    directory = write_model(tmp_path, "anomaly_centrifugal_pump")
    return load_version(directory, "anomaly_centrifugal_pump", "1")


def test_vector_follows_the_feature_order_and_lists_its_windows(model) -> None:
    windows = {
        "flow": window("flow", mean=1.5, std=0.5),
        "vibration_rms": window("vibration_rms", mean=2.5, kurtosis=3.5),
        "bearing_temperature": window("bearing_temperature", mean=4.5, valid_fraction=0.75),
    }
    vector = build_vector(model, windows)
    assert vector.values.tolist() == [1.5, 0.5, 2.5, 3.5, 4.5, 0.75]
    assert vector.imputed == ()
    assert vector.tags_present == 1.0
    assert vector.input_window_ids == tuple(windows[t].event_id for t in sorted(windows))


def test_missing_values_are_imputed_and_flagged(model) -> None:
    vibration = window("vibration_rms", mean=2.0)
    vibration.ClearField("kurtosis")  # undefined for a constant signal
    vector = build_vector(model, {"flow": window("flow", mean=1.0), "vibration_rms": vibration})
    assert vector.imputed == (
        "vibration_rms.kurtosis",
        "bearing_temperature.mean",
        "bearing_temperature.valid_fraction",
    )
    assert vector.missing_tags == ("bearing_temperature",)
    assert vector.tags_present == pytest.approx(2 / 3)
    # Training means (1.0 in the fixture), except valid_fraction of an absent tag: 0.
    assert vector.values[3] == 1.0
    assert vector.values[4] == 1.0
    assert vector.values[5] == 0.0
    assert len(vector.input_window_ids) == 2


def test_non_finite_statistics_are_imputed(model) -> None:
    vector = build_vector(model, {"flow": window("flow", mean=float("nan"), std=float("inf"))})
    assert "flow.mean" in vector.imputed
    assert "flow.std" in vector.imputed
    assert np.all(np.isfinite(vector.values))


def test_assembly_key_and_id_are_stable() -> None:
    a, b = window("flow"), window("vibration_rms")
    assert key_of(a) == key_of(b)
    assert key_of(a).id == key_of(b).id
    assert key_of(window("flow", T0 + 10 * NS)).id != key_of(a).id
    assert key_of(a).equipment == "acme/houston/utilities/cooling/pumps/pump-01"
    assert PUMP.equipment == "pump-01"
    assert ANOMALY_FEATURES[0] == "flow.mean"
