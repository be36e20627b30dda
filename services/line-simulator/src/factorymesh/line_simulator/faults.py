"""Fault episodes: what goes wrong, where, when, and how badly; random schedules and scenario files.

Two kinds of faults:

* **process faults** change the physics: ``bearing_wear`` (progressive: the wear
  grows until the bearing fails at ``end_s``, then the equipment is down for
  ``repair_s`` and comes back with a new bearing) and ``cavitation`` (pumps only:
  a ramped episode of ``severity`` 0..1);
* **sensor faults** change what one instrument reports, not the machine:
  ``sensor_drift`` (a growing offset, ``rate`` metric units per hour),
  ``sensor_stuck`` (frozen at the value it had at onset), ``sensor_spikes``
  (impulses with probability ``rate`` per sample), ``sensor_dropout`` (no samples)
  and ``comm_loss`` (the whole equipment sends nothing).

The random schedule is a renewal process per (equipment, fault kind, tag) with its
own random stream, seeded from the run seed and the *names* (not positions) of
the equipment and tag. It does not depend on the sample rate or on the other
equipment, so the same seed gives the same faults at 1 Hz and at 100 Hz, and
adding a pump to the plant does not move the faults of the others.
"""

from __future__ import annotations

import bisect
import enum
import json
import math
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from factorymesh.line_simulator.plant import Equipment, EquipmentClass, Plant, TagSpec

HOUR_S = 3600.0


class FaultKind(enum.StrEnum):
    BEARING_WEAR = "bearing_wear"
    CAVITATION = "cavitation"
    SENSOR_DRIFT = "sensor_drift"
    SENSOR_STUCK = "sensor_stuck"
    SENSOR_SPIKES = "sensor_spikes"
    SENSOR_DROPOUT = "sensor_dropout"
    COMM_LOSS = "comm_loss"

    @property
    def is_sensor_fault(self) -> bool:
        return self in SENSOR_FAULTS


SENSOR_FAULTS = frozenset(
    {FaultKind.SENSOR_DRIFT, FaultKind.SENSOR_STUCK, FaultKind.SENSOR_SPIKES, FaultKind.SENSOR_DROPOUT}
)
PROCESS_FAULTS = frozenset({FaultKind.BEARING_WEAR, FaultKind.CAVITATION})

# Wear at which a bearing fails: health = 1 - wear reaches 0.
FAILURE_WEAR = 1.0


@dataclass(frozen=True)
class FaultEpisode:
    """One fault on one equipment (and one tag, for sensor faults) over ``[start_s, end_s)``.

    Times are seconds since the simulation start. For ``bearing_wear`` ``end_s`` is
    the failure time; the equipment is then down until ``end_s + repair_s``.
    """

    equipment: str
    kind: FaultKind
    start_s: float
    end_s: float
    tag: str | None = None
    severity: float = 1.0
    rate: float = 0.0
    repair_s: float = 0.0

    def __post_init__(self) -> None:
        if not self.end_s > self.start_s:
            raise ValueError(f"{self.label} on {self.equipment}: end_s must be after start_s")
        if self.kind.is_sensor_fault and not self.tag:
            raise ValueError(f"{self.kind} needs a tag")

    @property
    def label(self) -> str:
        """Ground-truth label: the kind, with ``:<tag>`` for sensor faults."""
        return f"{self.kind}:{self.tag}" if self.tag else str(self.kind)

    @property
    def until_s(self) -> float:
        """When the episode stops affecting anything (after the repair for bearing wear)."""
        return self.end_s + self.repair_s

    def is_active(self, t_s: float) -> bool:
        return self.start_s <= t_s < self.end_s

    def wear(self, t_s: float) -> float:
        """Bearing wear 0..1: quadratic in time, the usual shape of spall growth (slow, then fast)."""
        if t_s < self.start_s:
            return 0.0
        x = (t_s - self.start_s) / (self.end_s - self.start_s)
        return min(x, 1.0) ** 2

    def is_down(self, t_s: float) -> bool:
        return self.kind is FaultKind.BEARING_WEAR and self.end_s <= t_s < self.until_s

    def envelope(self, t_s: float) -> float:
        """Intensity 0..severity of a ramped episode (cavitation): ramps in and out over 20 % of it, at most 60 s."""
        if not self.is_active(t_s):
            return 0.0
        ramp = min(60.0, 0.2 * (self.end_s - self.start_s))
        up = (t_s - self.start_s) / ramp
        down = (self.end_s - t_s) / ramp
        return self.severity * max(0.0, min(1.0, up, down))

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "equipment": self.equipment,
            "fault": self.kind.value,
            "start_s": self.start_s,
            "end_s": self.end_s,
        }
        if self.tag:
            data["tag"] = self.tag
        if self.kind is FaultKind.CAVITATION:
            data["severity"] = self.severity
        if self.kind in (FaultKind.SENSOR_DRIFT, FaultKind.SENSOR_SPIKES):
            data["rate"] = self.rate
        if self.kind is FaultKind.BEARING_WEAR:
            data["repair_s"] = self.repair_s
        return data


