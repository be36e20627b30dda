"""Unit conversion to SI: the first processing stage after parsing.

A US plant reports 212 °F and 14.5 psi, a German plant 100 °C and 1 bar; both must leave
ingest as the same numbers (373.15 K, ~100 kPa) so that feature windows, models and agents
never see plant-specific units. Conversion factors come from **pint** (one registry per
process), but pint runs once per distinct unit string (or ``(source unit, registered unit)``
pair), never per reading: it yields an affine :class:`Conversion` ``si = value * scale +
offset`` that numpy applies to a whole column.

Rules (``services/ingest/docs/processing.md`` has the full table):

* Unit strings from plants are messy. A small alias table maps the spellings plants really
  send (``°F``, ``degF``, ``PSIG``, ``gpm``, ``U/min``, ``ft-lbf``, ``mils``, ``PS`` …) and the
  UCUM codes of :class:`EngineeringUnit` (``Cel``, ``[degF]``, ``[psi]``, ``m/s2`` …) before pint
  sees them, because pint's own reading of some of them is dangerous: ``cfm`` is a
  *centifermi*, ``PS`` a *petasiemens*, ``mil`` an angle, ``U/min`` an enzyme activity.
* A few spellings are genuinely ambiguous: ``F`` (farad / °F), ``C`` (coulomb / °C), ``g``
  (gram / standard gravity), ``G`` (gauss / standard gravity), ``1/min`` (rpm / a count
  rate). The tag's registered unit decides; without one the reading is rejected rather than
  guessed.
* Every dimensioned quantity becomes its coherent SI unit (K, Pa, m³/s, W, m/s², …);
  dimensionless ones (%, ppm, counts) keep the tag's registered unit, as the
  ``NormalizedReading.unit`` contract says.
* Rotational speed becomes **rad/s** (angular velocity ω, the coherent SI unit; pint and
  the localization service convert rad/s back to rpm exactly). pint treats the radian as
  dimensionless, so it would happily convert Hz to rad/s 1:1 — off by 2π for a shaft, and
  meaningless for a drive's electrical output frequency. Rotational speed and frequency are
  therefore different quantity kinds and never converted into each other.
* Gauge and absolute pressure (``psig`` / ``psia``, ``barg`` / ``bara``) differ by the
  ambient pressure, which ingest does not know: the number is converted, the reference is
  kept, and a conflict between an explicit ``g`` and an explicit ``a`` is refused.
* Standard-condition flows (``scfm``, ``Nm3/h``) depend on the reference conditions of the
  standard used (CAGI 68 °F / 14.5 psia vs DIN 1343 0 °C / 1.01325 bar), so they are refused
  instead of being silently turned into actual m³/s.
* Only affine units are accepted: the conversion is checked at a third point, which keeps
  logarithmic units (dB) and anything else non-linear out of the numpy fast path.
"""

from __future__ import annotations

import dataclasses
import math
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pint

from factorymesh.api.common.v1 import units_pb2
from factorymesh.ingest.model import DeadLetterReason, ReadingColumns, Rejection

__all__ = [
    "Conversion",
    "UnitConverter",
    "UnitError",
    "default_converter",
    "normalize",
]

QK = units_pb2.QuantityKind
UNIT_CONVERSION_FAILED = DeadLetterReason.DEAD_LETTER_REASON_UNIT_CONVERSION_FAILED
SCHEMA_VIOLATION = DeadLetterReason.DEAD_LETTER_REASON_SCHEMA_VIOLATION

# Unit strings longer than this are not units; refusing them early keeps pint's parser (and
# the caches) away from garbage.
MAX_UNIT_LENGTH = 64
# Exponents beyond this are typos or attacks ("m**1e9"), not plant units.
_MAX_EXPONENT = 4
# Bounded caches: unit strings come from untrusted sources, one entry per distinct string.
_CACHE_LIMIT = 4096


class UnitError(ValueError):
    """A unit that cannot be converted; the message is the dead letter's detail."""


