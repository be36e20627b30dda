"""Feature windows -> one feature vector per (equipment, window) and model.

Ingest emits one ``FeatureWindow`` per equipment, tag and window; a model reads several
tags (``"<tag>.<stat>"`` features), so the windows of one equipment and window —
the *assembly*, keyed by (equipment, feature set version, kind, start, size, hop) — are
collected until every tag a routed model needs is there.

Ingest closes all tags of an equipment's window together, in one transaction, keyed by
the equipment path: they arrive consecutively on one partition. Two things still split
them: a poll can end in the middle of the group, and a tag can drop out (its sensor sent
nothing valid, so that tag's window is never emitted). This module decides, for the
records of one poll, which assemblies are *done* and where each partition must stop:

* an assembly is **complete** when every needed tag is present;
* it is **final** (scored as it is, missing features imputed and flagged) when a *later*
  window of the same equipment and window spec is in the poll — ingest closes windows in
  order, so no more tags of the earlier one can come — or when it has been waiting for
  ``timeout_s`` of processing time (the equipment went silent);
* otherwise it is **held**: the processor commits the partition only up to the first
  record of the first held assembly and re-polls the rest (``BatchResult.hold_from``).
  An assembly that is done but has a record past a hold point is held too, or its
  records before the hold would be committed and never seen again.

The plan depends only on the records (and, for the timeout, on how long a key has been
seen), so a retried or re-polled batch is cut the same way: exactly-once needs no state
of ours beyond Kafka's offsets.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from factorymesh.api.telemetry.v1 import feature_window_pb2
from factorymesh.common.kafka import derived_event_id
from factorymesh.inference.models import OPTIONAL_STATISTICS, ModelVersion
from factorymesh.inference.router import canonical

FeatureWindow = feature_window_pb2.FeatureWindow


@dataclass(frozen=True)
class AssemblyKey:
    equipment: str
    feature_set_version: str
    kind: int
    start_ns: int
    size_ns: int
    hop_ns: int

    @functools.cached_property
    def id(self) -> str:
        """The feature vector's id (``InferenceResult.window_event_id`` for multi-tag models)."""
        return derived_event_id(
            "feature-vector",
            self.equipment,
            self.feature_set_version,
            self.kind,
            self.start_ns,
            self.size_ns,
            self.hop_ns,
        )

    @property
    def series(self) -> tuple[str, str, int, int, int]:
        """The sequence of windows this one belongs to (same equipment and spec)."""
        return (self.equipment, self.feature_set_version, self.kind, self.size_ns, self.hop_ns)


def key_of(window: FeatureWindow, equipment: str | None = None) -> AssemblyKey:
    """The window's assembly; ``equipment`` = its canonical path when the caller has it already."""
    return AssemblyKey(
        equipment=canonical(window.equipment) if equipment is None else equipment,
        feature_set_version=window.feature_set_version,
        kind=int(window.window_kind),
        start_ns=window.window.start_time.ToNanoseconds(),
        size_ns=window.window_size.ToNanoseconds(),
        hop_ns=window.hop.ToNanoseconds(),
    )


@dataclass
class Entry:
    """One decoded record of a poll."""

    tp: TopicPartition
    offset: int
    window: FeatureWindow
    record: ConsumerRecord[bytes, bytes] | None = None
    equipment: str | None = None  # canonical path, when already computed


@dataclass
class Assembly:
    key: AssemblyKey
    tp: TopicPartition
    entries: list[Entry] = field(default_factory=list)
    needed: frozenset[str] = frozenset()
    final: bool = False  # done although incomplete

    @property
    def first_offset(self) -> int:
        return min(e.offset for e in self.entries)

    @property
    def last_offset(self) -> int:
        return max(e.offset for e in self.entries)

    @property
    def windows(self) -> dict[str, FeatureWindow]:
        # A re-emitted tag (should not happen) counts once: the later record wins.
        return {e.window.tag: e.window for e in sorted(self.entries, key=lambda e: e.offset)}

    @property
    def first(self) -> FeatureWindow:
        return min(self.entries, key=lambda e: e.offset).window

    @property
    def complete(self) -> bool:
        return self.needed <= self.windows.keys()

    @property
    def missing(self) -> frozenset[str]:
        return self.needed - self.windows.keys()


@dataclass
class Plan:
    ready: list[Assembly]
    # Per partition: the first offset not done (absent = the whole poll is done).
    hold_from: dict[TopicPartition, int]

    def is_held(self, tp: TopicPartition, offset: int) -> bool:
        held = self.hold_from.get(tp)
        return held is not None and offset >= held


# Which tags the models routed for this window (and its canonical equipment path) need;
# empty = no model wants it.
NeedsFn = Callable[[FeatureWindow, str], frozenset[str]]


