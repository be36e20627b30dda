"""A US site and an SI site in the same physical state report the same quantities, in their own units."""

from __future__ import annotations

import numpy as np
import pytest

from factorymesh.line_simulator import UnitSystem, default_plant
from factorymesh.line_simulator.testing import simulate

# Explicit factors, written out here rather than taken from the code under test: US value -> metric value.
US_TO_METRIC = {
    "[degF]": lambda v: (v - 32.0) * 5.0 / 9.0,
    "[psi]": lambda v: v * 0.0689475729,  # bar
    "[gal_us]/min": lambda v: v * 3.785411784,  # L/min
    "[in_i]/s": lambda v: v * 25.4,  # mm/s
    "[in_i]": lambda v: v * 25.4,  # mm
    "[HP]": lambda v: v * 0.7456998716,  # kW
    "A": lambda v: v,
    "/min": lambda v: v,
    "%": lambda v: v,
}
EXPECTED_US_UNITS = {
    "flow": "[gal_us]/min",
    "suction_pressure": "[psi]",
    "discharge_pressure": "[psi]",
    "current": "A",
    "bearing_temperature": "[degF]",
    "vibration_rms": "[in_i]/s",
    "winding_temperature": "[degF]",
    "speed": "/min",
    "power": "[HP]",
    "load": "%",
    "temperature": "[degF]",
    "tool_wear": "[in_i]",
}
EXPECTED_SI_UNITS = {
    "flow": "L/min",
    "suction_pressure": "bar",
    "discharge_pressure": "bar",
    "current": "A",
    "bearing_temperature": "Cel",
    "vibration_rms": "mm/s",
    "winding_temperature": "Cel",
    "speed": "/min",
    "power": "kW",
    "load": "%",
    "temperature": "Cel",
    "tool_wear": "mm",
}


def test_us_and_si_report_the_same_physics() -> None:
    us_plant = default_plant()
    si_plant = us_plant.with_units("houston", UnitSystem.SI)
    us_run = simulate(plant=us_plant, duration_s=300, random_faults=True, seed=3)
    si_run = simulate(plant=si_plant, duration_s=300, random_faults=True, seed=3)
    houston = [e for e in us_plant.equipment if e.site == "houston"]
    assert houston
    assert all(e.units is UnitSystem.US for e in houston)
    for equipment in houston:
        sample_us = next(s for s in us_run.ticks[0].samples() if s.equipment.key == equipment.key)
        sample_si = next(s for s in si_run.ticks[0].samples() if s.equipment.key == equipment.key)
        for j, tag in enumerate(equipment.tags):
            us_unit, si_unit = sample_us.units[j].code, sample_si.units[j].code
            assert us_unit == EXPECTED_US_UNITS[tag.name]
            assert si_unit == EXPECTED_SI_UNITS[tag.name]
            us_values = us_run.values(equipment.key, tag.name)
            si_values = si_run.values(equipment.key, tag.name)
            np.testing.assert_allclose(US_TO_METRIC[us_unit](us_values), si_values, rtol=1e-9, atol=1e-9)
            if us_unit not in ("A", "/min", "%"):
                assert not np.allclose(us_values, si_values, equal_nan=True), tag.name


@pytest.mark.parametrize("site", ["stuttgart", "houston"])
def test_unit_metadata_matches_quantity_kind(site: str) -> None:
    run = simulate(duration_s=1)
    for sample in run.ticks[0].samples():
        if sample.equipment.site != site:
            continue
        for unit in sample.units:
            assert unit.proto().quantity_kind != 0
            assert unit.proto().code == unit.code