@dataclass(frozen=True, slots=True)
class Conversion:
    """``si = value * scale + offset``; ``si_unit`` is the UCUM code of the result."""

    si_unit: str
    scale: float
    offset: float
    kind: QK = QK.QUANTITY_KIND_UNSPECIFIED
    symbol: str = ""  # display symbol of si_unit

    @property
    def is_identity(self) -> bool:
        return self.scale == 1.0 and self.offset == 0.0

    def apply(self, values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Converted copy of ``values`` (the same array when the conversion is the identity)."""
        if self.is_identity:
            return values
        out: npt.NDArray[np.float64] = values * self.scale + self.offset
        return out

    def apply_scalar(self, value: float) -> float:
        """Same arithmetic as :meth:`apply` (so a bound converts exactly like a value equal to it)."""
        return value * self.scale + self.offset

    def unit_proto(self) -> units_pb2.EngineeringUnit:
        return units_pb2.EngineeringUnit(code=self.si_unit, symbol=self.symbol or self.si_unit, quantity_kind=self.kind)


# --- what SI unit each quantity becomes --------------------------------------------------


@dataclass(frozen=True)
class _Target:
    kind: QK
    code: str  # UCUM
    symbol: str
    pint_expr: str


_SI_TARGETS: dict[QK, _Target] = {
    t.kind: t
    for t in (
        _Target(QK.QUANTITY_KIND_TEMPERATURE, "K", "K", "kelvin"),
        _Target(QK.QUANTITY_KIND_PRESSURE, "Pa", "Pa", "pascal"),
        _Target(QK.QUANTITY_KIND_LENGTH, "m", "m", "meter"),
        _Target(QK.QUANTITY_KIND_MASS, "kg", "kg", "kilogram"),
        _Target(QK.QUANTITY_KIND_TIME, "s", "s", "second"),
        _Target(QK.QUANTITY_KIND_FORCE, "N", "N", "newton"),
        _Target(QK.QUANTITY_KIND_TORQUE, "N.m", "N·m", "newton * meter"),
        _Target(QK.QUANTITY_KIND_VELOCITY, "m/s", "m/s", "meter / second"),
        _Target(QK.QUANTITY_KIND_ACCELERATION, "m/s2", "m/s²", "meter / second ** 2"),
        _Target(QK.QUANTITY_KIND_ROTATIONAL_SPEED, "rad/s", "rad/s", "radian / second"),
        _Target(QK.QUANTITY_KIND_FREQUENCY, "Hz", "Hz", "hertz"),
        _Target(QK.QUANTITY_KIND_ANGLE, "rad", "rad", "radian"),
        _Target(QK.QUANTITY_KIND_AREA, "m2", "m²", "meter ** 2"),
        _Target(QK.QUANTITY_KIND_VOLUME, "m3", "m³", "meter ** 3"),
        _Target(QK.QUANTITY_KIND_VOLUMETRIC_FLOW, "m3/s", "m³/s", "meter ** 3 / second"),
        _Target(QK.QUANTITY_KIND_MASS_FLOW, "kg/s", "kg/s", "kilogram / second"),
        _Target(QK.QUANTITY_KIND_DENSITY, "kg/m3", "kg/m³", "kilogram / meter ** 3"),
        _Target(QK.QUANTITY_KIND_VISCOSITY, "Pa.s", "Pa·s", "pascal * second"),
        _Target(QK.QUANTITY_KIND_ENERGY, "J", "J", "joule"),
        _Target(QK.QUANTITY_KIND_POWER, "W", "W", "watt"),
        _Target(QK.QUANTITY_KIND_ELECTRIC_CURRENT, "A", "A", "ampere"),
        _Target(QK.QUANTITY_KIND_VOLTAGE, "V", "V", "volt"),
        _Target(QK.QUANTITY_KIND_ELECTRIC_RESISTANCE, "Ohm", "Ω", "ohm"),
        _Target(QK.QUANTITY_KIND_ILLUMINANCE, "lx", "lx", "lux"),
    )
}
# Reference unit per dimension-determined kind (angle-bearing kinds are detected by name).
_KIND_BY_REFERENCE: tuple[tuple[str, QK], ...] = (
    ("kelvin", QK.QUANTITY_KIND_TEMPERATURE),
    ("pascal", QK.QUANTITY_KIND_PRESSURE),
    ("meter", QK.QUANTITY_KIND_LENGTH),
    ("kilogram", QK.QUANTITY_KIND_MASS),
    ("second", QK.QUANTITY_KIND_TIME),
    ("newton", QK.QUANTITY_KIND_FORCE),
    ("joule", QK.QUANTITY_KIND_ENERGY),
    ("meter / second", QK.QUANTITY_KIND_VELOCITY),
    ("meter / second ** 2", QK.QUANTITY_KIND_ACCELERATION),
    ("hertz", QK.QUANTITY_KIND_FREQUENCY),
    ("meter ** 2", QK.QUANTITY_KIND_AREA),
    ("meter ** 3", QK.QUANTITY_KIND_VOLUME),
    ("meter ** 3 / second", QK.QUANTITY_KIND_VOLUMETRIC_FLOW),
    ("kilogram / second", QK.QUANTITY_KIND_MASS_FLOW),
    ("kilogram / meter ** 3", QK.QUANTITY_KIND_DENSITY),
    ("pascal * second", QK.QUANTITY_KIND_VISCOSITY),
    ("watt", QK.QUANTITY_KIND_POWER),
    ("ampere", QK.QUANTITY_KIND_ELECTRIC_CURRENT),
    ("volt", QK.QUANTITY_KIND_VOLTAGE),
    ("ohm", QK.QUANTITY_KIND_ELECTRIC_RESISTANCE),
    ("lux", QK.QUANTITY_KIND_ILLUMINANCE),
    ("mole / meter ** 3", QK.QUANTITY_KIND_CONCENTRATION),
)
# Kinds that pint cannot tell apart by dimension but that must never be converted into each
# other (see the module docstring); every other same-dimension pair converts.
_DIMENSIONLESS_KINDS = frozenset(
    {
        QK.QUANTITY_KIND_DIMENSIONLESS,
        QK.QUANTITY_KIND_RATIO,
        QK.QUANTITY_KIND_CONCENTRATION,
        QK.QUANTITY_KIND_RELATIVE_HUMIDITY,
    }
)
_ANGLE_ROOTS = frozenset(
    {"radian", "degree", "turn", "revolutions_per_minute", "revolutions_per_second", "arcminute", "arcsecond"}
)
_FORCE_X_LENGTH_ROOTS = (
    frozenset({"newton", "force_pound", "force_kilogram", "force_ounce", "dyne"}),
    frozenset({"meter", "foot", "inch", "centimeter", "millimeter"}),
)
_PINT_BASE_CODES = {
    "meter": "m",
    "kilogram": "kg",
    "second": "s",
    "kelvin": "K",
    "ampere": "A",
    "mole": "mol",
    "candela": "cd",
    "radian": "rad",
    "bit": "bit",
}


# --- the alias table ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Meaning:
    """One interpretation of a unit string."""

    expr: str | None  # pint expression; None = opaque unit, only converts to itself
    code: str  # UCUM code of this unit (kept as the output unit for dimensionless kinds)
    kind: QK | None = None  # forced QuantityKind (None = derived from pint)
    reference: str = ""  # pressure reference: "gauge" / "absolute" / "" (not stated)
    refused: str = ""  # a known unit that is refused on purpose, and why


@dataclass(frozen=True)
class _Alias:
    meanings: tuple[_Meaning, ...]
    # Index of the meaning a *registered* (UCUM) unit takes when ambiguous; None = refuse.
    registry_default: int | None = 0


def _one(expr: str | None, code: str, kind: QK | None = None, reference: str = "") -> _Alias:
    return _Alias((_Meaning(expr, code, kind, reference),))


def _refused(code: str, why: str) -> _Alias:
    return _Alias((_Meaning(None, code, None, "", why),))


_STD_FLOW = (
    "a standard-condition flow depends on the reference conditions of its standard "
    "(CAGI 68 °F / 14.5 psia, ISO 1217, DIN 1343 0 °C / 1.01325 bar); send actual flow or mass flow"
)
_DEG_F = _Meaning("degree_Fahrenheit", "[degF]")
_DEG_C = _Meaning("degree_Celsius", "Cel")
_GRAVITY = _Meaning("standard_gravity", "[g]")
_RPM = _Meaning("revolutions_per_minute", "/min")


def _build_aliases() -> dict[str, _Alias]:
    table: dict[str, _Alias] = {}

    def add(keys: str, alias: _Alias) -> None:
        for key in keys.split("|"):
            table[key] = alias

    # Temperature (offset units) and temperature rates.
    add("°F|degF|deg F|[degF]|Fahrenheit|fahrenheit|DEGF|DEG F", _Alias((_DEG_F,)))
    add("°C|degC|deg C|Cel|Celsius|celsius|DEGC|DEG C", _Alias((_DEG_C,)))
    add("K|kelvin|Kelvin", _one("kelvin", "K"))
    add("°R|degR|[degR]", _one("degree_Rankine", "[degR]"))
    # UCUM: F = farad, C = coulomb. Plants mean temperatures; the registered unit decides,
    # and a registered "F"/"C" is refused (UCUM spells temperatures "[degF]" / "Cel").
    add("F", _Alias((_Meaning("farad", "F"), _DEG_F), registry_default=None))
    add("C", _Alias((_Meaning("coulomb", "C"), _DEG_C), registry_default=None))
    # Pressure, with the gauge / absolute reference when the spelling states it.
    add("psi|PSI|Psi|[psi]|lb/in2|lbf/in2|lbf/in^2|lbf/in**2", _one("psi", "[psi]"))
    add("psig|PSIG|Psig|psi(g)|psi g|PSI G", _one("psi", "[psi]", reference="gauge"))
    add("psia|PSIA|Psia|psi(a)|psi a|PSI A", _one("psi", "[psi]", reference="absolute"))
    add("bar|BAR|Bar", _one("bar", "bar"))
    add("barg|bar(g)|bar g|BARG|bar_g", _one("bar", "bar", reference="gauge"))
    add("bara|bar(a)|bar a|BARA|bar_a", _one("bar", "bar", reference="absolute"))
    add("mbar|mBar|MBAR", _one("millibar", "mbar"))
    add("kPa|KPA|kpa|KPa", _one("kilopascal", "kPa"))
    add("kPag|kPa(g)|kPa g", _one("kilopascal", "kPa", reference="gauge"))
    add("kPaa|kPa(a)|kPa a", _one("kilopascal", "kPa", reference="absolute"))
    add("MPa|MPA|mpa|Mpa", _one("megapascal", "MPa"))
    add("hPa|HPA|hpa", _one("hectopascal", "hPa"))
    add("Pa|PA|pa", _one("pascal", "Pa"))
    add("inHg|in Hg|inch Hg|in_Hg|\"Hg|[in_i'Hg]|INHG", _one("inch_Hg", "[in_i'Hg]"))
    add("mmHg|mm Hg|mm[Hg]|MMHG|torr|Torr", _one("millimeter_Hg", "mm[Hg]"))
    # Inches of water: the conventional 4 °C (39.2 °F) column, as UCUM [in_i'H2O] defines it.
    add('inH2O|in H2O|inWC|in WC|"WC|"H2O|[in_i\'H2O]|INH2O|inch_H2O', _one("inch_H2O", "[in_i'H2O]"))
    add("mmH2O|mm H2O|mmWC|mm WC|mm[H2O]", _one("millimeter_H2O", "mm[H2O]"))
    add("kgf/cm2|kg/cm2|kgf/cm^2|kg/cm^2|at", _one("technical_atmosphere", "att"))
    add("atm|ATM", _one("standard_atmosphere", "atm"))
    # Flow.
    add("gpm|GPM|Gpm|gal/min|USgpm|usgpm|[gal_us]/min", _one("gallon / minute", "[gal_us]/min"))
    add("gph|GPH|gal/h|gal/hr|[gal_us]/h", _one("gallon / hour", "[gal_us]/h"))
    add("lpm|LPM|l/min|L/min|l/m", _one("liter / minute", "l/min"))
    add("l/h|L/h|lph|LPH|l/hr|L/hr", _one("liter / hour", "l/h"))
    add("l/s|L/s", _one("liter / second", "l/s"))
    add("m3/h|m^3/h|cbm/h|m3/hr", _one("meter ** 3 / hour", "m3/h"))
    add("m3/min|m^3/min", _one("meter ** 3 / minute", "m3/min"))
    add("m3/s|m^3/s", _one("meter ** 3 / second", "m3/s"))
    add("cfm|CFM|acfm|ACFM|ft3/min|ft^3/min|cu ft/min|[ft_i]3/min", _one("foot ** 3 / minute", "[ft_i]3/min"))
    add(
        "scfm|SCFM|scfh|SCFH|sccm|SCCM|slpm|SLPM|slm|Nm3/h|Nm^3/h|Nm3/hr|nm3/h|NCMH|sm3/h|Sm3/h",
        _refused("", _STD_FLOW),
    )
    # Power.
    add("hp|HP|Hp|bhp|BHP|[HP]", _one("horsepower", "[HP]"))
    add("PS|ps|CV|cv", _one("metric_horsepower", "PS"))
    add("kW|KW|kw", _one("kilowatt", "kW"))
    add("W|w", _one("watt", "W"))
    add("MW", _one("megawatt", "MW"))
    # Length. In US vibration and coating practice a "mil" is a thousandth of an inch
    # (pint's "mil" is an angle).
    add("in|inch|inches|[in_i]|IN", _one("inch", "[in_i]"))
    add("mil|mils|MIL|MILS|thou|[mil_us]", _one("thou", "[mil_i]"))
    add("ft|feet|foot|[ft_i]|FT", _one("foot", "[ft_i]"))
    add("mm|MM", _one("millimeter", "mm"))
    add("um|µm|μm|micron|microns", _one("micrometer", "um"))
    add("cm", _one("centimeter", "cm"))
    add("m|meter|metre", _one("meter", "m"))
    # Velocity (vibration velocity in in/s, "ips", or mm/s).
    add("in/s|ips|IPS|in/sec|[in_i]/s", _one("inch / second", "[in_i]/s"))
    add("mm/s|mm/sec|MM/S", _one("millimeter / second", "mm/s"))
    add("m/s|m/sec", _one("meter / second", "m/s"))
    add("ft/min|fpm|FPM|[ft_i]/min", _one("foot / minute", "[ft_i]/min"))
    add("ft/s|fps|[ft_i]/s", _one("foot / second", "[ft_i]/s"))
    # Acceleration.
    add("[g]|g0|gn|g_n|g-force|gforce|g_0", _Alias((_GRAVITY,)))
    add("g", _Alias((_Meaning("gram", "g"), _GRAVITY)))  # UCUM g = gram
    add("G", _Alias((_Meaning("gauss", "G"), _GRAVITY)))  # UCUM G = gauss
    add("m/s2|m/s^2|m/s**2|m/sec2|m/sec^2", _one("meter / second ** 2", "m/s2"))
    add("mm/s2|mm/s^2", _one("millimeter / second ** 2", "mm/s2"))
    # Rotational speed. "1/min" and "U/min" are how German controls write rpm; "1/min" may
    # also be a count rate (press strokes), which a registered Hz / "{stroke}/min" selects.
    add("rpm|RPM|Rpm|rev/min|r/min|U/min|u/min|/min|RPM", _Alias((_RPM,)))
    add("1/min", _Alias((_RPM, _Meaning("1 / minute", "/min", QK.QUANTITY_KIND_FREQUENCY))))
    add("rps|RPS|rev/s|r/s|U/s", _one("revolutions_per_second", "/s", QK.QUANTITY_KIND_ROTATIONAL_SPEED))
    add("rad/s|rad/sec", _one("radian / second", "rad/s"))
    add("Hz|hz|HZ", _one("hertz", "Hz"))
    add("kHz|KHZ|khz", _one("kilohertz", "kHz"))
    # Electrical.
    add("A|amp|amps|AMP", _one("ampere", "A"))
    add("mA|MA|ma", _one("milliampere", "mA"))
    add("V|volt|volts|VOLT", _one("volt", "V"))
    add("mV", _one("millivolt", "mV"))
    add("kV|KV", _one("kilovolt", "kV"))
    add("Ohm|ohm|Ω|ohms", _one("ohm", "Ohm"))
    # Dimensionless: these keep their (registered) unit instead of becoming "1".
    add("%|pct|percent|PCT", _one("percent", "%", QK.QUANTITY_KIND_RATIO))
    add("%RH|% RH|%rh|%Rh|RH%|%r.H.", _one("percent", "%", QK.QUANTITY_KIND_RELATIVE_HUMIDITY))
    add("ppm|PPM|[ppm]", _one("ppm", "[ppm]", QK.QUANTITY_KIND_CONCENTRATION))
    add("ppb|PPB|[ppb]", _one("ppb", "[ppb]", QK.QUANTITY_KIND_CONCENTRATION))
    add("1|-|dimensionless", _one("dimensionless", "1", QK.QUANTITY_KIND_DIMENSIONLESS))
    add("{count}|count|counts|cnt|pcs|{piece}|{pcs}|pieces|parts", _one(None, "{count}", QK.QUANTITY_KIND_COUNT))
    # Sound levels are logarithmic and weighted: opaque, only dB(A) -> dB(A).
    add("dB(A)|dBA|dB[A]|db(A)|dBa", _one(None, "dB{A}", QK.QUANTITY_KIND_SOUND_LEVEL))
    add("dB(C)|dBC|dB[C]", _one(None, "dB{C}", QK.QUANTITY_KIND_SOUND_LEVEL))
    add("dB|db", _one(None, "dB", QK.QUANTITY_KIND_SOUND_LEVEL))
    # Mass and force. "ton" is 907 kg in the US and 1000 kg nearly everywhere else.
    add("lb|lbs|LB|LBS|[lb_av]|lbm", _one("pound", "[lb_av]"))
    add("kg|KG|Kg|kilogram", _one("kilogram", "kg"))
    add("t|tonne|metric_ton", _one("metric_ton", "t"))
    add(
        "ton|tons|TON",
        _refused("", "'ton' is a short ton (907 kg) in the US and a tonne elsewhere; send 't' or 'short_ton'"),
    )
    add("lbf|LBF|[lbf_av]", _one("force_pound", "[lbf_av]"))
    add("N|newton", _one("newton", "N"))
    add("kN|KN", _one("kilonewton", "kN"))
    add("kgf|KGF", _one("force_kilogram", "kgf"))
    # Torque. In US shop practice "ft-lb" is a torque (pound-force foot).
    torque = QK.QUANTITY_KIND_TORQUE
    add(
        "ft·lbf|ft*lbf|ft-lbf|ft.lbf|ft lbf|lbf·ft|lbf*ft|lbf-ft|lbf.ft|"
        "ft-lb|ft·lb|ft lb|lb-ft|lb·ft|lb ft|ftlb|ftlbf|[ft_i].[lbf_av]",
        _one("foot * force_pound", "[ft_i].[lbf_av]", torque),
    )
    add(
        "in·lbf|in*lbf|in-lbf|in.lbf|lbf·in|lbf-in|lbf.in|in-lb|in·lb|lb-in|[in_i].[lbf_av]",
        _one("inch * force_pound", "[in_i].[lbf_av]", torque),
    )
    add("N·m|N*m|N.m|Nm|N-m|N m|NM", _one("newton * meter", "N.m", torque))
    add("kN·m|kN*m|kN.m|kNm|kN-m", _one("kilonewton * meter", "kN.m", torque))
    # Energy (J, kJ, MJ parse as they are).
    add("kWh|kW.h|kW*h|kW·h|KWH|kwh", _one("kilowatt_hour", "kW.h", QK.QUANTITY_KIND_ENERGY))
    add("Wh|W.h|W*h|W·h", _one("watt_hour", "W.h", QK.QUANTITY_KIND_ENERGY))
    add("BTU|Btu|btu|[Btu_IT]", _one("british_thermal_unit", "[Btu_IT]", QK.QUANTITY_KIND_ENERGY))
    return table


_ALIASES = _build_aliases()
# Upper-case-only spellings some PLC/SCADA systems force ("DEGF", "KPA") are covered by the
# table; anything else must match exactly: case carries meaning in units (mW vs MW, Pa vs PA).

_MULTIPLY = str.maketrans({"·": "*", "⋅": "*", "\u00d7": "*", "•": "*"})  # middle dots, times sign
_UCUM_DOT = re.compile(r"(?<=[A-Za-z\]\)])\.(?=[A-Za-z\[\(])")
_UCUM_EXPONENT = re.compile(r"(?<=[A-Za-z\]\)])(-?\d+)(?![\d.])")
_WHITESPACE = re.compile(r"\s+")
_ANNOTATION = re.compile(r"\{[^{}]*\}")


def _canonical_text(unit: str) -> str:
    """NFKC (so ``m³`` -> ``m3``, ``℃`` -> ``°C``, micro sign -> µ), trimmed, single spaces."""
    text = unicodedata.normalize("NFKC", unit).strip()
    return _WHITESPACE.sub(" ", text)


@dataclass(frozen=True)
class _Unit:
    """A parsed unit: how it converts and what it measures."""

    text: str
    code: str
    kind: QK
    reference: str
    pint_unit: pint.Unit | None  # None: opaque
    target: _Target  # what this unit converts to when it is the registered unit

    @property
    def dimension(self) -> str:
        if self.pint_unit is None:
            return self.code
        return str(self.pint_unit.dimensionality)


class UnitConverter:
    """Turns unit strings into cached affine :class:`Conversion` s to SI.

    One per process (pint's registry takes ~0.5 s to load): use :func:`default_converter`.
    Not thread-safe (ingest runs one pipeline per event loop).
    """

    def __init__(self) -> None:
        self._ureg: pint.UnitRegistry[Any] = pint.UnitRegistry()
        self._ureg.define("ppb = 1e-9 = parts_per_billion")
        self._kinds_by_dimension: dict[object, QK] = {}
        for expr, kind in _KIND_BY_REFERENCE:
            self._kinds_by_dimension[self._ureg.parse_units(expr).dimensionality] = kind
        self._units: dict[tuple[str, bool], tuple[_Meaning, ...] | UnitError] = {}
        self._parsed: dict[_Meaning, _Unit | UnitError] = {}
        self._conversions: dict[tuple[str, str | None], Conversion | UnitError] = {}

    # --- public API ---------------------------------------------------------------------

    def to_si(self, unit: str) -> Conversion:
        """The conversion of ``unit`` to its SI unit (cached); raises :class:`UnitError`.

        Dimensionless units (%, ppm, counts) convert to themselves. Ambiguous spellings
        (``F``, ``C``, ``g``, ``G``, ``1/min``) need a registered unit: use :meth:`convert`.
        """
        return self._cached((unit, None))

    def convert(self, source: str, registered: str | None) -> Conversion:
        """The conversion of readings of a tag registered in ``registered`` and reported in
        ``source`` (``""`` = in the registered unit) to the registered unit's SI unit.

        ``registered`` ``None`` or ``""`` (no registry entry, or no unit registered) converts
        the source unit to its own SI unit; with ``source == ""`` too it is the identity with
        the unknown unit ``""``.
        Raises :class:`UnitError` for unknown, ambiguous, refused or incompatible units.
        """
        return self._cached((source, registered))

    def registered_to_si(self, registered: str) -> Conversion:
        """How a value in a tag's *registered* unit becomes SI (used for registry ranges)."""
        return self._cached(("", registered))

    def unit_proto(self, code: str) -> units_pb2.EngineeringUnit:
        """An ``EngineeringUnit`` for an SI / output code produced by this converter."""
        try:
            conversion = self.to_si(code)
        except UnitError:
            return units_pb2.EngineeringUnit(code=code, symbol=code)
        return conversion.unit_proto()

    # --- conversion ---------------------------------------------------------------------

    def _cached(self, key: tuple[str, str | None]) -> Conversion:
        hit = self._conversions.get(key)
        if hit is None:
            try:
                hit = self._compute(*key)
            except UnitError as exc:
                hit = exc
            except Exception as exc:  # noqa: BLE001 - pint on arbitrary input: never let it escape
                hit = UnitError(f"unit {key[0]!r} cannot be converted: {type(exc).__name__}")
            if len(self._conversions) >= _CACHE_LIMIT:
                self._conversions.clear()  # rare; recomputing costs microseconds per unit
            self._conversions[key] = hit
        if isinstance(hit, UnitError):
            raise hit
        return hit

    def _compute(self, source: str, registered: str | None) -> Conversion:
        if not registered:  # None or "": an EngineeringUnit with an empty code is "not reported"
            if not source:
                return Conversion("", 1.0, 0.0)
            meanings = self._meanings(source, registry=False)
            if len(meanings) > 1:
                options = " or ".join(self._describe(m) for m in meanings)
                raise UnitError(f"ambiguous unit {source!r} ({options}) and the tag has no registered unit")
            unit = self._parse(meanings[0])
            return self._conversion(unit, unit.target)
        reg = self._registered(registered)
        if not source or source == registered:
            return self._conversion(reg, reg.target)
        candidates = self._candidates(source)
        compatible = [u for u in candidates if _same_quantity(u, reg)]
        if not compatible:
            src = candidates[0]
            raise UnitError(
                f"unit {source!r} ({_kind_name(src.kind)}, {src.dimension}) cannot be converted to the tag's "
                f"registered unit {registered!r} ({_kind_name(reg.kind)}, {reg.dimension})"
            )
        unit = compatible[0]
        if unit.reference and reg.reference and unit.reference != reg.reference:
            raise UnitError(
                f"{unit.reference} pressure {source!r} cannot be converted to the {reg.reference} pressure "
                f"{registered!r} without the ambient pressure"
            )
        return self._conversion(unit, reg.target)

    def _candidates(self, source: str) -> list[_Unit]:
        """The parseable meanings of a source unit (an ambiguous spelling may have one bad one)."""
        meanings = self._meanings(source, registry=False)
        units: list[_Unit] = []
        error: UnitError | None = None
        for meaning in meanings:
            try:
                units.append(self._parse(meaning))
            except UnitError as exc:
                error = error or exc
        if not units:
            assert error is not None
            raise error
        return units

    def _registered(self, registered: str) -> _Unit:
        try:
            meanings = self._meanings(registered, registry=True)
        except UnitError as exc:
            raise UnitError(f"registered unit: {exc}") from None
        return self._parse(meanings[0])

    def _conversion(self, unit: _Unit, target: _Target) -> Conversion:
        if unit.pint_unit is None:  # opaque: converts only to itself
            if target.pint_expr or target.code != unit.code:
                raise UnitError(f"unit {unit.text!r} converts only to itself, not to {target.code!r}")
            return Conversion(unit.code, 1.0, 0.0, target.kind, target.symbol)
        ureg = self._ureg
        to = ureg.parse_units(target.pint_expr)
        try:
            zero = ureg.Quantity(0.0, unit.pint_unit)
            one = ureg.Quantity(1.0, unit.pint_unit)
            offset = float(zero.to(to).magnitude)
            # The slope from a difference quantity (pint turns °F - °F into a delta), which
            # keeps all digits: 1 °C is exactly 1 K, not 274.15 - 273.15 K.
            scale = float((one - zero).to(to).magnitude)
            at1000 = float(ureg.Quantity(1000.0, unit.pint_unit).to(to).magnitude)
        except Exception as exc:  # noqa: BLE001 - pint raises a zoo of types for odd units
            raise UnitError(f"unit {unit.text!r} cannot be converted to {target.code!r}: {exc}") from None
        finite = math.isfinite(scale) and math.isfinite(offset) and scale > 0.0
        # Affine check at a third point: keeps logarithmic units (dB) out of the numpy path.
        if not finite or not math.isclose(at1000, offset + 1000.0 * scale, rel_tol=1e-9, abs_tol=1e-12):
            raise UnitError(f"unit {unit.text!r} is not an affine (linear + offset) unit")
        return Conversion(target.code, scale, offset, target.kind, target.symbol)

    # --- parsing ------------------------------------------------------------------------

    def _meanings(self, text: str, *, registry: bool) -> tuple[_Meaning, ...]:
        key = (text, registry)
        hit = self._units.get(key)
        if hit is None:
            try:
                hit = self._lookup(text, registry=registry)
            except UnitError as exc:
                hit = exc
            if len(self._units) >= _CACHE_LIMIT:
                self._units.clear()
            self._units[key] = hit
        if isinstance(hit, UnitError):
            raise hit
        return hit

    def _lookup(self, text: str, *, registry: bool) -> tuple[_Meaning, ...]:
        if len(text) > MAX_UNIT_LENGTH:
            raise UnitError(f"unit string of {len(text)} characters is not a unit")
        canonical = _canonical_text(text)
        if not canonical:
            raise UnitError("empty unit")
        alias = _ALIASES.get(canonical)
        if alias is None:
            compact = canonical.replace(" ", "")
            alias = _ALIASES.get(compact)
        if alias is not None:
            refused = next((m.refused for m in alias.meanings if m.refused), "")
            if refused:
                raise UnitError(f"unit {text!r} is not converted: {refused}")
            if registry and len(alias.meanings) > 1:
                if alias.registry_default is None:
                    options = " or ".join(self._describe(m) for m in alias.meanings)
                    raise UnitError(f"{text!r} is ambiguous ({options}); register its UCUM code")
                return (alias.meanings[alias.registry_default],)
            return alias.meanings
        if "{" in canonical:
            # UCUM annotations ("{stroke}/min", "{bottle}") are counts of something.
            stripped = _ANNOTATION.sub("1", canonical)
            if _ANNOTATION.fullmatch(canonical):
                return (_Meaning(None, canonical, QK.QUANTITY_KIND_COUNT),)
            return (_Meaning(self._pint_expression(text, stripped), ""),)
        return (_Meaning(self._pint_expression(text, canonical), ""),)

    def _pint_expression(self, text: str, canonical: str) -> str:
        """A pint expression for a unit not in the alias table (UCUM ``.`` / exponents accepted)."""
        expr = canonical.translate(_MULTIPLY)
        if "[" in expr:  # a UCUM special unit the table does not know
            raise UnitError(f"unknown unit {text!r}")
        for attempt in (expr, _UCUM_EXPONENT.sub(r"**\1", _UCUM_DOT.sub("*", expr))):
            try:
                self._ureg.parse_units(attempt)
            except Exception:  # noqa: BLE001, S112 - pint raises many types for non-units; try the next spelling
                continue
            return attempt
        raise UnitError(f"unknown unit {text!r}")

    def _describe(self, meaning: _Meaning) -> str:
        if meaning.expr is None:
            return meaning.code
        return meaning.expr.replace("_", " ")

    def _parse(self, meaning: _Meaning) -> _Unit:
        hit = self._parsed.get(meaning)
        if hit is None:
            try:
                hit = self._parse_uncached(meaning)
            except UnitError as exc:
                hit = exc
            except Exception as exc:  # noqa: BLE001 - pint on arbitrary input: never let it escape
                hit = UnitError(f"unit {meaning.expr!r} cannot be used: {type(exc).__name__}")
            if len(self._parsed) >= _CACHE_LIMIT:
                self._parsed.clear()
            self._parsed[meaning] = hit
        if isinstance(hit, UnitError):
            raise hit
        return hit

    def _parse_uncached(self, meaning: _Meaning) -> _Unit:
        if meaning.expr is None:
            kind = meaning.kind if meaning.kind is not None else QK.QUANTITY_KIND_UNSPECIFIED
            return _Unit(meaning.code, meaning.code, kind, "", None, _Target(kind, meaning.code, meaning.code, ""))
        try:
            unit = self._ureg.parse_units(meaning.expr)
        except Exception as exc:  # noqa: BLE001 - pint raises a zoo of types for odd input
            raise UnitError(f"unknown unit {meaning.expr!r}: {type(exc).__name__}") from None
        dims = unit.dimensionality
        if len(dims) > 5 or not all(_plausible_exponent(e) for e in (*dims.values(), *unit._units.values())):
            raise UnitError(f"{meaning.expr!r} is not a plausible unit")
        roots = {self._root(name) for name in unit._units}
        has_angle = bool(roots & _ANGLE_ROOTS)
        kind = meaning.kind if meaning.kind is not None else self._kind(unit, roots, has_angle)
        code = meaning.code or _pint_to_ucum(unit._units)
        target = self._target(unit, kind, code, has_angle)
        return _Unit(meaning.code or str(unit), code, kind, meaning.reference, unit, target)

    def _root(self, name: str) -> str:
        """``milliradian`` -> ``radian``: prefixes do not change what a unit measures."""
        parsed = self._ureg.parse_unit_name(name)
        return parsed[0][1] if parsed else name

    def _kind(self, unit: pint.Unit, roots: set[str], has_angle: bool) -> QK:
        dims = unit.dimensionality
        if not dims:  # dimensionless
            if has_angle:
                return QK.QUANTITY_KIND_ANGLE
            if "count" in roots:
                return QK.QUANTITY_KIND_COUNT
            if "percent" in roots:
                return QK.QUANTITY_KIND_RATIO
            if roots & {"ppm", "ppb"}:
                return QK.QUANTITY_KIND_CONCENTRATION
            return QK.QUANTITY_KIND_DIMENSIONLESS
        kind = self._kinds_by_dimension.get(dims, QK.QUANTITY_KIND_UNSPECIFIED)
        if kind == QK.QUANTITY_KIND_FREQUENCY and has_angle:
            return QK.QUANTITY_KIND_ROTATIONAL_SPEED
        if kind == QK.QUANTITY_KIND_ENERGY and _is_force_times_length(roots):
            return QK.QUANTITY_KIND_TORQUE
        return kind

    def _target(self, unit: pint.Unit, kind: QK, code: str, has_angle: bool) -> _Target:
        if kind in _SI_TARGETS:
            return _SI_TARGETS[kind]
        if not unit.dimensionality and not has_angle:
            # Dimensionless (%, ppm, counts, ratios): the unit itself is the output unit.
            return _Target(kind, code, code, str(unit))
        if has_angle:
            raise UnitError(f"angular unit {str(unit)!r} is not supported (only angles and rotational speeds)")
        base = self._ureg.Quantity(1.0, unit).to_base_units().units
        code = _pint_to_ucum(base._units)
        return _Target(kind, code, code, str(base))


def _same_quantity(source: _Unit, registered: _Unit) -> bool:
    if source.pint_unit is None or registered.pint_unit is None:
        return source.code == registered.code
    if source.pint_unit.dimensionality != registered.pint_unit.dimensionality:
        return False
    kinds = {source.kind, registered.kind}
    if len(kinds) == 1:
        return True
    # Same dimension, different kinds: only the pure numbers (%, ppm, 1) and energy vs torque
    # (ft·lbf is both a Charpy energy and a torque) are interchangeable. Rotational speed vs
    # frequency and angle vs number differ by 2π; counts are not fractions.
    return kinds <= _DIMENSIONLESS_KINDS or kinds == {QK.QUANTITY_KIND_ENERGY, QK.QUANTITY_KIND_TORQUE}


def _plausible_exponent(exponent: object) -> bool:
    return isinstance(exponent, int | float) and float(exponent).is_integer() and abs(exponent) <= _MAX_EXPONENT


def _is_force_times_length(roots: set[str]) -> bool:
    forces, lengths = _FORCE_X_LENGTH_ROOTS
    return len(roots) == 2 and bool(roots & forces) and bool(roots & lengths)


def _kind_name(kind: QK) -> str:
    name = QK.Name(kind) if kind in QK.values() else "QUANTITY_KIND_UNSPECIFIED"
    return name.removeprefix("QUANTITY_KIND_").lower().replace("_", " ") if kind else "unknown quantity"


def _pint_to_ucum(units: Mapping[str, object]) -> str:
    """``meter ** 3 / second`` -> ``m3/s`` (best effort for units without a table entry)."""
    num: list[str] = []
    den: list[str] = []
    for name, exp in units.items():
        assert isinstance(exp, int | float)  # checked by _plausible_exponent
        symbol = _PINT_BASE_CODES.get(name, name)
        power = abs(int(exp))
        term = symbol if power == 1 else f"{symbol}{power}"
        (num if exp > 0 else den).append(term)
    text = ".".join(num) if num else "1"
    if den:
        text += "/" + ".".join(den)
    return text


_DEFAULT: list[UnitConverter] = []


def default_converter() -> UnitConverter:
    """The process-wide converter (created on first use; loading pint takes ~0.5 s)."""
    if not _DEFAULT:
        _DEFAULT.append(UnitConverter())
    return _DEFAULT[0]


# --- the stage ------------------------------------------------------------------------------


def normalize(
    columns: ReadingColumns,
    registry_unit: Callable[[str], str | None],
    converter: UnitConverter | None = None,
) -> tuple[ReadingColumns, list[Rejection], list[str]]:
    """Convert ``columns`` to SI.

    ``registry_unit(tag)`` returns the tag's registered unit (its UCUM code) or ``None``
    when the tag has none. Returns the surviving readings with values in SI and ``units``
    replaced by the SI unit of each tag, one ``UNIT_CONVERSION_FAILED`` rejection per reading
    of a tag whose unit cannot be converted, and the SI unit per tag (parallel to
    ``columns.tags``; ``""`` for unknown units and for failed tags).

    Python work is per distinct tag; the values are converted with two gathers, one
    multiply and one add.
    """
    conv = converter if converter is not None else default_converter()
    n_tags = len(columns.tags)
    scale = np.ones(n_tags, dtype=np.float64)
    offset = np.zeros(n_tags, dtype=np.float64)
    si_units = [""] * n_tags
    failed: dict[int, str] = {}
    identity = True
    for t, tag in enumerate(columns.tags):
        source = columns.units[t] if t < len(columns.units) else ""
        try:
            conversion = conv.convert(source, registry_unit(tag))
        except UnitError as exc:
            failed[t] = str(exc)
            continue
        si_units[t] = conversion.si_unit
        if not conversion.is_identity:
            identity = False
            scale[t] = conversion.scale
            offset[t] = conversion.offset

    rejections: list[Rejection] = []
    tag_idx = columns.tag_idx
    if failed or _outside_dictionary(tag_idx, n_tags):
        bad = np.zeros(n_tags + 1, dtype=np.bool_)  # slot n_tags: indices outside the dictionary
        bad[list(failed)] = True
        bad[n_tags] = True
        rejected = bad[np.minimum(tag_idx, n_tags)]
        for i in np.flatnonzero(rejected).tolist():
            t = int(tag_idx[i])
            if t >= n_tags:  # a parser bug or a corrupt batch, not a unit problem
                detail = f"tag index {t} outside the batch's tag dictionary of {n_tags} tags"
                rejections.append(Rejection(SCHEMA_VIOLATION, detail, columns.reading_id(i)))
                continue
            tag = columns.tags[t]
            rejections.append(
                Rejection(UNIT_CONVERSION_FAILED, f"tag {tag!r}: {failed[t]}", columns.reading_id(i), tag)
            )
        columns = columns.select(~rejected)
        tag_idx = columns.tag_idx

    values = columns.values
    if not identity and len(columns):
        ti = tag_idx.astype(np.intp)  # gathers with a native index are ~3x faster than with uint32
        values = values * scale[ti] + offset[ti]
    converted = dataclasses.replace(columns, values=values, units=si_units)
    return converted, rejections, si_units


def _outside_dictionary(tag_idx: npt.NDArray[np.uint32], n_tags: int) -> bool:
    """Whether some reading's tag index is outside the tag dictionary (one max() per batch)."""
    return tag_idx.shape[0] > 0 and int(tag_idx.max()) >= n_tags


def si_unit_protos(si_units: list[str], converter: UnitConverter | None = None) -> list[units_pb2.EngineeringUnit]:
    """``EngineeringUnit`` s for the per-tag SI units :func:`normalize` returned."""
    conv = converter if converter is not None else default_converter()
    return [conv.unit_proto(code) if code else units_pb2.EngineeringUnit() for code in si_units]
