"""Physics of the three equipment classes, vectorised over all machines of a class.

Every model works in metric units (°C, bar, L/min, kW, mm/s, mm, A, rpm, %) and
returns what a *healthy* instrument would read: the physical value plus its
process variability and measurement noise. Sensor faults are applied afterwards
(:mod:`factorymesh.line_simulator.simulator`); process faults come in as inputs:

* ``wear`` 0..1 — bearing wear: friction (current, power), heat (bearing /
  winding temperature) and vibration grow with it; at 1 the bearing fails;
* ``cavitation`` 0..severity — pumps: suction pressure collapses, the head
  breaks down (lower discharge pressure and flow), broadband vibration and flow /
  pressure pulsation rise;
* ``running`` — false while a failed machine is down for repair.

Couplings follow textbook relations: a pump runs on its curve H = H0 (1 - 0.2 x^2)
(x = Q / Q_bep) with efficiency peaking at the best efficiency point; hydraulic
power rho g Q H over efficiency is the shaft power, which sets the motor current
I = P / (sqrt(3) V pf). Induction motors slip in proportion to load, their
current has a magnetising part (~35 % of full-load current) plus a load part, and
winding temperature rises with I^2 (class F: 80 K at full load). Spindles run a
machining program (rapid, roughing, semi-finishing, finishing); their load and
chatter vibration rise as the tool wears. Temperatures follow first-order lags
(minutes), loads an Ornstein-Uhlenbeck process. Levels are ISO 10816 plausible:
healthy vibration 1-3 mm/s, failing bearings beyond 11 mm/s.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from factorymesh.line_simulator.plant import CLASS_TAGS, Equipment, EquipmentClass, TagSpec

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

RHO_G = 1000.0 * 9.81  # water, N/m3
SQRT3 = math.sqrt(3.0)
DAY_S = 86_400.0


@dataclass
class Conditions:
    """Per-machine inputs for one tick (arrays of length n)."""

    t_s: float
    dt_s: float
    running: BoolArray
    wear: FloatArray
    cavitation: FloatArray
    ambient_c: FloatArray
    tool_wear_mm: FloatArray  # spindles only (zeros elsewhere)


def lag_factor(dt_s: float, tau_s: float) -> float:
    """Exact discrete first-order lag: x += (target - x) * factor."""
    return 1.0 - math.exp(-dt_s / tau_s) if dt_s > 0 else 0.0


def ou_step(x: FloatArray, dt_s: float, tau_s: float, noise: FloatArray) -> FloatArray:
    """Exact Ornstein-Uhlenbeck update with unit stationary variance (independent of dt)."""
    if dt_s <= 0:
        return x
    a = math.exp(-dt_s / tau_s)
    return x * a + math.sqrt(1.0 - a * a) * noise


def ambient(base_c: FloatArray, t_s: float) -> FloatArray:
    """Hall temperature: the site's mean with a +-3 K day cycle peaking mid-afternoon (t=0 is midnight UTC-ish)."""
    return base_c + 3.0 * math.sin(2.0 * math.pi * (t_s / DAY_S - 0.375))


class ClassModel:
    """Base: the machines of one class, their per-machine parameters and dynamic state."""

    equipment_class: EquipmentClass
    # How many standard normals a tick uses: one per tag for measurement noise + process noise.
    n_process_noise = 0

    def __init__(self, equipment: tuple[Equipment, ...], rng: np.random.Generator) -> None:
        self.equipment = equipment
        self.n = len(equipment)
        self.tags: tuple[TagSpec, ...] = CLASS_TAGS[self.equipment_class]
        self.voltage = np.array([e.voltage_v for e in equipment], dtype=np.float64)
        self.mains_hz = np.array([e.mains_hz for e in equipment], dtype=np.float64)
        # Machine-to-machine variation (+-5 %): no two pumps of a type read the same.
        self.spread = 1.0 + 0.05 * rng.uniform(-1.0, 1.0, size=(self.n, 8))

    def noise_shape(self) -> tuple[int, int]:
        return (self.n, len(self.tags) + self.n_process_noise)

    def step(self, c: Conditions, z: FloatArray) -> FloatArray:
        """Advance the state by ``c.dt_s`` and return the (n, n_tags) readings; ``z`` are standard normals."""
        raise NotImplementedError


