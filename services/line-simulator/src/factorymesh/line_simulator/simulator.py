"""The simulator: plant + seed + scenario -> ticks of readings (numpy arrays) and ground-truth labels.

```python
sim = Simulator(default_plant(), seed=7)
for tick in sim.generate(duration_s=60, rate_hz=10):
    for sample in tick.samples():      # one EquipmentSample per machine
        sample.values                   # site units, NaN where the sensor sent nothing
    tick.labels                         # one LabelRow per machine: faults, health, RUL
```

Determinism: everything random comes from streams seeded by ``seed`` and names
(:func:`factorymesh.line_simulator.faults.stream_rng`), and every tick draws the
same number of random numbers whatever faults are active. So the same seed,
scenario and tick times give bit-identical data, and a run with an injected fault
differs from the run without it *only* by the fault's effect (tests compare the two).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from factorymesh.api.common.v1 import quality_pb2
from factorymesh.line_simulator.faults import FaultEpisode, FaultKind, FaultSchedule, Scenario, stream_rng
from factorymesh.line_simulator.physics import (
    TOOL_LIMIT_MM,
    TOOL_WORN_MM,
    ClassModel,
    Conditions,
    MotorModel,
    Program,
    PumpModel,
    SpindleModel,
    ToolTracker,
    ambient,
)
from factorymesh.line_simulator.plant import Equipment, EquipmentClass, Plant, TagSpec, default_plant
from factorymesh.line_simulator.units import Unit, unit_for

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int32]

GOOD = quality_pb2.DATA_QUALITY_GOOD
RANGE_EXCEEDED = quality_pb2.DATA_QUALITY_UNCERTAIN_ENGINEERING_UNITS_EXCEEDED
NS = 1_000_000_000
# Datasets default to a fixed origin so two runs with the same seed are identical files.
DEFAULT_START = datetime(2025, 1, 6, 0, 0, tzinfo=UTC)
DEFAULT_START_NS = int(DEFAULT_START.timestamp()) * NS


def period_ns(rate_hz: float) -> int:
    if not rate_hz > 0:
        raise ValueError("rate_hz must be > 0")
    return round(NS / rate_hz)


@dataclass(frozen=True)
class LabelRow:
    """Ground truth for one machine at one time.

    ``state`` is ``running`` or ``down`` (a failed machine being repaired).
    ``faults`` are the active labels, sorted: ``bearing_wear``, ``cavitation``,
    ``tool_worn``, ``comm_loss``, ``sensor_<kind>:<tag>``. ``health`` is 1 - bearing
    wear (0 when down). ``rul_s`` is the time until the bearing fails while it wears
    (0 while down, None when no failure is developing). Spindles also report the
    true tool flank wear and the time until it reaches the 0.3 mm limit.
    """

    time_ns: int
    t_s: float
    equipment: str
    equipment_class: EquipmentClass
    state: str
    faults: tuple[str, ...]
    health: float
    rul_s: float | None
    tool_wear_mm: float | None = None
    tool_rul_s: float | None = None


@dataclass(frozen=True)
class EquipmentSample:
    """One machine's readings at one tick: parallel arrays over its tags."""

    equipment: Equipment
    time_ns: int
    tags: tuple[TagSpec, ...]
    units: tuple[Unit, ...]
    values: FloatArray  # site units; NaN where not present
    metric: FloatArray  # metric units; NaN where not present
    present: BoolArray
    quality: IntArray

    @property
    def tag_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tags)


@dataclass(frozen=True)
class Block:
    """The machines of one class at one tick: (n_equipment, n_tags) arrays."""

    equipment: tuple[Equipment, ...]
    tags: tuple[TagSpec, ...]
    units: tuple[tuple[Unit, ...], ...]
    healthy: FloatArray  # what healthy sensors would read (metric)
    metric: FloatArray  # what the sensors report (metric), NaN where not present
    values: FloatArray  # the same in site units
    present: BoolArray
    quality: IntArray


