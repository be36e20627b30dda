"""The simulated plant: enterprise -> sites -> lines -> equipment, and the tags of each equipment class.

A plant is plain data. :func:`default_plant` is the demo plant `make up` runs; a
scenario file may replace it with its own ``"plant"`` object (same shape as
:meth:`Plant.to_dict`).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from factorymesh.line_simulator.units import Quantity, UnitSystem

# EquipmentPath segments use the United Manufacturing Hub charset (docs/contracts.md).
SEGMENT_RE = re.compile(r"^[a-zA-Z0-9_-]+$")


class EquipmentClass(enum.StrEnum):
    CENTRIFUGAL_PUMP = "centrifugal_pump"
    INDUCTION_MOTOR = "induction_motor"
    CNC_SPINDLE = "cnc_spindle"


class Format(enum.StrEnum):
    """The wire formats a line's gateway can publish in."""

    PROTOBUF = "protobuf"  # one factorymesh.telemetry.v1.SensorReading per reading
    BATCH = "batch"  # columnar SensorReadingBatch per equipment and publish interval
    UMH = "umh"  # United Manufacturing Hub historian JSON, one record per tag and sample
    SPARKPLUG = "sparkplug"  # Sparkplug B: one edge node per line, one device per equipment


def parse_formats(text: str | Iterable[str]) -> tuple[Format, ...]:
    """``"protobuf,umh"`` (or a list) -> formats; ``all`` means every format."""
    items = [p.strip() for p in (text.split(",") if isinstance(text, str) else text) if p.strip()]
    if items == ["all"]:
        return tuple(Format)
    try:
        formats = tuple(dict.fromkeys(Format(item) for item in items))
    except ValueError as error:
        raise ValueError(f"unknown format in {items!r}; choose from {[f.value for f in Format]} or 'all'") from error
    if not formats:
        raise ValueError("no format given")
    return formats


@dataclass(frozen=True)
class TagSpec:
    """One instrument of an equipment class.

    ``low``/``high`` is the transmitter's range in metric units: a value outside
    it is clamped and flagged UNCERTAIN_ENGINEERING_UNITS_EXCEEDED, as a 4-20 mA
    transmitter saturates.
    """

    name: str
    quantity: Quantity
    low: float
    high: float
    description: str


def _t(name: str, quantity: Quantity, low: float, high: float, description: str) -> TagSpec:
    return TagSpec(name, quantity, low, high, description)


Q = Quantity
CLASS_TAGS: dict[EquipmentClass, tuple[TagSpec, ...]] = {
    EquipmentClass.CENTRIFUGAL_PUMP: (
        _t("flow", Q.FLOW, 0.0, 3000.0, "discharge flow"),
        _t("suction_pressure", Q.PRESSURE, -1.0, 10.0, "suction pressure (gauge)"),
        _t("discharge_pressure", Q.PRESSURE, -1.0, 16.0, "discharge pressure (gauge)"),
        _t("current", Q.CURRENT, 0.0, 100.0, "motor phase current"),
        _t("bearing_temperature", Q.TEMPERATURE, -20.0, 150.0, "drive-end bearing temperature"),
        _t("vibration_rms", Q.VIBRATION_VELOCITY, 0.0, 50.0, "bearing housing vibration velocity RMS (10-1000 Hz)"),
    ),
    EquipmentClass.INDUCTION_MOTOR: (
        _t("current", Q.CURRENT, 0.0, 100.0, "phase current"),
        _t("winding_temperature", Q.TEMPERATURE, -20.0, 200.0, "stator winding temperature (PT100)"),
        _t("vibration_rms", Q.VIBRATION_VELOCITY, 0.0, 50.0, "vibration velocity RMS"),
        _t("speed", Q.SPEED, 0.0, 4000.0, "shaft speed"),
        _t("power", Q.POWER, 0.0, 60.0, "electrical input power"),
    ),
    EquipmentClass.CNC_SPINDLE: (
        _t("speed", Q.SPEED, 0.0, 15000.0, "spindle speed"),
        _t("load", Q.RATIO, 0.0, 150.0, "spindle load, % of rated power"),
        _t("vibration_rms", Q.VIBRATION_VELOCITY, 0.0, 50.0, "spindle housing vibration velocity RMS"),
        _t("temperature", Q.TEMPERATURE, -20.0, 150.0, "spindle bearing temperature"),
        _t("tool_wear", Q.LENGTH, 0.0, 1.0, "tool flank wear VB (in-process estimate)"),
    ),
}


