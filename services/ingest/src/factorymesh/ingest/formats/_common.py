"""Helpers shared by the three input-format parsers.

Everything here is total: it returns a value or an error string, never raises
for bad input, so the parsers can turn every problem into a precise
:class:`~factorymesh.ingest.model.Rejection`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from factorymesh.api.common.v1 import equipment_pb2, quality_pb2
from factorymesh.ingest.model import DeadLetterReason, ParseResult, Rejection

R = DeadLetterReason  # short alias: the reason codes are used everywhere below

# UMH charset for one equipment-path segment (docs in equipment.proto).
SEGMENT_RE = re.compile(r"[A-Za-z0-9_-]+")
# Tag charset of SensorReading.tag: segments of the UMH charset separated by "."
# (tag groups). Empty groups ("a..b", ".a", "a.") are not tags.
TAG_RE = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")

# Largest integer a float64 holds exactly; bigger integers would silently lose
# digits in the float64 value column, so they are TYPE_MISMATCH instead.
MAX_EXACT_INT = 2**53
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000

GOOD = quality_pb2.DataQuality.DATA_QUALITY_GOOD
BAD = quality_pb2.DataQuality.DATA_QUALITY_BAD
UNCERTAIN = quality_pb2.DataQuality.DATA_QUALITY_UNCERTAIN
UNSPECIFIED_QUALITY = quality_pb2.DataQuality.DATA_QUALITY_UNSPECIFIED
VALID_QUALITIES: frozenset[int] = frozenset(quality_pb2.DataQuality.values())

_LEVELS = ("enterprise", "site", "area", "line", "cell", "equipment")


def reject_record(reason: int, detail: str, tag: str = "") -> ParseResult:
    """The result for a record that yields no reading at all: exactly one rejection with reading_id ""."""
    return ParseResult(rejections=[Rejection(reason=reason, detail=detail, reading_id="", tag=tag)])


def equipment_path(segments: Sequence[str]) -> equipment_pb2.EquipmentPath:
    """An EquipmentPath from up to six segments, top level first (no validation)."""
    return equipment_pb2.EquipmentPath(**dict(zip(_LEVELS, segments, strict=False)))


# Paths already found valid: a plant has thousands of equipment, not millions, and the
# per-segment regex checks were a quarter of the cost of a single reading.
_VALID_PATHS: set[tuple[str, ...]] = set()
_VALID_PATHS_MAX = 100_000


def check_equipment(path: equipment_pb2.EquipmentPath) -> tuple[int, str] | None:
    """``None`` when ``path`` is a valid equipment path, else ``(reason, detail)``.

    Missing enterprise is MISSING_REQUIRED_FIELD; a bad character or a gap (a set
    segment below an empty one) makes the path malformed: UNKNOWN_EQUIPMENT, the
    reason the dead-letter contract gives for "malformed or not known".
    """
    segments = (path.enterprise, path.site, path.area, path.line, path.cell, path.equipment)
    if segments in _VALID_PATHS:
        return None
    problem = _check_segments(segments)
    if problem is None:
        if len(_VALID_PATHS) >= _VALID_PATHS_MAX:
            _VALID_PATHS.clear()
        _VALID_PATHS.add(segments)
    return problem


def _check_segments(segments: tuple[str, ...]) -> tuple[int, str] | None:
    if not segments[0]:
        return R.DEAD_LETTER_REASON_MISSING_REQUIRED_FIELD, "equipment.enterprise is empty"
    seen_empty = ""
    for level, segment in zip(_LEVELS, segments, strict=True):
        if not segment:
            seen_empty = seen_empty or level
            continue
        if seen_empty:
            return (
                R.DEAD_LETTER_REASON_UNKNOWN_EQUIPMENT,
                f"equipment path has a gap: {level}={segment!r} is set but {seen_empty} is empty",
            )
        if not SEGMENT_RE.fullmatch(segment):
            return (
                R.DEAD_LETTER_REASON_UNKNOWN_EQUIPMENT,
                f"equipment.{level}={segment!r} is outside the charset [a-zA-Z0-9_-]",
            )
    return None


def check_tag(tag: str) -> str | None:
    """``None`` when ``tag`` is a valid tag name, else why not."""
    if not tag:
        return "tag is empty"
    if not TAG_RE.fullmatch(tag):
        return f"tag {tag!r} is outside the charset [a-zA-Z0-9_.-] (non-empty groups separated by '.')"
    return None


def ms_to_ns(ms: int) -> int | None:
    """Milliseconds since the epoch as int64 nanoseconds; ``None`` when it does not fit."""
    ns = ms * NS_PER_MS
    return ns if INT64_MIN <= ns <= INT64_MAX else None


def header_value(headers: Sequence[tuple[str, bytes]] | None, name: str) -> bytes | None:
    """The first header called ``name`` (case-insensitive, like HTTP), tolerating null values."""
    wanted = name.lower()
    for key, value in headers or ():
        if isinstance(key, str) and key.lower() == wanted:
            return value if isinstance(value, bytes) else b""
    return None


def short(value: object, limit: int = 80) -> str:
    """``repr`` cut to ``limit`` characters, for details that quote input."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