@dataclass(frozen=True)
class Tick:
    index: int
    time_ns: int
    t_s: float
    blocks: tuple[Block, ...]
    labels: tuple[LabelRow, ...]

    def samples(self) -> Iterator[EquipmentSample]:
        for block in self.blocks:
            for i, equipment in enumerate(block.equipment):
                yield EquipmentSample(
                    equipment=equipment,
                    time_ns=self.time_ns,
                    tags=block.tags,
                    units=block.units[i],
                    values=block.values[i],
                    metric=block.metric[i],
                    present=block.present[i],
                    quality=block.quality[i],
                )

    @property
    def reading_count(self) -> int:
        return int(sum(int(b.present.sum()) for b in self.blocks))


class Labeler:
    """Ground truth from the fault schedule and the tool trackers; needs no signal simulation.

    Advance it tick by tick (:meth:`step`); the simulator uses the same instance, so
    :func:`ground_truth` and a full simulation label every tick identically.
    """

    def __init__(self, plant: Plant, schedule: FaultSchedule, seed: int) -> None:
        self.plant = plant
        self.schedule = schedule
        self.programs: dict[str, Program] = {}
        self.tools: dict[str, ToolTracker] = {}
        for e in plant.equipment:
            if e.equipment_class is EquipmentClass.CNC_SPINDLE:
                rng = stream_rng(seed, "spindle", e.key)
                program = Program(offset_s=float(rng.uniform(0.0, 1000.0)))
                self.programs[e.key] = program
                self.tools[e.key] = ToolTracker(program, stream_rng(seed, "tools", e.key))

    def step(self, time_ns: int, t_s: float) -> tuple[dict[str, list[FaultEpisode]], tuple[LabelRow, ...]]:
        episodes: dict[str, list[FaultEpisode]] = {}
        rows = []
        for e in self.plant.equipment:
            eps = self.schedule.affecting(e.key, t_s)
            episodes[e.key] = eps
            down = any(ep.is_down(t_s) for ep in eps)
            wear = max((ep.wear(t_s) for ep in eps if ep.kind is FaultKind.BEARING_WEAR), default=0.0)
            labels = set()
            rul: float | None = None
            for ep in eps:
                if ep.kind is FaultKind.BEARING_WEAR:
                    if ep.is_active(t_s):
                        labels.add(ep.label)
                        rul = ep.end_s - t_s
                    else:
                        rul = 0.0
                elif ep.is_active(t_s) and not (down and ep.kind is FaultKind.CAVITATION):
                    labels.add(ep.label)
            tool_wear = tool_rul = None
            tracker = self.tools.get(e.key)
            if tracker is not None:
                tracker.advance(t_s, running=not down)
                tool_wear = tracker.wear_mm
                tool_rul = tracker.rul_s()
                if tool_wear >= TOOL_WORN_MM:
                    labels.add("tool_worn")
            rows.append(
                LabelRow(
                    time_ns=time_ns,
                    t_s=t_s,
                    equipment=e.key,
                    equipment_class=e.equipment_class,
                    state="down" if down else "running",
                    faults=tuple(sorted(labels)),
                    health=0.0 if down else 1.0 - wear,
                    rul_s=rul,
                    tool_wear_mm=tool_wear,
                    tool_rul_s=tool_rul,
                )
            )
        return episodes, tuple(rows)