def check_segment(value: str, what: str) -> str:
    if not SEGMENT_RE.match(value):
        raise ValueError(f"{what} {value!r} must match [a-zA-Z0-9_-]+ (UMH charset)")
    return value


@dataclass(frozen=True)
class Equipment:
    """One simulated machine, with everything the simulator and publishers need to know about it."""

    enterprise: str
    site: str
    area: str
    line: str
    cell: str
    name: str
    equipment_class: EquipmentClass
    units: UnitSystem
    formats: tuple[Format, ...]
    mains_hz: float
    voltage_v: float
    ambient_c: float

    @property
    def segments(self) -> tuple[str, str, str, str, str, str]:
        return (self.enterprise, self.site, self.area, self.line, self.cell, self.name)

    @cached_property
    def key(self) -> str:
        """Canonical equipment path, the Kafka key of telemetry topics (cached: looked up every tick)."""
        return "/".join(self.segments)

    @property
    def line_key(self) -> str:
        return "/".join(self.segments[:4])

    @property
    def tags(self) -> tuple[TagSpec, ...]:
        return CLASS_TAGS[self.equipment_class]


@dataclass(frozen=True)
class EquipmentSpec:
    cell: str
    name: str
    equipment_class: EquipmentClass


@dataclass(frozen=True)
class Line:
    area: str
    name: str
    equipment: tuple[EquipmentSpec, ...]
    formats: tuple[Format, ...] | None = None  # None: the site's formats


@dataclass(frozen=True)
class Site:
    name: str
    units: UnitSystem
    lines: tuple[Line, ...]
    formats: tuple[Format, ...] = (Format.PROTOBUF,)
    # Grid and climate: a US plant runs 60 Hz / 460 V motors, a German one 50 Hz / 400 V.
    mains_hz: float = 50.0
    voltage_v: float = 400.0
    ambient_c: float = 22.0