class PumpModel(ClassModel):
    """Centrifugal pump and drive motor: flow, suction/discharge pressure, current, bearing temperature, vibration."""

    equipment_class = EquipmentClass.CENTRIFUGAL_PUMP
    n_process_noise = 3

    TAU_DEMAND_S = 600.0
    TAU_BEARING_S = 900.0

    def __init__(self, equipment: tuple[Equipment, ...], rng: np.random.Generator) -> None:
        super().__init__(equipment, rng)
        s = self.spread
        self.q_bep = 1500.0 * s[:, 0]  # L/min at the best efficiency point
        self.h0 = 60.0 * s[:, 1]  # m, shut-off head
        self.p_suction = 1.0 * s[:, 2]  # bar(g), from the feed tank
        self.eta_max = 0.78 * s[:, 3]
        self.vib0 = 1.3 * s[:, 4]
        self.demand_mean = 0.85 * s[:, 5]
        self.phase = rng.uniform(0.0, 2.0 * math.pi, size=self.n)
        self.motor_eta = 0.93
        self.pf = 0.86
        self.demand_ou = rng.standard_normal(self.n)
        # Rated shaft power: at the best efficiency point, used to scale self-heating.
        self.p_rated = RHO_G * (self.q_bep / 60_000.0) * self.h0 * 0.8 / self.eta_max / 1000.0
        self.bearing_c: FloatArray | None = None  # set on the first tick (steady state)

    def step(self, c: Conditions, z: FloatArray) -> FloatArray:
        cav, wear, run = c.cavitation * c.running, c.wear, c.running
        self.demand_ou = ou_step(self.demand_ou, c.dt_s, self.TAU_DEMAND_S, z[:, 6])
        demand = np.clip(
            self.demand_mean + 0.06 * np.sin(2 * math.pi * c.t_s / DAY_S + self.phase) + 0.07 * self.demand_ou,
            0.5,
            1.1,
        )
        q = self.q_bep * demand * (1.0 - 0.12 * cav)
        x = q / self.q_bep
        head = self.h0 * (1.0 - 0.2 * x * x) * (1.0 - 0.3 * cav)
        p_s = self.p_suction - 0.6 * cav  # falling NPSH available is what makes it cavitate
        p_d = p_s + RHO_G * head / 1e5
        eta = np.clip(self.eta_max * (1.0 - 0.8 * (x - 1.0) ** 2), 0.3, 0.9)
        p_shaft = RHO_G * (q / 60_000.0) * head / eta / 1000.0 * (1.0 + 0.06 * wear)  # kW; worn bearings drag
        current = p_shaft / self.motor_eta * 1000.0 / (SQRT3 * self.voltage * self.pf)
        bearing_ss = c.ambient_c + 22.0 + 12.0 * p_shaft / self.p_rated + 45.0 * wear + 3.0 * cav
        vib = self.vib0 + 1.2 * (x - 1.0) ** 2 + 9.5 * wear + 3.5 * cav

        # Down for repair: no flow, the check valve holds the line's static pressure, no current.
        q = np.where(run, q, 0.0)
        p_s = np.where(run, p_s, self.p_suction)
        p_d = np.where(run, p_d, self.p_suction + 1.0)
        current = np.where(run, current, 0.0)
        bearing_ss = np.where(run, bearing_ss, c.ambient_c)
        vib = np.where(run, vib, 0.05)

        if self.bearing_c is None:
            self.bearing_c = bearing_ss.copy()
        self.bearing_c = self.bearing_c + (bearing_ss - self.bearing_c) * lag_factor(c.dt_s, self.TAU_BEARING_S)

        out = np.empty((self.n, 6))
        out[:, 0] = q * (1.0 + 0.005 * z[:, 0]) + q * 0.05 * cav * z[:, 7]  # turbulent flow noise when cavitating
        out[:, 1] = p_s + 0.01 * z[:, 1] + 0.08 * cav * z[:, 8]
        out[:, 2] = p_d + 0.02 * z[:, 2] + 0.15 * cav * z[:, 8]
        out[:, 3] = current * (1.0 + 0.005 * z[:, 3])
        out[:, 4] = self.bearing_c + 0.15 * z[:, 4]
        out[:, 5] = np.maximum(vib * (1.0 + 0.04 * z[:, 5]) + 0.6 * cav * np.abs(z[:, 7]), 0.0)
        return out


