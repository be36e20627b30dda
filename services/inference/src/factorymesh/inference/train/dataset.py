"""Training data: telemetry CSV files (and ground-truth labels) into SI numpy columns.

Two shapes are read, told apart by their header:

* **readings** (long; the line simulator's ``dataset --shape reading``, and the shape
  to export any historian to): one row per reading,
  ``time_ns,equipment,equipment_class,tag,value[,unit][,quality]``. ``time_ns`` may be
  replaced by ``timestamp`` (ISO 8601 / RFC 3339, UTC when no offset). ``unit`` is
  a UCUM code; values are converted to SI exactly as ingest converts them (without it,
  values must already be SI). ``quality`` is the ``DataQuality`` number (empty or
  missing = 0, not reported, which counts as GOOD). Other columns are ignored.
* **ticks** (wide; the simulator's ``dataset --shape tick``): one row per equipment and
  tick, ``time_ns,...,equipment,equipment_class,<tag>,<tag>,...`` with every tag in the
  simulator's metric unit (:data:`TICK_UNITS`); empty = not sent. No quality column:
  every value counts as GOOD.

Labels (the simulator's ground truth, ``--labels``):
``time_ns,equipment,state,faults,rul_s,tool_wear_mm`` (other columns ignored), one row
per equipment and tick.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

CHUNK_ROWS = 200_000

# UCUM code -> (SI code, scale, offset): si = value * scale + offset. The numbers are the
# ones ingest's pint-based converter yields (a unit test compares them with ingest), so a
# training window holds the very values a served window holds.
UNITS_TO_SI: dict[str, tuple[str, float, float]] = {
    "Cel": ("K", 1.0, 273.15),
    "[degF]": ("K", 0.5555555555555556, 255.37222222222223),
    "K": ("K", 1.0, 0.0),
    "bar": ("Pa", 100000.0, 0.0),
    "[psi]": ("Pa", 6894.7572931683635, 0.0),
    "kPa": ("Pa", 1000.0, 0.0),
    "Pa": ("Pa", 1.0, 0.0),
    "L/min": ("m3/s", 1.666666666666667e-05, 0.0),
    "[gal_us]/min": ("m3/s", 6.309019639999999e-05, 0.0),
    "m3/s": ("m3/s", 1.0, 0.0),
    "kW": ("W", 1000.0, 0.0),
    "[HP]": ("W", 745.6998715822701, 0.0),
    "W": ("W", 1.0, 0.0),
    "mm/s": ("m/s", 0.001, 0.0),
    "[in_i]/s": ("m/s", 0.0254, 0.0),
    "m/s": ("m/s", 1.0, 0.0),
    "mm": ("m", 0.001, 0.0),
    "[in_i]": ("m", 0.0254, 0.0),
    "m": ("m", 1.0, 0.0),
    "/min": ("rad/s", 0.10471975511965977, 0.0),
    "rad/s": ("rad/s", 1.0, 0.0),
    "A": ("A", 1.0, 0.0),
    "%": ("%", 1.0, 0.0),
}

# The simulator's tick shape: every tag in its metric unit (services/line-simulator/README.md).
TICK_UNITS: dict[str, str] = {
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
TICK_META = frozenset({"time_ns", "t_s", "timestamp", "equipment", "equipment_class"})

# Ground-truth labels that are not faults of the machine: the spindle's worn tool is the
# quality model's target (parts out of tolerance), a normal, scheduled event, not an anomaly.
NOT_ANOMALIES = frozenset({"tool_worn"})


class DatasetError(ValueError):
    """A dataset that cannot be read; the message says which file and why."""


@dataclass
class Readings:
    """Readings in SI, one entry per reading; ``eq`` / ``tag`` index the name lists."""

    equipment: list[str]
    equipment_class: list[str]  # per equipment id
    tags: list[str]
    eq: I64
    tag: I64
    times_ns: I64
    values: F64
    valid: Bools
    _period_ns: int | None = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return int(self.times_ns.shape[0])

    def sample_period_ns(self) -> int:
        """The typical time between two readings of one tag (median), 0 when unknown."""
        if self._period_ns is None:
            self._period_ns = self._median_period()
        return self._period_ns

    def _median_period(self) -> int:
        if len(self) < 2:
            return 0
        key = self.eq * (len(self.tags) + 1) + self.tag
        order = np.lexsort((self.times_ns, key))
        same = key[order][1:] == key[order][:-1]
        gaps = np.diff(self.times_ns[order])[same]
        gaps = gaps[gaps > 0]
        return int(np.median(gaps)) if gaps.size else 0


@dataclass
class Labels:
    """Ground truth per equipment and tick (``eq`` indexes :attr:`equipment`)."""

    equipment: list[str]
    eq: I64
    times_ns: I64
    anomalous: Bools  # a fault (other than NOT_ANOMALIES) is active, or the machine is down
    down: Bools
    rul_s: F64  # NaN: no failure developing
    tool_wear_mm: F64  # NaN: not a spindle

    def __len__(self) -> int:
        return int(self.times_ns.shape[0])


@dataclass
class Dataset:
    readings: Readings
    labels: Labels
    files: list[Path]
    sha256: str


def _sha256(paths: Sequence[Path]) -> str:
    """sha256 over the files' names and bytes, in the given order: identifies the training data."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _rows(path: Path) -> tuple[list[str], Iterator[list[str]], IO[str]]:
    file = path.open(newline="", encoding="utf-8")
    reader = csv.reader(file)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        file.close()
        raise DatasetError(f"{path}: empty file") from None
    return header, reader, file