class _SensorLayer:
    """Applies sensor faults to one block's healthy readings."""

    def __init__(self, equipment: tuple[Equipment, ...], tags: tuple[TagSpec, ...], rng: np.random.Generator) -> None:
        self.keys = [e.key for e in equipment]
        self.tag_index = {t.name: j for j, t in enumerate(tags)}
        self.low = np.array([t.low for t in tags])
        self.high = np.array([t.high for t in tags])
        self.span = self.high - self.low
        self.rng = rng
        self.stuck: dict[tuple[str, str, float], float] = {}

    def apply(
        self, t_s: float, healthy: FloatArray, episodes: dict[str, list[FaultEpisode]]
    ) -> tuple[FloatArray, BoolArray, IntArray]:
        n, m = healthy.shape
        # Fixed-shape draws every tick, used or not (see the module docstring).
        u = self.rng.random((n, m))
        magnitude = self.rng.uniform(0.1, 0.5, size=(n, m)) * self.span
        sign = np.where(self.rng.random((n, m)) < 0.5, -1.0, 1.0)

        out = healthy.copy()
        present = np.ones((n, m), dtype=np.bool_)
        stuck_now: list[tuple[int, int, float]] = []
        for i, key in enumerate(self.keys):
            for ep in episodes[key]:
                if not ep.is_active(t_s):
                    continue
                if ep.kind is FaultKind.COMM_LOSS:
                    present[i, :] = False
                    continue
                if not ep.kind.is_sensor_fault or ep.tag is None:
                    continue
                j = self.tag_index[ep.tag]
                if ep.kind is FaultKind.SENSOR_DRIFT:
                    out[i, j] += ep.rate * (t_s - ep.start_s) / 3600.0
                elif ep.kind is FaultKind.SENSOR_SPIKES:
                    if u[i, j] < ep.rate:
                        out[i, j] += sign[i, j] * magnitude[i, j]
                elif ep.kind is FaultKind.SENSOR_STUCK:
                    stuck_now.append((i, j, ep.start_s))
                elif ep.kind is FaultKind.SENSOR_DROPOUT:
                    present[i, j] = False
        # Stuck last: a stuck transmitter repeats its last value whatever else happens.
        active_stuck = set()
        for i, j, start in stuck_now:
            k = (self.keys[i], str(j), start)
            active_stuck.add(k)
            if k not in self.stuck:
                self.stuck[k] = float(np.clip(out[i, j], self.low[j], self.high[j]))
            out[i, j] = self.stuck[k]
        for k in list(self.stuck):
            if k not in active_stuck:
                del self.stuck[k]
        clipped = np.clip(out, self.low, self.high)
        quality = np.where(clipped != out, RANGE_EXCEEDED, GOOD).astype(np.int32)
        clipped[~present] = np.nan
        return clipped, present, quality


def _max(values: Iterator[float]) -> float:
    return max(values, default=0.0)