class MotorModel(ClassModel):
    """4-pole induction motor driving a fan or conveyor: current, winding temperature, vibration, speed, power."""

    equipment_class = EquipmentClass.INDUCTION_MOTOR
    n_process_noise = 1

    TAU_LOAD_S = 300.0
    TAU_WINDING_S = 1200.0
    P_RATED_KW = 22.0
    SLIP_RATED = 0.025
    NO_LOAD_CURRENT = 0.35  # of full-load current: the magnetising current

    def __init__(self, equipment: tuple[Equipment, ...], rng: np.random.Generator) -> None:
        super().__init__(equipment, rng)
        s = self.spread
        self.base_load = 0.7 * s[:, 0]
        self.eta = 0.93
        self.pf = 0.86
        self.n_sync = 120.0 * self.mains_hz / 4.0  # rpm: 1800 at 60 Hz, 1500 at 50 Hz
        self.i_full = self.P_RATED_KW / self.eta * 1000.0 / (SQRT3 * self.voltage * self.pf)
        self.vib0 = 1.0 * s[:, 1]
        self.load_ou = rng.standard_normal(self.n)
        self.winding_c: FloatArray | None = None

    def step(self, c: Conditions, z: FloatArray) -> FloatArray:
        wear, run = c.wear, c.running
        self.load_ou = ou_step(self.load_ou, c.dt_s, self.TAU_LOAD_S, z[:, 5])
        load = np.clip(self.base_load + 0.1 * self.load_ou, 0.2, 1.1) + 0.05 * wear
        speed = self.n_sync * (1.0 - self.SLIP_RATED * load)
        power = self.P_RATED_KW * load / self.eta
        i0 = self.NO_LOAD_CURRENT
        current = self.i_full * np.sqrt(i0 * i0 + (1.0 - i0 * i0) * load * load)
        winding_ss = c.ambient_c + 80.0 * (current / self.i_full) ** 2 + 8.0 * wear
        vib = self.vib0 + 0.4 * load + 9.0 * wear

        speed = np.where(run, speed, 0.0)
        power = np.where(run, power, 0.0)
        current = np.where(run, current, 0.0)
        winding_ss = np.where(run, winding_ss, c.ambient_c)
        vib = np.where(run, vib, 0.05)

        if self.winding_c is None:
            self.winding_c = winding_ss.copy()
        self.winding_c = self.winding_c + (winding_ss - self.winding_c) * lag_factor(c.dt_s, self.TAU_WINDING_S)

        out = np.empty((self.n, 5))
        out[:, 0] = current * (1.0 + 0.005 * z[:, 0])
        out[:, 1] = self.winding_c + 0.2 * z[:, 1]
        out[:, 2] = np.maximum(vib * (1.0 + 0.04 * z[:, 2]), 0.0)
        out[:, 3] = np.where(run, speed + 1.0 * z[:, 3], 0.0)
        out[:, 4] = power * (1.0 + 0.005 * z[:, 4])
        return out


# --------------------------------------------------------------------------- CNC spindles


@dataclass(frozen=True)
class Segment:
    name: str
    duration_s: float
    speed_rpm: float
    load: float  # cutting load, fraction of rated spindle power
    cutting: bool


# One part per cycle: load/unload, roughing, semi-finishing, finishing, retract/inspect.
PROGRAM: tuple[Segment, ...] = (
    Segment("load", 15.0, 0.0, 0.0, False),
    Segment("roughing", 35.0, 8000.0, 0.60, True),
    Segment("semi_finishing", 20.0, 10000.0, 0.40, True),
    Segment("finishing", 25.0, 12000.0, 0.22, True),
    Segment("retract", 10.0, 0.0, 0.0, False),
)
MAX_SPINDLE_RPM = 12000.0
# Tool life criterion: flank wear VB = 0.3 mm (ISO 3685). Above TOOL_WORN_MM parts start to
# go out of tolerance: the "tool_worn" label.
TOOL_LIMIT_MM = 0.3
TOOL_WORN_MM = 0.25
# Wear "work" accrues at load / WORK_LOAD per cutting second; a tool lasts this much work.
WORK_LOAD = 0.4
TOOL_LIFE_WORK = (1200.0, 2100.0)


