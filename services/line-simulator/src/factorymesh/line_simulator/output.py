"""CSV files: ground-truth labels, and training datasets written without Kafka.

Labels (``--labels-out``, ``dataset --labels``): one row per equipment per tick::

    time_ns,t_s,equipment,equipment_class,state,faults,health,rul_s,tool_wear_mm,tool_rul_s

``faults`` is ``;``-separated (empty when healthy); ``rul_s``, ``tool_wear_mm`` and
``tool_rul_s`` are empty where they do not apply (see :class:`LabelRow`).

Dataset, ``--shape reading`` (default): one row per reading, as it went on the wire::

    time_ns,t_s,equipment,equipment_class,tag,value,unit,value_metric,unit_metric,quality

``value``/``unit`` are the site's units (UCUM), ``value_metric``/``unit_metric`` the
same reading in the simulator's metric units; ``quality`` is the DataQuality number.
A reading a sensor did not send (dropout, comm loss) has no row.

Dataset, ``--shape tick``: one row per equipment per tick, one column per tag in
metric units (empty where the equipment has no such tag or sent nothing)::

    time_ns,t_s,equipment,equipment_class,flow,suction_pressure,...,tool_wear

Join data and labels on (``time_ns``, ``equipment``).
"""

from __future__ import annotations

import csv
import enum
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from factorymesh.line_simulator.plant import CLASS_TAGS
from factorymesh.line_simulator.simulator import LabelRow, Simulator, Tick
from factorymesh.line_simulator.units import METRIC_UNITS

LABEL_COLUMNS = (
    "time_ns",
    "t_s",
    "equipment",
    "equipment_class",
    "state",
    "faults",
    "health",
    "rul_s",
    "tool_wear_mm",
    "tool_rul_s",
)
READING_COLUMNS = (
    "time_ns",
    "t_s",
    "equipment",
    "equipment_class",
    "tag",
    "value",
    "unit",
    "value_metric",
    "unit_metric",
    "quality",
)
# Every tag name of every class, in first-seen order (vibration_rms is one column for all).
TICK_TAGS = tuple(dict.fromkeys(t.name for tags in CLASS_TAGS.values() for t in tags))
TICK_COLUMNS = ("time_ns", "t_s", "equipment", "equipment_class", *TICK_TAGS)


class Shape(enum.StrEnum):
    READING = "reading"
    TICK = "tick"


def _num(value: float | None, digits: int = 6) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.{digits}f}"


def label_fields(row: LabelRow) -> list[str]:
    return [
        str(row.time_ns),
        _num(row.t_s),
        row.equipment,
        row.equipment_class.value,
        row.state,
        ";".join(row.faults),
        _num(row.health),
        _num(row.rul_s, 3),
        _num(row.tool_wear_mm),
        _num(row.tool_rul_s, 3),
    ]


class LabelWriter:
    """Streams label rows to a CSV file (flushed every ``flush_every`` ticks, so a killed run keeps most)."""

    def __init__(self, path: str | Path, flush_every: int = 100) -> None:
        self._file: IO[str] = Path(path).open("w", newline="")  # noqa: SIM115  # closed in close()
        self._writer = csv.writer(self._file)
        self._writer.writerow(LABEL_COLUMNS)
        self._flush_every = flush_every
        self._ticks = 0
        self.rows = 0

    def write(self, rows: Iterable[LabelRow]) -> None:
        batch = [label_fields(r) for r in rows]
        self._writer.writerows(batch)
        self.rows += len(batch)
        self._ticks += 1
        if self._ticks % self._flush_every == 0:
            self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> LabelWriter:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _reading_rows(tick: Tick) -> list[list[str]]:
    rows = []
    t_s = _num(tick.t_s)
    time_ns = str(tick.time_ns)
    for block in tick.blocks:
        metric_units = [METRIC_UNITS[t.quantity].code for t in block.tags]
        for i, equipment in enumerate(block.equipment):
            cls = equipment.equipment_class.value
            for j in np.flatnonzero(block.present[i]):
                rows.append(
                    [
                        time_ns,
                        t_s,
                        equipment.key,
                        cls,
                        block.tags[j].name,
                        repr(float(block.values[i, j])),
                        block.units[i][j].code,
                        repr(float(block.metric[i, j])),
                        metric_units[j],
                        str(int(block.quality[i, j])),
                    ]
                )
    return rows


def _tick_rows(tick: Tick) -> list[list[str]]:
    rows = []
    position = {name: k for k, name in enumerate(TICK_TAGS)}
    for block in tick.blocks:
        columns = [position[t.name] for t in block.tags]
        for i, equipment in enumerate(block.equipment):
            cells = [""] * len(TICK_TAGS)
            for j, k in enumerate(columns):
                if block.present[i, j]:
                    cells[k] = repr(float(block.metric[i, j]))
            rows.append([str(tick.time_ns), _num(tick.t_s), equipment.key, equipment.equipment_class.value, *cells])
    return rows


@dataclass(frozen=True)
class DatasetStats:
    ticks: int
    rows: int
    label_rows: int


def write_dataset(
    simulator: Simulator,
    duration_s: float,
    rate_hz: float,
    out: str | Path,
    labels: str | Path | None = None,
    shape: Shape = Shape.READING,
) -> DatasetStats:
    """Simulate ``duration_s`` at ``rate_hz`` into CSV files (no Kafka)."""
    ticks = rows = 0
    make_rows = _reading_rows if shape is Shape.READING else _tick_rows
    label_writer = LabelWriter(labels, flush_every=10_000) if labels else None
    try:
        with Path(out).open("w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(READING_COLUMNS if shape is Shape.READING else TICK_COLUMNS)
            for tick in simulator.generate(duration_s, rate_hz):
                batch = make_rows(tick)
                writer.writerows(batch)
                rows += len(batch)
                ticks += 1
                if label_writer:
                    label_writer.write(tick.labels)
    finally:
        if label_writer:
            label_writer.close()
    return DatasetStats(ticks, rows, label_writer.rows if label_writer else 0)
