"""Closed windows -> ``FeatureWindow`` events."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from factorymesh.api.common.v1 import time_range_pb2
from factorymesh.api.telemetry.v1 import feature_window_pb2
from factorymesh.common.kafka import derived_event_id
from factorymesh.features import FEATURE_SET_VERSION as FEATURE_SET_VERSION  # re-exported: ingest API
from factorymesh.features.stats import NS_PER_S, finalize
from factorymesh.ingest.features.readings import equipment_path
from factorymesh.ingest.features.windows import ClosedWindows, EquipmentWindows

# FEATURE_SET_VERSION lives with the formulas (factorymesh.features): training computes the
# same windows offline and records the version its models expect.

# (equipment key, tag) -> nominal sample rate in Hz, or None when unknown.
ExpectedRate = Callable[[str, str], float | None]


def feature_window_id(
    equipment: str, tag: str, feature_set_version: str, kind: int, start_ns: int, size_ns: int, hop_ns: int
) -> str:
    """The derived event id of docs/contracts.md: recomputing a window yields the same id."""
    return derived_event_id("feature-window", equipment, tag, feature_set_version, kind, start_ns, size_ns, hop_ns)


def _timestamp(ns: int) -> Timestamp:
    seconds, nanos = divmod(ns, NS_PER_S)
    return Timestamp(seconds=seconds, nanos=nanos)


def _duration(ns: int) -> Duration:
    seconds, nanos = divmod(ns, NS_PER_S)
    return Duration(seconds=seconds, nanos=nanos)


def feature_windows(
    state: EquipmentWindows,
    closed: ClosedWindows,
    *,
    feature_set_version: str = FEATURE_SET_VERSION,
    computed_ns: int,
    expected_rate: ExpectedRate | None = None,
) -> list[feature_window_pb2.FeatureWindow]:
    """One event per closed window (statistics computed vectorized, protos built per window)."""
    if len(closed) == 0:
        return []
    expected = None
    if expected_rate is not None:
        sizes = np.array([state.specs[s].size_ns for s in closed.spec.tolist()], dtype=np.float64) / NS_PER_S
        rates = np.array(
            [expected_rate(state.key, state.tags[t]) or 0.0 for t in closed.tag.tolist()], dtype=np.float64
        )
        expected = sizes * rates
    f = finalize(closed.moments, expected)
    path = equipment_path(state.key)
    computed = _timestamp(computed_ns)
    out: list[feature_window_pb2.FeatureWindow] = []
    columns = zip(
        closed.spec.tolist(),
        closed.tag.tolist(),
        closed.start_ns.tolist(),
        closed.moments.ctx.tolist(),
        f.count.tolist(),
        f.mean.tolist(),
        f.std.tolist(),
        f.min.tolist(),
        f.max.tolist(),
        f.rms.tolist(),
        f.peak_to_peak.tolist(),
        f.kurtosis.tolist(),
        f.skewness.tolist(),
        f.slope.tolist(),
        f.crest_factor.tolist(),
        f.valid_fraction.tolist(),
        strict=True,
    )
    for spec_idx, tag_id, start, ctx, count, mean, std, vmin, vmax, rms, ptp, kurt, skew, slope, crest, vf in columns:
        spec = state.specs[spec_idx]
        tag = state.tags[tag_id]
        window = feature_window_pb2.FeatureWindow(
            event_id=feature_window_id(
                state.key, tag, feature_set_version, spec.kind, start, spec.size_ns, spec.step_ns
            ),
            equipment=path,
            tag=tag,
            equipment_class=state.equipment_class,
            window_kind=spec.kind,
            window=time_range_pb2.TimeRange(start_time=_timestamp(start), end_time=_timestamp(start + spec.size_ns)),
            window_size=_duration(spec.size_ns),
            hop=_duration(spec.step_ns),
            count=count,
            mean=mean,
            std=std,
            min=vmin,
            max=vmax,
            rms=rms,
            peak_to_peak=ptp,
            valid_fraction=vf,
            feature_set_version=feature_set_version,
            computed_time=computed,
        )
        # Undefined statistics stay unset (proto3 optional), never NaN.
        if kurt == kurt:
            window.kurtosis = kurt
        if skew == skew:
            window.skewness = skew
        if slope == slope:
            window.slope = slope
        if crest == crest:
            window.crest_factor = crest
        unit = state.units.get(tag_id)
        if unit:
            window.unit.ParseFromString(unit)
        context = state.context_of(ctx)
        if context:
            window.context.ParseFromString(context)
        out.append(window)
    return out