class Program:
    """The cyclic machining program of one spindle, with a per-spindle phase offset."""

    def __init__(self, offset_s: float, segments: tuple[Segment, ...] = PROGRAM) -> None:
        self.segments = segments
        self.cycle_s = sum(s.duration_s for s in segments)
        self.offset_s = offset_s % self.cycle_s
        # Plain lists and bisect: these are evaluated for scalars every tick, where numpy is slower.
        self.bounds = [float(b) for b in np.cumsum([0.0] + [s.duration_s for s in segments])]
        self.rates = [s.load / WORK_LOAD if s.cutting else 0.0 for s in segments]
        durations = [s.duration_s for s in segments]
        work = [r * d for r, d in zip(self.rates, durations, strict=True)]
        self.cum_work = [float(w) for w in np.cumsum([0.0, *work])]
        self.cycle_work = self.cum_work[-1]

    def segment_at(self, t_s: float) -> Segment:
        phase = (t_s + self.offset_s) % self.cycle_s
        i = bisect.bisect_right(self.bounds, phase) - 1
        return self.segments[min(i, len(self.segments) - 1)]

    def work(self, t_s: float) -> float:
        """Cumulative wear work of a tool cutting continuously since program time 0 (monotone, piecewise linear)."""
        u = t_s + self.offset_s
        n = math.floor(u / self.cycle_s)
        phase = u - n * self.cycle_s
        i = min(bisect.bisect_right(self.bounds, phase) - 1, len(self.segments) - 1)
        return n * self.cycle_work + self.cum_work[i] + self.rates[i] * (phase - self.bounds[i])

    def time_of_work(self, w: float) -> float:
        """The first program time at which ``work`` reaches ``w`` (inverse of :meth:`work`)."""
        n = math.floor(w / self.cycle_work)
        rem = w - n * self.cycle_work
        if rem <= 0.0:
            if n == 0:
                return -self.offset_s  # no work yet: reached at program time 0
            n -= 1  # reached at the end of the previous cycle's last cutting segment
            rem = self.cycle_work
        for i, rate in enumerate(self.rates):
            start, end = self.cum_work[i], self.cum_work[i + 1]
            if rate > 0 and rem <= end:
                return n * self.cycle_s + self.bounds[i] + (rem - start) / rate - self.offset_s
        return (n + 1) * self.cycle_s - self.offset_s  # unreachable: rem <= cycle_work

    def cycle_starts(self, after_s: float, until_s: float) -> list[float]:
        """Program cycle starts in (after_s, until_s]: where tools get changed."""
        first = math.floor((after_s + self.offset_s) / self.cycle_s) + 1
        out = []
        k = first
        while (t := k * self.cycle_s - self.offset_s) <= until_s:
            out.append(t)
            k += 1
        return out


def tool_wear_curve(x: float) -> float:
    """Flank wear (mm) at normalised tool life x: fast break-in, steady linear wear, then accelerating wear."""
    return TOOL_LIMIT_MM * (0.25 * (1.0 - math.exp(-x / 0.05)) + 0.55 * x + 0.2 * x**8)