class Simulator:
    """A deterministic plant simulation. Times are Unix nanoseconds; ``start_ns`` is simulation time 0."""

    def __init__(
        self,
        plant: Plant | None = None,
        seed: int = 0,
        scenario: Scenario | None = None,
        start_ns: int = DEFAULT_START_NS,
        *,
        random_faults: bool | None = None,
        fault_rate_scale: float | None = None,
    ) -> None:
        scenario = scenario or Scenario()
        self.plant = plant or scenario.plant or default_plant()
        self.seed = seed
        self.start_ns = start_ns
        self.schedule = FaultSchedule(
            self.plant,
            seed,
            fixed=scenario.faults,
            random_faults=scenario.random_faults if random_faults is None else random_faults,
            rate_scale=scenario.rate_scale if fault_rate_scale is None else fault_rate_scale,
        )
        self.labeler = Labeler(self.plant, self.schedule, seed)
        self._models: list[tuple[ClassModel, _SensorLayer, np.random.Generator, tuple[tuple[Unit, ...], ...]]] = []
        self._unit_scale: list[tuple[FloatArray, FloatArray]] = []
        for cls in EquipmentClass:
            equipment = tuple(e for e in self.plant.equipment if e.equipment_class is cls)
            if not equipment:
                continue
            param_rng = stream_rng(seed, "params", cls.value, *(e.key for e in equipment))
            model: ClassModel
            if cls is EquipmentClass.CENTRIFUGAL_PUMP:
                model = PumpModel(equipment, param_rng)
            elif cls is EquipmentClass.INDUCTION_MOTOR:
                model = MotorModel(equipment, param_rng)
            else:
                model = SpindleModel(equipment, param_rng, [self.labeler.programs[e.key] for e in equipment])
            sensors = _SensorLayer(equipment, model.tags, stream_rng(seed, "sensors", cls.value))
            units = tuple(tuple(unit_for(t.quantity, e.units) for t in model.tags) for e in equipment)
            scale = np.array([[u.scale for u in row] for row in units])
            offset = np.array([[u.offset for u in row] for row in units])
            self._models.append((model, sensors, stream_rng(seed, "noise", cls.value), units))
            self._unit_scale.append((scale, offset))
        self._ambient = {e.key: e.ambient_c for e in self.plant.equipment}
        self._last_t: float | None = None
        self._index = 0

    def t_s(self, time_ns: int) -> float:
        return (time_ns - self.start_ns) / NS

    def step(self, time_ns: int) -> Tick:
        """Advance to ``time_ns`` (strictly increasing, not before ``start_ns``) and return its readings."""
        t_s = self.t_s(time_ns)
        if t_s < 0:
            raise ValueError("time_ns is before the simulation start")
        if self._last_t is not None and t_s <= self._last_t:
            raise ValueError("step() times must increase")
        dt = 0.0 if self._last_t is None else t_s - self._last_t
        self._last_t = t_s
        episodes, labels = self.labeler.step(time_ns, t_s)
        blocks = []
        for (model, sensors, noise_rng, units), (scale, offset) in zip(self._models, self._unit_scale, strict=True):
            keys = [e.key for e in model.equipment]
            running = np.array([not any(ep.is_down(t_s) for ep in episodes[k]) for k in keys])
            wear = np.array(
                [_max(ep.wear(t_s) for ep in episodes[k] if ep.kind is FaultKind.BEARING_WEAR) for k in keys]
            )
            cavitation = np.array(
                [_max(ep.envelope(t_s) for ep in episodes[k] if ep.kind is FaultKind.CAVITATION) for k in keys]
            )
            tools = self.labeler.tools
            tool_wear = np.array([tools[k].wear_mm if k in tools else 0.0 for k in keys])
            conditions = Conditions(
                t_s=t_s,
                dt_s=dt,
                running=running,
                wear=np.where(running, wear, 0.0),
                cavitation=cavitation,
                ambient_c=ambient(np.array([self._ambient[k] for k in keys]), t_s),
                tool_wear_mm=tool_wear,
            )
            healthy = model.step(conditions, noise_rng.standard_normal(model.noise_shape()))
            metric, present, quality = sensors.apply(t_s, healthy, episodes)
            blocks.append(
                Block(
                    equipment=model.equipment,
                    tags=model.tags,
                    units=units,
                    healthy=healthy,
                    metric=metric,
                    values=metric * scale + offset,
                    present=present,
                    quality=quality,
                )
            )
        tick = Tick(self._index, time_ns, t_s, tuple(blocks), labels)
        self._index += 1
        return tick

    def generate(self, duration_s: float, rate_hz: float, start_ns: int | None = None) -> Iterator[Tick]:
        """Ticks every 1/rate_hz from ``start_ns`` (default: the simulation start) for ``duration_s``."""
        start = self.start_ns if start_ns is None else start_ns
        step = period_ns(rate_hz)
        count = math.floor(duration_s * NS / step + 1e-9)
        for k in range(count):
            yield self.step(start + k * step)


def ground_truth(
    duration_s: float,
    rate_hz: float,
    *,
    plant: Plant | None = None,
    seed: int = 0,
    scenario: Scenario | None = None,
    start_ns: int = DEFAULT_START_NS,
    random_faults: bool | None = None,
    fault_rate_scale: float | None = None,
) -> Iterator[LabelRow]:
    """The labels a :class:`Simulator` with the same arguments produces, without simulating any signal."""
    scenario = scenario or Scenario()
    plant = plant or scenario.plant or default_plant()
    schedule = FaultSchedule(
        plant,
        seed,
        fixed=scenario.faults,
        random_faults=scenario.random_faults if random_faults is None else random_faults,
        rate_scale=scenario.rate_scale if fault_rate_scale is None else fault_rate_scale,
    )
    labeler = Labeler(plant, schedule, seed)
    step = period_ns(rate_hz)
    for k in range(math.floor(duration_s * NS / step + 1e-9)):
        time_ns = start_ns + k * step
        yield from labeler.step(time_ns, (time_ns - start_ns) / NS)[1]


__all__ = [
    "DEFAULT_START_NS",
    "TOOL_LIMIT_MM",
    "Block",
    "EquipmentSample",
    "LabelRow",
    "Labeler",
    "Simulator",
    "Tick",
    "ground_truth",
    "period_ns",
]