class Assembler:
    """Cuts each poll into done assemblies and held tails (see the module docstring)."""

    def __init__(self, timeout_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout_s = timeout_s
        self._clock = clock
        # When each assembly key was first seen (processing time) — only for the timeout;
        # lost on restart, which just restarts the wait.
        self._first_seen: dict[AssemblyKey, float] = {}

    @property
    def waiting(self) -> int:
        return len(self._first_seen)

    def plan(self, entries: Sequence[Entry], needs: NeedsFn) -> Plan:
        now = self._clock()
        assemblies: dict[AssemblyKey, Assembly] = {}
        for entry in entries:
            key = key_of(entry.window, entry.equipment)
            assembly = assemblies.get(key)
            if assembly is None:
                assembly = assemblies[key] = Assembly(key, entry.tp, needed=needs(entry.window, key.equipment))
            assembly.entries.append(entry)

        # The newest window start per series in this poll: anything older is final.
        newest: dict[tuple[str, str, int, int, int], int] = {}
        for key in assemblies:
            newest[key.series] = max(newest.get(key.series, key.start_ns), key.start_ns)

        pending: list[Assembly] = []
        done: list[Assembly] = []
        for key, assembly in assemblies.items():
            if not assembly.needed or assembly.complete:
                done.append(assembly)
                continue
            first_seen = self._first_seen.setdefault(key, now)
            if newest[key.series] > key.start_ns or now - first_seen >= self.timeout_s:
                assembly.final = True
                done.append(assembly)
            else:
                pending.append(assembly)

        hold: dict[TopicPartition, int] = {}
        for assembly in pending:
            hold[assembly.tp] = min(hold.get(assembly.tp, assembly.first_offset), assembly.first_offset)
        # A done assembly reaching past a hold point is held as well (fixpoint: holding it
        # may move the hold point further back).
        changed = True
        while changed:
            changed = False
            for assembly in list(done):
                held = hold.get(assembly.tp)
                if held is not None and assembly.last_offset >= held:
                    done.remove(assembly)
                    hold[assembly.tp] = min(held, assembly.first_offset)
                    changed = True

        for assembly in done:
            self._first_seen.pop(assembly.key, None)
        self._expire(now)
        done.sort(key=lambda a: (a.tp.topic, a.tp.partition, a.first_offset))
        return Plan(done, hold)

    def _expire(self, now: float) -> None:
        # Keys whose records went to another replica (rebalance) would otherwise stay forever.
        horizon = 10 * self.timeout_s
        for key in [k for k, t in self._first_seen.items() if now - t > horizon]:
            del self._first_seen[key]


def feature_value(window: FeatureWindow, stat: str) -> float | None:
    """A statistic of a window, or None when it is undefined (unset optional) or not finite."""
    if stat in OPTIONAL_STATISTICS and not window.HasField(stat):
        return None
    value = float(getattr(window, stat))
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class FeatureVector:
    values: npt.NDArray[np.float32]
    imputed: tuple[str, ...]
    # Share of the model's tags whose window was there.
    tags_present: float
    input_window_ids: tuple[str, ...]
    missing_tags: tuple[str, ...]


# Statistics whose value for a tag without a window is known, not guessed: no readings.
_ZERO_WHEN_ABSENT = frozenset({"count", "valid_fraction"})


def build_vector(model: ModelVersion, windows: Mapping[str, FeatureWindow]) -> FeatureVector:
    """The model's input in its feature order.

    A missing value (the tag's window never came, or the statistic is undefined for it)
    takes the training mean — except ``count`` and ``valid_fraction`` of an absent tag,
    which are 0: the window had no valid reading, and the model should see that rather
    than a healthy average. Every filled-in feature is listed in ``imputed``.
    """
    values = np.empty(len(model.features), dtype=np.float32)
    missing = np.zeros(len(model.features), dtype=bool)
    for tag, items in model.features_by_tag.items():
        window = windows.get(tag)
        for i, stat in items:
            value = feature_value(window, stat) if window is not None else None
            if value is None:
                missing[i] = True
                value = 0.0 if window is None and stat in _ZERO_WHEN_ABSENT else float(model.stats.mean[i])
            values[i] = value
    imputed = [model.features[i] for i in np.flatnonzero(missing)]
    tags = model.tags
    present = [tag for tag in tags if tag in windows]
    return FeatureVector(
        values=values,
        imputed=tuple(imputed),
        tags_present=len(present) / len(tags),
        input_window_ids=tuple(windows[tag].event_id for tag in sorted(present)),
        missing_tags=tuple(sorted(tags - set(present))),
    )