class ToolTracker:
    """A spindle's cutting tool: wear work accumulated, its life, tool changes. Deterministic (no noise).

    Tools are changed at the start of a program cycle (while the part is unloaded)
    once their flank wear reached the limit, so a tool may slightly exceed it on
    its last part. Each tool's life is drawn from the spindle's own random stream.
    """

    def __init__(self, program: Program, rng: np.random.Generator) -> None:
        self.program = program
        self.rng = rng
        self.tool = 0
        self.work = 0.0
        self.life = float(rng.uniform(*TOOL_LIFE_WORK))
        self.t_s: float | None = None

    @property
    def x(self) -> float:
        return self.work / self.life

    @property
    def wear_mm(self) -> float:
        return tool_wear_curve(self.x)

    def advance(self, t_s: float, running: bool) -> None:
        if self.t_s is None or t_s <= self.t_s:
            self.t_s = t_s if self.t_s is None else self.t_s
            return
        a = self.t_s
        if running:
            for boundary in self.program.cycle_starts(a, t_s):
                self.work += self.program.work(boundary) - self.program.work(a)
                a = boundary
                if self.x >= 1.0:
                    self.tool += 1
                    self.work = 0.0
                    self.life = float(self.rng.uniform(*TOOL_LIFE_WORK))
            self.work += self.program.work(t_s) - self.program.work(a)
        self.t_s = t_s

    def rul_s(self) -> float:
        """Seconds until the flank wear reaches the limit, cutting per the program from now."""
        if self.t_s is None:
            return 0.0
        remaining = self.life - self.work
        if remaining <= 0:
            return 0.0
        target = self.program.work(self.t_s) + remaining
        return max(0.0, self.program.time_of_work(target) - self.t_s)


class SpindleModel(ClassModel):
    """CNC milling spindle running a machining program: speed, load, vibration, temperature, tool wear."""

    equipment_class = EquipmentClass.CNC_SPINDLE
    n_process_noise = 0

    TAU_SPEED_S = 0.7
    TAU_TEMP_S = 300.0

    def __init__(self, equipment: tuple[Equipment, ...], rng: np.random.Generator, programs: list[Program]) -> None:
        super().__init__(equipment, rng)
        self.programs = programs
        self.vib0 = 0.4 * self.spread[:, 0]
        self.speed: FloatArray | None = None
        self.temp_c: FloatArray | None = None

    def step(self, c: Conditions, z: FloatArray) -> FloatArray:
        wear, run = c.wear, c.running
        segments = [p.segment_at(c.t_s) for p in self.programs]
        target = np.where(run, np.array([s.speed_rpm for s in segments]), 0.0)
        cut_load = np.where(run, np.array([s.load for s in segments]), 0.0)
        if self.speed is None:
            self.speed = target.copy()
        self.speed = self.speed + (target - self.speed) * lag_factor(c.dt_s, self.TAU_SPEED_S)
        rel = self.speed / MAX_SPINDLE_RPM
        dull = c.tool_wear_mm / TOOL_LIMIT_MM
        # A dull tool needs more cutting force (+50 % at the limit) and chatters.
        load = 100.0 * (cut_load * (1.0 + 0.5 * dull**2) + 0.03 * rel) + 4.0 * wear * rel
        vib = self.vib0 + 1.4 * rel**2 + 2.0 * cut_load * dull**2 + 10.0 * wear * (rel + 0.1)
        temp_ss = c.ambient_c + 5.0 + 25.0 * rel**2 + 40.0 * wear
        if self.temp_c is None:
            # Start at the program's mean heat load rather than cold.
            mean_rel2 = sum(s.duration_s * (s.speed_rpm / MAX_SPINDLE_RPM) ** 2 for s in PROGRAM) / sum(
                s.duration_s for s in PROGRAM
            )
            self.temp_c = c.ambient_c + 5.0 + 25.0 * mean_rel2 + 40.0 * wear
        self.temp_c = self.temp_c + (temp_ss - self.temp_c) * lag_factor(c.dt_s, self.TAU_TEMP_S)

        out = np.empty((self.n, 5))
        out[:, 0] = np.maximum(self.speed + 2.0 * z[:, 0] * (self.speed > 1.0), 0.0)
        out[:, 1] = np.maximum(load + 1.0 * z[:, 1] * (self.speed > 1.0), 0.0)
        out[:, 2] = np.maximum(vib * (1.0 + 0.04 * z[:, 2]), 0.0)
        out[:, 3] = self.temp_c + 0.15 * z[:, 3]
        out[:, 4] = np.round(np.maximum(c.tool_wear_mm + 0.002 * z[:, 4], 0.0), 3)  # gauged to 1 µm
        return out
