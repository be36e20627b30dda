"""Healthy machines read physically plausible values, with the couplings of real pumps, motors and spindles."""

from __future__ import annotations

import numpy as np
import pytest

from factorymesh.line_simulator import EquipmentClass, default_plant
from factorymesh.line_simulator.plant import CLASS_TAGS
from factorymesh.line_simulator.simulator import GOOD
from factorymesh.line_simulator.testing import MOTOR_DE, MOTOR_US, PUMP_DE, PUMP_US, SPINDLE_DE, Run, simulate

# Healthy operating envelopes (metric units) — what a plant engineer expects to see.
PLAUSIBLE: dict[EquipmentClass, dict[str, tuple[float, float]]] = {
    EquipmentClass.CENTRIFUGAL_PUMP: {
        "flow": (600.0, 1900.0),  # L/min, around a 1500 L/min best efficiency point
        "suction_pressure": (0.7, 1.3),  # bar(g)
        "discharge_pressure": (4.0, 7.5),  # bar(g): ~45-60 m of head
        "current": (12.0, 40.0),  # A, a 15 kW pump on 400/460 V
        "bearing_temperature": (40.0, 80.0),  # °C
        "vibration_rms": (0.8, 2.8),  # mm/s: ISO 10816 zone A/B
    },
    EquipmentClass.INDUCTION_MOTOR: {
        "current": (20.0, 45.0),
        "winding_temperature": (40.0, 110.0),  # class F insulation allows 155 °C
        "vibration_rms": (0.8, 2.5),
        "speed": (1400.0, 1800.0),  # 4-pole at 50 / 60 Hz minus slip
        "power": (8.0, 25.0),  # kW, 22 kW rated
    },
    EquipmentClass.CNC_SPINDLE: {
        "speed": (0.0, 12100.0),
        "load": (0.0, 110.0),
        "vibration_rms": (0.2, 4.0),
        "temperature": (25.0, 60.0),
        "tool_wear": (0.0, 0.35),
    },
}


@pytest.fixture(scope="module")
def healthy_hour() -> Run:
    return simulate(duration_s=3600, seed=21)


def test_every_healthy_reading_is_in_its_operating_envelope(healthy_hour: Run) -> None:
    for equipment in default_plant().equipment:
        for tag in CLASS_TAGS[equipment.equipment_class]:
            low, high = PLAUSIBLE[equipment.equipment_class][tag.name]
            values = healthy_hour.metric(equipment.key, tag.name)
            assert np.isfinite(values).all(), (equipment.key, tag.name)
            assert low <= values.min(), (equipment.key, tag.name, values.min())
            assert values.max() <= high, (equipment.key, tag.name, values.max())
            assert (healthy_hour.quality(equipment.key, tag.name) == GOOD).all()


def test_pump_couplings(healthy_hour: Run) -> None:
    flow = healthy_hour.metric(PUMP_DE, "flow")
    p_s = healthy_hour.metric(PUMP_DE, "suction_pressure")
    p_d = healthy_hour.metric(PUMP_DE, "discharge_pressure")
    current = healthy_hour.metric(PUMP_DE, "current")
    assert (p_d > p_s + 3.0).all()  # the pump adds head
    # On the pump curve, more flow means less head and more power.
    assert np.corrcoef(flow, p_d - p_s)[0, 1] < -0.5
    assert np.corrcoef(flow, current)[0, 1] > 0.5
    # Demand wanders (OU process) but slowly: not white noise.
    assert np.corrcoef(flow[:-1], flow[1:])[0, 1] > 0.9


def test_motor_slip_and_current_follow_load(healthy_hour: Run) -> None:
    speed = healthy_hour.metric(MOTOR_DE, "speed")
    power = healthy_hour.metric(MOTOR_DE, "power")
    current = healthy_hour.metric(MOTOR_DE, "current")
    assert (speed < 1500.0).all()
    assert (speed > 1500.0 * 0.97).all()
    assert np.corrcoef(power, speed)[0, 1] < -0.8  # more load, more slip
    assert np.corrcoef(power, current)[0, 1] > 0.8
    # The Houston motor runs on 60 Hz.
    us_speed = healthy_hour.metric(MOTOR_US, "speed")
    assert (us_speed > 1750.0).all()
    assert (us_speed < 1800.0).all()


def test_spindle_runs_its_program(healthy_hour: Run) -> None:
    speed = healthy_hour.metric(SPINDLE_DE, "speed")
    load = healthy_hour.metric(SPINDLE_DE, "load")
    # Idle (load/unload) and the three cutting speeds all occur.
    for rpm in (0.0, 8000.0, 10000.0, 12000.0):
        assert (np.abs(speed - rpm) < 50.0).mean() > 0.05, rpm
    assert load[np.abs(speed - 8000.0) < 50].mean() > load[np.abs(speed - 12000.0) < 50].mean()  # roughing cuts harder
    assert load[speed < 1].max() < 2.0


def test_temperatures_follow_a_thermal_lag(healthy_hour: Run) -> None:
    temperature = healthy_hour.metric(PUMP_DE, "bearing_temperature")
    # 15-minute time constant: second-to-second change is sensor noise, not jumps.
    assert np.abs(np.diff(temperature)).max() < 1.5


def test_us_site_is_hotter_and_on_460_volts(healthy_hour: Run) -> None:
    us = healthy_hour.metric(PUMP_US, "current").mean()
    de = healthy_hour.metric(PUMP_DE, "current").mean()
    assert us < de  # same power at 460 V needs less current than at 400 V