def _chunks(reader: Iterator[list[str]]) -> Iterator[list[list[str]]]:
    while chunk := list(itertools.islice(reader, CHUNK_ROWS)):
        yield chunk


def _time_column(path: Path, header: list[str], rows: list[list[str]]) -> I64:
    if "time_ns" in header:
        i = header.index("time_ns")
        try:
            return np.fromiter((int(r[i]) for r in rows), dtype=np.int64, count=len(rows))
        except ValueError as error:
            raise DatasetError(f"{path}: time_ns must be an integer: {error}") from None
    i = header.index("timestamp")
    out = np.empty(len(rows), dtype=np.int64)
    for k, r in enumerate(rows):
        try:
            moment = datetime.fromisoformat(r[i].replace("Z", "+00:00"))
        except ValueError:
            raise DatasetError(f"{path}: bad timestamp {r[i]!r}") from None
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        out[k] = (int(moment.timestamp()) * 1_000_000_000) + moment.microsecond * 1000
    return out


def _float(text: str) -> float:
    return float(text) if text else math.nan


class _Builder:
    """Accumulates readings from any number of files into one :class:`Readings`."""

    def __init__(self) -> None:
        self.equipment: dict[str, int] = {}
        self.equipment_class: dict[int, str] = {}
        self.tags: dict[str, int] = {}
        self.parts: list[tuple[I64, I64, I64, F64, Bools]] = []

    def ids(self, names: Iterable[str], table: dict[str, int]) -> I64:
        return np.fromiter((table.setdefault(n, len(table)) for n in names), dtype=np.int64)

    def set_classes(self, path: Path, eq: I64, classes: Sequence[str]) -> None:
        # One class per equipment: the first row of each equipment decides, others must agree.
        first = np.unique(eq, return_index=True)[1]
        for i in first.tolist():
            e, cls = int(eq[i]), classes[i]
            known = self.equipment_class.setdefault(e, cls)
            if known != cls:
                raise DatasetError(f"{path}: equipment has two classes ({known!r}, {cls!r})")

    def add(self, eq: I64, tag: I64, times: I64, values: F64, valid: Bools) -> None:
        self.parts.append((eq, tag, times, values, valid))

    def build(self) -> Readings:
        if not self.parts:
            raise DatasetError("no readings in the dataset")
        eq, tag, times, values, valid = (np.concatenate(col) for col in zip(*self.parts, strict=True))
        # Time order (stable), as a live stream delivers it: windows then sum in the same order.
        order = np.argsort(times, kind="stable")
        names = sorted(self.equipment, key=self.equipment.__getitem__)
        return Readings(
            equipment=names,
            equipment_class=[self.equipment_class.get(i, "") for i in range(len(names))],
            tags=sorted(self.tags, key=self.tags.__getitem__),
            eq=eq[order],
            tag=tag[order],
            times_ns=times[order],
            values=values[order],
            valid=valid[order],
        )


def _conversions(path: Path, units: Sequence[str]) -> tuple[F64, F64]:
    scale = np.empty(len(units))
    offset = np.empty(len(units))
    for i, unit in enumerate(units):
        if unit == "":
            scale[i], offset[i] = 1.0, 0.0  # no unit given: the value is SI already
            continue
        found = UNITS_TO_SI.get(unit)
        if found is None:
            raise DatasetError(f"{path}: unit {unit!r} is not known here (known: {', '.join(sorted(UNITS_TO_SI))})")
        scale[i], offset[i] = found[1], found[2]
    return scale, offset


def _read_long(path: Path, header: list[str], reader: Iterator[list[str]], builder: _Builder) -> None:
    col = {name: header.index(name) for name in header}
    for name in ("equipment", "equipment_class", "tag", "value"):
        if name not in col:
            raise DatasetError(f"{path}: missing column {name!r}")
    unit_ids: dict[str, int] = {}
    for rows in _chunks(reader):
        times = _time_column(path, header, rows)
        eq = builder.ids((r[col["equipment"]] for r in rows), builder.equipment)
        builder.set_classes(path, eq, [r[col["equipment_class"]] for r in rows])
        tag = builder.ids((r[col["tag"]] for r in rows), builder.tags)
        try:
            values = np.fromiter((_float(r[col["value"]]) for r in rows), dtype=np.float64, count=len(rows))
        except ValueError as error:
            raise DatasetError(f"{path}: value is not a number: {error}") from None
        if "unit" in col:
            unit = builder.ids((r[col["unit"]] for r in rows), unit_ids)
            scale, offset = _conversions(path, sorted(unit_ids, key=unit_ids.__getitem__))
            values = values * scale[unit] + offset[unit]
        good = np.ones(len(rows), dtype=np.bool_)
        if "quality" in col:
            quality = np.fromiter((int(r[col["quality"]] or 0) for r in rows), dtype=np.int64, count=len(rows))
            good = (quality >> 5) == 0  # severity GOOD (0 = not reported counts as GOOD), as ingest
        builder.add(eq, tag, times, values, good & np.isfinite(values))


