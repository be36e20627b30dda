"""The shapes every ingest stage works on.

Parsers (``formats``) turn raw records into :class:`ReadingColumns` plus
:class:`Rejection` s; processing (``units``, ``validation``, ``dedup``,
``context``) works on the columns with numpy, never per reading in Python, and
returns the survivors plus more rejections; the pipeline turns survivors into
``NormalizedReadingBatch`` / ``NormalizedReading`` and rejections into dead letters.
Every input reading ends as exactly one survivor or exactly one rejection.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from factorymesh.api.common.v1 import dead_letter_pb2, equipment_pb2, quality_pb2
from factorymesh.api.telemetry.v1 import reading_pb2

DeadLetterReason = dead_letter_pb2.DeadLetterReason
GOOD = quality_pb2.DataQuality.DATA_QUALITY_GOOD


def equipment_key(path: equipment_pb2.EquipmentPath) -> str:
    """The Kafka key and registry key of an equipment: ``enterprise/site/area/line/cell/equipment``."""
    parts = (path.enterprise, path.site, path.area, path.line, path.cell, path.equipment)
    return "/".join(p for p in parts if p)


@dataclass
class ReadingColumns:
    """Numeric readings of ONE equipment, in columns of equal length N.

    Reading ``i`` is ``tags[tag_idx[i]]`` at ``times_ns[i]`` with ``values[i]`` in
    ``units[tag_idx[i]]`` (the source unit; ``""`` = the tag's registered unit) and
    quality ``quality[i]``; its id is ``reading_ids[i]`` when given, else
    ``f"{batch_id}:{source_idx[i]}"``.
    """

    batch_id: str
    equipment: equipment_pb2.EquipmentPath
    tags: list[str]
    units: list[str]
    tag_idx: npt.NDArray[np.uint32]
    times_ns: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    quality: npt.NDArray[np.int32]
    source_idx: npt.NDArray[np.uint32]
    reading_ids: list[str] | None = None
    origin: reading_pb2.ReadingOrigin = field(default_factory=reading_pb2.ReadingOrigin)
    received_ns: int = 0

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def reading_id(self, i: int) -> str:
        return self.reading_ids[i] if self.reading_ids is not None else f"{self.batch_id}:{int(self.source_idx[i])}"

    def select(self, mask: npt.NDArray[np.bool_]) -> ReadingColumns:
        """The readings where ``mask`` is true (same dictionaries)."""
        ids = [rid for rid, keep in zip(self.reading_ids, mask, strict=True) if keep] if self.reading_ids else None
        return ReadingColumns(
            batch_id=self.batch_id,
            equipment=self.equipment,
            tags=self.tags,
            units=self.units,
            tag_idx=self.tag_idx[mask],
            times_ns=self.times_ns[mask],
            values=self.values[mask],
            quality=self.quality[mask],
            source_idx=self.source_idx[mask],
            reading_ids=ids,
            origin=self.origin,
            received_ns=self.received_ns,
        )


@dataclass(frozen=True)
class Rejection:
    """One input that will not become a normalized reading, and why (a dead letter)."""

    reason: int  # a DeadLetterReason value
    detail: str
    # Id of the rejected reading when it has one; "" when the whole record was unreadable.
    reading_id: str = ""
    # The offending value / tag where it helps an operator (kept in the dead letter's detail).
    tag: str = ""


@dataclass
class TextReading:
    """A non-numeric reading (a string state such as ``"RUNNING"``): passed through unconverted."""

    reading_id: str
    equipment: equipment_pb2.EquipmentPath
    tag: str
    value: str
    time_ns: int
    quality: int = GOOD
    origin: reading_pb2.ReadingOrigin = field(default_factory=reading_pb2.ReadingOrigin)


@dataclass
class ParseResult:
    """What a parser made of one Kafka record (or one gRPC message)."""

    columns: list[ReadingColumns] = field(default_factory=list)
    texts: list[TextReading] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)

    @property
    def readings(self) -> int:
        return sum(len(c) for c in self.columns) + len(self.texts)