@dataclass(frozen=True)
class FaultProfile:
    """How often a fault starts (per equipment, or per tag for sensor faults) and how long it lasts."""

    rate_per_h: float
    min_s: float
    max_s: float


# Chosen so that a one-hour run of the demo plant (12 machines, ~65 instruments) shows
# a handful of sensor faults and a cavitation episode or two, and a day shows bearing
# failures: enough positives to train on, few enough that "healthy" is the norm.
DEFAULT_PROFILES: dict[FaultKind, FaultProfile] = {
    FaultKind.BEARING_WEAR: FaultProfile(0.04, 30 * 60.0, 4 * HOUR_S),  # onset -> failure
    FaultKind.CAVITATION: FaultProfile(0.3, 120.0, 900.0),
    FaultKind.SENSOR_DRIFT: FaultProfile(0.02, 30 * 60.0, 2 * HOUR_S),
    FaultKind.SENSOR_STUCK: FaultProfile(0.03, 60.0, 600.0),
    FaultKind.SENSOR_SPIKES: FaultProfile(0.04, 60.0, 300.0),
    FaultKind.SENSOR_DROPOUT: FaultProfile(0.04, 10.0, 180.0),
    FaultKind.COMM_LOSS: FaultProfile(0.02, 10.0, 120.0),
}
REPAIR_S = (15 * 60.0, 45 * 60.0)
CAVITATION_SEVERITY = (0.4, 1.0)
DRIFT_SPAN_FRACTION_PER_H = (0.02, 0.06)  # of the transmitter range
SPIKE_PROBABILITY = (0.02, 0.1)


def stable_hash(text: str) -> int:
    """A seed component that depends only on a name (crc32 is stable across runs, unlike hash())."""
    return zlib.crc32(text.encode())


