"""Each injected fault shows its physical signature, and the labels say when and where.

Runs with and without a fault share the seed, and every tick draws the same random
numbers whatever is active, so the faulty run differs from the healthy one only by
the fault's effect: the tests compare the two directly.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from factorymesh.line_simulator import FaultEpisode, FaultKind, Scenario
from factorymesh.line_simulator.faults import episode_from_dict
from factorymesh.line_simulator.physics import TOOL_LIMIT_MM, TOOL_WORN_MM
from factorymesh.line_simulator.simulator import GOOD, RANGE_EXCEEDED
from factorymesh.line_simulator.testing import MOTOR_DE, PUMP_DE, PUMP_US, SPINDLE_DE, Run, simulate


@pytest.fixture(scope="module")
def baseline_20min() -> Run:
    return simulate(duration_s=1200)


def test_cavitation_lowers_pressures_and_flow_and_raises_vibration(baseline_20min: Run) -> None:
    healthy = baseline_20min
    faulty = simulate([FaultEpisode(PUMP_DE, FaultKind.CAVITATION, 300.0, 900.0, severity=0.9)], duration_s=1200)
    t = faulty.t_s()
    before, plateau = t < 300, (t >= 360) & (t < 840)

    for tag in ("flow", "suction_pressure", "discharge_pressure", "vibration_rms", "current"):
        assert np.array_equal(faulty.metric(PUMP_DE, tag)[before], healthy.metric(PUMP_DE, tag)[before])

    def delta(tag: str) -> float:
        return float((faulty.metric(PUMP_DE, tag) - healthy.metric(PUMP_DE, tag))[plateau].mean())

    assert delta("suction_pressure") < -0.4  # bar: NPSH available collapsed
    assert delta("discharge_pressure") < -1.0  # bar: head breakdown
    assert delta("flow") < -50.0  # L/min
    assert delta("vibration_rms") > 2.5  # mm/s, from ~1.3
    # Flow gets noisy: sample-to-sample jitter several times the healthy one.
    jitter = np.std(np.diff(faulty.metric(PUMP_DE, "flow")[plateau]))
    assert jitter > 3 * np.std(np.diff(healthy.metric(PUMP_DE, "flow")[plateau]))

    labels = faulty.labels(PUMP_DE)
    assert all(("cavitation" in r.faults) == (300 <= r.t_s < 900) for r in labels)
    assert all(not r.faults for r in faulty.labels(MOTOR_DE))


def test_bearing_wear_rises_until_failure_then_repair() -> None:
    episode = FaultEpisode(PUMP_US, FaultKind.BEARING_WEAR, 0.0, 1200.0, repair_s=300.0)
    faulty = simulate([episode], duration_s=1800)
    healthy = simulate(duration_s=1800)
    t = faulty.t_s()

    vib = faulty.metric(PUMP_US, "vibration_rms")
    late, early = (t >= 1100) & (t < 1200), t < 100
    assert vib[late].mean() > vib[early].mean() + 6.0  # mm/s: beyond ISO 10816 zone C at failure
    temperature_rise = faulty.metric(PUMP_US, "bearing_temperature") - healthy.metric(PUMP_US, "bearing_temperature")
    assert temperature_rise[late].mean() > 10.0  # K
    assert (faulty.metric(PUMP_US, "current")[late] > healthy.metric(PUMP_US, "current")[late]).all()  # friction

    labels = faulty.labels(PUMP_US)
    for row in labels:
        if row.t_s < 1200:
            assert row.state == "running"
            assert "bearing_wear" in row.faults
            assert row.rul_s == pytest.approx(1200 - row.t_s)
            assert row.health == pytest.approx(1 - (row.t_s / 1200) ** 2)
        elif row.t_s < 1500:
            assert row.state == "down"
            assert row.health == 0.0
            assert row.rul_s == 0.0
        else:
            assert row.state == "running"
            assert row.health == 1.0
            assert row.rul_s is None
            assert not row.faults

    down = (t >= 1200) & (t < 1500)
    assert (faulty.metric(PUMP_US, "flow")[down] == 0).all()
    assert (faulty.metric(PUMP_US, "current")[down] == 0).all()
    assert faulty.metric(PUMP_US, "vibration_rms")[down].max() < 0.2
    # Back with a new bearing: vibration is healthy again.
    assert faulty.metric(PUMP_US, "vibration_rms")[t >= 1500].max() < 2.5


def test_stuck_sensor_repeats_one_value() -> None:
    run = simulate([FaultEpisode(SPINDLE_DE, FaultKind.SENSOR_STUCK, 100.0, 400.0, tag="temperature")])
    t = run.t_s()
    stuck = run.metric(SPINDLE_DE, "temperature")[(t >= 100) & (t < 400)]
    assert len(stuck) == 300
    assert np.unique(stuck).size == 1
    assert np.unique(run.metric(SPINDLE_DE, "temperature")[t >= 400]).size > 100
    assert (run.quality(SPINDLE_DE, "temperature") == GOOD).all()  # a stuck transmitter does not know it
    # The machine itself keeps changing; only the instrument froze.
    assert np.unique(run.healthy(SPINDLE_DE, "temperature")[(t >= 100) & (t < 400)]).size > 100
    assert {r.faults for r in run.labels(SPINDLE_DE) if 100 <= r.t_s < 400} == {("sensor_stuck:temperature",)}


def test_dropout_leaves_gaps() -> None:
    run = simulate([FaultEpisode(PUMP_DE, FaultKind.SENSOR_DROPOUT, 100.0, 160.0, tag="flow")])
    t = run.t_s()
    flow = run.metric(PUMP_DE, "flow")
    gap = (t >= 100) & (t < 160)
    assert np.isnan(flow[gap]).all()
    assert np.isfinite(flow[~gap]).all()
    assert gap.sum() == 60
    assert np.isfinite(run.metric(PUMP_DE, "discharge_pressure")).all()  # only that instrument
    assert sum(tick.reading_count for tick in run.ticks) == len(run.ticks) * 59 - 60


def test_comm_loss_silences_the_whole_equipment() -> None:
    run = simulate([FaultEpisode(MOTOR_DE, FaultKind.COMM_LOSS, 50.0, 80.0)], duration_s=120)
    t = run.t_s()
    for tag in ("current", "speed", "power"):
        assert np.isnan(run.metric(MOTOR_DE, tag)[(t >= 50) & (t < 80)]).all()
    assert {r.faults for r in run.labels(MOTOR_DE) if 50 <= r.t_s < 80} == {("comm_loss",)}


def test_drift_is_a_growing_offset(baseline_20min: Run) -> None:
    rate = 6.0  # °C per hour
    run = simulate(
        [FaultEpisode(MOTOR_DE, FaultKind.SENSOR_DRIFT, 0.0, 1200.0, tag="winding_temperature", rate=rate)],
        duration_s=1200,
    )
    offset = run.metric(MOTOR_DE, "winding_temperature") - baseline_20min.metric(MOTOR_DE, "winding_temperature")
    np.testing.assert_allclose(offset, rate * run.t_s() / 3600.0, atol=1e-9)


def test_spikes_are_rare_large_excursions(baseline_20min: Run) -> None:
    run = simulate(
        [FaultEpisode(PUMP_DE, FaultKind.SENSOR_SPIKES, 0.0, 1200.0, tag="vibration_rms", rate=0.1)], duration_s=1200
    )
    deviation = np.abs(run.metric(PUMP_DE, "vibration_rms") - baseline_20min.metric(PUMP_DE, "vibration_rms"))
    spikes = deviation > 0
    assert 80 <= spikes.sum() <= 160  # ~10 % of 1200 samples
    assert deviation[spikes].min() > 1.0  # mm/s: every spike stands out of ~0.05 mm/s noise
    # Negative spikes fall below the transmitter's range (0 mm/s): clamped and flagged, as a 4-20 mA loop saturates.
    quality = run.quality(PUMP_DE, "vibration_rms")
    assert set(np.unique(quality)) == {GOOD, RANGE_EXCEEDED}
    assert (quality[~spikes] == GOOD).all()
    assert (run.metric(PUMP_DE, "vibration_rms")[quality == RANGE_EXCEEDED] == 0.0).all()


def test_tool_wear_cycles_with_tool_changes() -> None:
    run = simulate(duration_s=5400)
    labels = run.labels(SPINDLE_DE)
    wear = np.array([r.tool_wear_mm for r in labels])
    rul = np.array([r.tool_rul_s for r in labels])
    changes = np.flatnonzero(np.diff(wear) < -0.1)
    assert len(changes) >= 1  # tools last ~25-45 minutes
    assert wear.max() <= TOOL_LIMIT_MM * 1.2
    first = slice(0, changes[0] + 1)
    assert wear[first][-1] >= TOOL_LIMIT_MM  # changed at the limit
    assert (np.diff(wear[first]) >= 0).all()
    assert (np.diff(rul[first]) <= 1e-6).all()
    assert rul[first][-1] == 0.0
    # RUL counts wall time to the limit: it ran out when the wear crossed it.
    crossing = int(np.argmax(wear >= TOOL_LIMIT_MM))
    assert rul[crossing] == 0.0
    assert rul[crossing - 1] > 0.0
    assert all(("tool_worn" in r.faults) == (w >= TOOL_WORN_MM) for r, w in zip(labels, wear, strict=True))
    # The measured tool wear follows the truth, and a dull tool cuts harder.
    measured = run.metric(SPINDLE_DE, "tool_wear")
    assert np.abs(measured - wear).max() < 0.01
    speed, load = run.metric(SPINDLE_DE, "speed"), run.metric(SPINDLE_DE, "load")
    roughing = np.abs(speed - 8000) < 30
    sharp, dull = roughing & (wear < 0.12), roughing & (wear > 0.27)
    assert load[dull].mean() > 1.2 * load[sharp].mean()


def test_scenario_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "scenario.json"
    path.write_text(
        json.dumps(
            {
                "random_faults": False,
                "faults": [
                    {"equipment": PUMP_DE, "fault": "cavitation", "start_s": 60, "duration_s": 300, "severity": 0.8},
                    {"equipment": MOTOR_DE, "fault": "bearing_wear", "start_s": 0, "time_to_failure_s": 900},
                    {"equipment": PUMP_US, "fault": "sensor_spikes", "tag": "flow", "start_s": 5, "duration_s": 10},
                ],
            }
        )
    )
    scenario = Scenario.load(path)
    assert not scenario.random_faults
    cavitation, wear, spikes = scenario.faults
    assert (cavitation.kind, cavitation.start_s, cavitation.end_s, cavitation.severity) == (
        FaultKind.CAVITATION,
        60.0,
        360.0,
        0.8,
    )
    assert (wear.end_s, wear.repair_s) == (900.0, 1800.0)
    assert spikes.rate == 0.05
    assert spikes.label == "sensor_spikes:flow"
    assert [episode_from_dict(e.to_dict()) for e in scenario.faults] == list(scenario.faults)


@pytest.mark.parametrize(
    ("episode", "message"),
    [
        (FaultEpisode(MOTOR_DE, FaultKind.CAVITATION, 0.0, 10.0), "only applies to pumps"),
        (FaultEpisode(PUMP_DE, FaultKind.SENSOR_STUCK, 0.0, 10.0, tag="speed"), "has no tag"),
        (FaultEpisode("acme/nowhere/a/b/c/d", FaultKind.COMM_LOSS, 0.0, 10.0), "no equipment"),
    ],
)
def test_scenario_faults_are_validated(episode: FaultEpisode, message: str) -> None:
    with pytest.raises((ValueError, KeyError), match=message):
        simulate([episode], duration_s=1)


def test_episode_needs_a_tag_and_a_positive_duration() -> None:
    with pytest.raises(ValueError, match="needs a tag"):
        FaultEpisode(PUMP_DE, FaultKind.SENSOR_DRIFT, 0.0, 10.0)
    with pytest.raises(ValueError, match="after start_s"):
        FaultEpisode(PUMP_DE, FaultKind.CAVITATION, 10.0, 10.0)
