"""factorymesh line simulator: a deterministic plant of pumps, motors and CNC spindles with
degradation and injected faults, publishing like real sensors and gateways (protobuf,
columnar batches, UMH historian JSON, Sparkplug B), with ground-truth labels.

Public API::

    from factorymesh.line_simulator import Simulator, Scenario, default_plant, ground_truth
"""

from __future__ import annotations

from factorymesh.line_simulator.faults import FaultEpisode, FaultKind, FaultSchedule, Scenario
from factorymesh.line_simulator.plant import Equipment, EquipmentClass, Format, Plant, default_plant
from factorymesh.line_simulator.simulator import (
    DEFAULT_START_NS,
    EquipmentSample,
    LabelRow,
    Simulator,
    Tick,
    ground_truth,
)
from factorymesh.line_simulator.units import UnitSystem

__all__ = [
    "DEFAULT_START_NS",
    "Equipment",
    "EquipmentClass",
    "EquipmentSample",
    "FaultEpisode",
    "FaultKind",
    "FaultSchedule",
    "Format",
    "LabelRow",
    "Plant",
    "Scenario",
    "Simulator",
    "Tick",
    "UnitSystem",
    "default_plant",
    "ground_truth",
]