def stream_rng(seed: int, *names: str) -> np.random.Generator:
    """An independent random stream for ``names`` under ``seed``."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=tuple(stable_hash(n) for n in names)))


def _applies(kind: FaultKind, equipment: Equipment) -> bool:
    return kind is not FaultKind.CAVITATION or equipment.equipment_class is EquipmentClass.CENTRIFUGAL_PUMP


class _Stream:
    """A renewal process of one fault kind on one equipment (and tag): quiet gap, episode, quiet gap, ..."""

    def __init__(
        self, seed: int, equipment: Equipment, kind: FaultKind, tag: TagSpec | None, profile: FaultProfile, scale: float
    ) -> None:
        self.equipment = equipment
        self.kind = kind
        self.tag = tag
        self.profile = profile
        self.rate_per_s = profile.rate_per_h * scale / HOUR_S
        self.rng = stream_rng(seed, "faults", equipment.key, kind.value, tag.name if tag else "")
        self.generated_until = 0.0
        self._next_start = self._gap(0.0)

    def _gap(self, after: float) -> float:
        return after + float(self.rng.exponential(1.0 / self.rate_per_s)) if self.rate_per_s > 0 else math.inf

    def extend(self, horizon_s: float) -> list[FaultEpisode]:
        out: list[FaultEpisode] = []
        while self._next_start < horizon_s:
            start = self._next_start
            duration = float(self.rng.uniform(self.profile.min_s, self.profile.max_s))
            # Draw every parameter whether or not the kind uses it, so one stream's
            # sequence never depends on which kinds exist.
            repair = float(self.rng.uniform(*REPAIR_S))
            severity = float(self.rng.uniform(*CAVITATION_SEVERITY))
            drift_fraction = float(self.rng.uniform(*DRIFT_SPAN_FRACTION_PER_H)) * float(self.rng.choice([-1.0, 1.0]))
            spike_p = float(self.rng.uniform(*SPIKE_PROBABILITY))
            rate = 0.0
            if self.kind is FaultKind.SENSOR_DRIFT and self.tag is not None:
                rate = drift_fraction * (self.tag.high - self.tag.low)
            elif self.kind is FaultKind.SENSOR_SPIKES:
                rate = spike_p
            episode = FaultEpisode(
                equipment=self.equipment.key,
                kind=self.kind,
                start_s=start,
                end_s=start + duration,
                tag=self.tag.name if self.tag else None,
                severity=severity if self.kind is FaultKind.CAVITATION else 1.0,
                rate=rate,
                repair_s=repair if self.kind is FaultKind.BEARING_WEAR else 0.0,
            )
            out.append(episode)
            self._next_start = self._gap(episode.until_s)
        self.generated_until = max(self.generated_until, horizon_s)
        return out


@dataclass
class _Timeline:
    episodes: list[FaultEpisode] = field(default_factory=list)
    starts: list[float] = field(default_factory=list)
    longest_s: float = 0.0

    def add(self, new: Iterable[FaultEpisode]) -> None:
        self.episodes.extend(new)
        self.episodes.sort(key=lambda e: (e.start_s, e.kind.value, e.tag or ""))
        self.starts = [e.start_s for e in self.episodes]
        self.longest_s = max((e.until_s - e.start_s for e in self.episodes), default=0.0)

    def affecting(self, t_s: float) -> list[FaultEpisode]:
        """Episodes with start <= t < until (active, or a bearing failure being repaired)."""
        hi = bisect.bisect_right(self.starts, t_s)
        lo = bisect.bisect_left(self.starts, t_s - self.longest_s)
        return [e for e in self.episodes[lo:hi] if t_s < e.until_s]


class FaultSchedule:
    """Every fault episode of a run: the random schedule plus a scenario's fixed episodes.

    Episodes are generated lazily an hour ahead of the latest time asked for, so a
    run of any length costs memory proportional to its faults only.
    """

    CHUNK_S = HOUR_S

    def __init__(
        self,
        plant: Plant,
        seed: int,
        *,
        fixed: Sequence[FaultEpisode] = (),
        random_faults: bool = True,
        rate_scale: float = 1.0,
        profiles: Mapping[FaultKind, FaultProfile] = DEFAULT_PROFILES,
    ) -> None:
        self.plant = plant
        self._timelines: dict[str, _Timeline] = {e.key: _Timeline() for e in plant.equipment}
        self._streams: dict[str, list[_Stream]] = {e.key: [] for e in plant.equipment}
        for episode in fixed:
            equipment = plant.find(episode.equipment)
            if episode.tag is not None and episode.tag not in {t.name for t in equipment.tags}:
                raise ValueError(f"{equipment.key} has no tag {episode.tag!r}")
            if episode.kind is FaultKind.CAVITATION and not _applies(episode.kind, equipment):
                raise ValueError(f"cavitation only applies to pumps, not {equipment.key}")
            self._timelines[equipment.key].add([episode])
        if random_faults and rate_scale > 0:
            for equipment in plant.equipment:
                streams = self._streams[equipment.key]
                for kind, profile in profiles.items():
                    if not _applies(kind, equipment):
                        continue
                    if kind.is_sensor_fault:
                        streams.extend(
                            _Stream(seed, equipment, kind, tag, profile, rate_scale) for tag in equipment.tags
                        )
                    else:
                        streams.append(_Stream(seed, equipment, kind, None, profile, rate_scale))
        self._horizon_s = -1.0

    def _ensure(self, t_s: float) -> None:
        if t_s < self._horizon_s:
            return
        horizon = (math.floor(t_s / self.CHUNK_S) + 2) * self.CHUNK_S
        for key, streams in self._streams.items():
            new = [episode for stream in streams for episode in stream.extend(horizon)]
            if new:
                self._timelines[key].add(new)
        self._horizon_s = horizon - self.CHUNK_S

    def affecting(self, equipment: str, t_s: float) -> list[FaultEpisode]:
        """Episodes that affect ``equipment`` at ``t_s`` (seconds since start), in start order."""
        self._ensure(t_s)
        return self._timelines[equipment].affecting(t_s)

    def episodes(self, until_s: float) -> list[FaultEpisode]:
        """Every episode that starts before ``until_s``, sorted by start time."""
        self._ensure(until_s)
        out = [e for timeline in self._timelines.values() for e in timeline.episodes if e.start_s < until_s]
        return sorted(out, key=lambda e: (e.start_s, e.equipment, e.kind.value, e.tag or ""))


# --------------------------------------------------------------------------- scenario files


@dataclass(frozen=True)
class Scenario:
    """A scenario file: optional plant, fixed fault episodes, and whether random faults run too.

    ```json
    {
      "plant": { ... Plant.to_dict() shape ... },
      "random_faults": false,
      "fault_rate_scale": 1.0,
      "faults": [
        {"equipment": "acme/houston/utilities/cooling/pumps/pump-01", "fault": "cavitation",
         "start_s": 60, "duration_s": 300, "severity": 0.8},
        {"equipment": "...", "fault": "bearing_wear", "start_s": 0, "time_to_failure_s": 1800, "repair_s": 600},
        {"equipment": "...", "fault": "sensor_stuck", "tag": "bearing_temperature", "start_s": 30, "duration_s": 120}
      ]
    }
    ```
    """

    plant: Plant | None = None
    random_faults: bool = True
    rate_scale: float = 1.0
    faults: tuple[FaultEpisode, ...] = ()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Scenario:
        return cls(
            plant=Plant.from_dict(data["plant"]) if data.get("plant") else None,
            random_faults=bool(data.get("random_faults", True)),
            rate_scale=float(data.get("fault_rate_scale", 1.0)),
            faults=tuple(episode_from_dict(f) for f in data.get("faults", ())),
        )

    @classmethod
    def load(cls, path: str | Path) -> Scenario:
        return cls.from_dict(json.loads(Path(path).read_text()))


def episode_from_dict(data: Mapping[str, Any]) -> FaultEpisode:
    kind = FaultKind(data["fault"])
    start = float(data.get("start_s", 0.0))
    if "end_s" in data:
        end = float(data["end_s"])
    elif kind is FaultKind.BEARING_WEAR and "time_to_failure_s" in data:
        end = start + float(data["time_to_failure_s"])
    else:
        end = start + float(data["duration_s"])
    rate = float(data.get("rate", 0.0))
    if kind is FaultKind.SENSOR_SPIKES and "rate" not in data:
        rate = 0.05
    return FaultEpisode(
        equipment=str(data["equipment"]),
        kind=kind,
        start_s=start,
        end_s=end,
        tag=data.get("tag"),
        severity=float(data.get("severity", 1.0)),
        rate=rate,
        repair_s=float(data.get("repair_s", 1800.0 if kind is FaultKind.BEARING_WEAR else 0.0)),
    )
