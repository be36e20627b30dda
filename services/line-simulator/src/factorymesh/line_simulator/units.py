"""Engineering units per site: every tag is simulated in metric units and published in its site's units.

The physics runs in one metric system (°C, bar, L/min, kW, mm/s, mm, A, rpm, %), the
units a German plant's transmitters report. A site set to US customary units
converts on the way out (°F, psi, gal/min, hp, in/s, in), exactly as a US plant's
transmitters would report the same physical state. Codes are UCUM
(``docs/contracts.md``: ``EngineeringUnit.code``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from factorymesh.api.common.v1 import units_pb2

FloatArray = npt.NDArray[np.float64]


class UnitSystem(enum.StrEnum):
    """The unit family a site's instruments report in."""

    SI = "si"
    US = "us"

    @property
    def proto(self) -> int:
        return units_pb2.UNIT_SYSTEM_SI if self is UnitSystem.SI else units_pb2.UNIT_SYSTEM_US_CUSTOMARY


@dataclass(frozen=True)
class Unit:
    """One engineering unit: UCUM code, display symbol, and the affine map from the metric unit.

    ``site_value = metric_value * scale + offset``.
    """

    code: str
    symbol: str
    quantity_kind: units_pb2.QuantityKind
    scale: float = 1.0
    offset: float = 0.0

    def proto(self) -> units_pb2.EngineeringUnit:
        return units_pb2.EngineeringUnit(code=self.code, symbol=self.symbol, quantity_kind=self.quantity_kind)


class Quantity(enum.StrEnum):
    """Physical quantities the simulated instruments measure."""

    TEMPERATURE = "temperature"
    PRESSURE = "pressure"
    FLOW = "flow"
    VIBRATION_VELOCITY = "vibration_velocity"
    POWER = "power"
    LENGTH = "length"
    CURRENT = "current"
    SPEED = "speed"
    RATIO = "ratio"


# Exact definitions (NIST SP 811): 1 in = 25.4 mm, 1 US gal = 3.785411784 L,
# 1 psi = 6894.757293168 Pa, 1 hp (mechanical) = 745.69987158227 W.
MM_PER_INCH = 25.4
LITRES_PER_US_GALLON = 3.785411784
BAR_PER_PSI = 0.06894757293168
KW_PER_HP = 0.74569987158227

_K = units_pb2  # short alias for the QuantityKind values below

METRIC_UNITS: dict[Quantity, Unit] = {
    Quantity.TEMPERATURE: Unit("Cel", "°C", _K.QUANTITY_KIND_TEMPERATURE),
    Quantity.PRESSURE: Unit("bar", "bar", _K.QUANTITY_KIND_PRESSURE),
    Quantity.FLOW: Unit("L/min", "l/min", _K.QUANTITY_KIND_VOLUMETRIC_FLOW),
    Quantity.VIBRATION_VELOCITY: Unit("mm/s", "mm/s", _K.QUANTITY_KIND_VELOCITY),
    Quantity.POWER: Unit("kW", "kW", _K.QUANTITY_KIND_POWER),
    Quantity.LENGTH: Unit("mm", "mm", _K.QUANTITY_KIND_LENGTH),
    Quantity.CURRENT: Unit("A", "A", _K.QUANTITY_KIND_ELECTRIC_CURRENT),
    Quantity.SPEED: Unit("/min", "rpm", _K.QUANTITY_KIND_ROTATIONAL_SPEED),
    Quantity.RATIO: Unit("%", "%", _K.QUANTITY_KIND_RATIO),
}

US_UNITS: dict[Quantity, Unit] = {
    Quantity.TEMPERATURE: Unit("[degF]", "°F", _K.QUANTITY_KIND_TEMPERATURE, 9.0 / 5.0, 32.0),
    Quantity.PRESSURE: Unit("[psi]", "psi", _K.QUANTITY_KIND_PRESSURE, 1.0 / BAR_PER_PSI),
    Quantity.FLOW: Unit("[gal_us]/min", "gpm", _K.QUANTITY_KIND_VOLUMETRIC_FLOW, 1.0 / LITRES_PER_US_GALLON),
    Quantity.VIBRATION_VELOCITY: Unit("[in_i]/s", "in/s", _K.QUANTITY_KIND_VELOCITY, 1.0 / MM_PER_INCH),
    # UCUM has no horsepower; "[HP]" is the conventional bracketed code (mechanical hp, 745.7 W).
    Quantity.POWER: Unit("[HP]", "hp", _K.QUANTITY_KIND_POWER, 1.0 / KW_PER_HP),
    Quantity.LENGTH: Unit("[in_i]", "in", _K.QUANTITY_KIND_LENGTH, 1.0 / MM_PER_INCH),
    Quantity.CURRENT: METRIC_UNITS[Quantity.CURRENT],
    Quantity.SPEED: METRIC_UNITS[Quantity.SPEED],
    Quantity.RATIO: METRIC_UNITS[Quantity.RATIO],
}


def unit_for(quantity: Quantity, system: UnitSystem) -> Unit:
    """The unit a site of ``system`` reports ``quantity`` in."""
    return (US_UNITS if system is UnitSystem.US else METRIC_UNITS)[quantity]


def to_site(metric: FloatArray, unit: Unit) -> FloatArray:
    """Metric values -> the site unit (vectorised)."""
    if unit.scale == 1.0 and unit.offset == 0.0:
        return metric
    return metric * unit.scale + unit.offset