@dataclass(frozen=True)
class Plant:
    enterprise: str
    sites: tuple[Site, ...]
    equipment: tuple[Equipment, ...] = field(init=False)

    def __post_init__(self) -> None:
        check_segment(self.enterprise, "enterprise")
        flat: list[Equipment] = []
        for site in self.sites:
            check_segment(site.name, "site")
            for line in site.lines:
                check_segment(line.area, "area")
                check_segment(line.name, "line")
                for spec in line.equipment:
                    check_segment(spec.cell, "cell")
                    check_segment(spec.name, "equipment")
                    flat.append(
                        Equipment(
                            enterprise=self.enterprise,
                            site=site.name,
                            area=line.area,
                            line=line.name,
                            cell=spec.cell,
                            name=spec.name,
                            equipment_class=spec.equipment_class,
                            units=site.units,
                            formats=line.formats if line.formats is not None else site.formats,
                            mains_hz=site.mains_hz,
                            voltage_v=site.voltage_v,
                            ambient_c=site.ambient_c,
                        )
                    )
        keys = [e.key for e in flat]
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            raise ValueError(f"duplicate equipment paths: {duplicates}")
        object.__setattr__(self, "equipment", tuple(flat))

    def find(self, key: str) -> Equipment:
        for equipment in self.equipment:
            if equipment.key == key:
                return equipment
        raise KeyError(f"no equipment {key!r} in the plant")

    def with_formats(self, formats: Sequence[Format]) -> Plant:
        """The same plant with every line publishing in ``formats`` (the CLI's ``--formats``)."""
        return Plant(
            self.enterprise,
            tuple(
                Site(
                    s.name,
                    s.units,
                    tuple(Line(ln.area, ln.name, ln.equipment, tuple(formats)) for ln in s.lines),
                    tuple(formats),
                    s.mains_hz,
                    s.voltage_v,
                    s.ambient_c,
                )
                for s in self.sites
            ),
        )

    def with_units(self, site: str, units: UnitSystem) -> Plant:
        """The same plant with one site's instruments reporting in ``units`` (tests compare both)."""
        sites = tuple(
            Site(s.name, units, s.lines, s.formats, s.mains_hz, s.voltage_v, s.ambient_c) if s.name == site else s
            for s in self.sites
        )
        return Plant(self.enterprise, sites)

    # ------------------------------------------------------------------ (de)serialisation

    def to_dict(self) -> dict[str, Any]:
        return {
            "enterprise": self.enterprise,
            "sites": [
                {
                    "name": s.name,
                    "units": s.units.value,
                    "formats": [f.value for f in s.formats],
                    "mains_hz": s.mains_hz,
                    "voltage_v": s.voltage_v,
                    "ambient_c": s.ambient_c,
                    "lines": [
                        {
                            "area": ln.area,
                            "name": ln.name,
                            **({"formats": [f.value for f in ln.formats]} if ln.formats is not None else {}),
                            "equipment": [
                                {"cell": e.cell, "name": e.name, "class": e.equipment_class.value} for e in ln.equipment
                            ],
                        }
                        for ln in s.lines
                    ],
                }
                for s in self.sites
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Plant:
        sites = []
        for s in data["sites"]:
            lines = tuple(
                Line(
                    area=ln["area"],
                    name=ln["name"],
                    formats=parse_formats(ln["formats"]) if "formats" in ln else None,
                    equipment=tuple(
                        EquipmentSpec(e["cell"], e["name"], EquipmentClass(e["class"])) for e in ln["equipment"]
                    ),
                )
                for ln in s["lines"]
            )
            units = UnitSystem(s.get("units", "si"))
            us = units is UnitSystem.US
            sites.append(
                Site(
                    name=s["name"],
                    units=units,
                    lines=lines,
                    formats=parse_formats(s.get("formats", ["protobuf"])),
                    mains_hz=float(s.get("mains_hz", 60.0 if us else 50.0)),
                    voltage_v=float(s.get("voltage_v", 460.0 if us else 400.0)),
                    ambient_c=float(s.get("ambient_c", 22.0)),
                )
            )
        return cls(data["enterprise"], tuple(sites))


def default_plant() -> Plant:
    """The demo plant: a US site (°F, psi, gpm, hp, in/s) and a German site (°C, bar, l/min, kW, mm/s).

    Each line publishes in a different format, so `make up` exercises every ingest parser:
    Houston's utilities line sends columnar batches, its CNC line UMH JSON; Stuttgart's
    process-water line is a Sparkplug B edge node and its CNC line sends single readings.
    """
    pump, motor, spindle = EquipmentClass.CENTRIFUGAL_PUMP, EquipmentClass.INDUCTION_MOTOR, EquipmentClass.CNC_SPINDLE
    houston = Site(
        name="houston",
        units=UnitSystem.US,
        mains_hz=60.0,
        voltage_v=460.0,
        ambient_c=29.0,
        lines=(
            Line(
                "utilities",
                "cooling",
                (
                    EquipmentSpec("pumps", "pump-01", pump),
                    EquipmentSpec("pumps", "pump-02", pump),
                    EquipmentSpec("fans", "motor-01", motor),
                ),
                formats=(Format.BATCH,),
            ),
            Line(
                "machining",
                "cnc1",
                (EquipmentSpec("mill-1", "spindle-01", spindle), EquipmentSpec("mill-2", "spindle-02", spindle)),
                formats=(Format.UMH,),
            ),
        ),
    )
    stuttgart = Site(
        name="stuttgart",
        units=UnitSystem.SI,
        mains_hz=50.0,
        voltage_v=400.0,
        ambient_c=21.0,
        lines=(
            Line(
                "utilities",
                "process-water",
                (
                    EquipmentSpec("pumps", "pump-01", pump),
                    EquipmentSpec("pumps", "pump-02", pump),
                    EquipmentSpec("drives", "motor-01", motor),
                    EquipmentSpec("drives", "motor-02", motor),
                ),
                formats=(Format.SPARKPLUG,),
            ),
            Line(
                "machining",
                "cnc2",
                (EquipmentSpec("mill-1", "spindle-01", spindle), EquipmentSpec("mill-2", "spindle-02", spindle)),
                formats=(Format.PROTOBUF,),
            ),
        ),
    )
    return Plant("acme", (houston, stuttgart))
