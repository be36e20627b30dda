"""The model family: which models exist, their inputs (features, window) and their outputs.

One Triton model per (task, equipment class), named ``<task>_<equipment class>``.
A model's input is one row per (equipment, window): for each tag of the class, the
chosen ``FeatureWindow`` statistics, in the order ``[f"{tag}.{stat}" for tag in
tags for stat in stats]`` (the ``features`` list of ``metadata.json``).
"""

from __future__ import annotations

from dataclasses import dataclass

from factorymesh.features import STAT_NAMES

NS_PER_S = 1_000_000_000
TASKS: tuple[str, ...] = ("anomaly", "rul", "quality")

# Tags of each equipment class (services/line-simulator/README.md, "The plant").
CLASS_TAGS: dict[str, tuple[str, ...]] = {
    "centrifugal_pump": (
        "flow",
        "suction_pressure",
        "discharge_pressure",
        "current",
        "bearing_temperature",
        "vibration_rms",
    ),
    "induction_motor": ("current", "winding_temperature", "vibration_rms", "speed", "power"),
    "cnc_spindle": ("speed", "load", "vibration_rms", "temperature", "tool_wear"),
}


@dataclass(frozen=True)
class WindowSpec:
    """The ``FeatureWindow`` kind that feeds a model (ingest's defaults: tumbling 10 s, hopping 60 s / 10 s)."""

    kind: str
    size_s: float
    hop_s: float

    def __post_init__(self) -> None:
        if self.kind not in ("tumbling", "hopping"):
            raise ValueError(f"window kind must be tumbling or hopping, not {self.kind!r}")
        if self.kind == "tumbling" and self.hop_s != self.size_s:
            raise ValueError("a tumbling window's hop is its size")
        if not (self.size_s > 0 and self.hop_s > 0) or round(self.size_s * NS_PER_S) % round(self.hop_s * NS_PER_S):
            raise ValueError("window size must be a positive multiple of the hop")

    @property
    def size_ns(self) -> int:
        return round(self.size_s * NS_PER_S)

    @property
    def hop_ns(self) -> int:
        return round(self.hop_s * NS_PER_S)

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"kind": self.kind, "size_s": _num(self.size_s)}
        if self.kind == "hopping":
            out["hop_s"] = _num(self.hop_s)
        return out

    @classmethod
    def from_json(cls, raw: dict[str, object]) -> WindowSpec:
        kind = str(raw.get("kind", "tumbling"))
        size = float(str(raw["size_s"]))
        return cls(kind, size, float(str(raw.get("hop_s", size))) if kind == "hopping" else size)


def _num(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


TUMBLING_10S = WindowSpec("tumbling", 10.0, 10.0)
HOPPING_60S = WindowSpec("hopping", 60.0, 10.0)


@dataclass(frozen=True)
class ModelSpec:
    """What one model is: task, class, input features and the window they come from."""

    task: str
    equipment_class: str
    tags: tuple[str, ...]
    stats: tuple[str, ...]
    window: WindowSpec

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}")
        unknown = set(self.stats) - set(STAT_NAMES)
        if unknown:
            raise ValueError(f"not FeatureWindow statistics: {sorted(unknown)}")

    @property
    def name(self) -> str:
        return f"{self.task}_{self.equipment_class}"

    @property
    def features(self) -> tuple[str, ...]:
        return tuple(f"{tag}.{stat}" for tag in self.tags for stat in self.stats)


# Anomaly: 10 s tumbling windows react fastest. rms and peak_to_peak are left out: they
# are functions of mean/std and min/max, and redundant inputs only double-count a change.
ANOMALY_STATS = ("mean", "std", "min", "max", "kurtosis", "skewness", "slope", "crest_factor", "valid_fraction")
# RUL: bearing wear is slow; 60 s windows (every 10 s) average the noise, and their slope
# sees the wear rate. Level, spread and trend per tag are what degradation changes.
RUL_STATS = ("mean", "std", "max", "slope")
# Quality: a dull tool needs more cutting load and chatters; 60 s windows span most of a
# machining cycle (105 s), so the level of each tag is comparable from window to window.
QUALITY_STATS = ("mean", "std", "max", "slope")


# Spindles cycle through a machining program (105 s: idle, roughing, finishing): within
# 10 s windows the program phase, not the machine's health, decides the statistics; 60 s
# windows average over it. Their higher moments (kurtosis, skewness, crest factor) mostly
# measure phase changes and the 1 um gauge steps of tool_wear, so they are left out.
SPINDLE_ANOMALY_STATS = ("mean", "std", "min", "max", "slope", "valid_fraction")


def default_specs() -> dict[str, ModelSpec]:
    """The model family, by model name."""
    specs = [
        ModelSpec("anomaly", "centrifugal_pump", CLASS_TAGS["centrifugal_pump"], ANOMALY_STATS, TUMBLING_10S),
        ModelSpec("anomaly", "induction_motor", CLASS_TAGS["induction_motor"], ANOMALY_STATS, TUMBLING_10S),
        ModelSpec("anomaly", "cnc_spindle", CLASS_TAGS["cnc_spindle"], SPINDLE_ANOMALY_STATS, HOPPING_60S),
        # Bearing wear (the failure with a RUL) is simulated on every class; pumps and motors
        # are where it matters (the spindle's consumable is its tool, see quality).
        ModelSpec("rul", "centrifugal_pump", CLASS_TAGS["centrifugal_pump"], RUL_STATS, HOPPING_60S),
        ModelSpec("rul", "induction_motor", CLASS_TAGS["induction_motor"], RUL_STATS, HOPPING_60S),
        ModelSpec("quality", "cnc_spindle", CLASS_TAGS["cnc_spindle"], QUALITY_STATS, HOPPING_60S),
    ]
    return {s.name: s for s in specs}