def _read_wide(path: Path, header: list[str], reader: Iterator[list[str]], builder: _Builder) -> None:
    tag_columns = [(i, name) for i, name in enumerate(header) if name not in TICK_META]
    unknown = [name for _, name in tag_columns if name not in TICK_UNITS]
    if unknown:
        raise DatasetError(f"{path}: tick-shaped CSV with unknown tag columns {unknown}")
    i_eq, i_cls = header.index("equipment"), header.index("equipment_class")
    for rows in _chunks(reader):
        times = _time_column(path, header, rows)
        eq = builder.ids((r[i_eq] for r in rows), builder.equipment)
        builder.set_classes(path, eq, [r[i_cls] for r in rows])
        for i, name in tag_columns:
            values = np.fromiter((_float(r[i]) for r in rows), dtype=np.float64, count=len(rows))
            sent = ~np.isnan(values)  # empty cell: the equipment has no such tag, or nothing was sent
            _, scale, offset = UNITS_TO_SI[TICK_UNITS[name]]
            tag_id = builder.tags.setdefault(name, len(builder.tags))
            builder.add(
                eq[sent],
                np.full(int(sent.sum()), tag_id, dtype=np.int64),
                times[sent],
                values[sent] * scale + offset,
                np.isfinite(values[sent]),
            )


def read_readings(paths: Sequence[Path]) -> Readings:
    builder = _Builder()
    for path in paths:
        header, reader, file = _rows(path)
        try:
            if "time_ns" not in header and "timestamp" not in header:
                raise DatasetError(f"{path}: needs a time_ns or timestamp column")
            if "tag" in header and "value" in header:
                _read_long(path, header, reader, builder)
            elif "equipment" in header and "equipment_class" in header:
                _read_wide(path, header, reader, builder)
            else:
                raise DatasetError(f"{path}: neither the readings shape nor the ticks shape (see the docs)")
        finally:
            file.close()
    return builder.build()


def read_labels(path: Path) -> Labels:
    header, reader, file = _rows(path)
    try:
        for name in ("time_ns", "equipment", "state", "faults"):
            if name not in header:
                raise DatasetError(f"{path}: labels need a {name!r} column")
        col = {name: header.index(name) for name in header}
        equipment: dict[str, int] = {}
        parts: list[tuple[I64, I64, Bools, Bools, F64, F64]] = []
        for rows in _chunks(reader):
            times = _time_column(path, header, rows)
            eq = np.fromiter((equipment.setdefault(r[col["equipment"]], len(equipment)) for r in rows), dtype=np.int64)
            down = np.fromiter((r[col["state"]] == "down" for r in rows), dtype=np.bool_, count=len(rows))
            faulty = np.fromiter(
                (any(f and f not in NOT_ANOMALIES for f in r[col["faults"]].split(";")) for r in rows),
                dtype=np.bool_,
                count=len(rows),
            )
            rul = (
                np.fromiter((_float(r[col["rul_s"]]) for r in rows), dtype=np.float64, count=len(rows))
                if "rul_s" in col
                else np.full(len(rows), np.nan)
            )
            wear = (
                np.fromiter((_float(r[col["tool_wear_mm"]]) for r in rows), dtype=np.float64, count=len(rows))
                if "tool_wear_mm" in col
                else np.full(len(rows), np.nan)
            )
            parts.append((eq, times, faulty | down, down, rul, wear))
    finally:
        file.close()
    if not parts:
        raise DatasetError(f"{path}: no label rows")
    eq, times, anomalous, down, rul, wear = (np.concatenate(c) for c in zip(*parts, strict=True))
    return Labels(
        equipment=sorted(equipment, key=equipment.__getitem__),
        eq=eq,
        times_ns=times,
        anomalous=anomalous,
        down=down,
        rul_s=rul,
        tool_wear_mm=wear,
    )


def resolve(dataset: Path, labels: Path | None) -> tuple[list[Path], Path]:
    """Data files and the labels file: a directory holds ``*.csv`` data and ``labels.csv``."""
    if dataset.is_dir():
        label_path = labels or dataset / "labels.csv"
        data = sorted(p for p in dataset.glob("*.csv") if p.resolve() != label_path.resolve())
    elif dataset.is_file():
        label_path = labels or dataset.with_name("labels.csv")
        data = [dataset]
    else:
        raise DatasetError(f"{dataset}: no such file or directory")
    if not data:
        raise DatasetError(f"{dataset}: no data CSV files")
    if not label_path.is_file():
        raise DatasetError(f"labels file {label_path} not found (pass --labels)")
    return data, label_path


def load(dataset: Path, labels: Path | None = None) -> Dataset:
    data, label_path = resolve(dataset, labels)
    files = [*data, label_path]
    return Dataset(read_readings(data), read_labels(label_path), files, _sha256(files))
