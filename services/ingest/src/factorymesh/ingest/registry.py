"""The asset & tag registry: ISA-95 equipment, their classes and the definition of every tag.

Three parts:

* **The YAML file** (:func:`load_registry_file`): enterprise → sites → areas → lines →
  cells → equipment (with its class) → tags, plus reusable per-class tag templates.
  Validated with pydantic; every problem is reported as ``file:line:col: yaml.path: message``.
* **:class:`TagRegistry`**: the in-memory registry every lookup on the hot path hits
  (``get`` is one dict probe), and the only writer (``upsert``, ``delete``, ``seed``,
  ``resolve`` for unknown tags). Every change gets the next revision of its tag and is
  published to the compacted ``TAG_REGISTRY`` topic *before* it is applied locally.
* **:class:`RegistrySync`**: replays that topic from the beginning at start (to the end
  offsets taken at start), then follows it, so every replica — and every restart — ends
  up with the same registry.

Persistence rules (also in ``services/ingest/docs/api.md``):

* **Key** ``<equipment path>/<tag>``; **value** a ``TagRegistryEvent``.
* **Deletes publish a DELETED event, not a tombstone.** Compaction keeps the latest
  value per key, so the DELETED event stays as the key's last word forever. That keeps
  the deletion's *revision*: a re-created tag continues at ``revision + 1`` (event ids,
  derived from the revision, never repeat), and a YAML seed with an older revision
  cannot resurrect it. A tombstone would be removed after ``delete.retention.ms`` and
  take both with it. A tombstone found on the topic (an operator purging a key by hand)
  is honoured: the key is forgotten entirely, as if never written.
* **Order**: records are applied in topic order (one partition), unconditionally,
  because that is what compaction keeps; so the registry after a restart equals the
  registry before it. Two replicas changing the same tag at the same moment resolve as
  last-writer-wins by offset, identically everywhere.
* **YAML seed rule**: a tag from the file is written iff the file's ``revision`` is
  greater than the tag's latest revision on the topic (0 when the key was never
  written), and it is then written *at* the file's revision. A restart with an unchanged
  file therefore writes nothing and never clobbers changes made over gRPC (those carry
  higher revisions); bumping the file's ``revision`` past them makes the file win again.
  Date-like revisions (``2025031401``) keep that easy. Tags removed from the file are
  not deleted: the file seeds, the topic is the source of truth.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import math
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol

import yaml
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from google.protobuf.message import Message
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from factorymesh.api.common.v1 import equipment_pb2, units_pb2
from factorymesh.api.telemetry.v1 import reading_pb2, tag_pb2
from factorymesh.common.kafka import (
    EventProducer,
    KafkaConfig,
    UndecodableRecord,
    decode_event,
    derived_event_id,
)
from factorymesh.common.logging import get_logger
from factorymesh.common.topics import TAG_REGISTRY, TopicSpec

__all__ = [
    "DATA_TYPES",
    "LEVELS",
    "InvalidDefinition",
    "KafkaPublisher",
    "RegistryFile",
    "RegistryFileError",
    "RegistryPublisher",
    "RegistrySync",
    "RevisionConflict",
    "SeedResult",
    "TagDefinition",
    "TagRegistry",
    "UnknownTagPolicy",
    "ValueRange",
    "data_type_of",
    "definition_violations",
    "load_registry_file",
    "open_registry",
    "path_from_key",
    "path_violations",
    "range_violations",
]

log = get_logger(__name__)

TagDataType = tag_pb2.TagDataType
TagChangeKind = tag_pb2.TagChangeKind
QuantityKind = units_pb2.QuantityKind
UnknownTagPolicy = Literal["reject", "auto_register"]

# ISA-95 levels, top down, as named in EquipmentPath.
LEVELS = ("enterprise", "site", "area", "line", "cell", "equipment")
EQUIPMENT_LEVEL = len(LEVELS)

# Charsets from the contract (UMH); lengths are our own bounds so one bad client cannot
# bloat keys, logs and the compacted topic.
SEGMENT_PATTERN = r"[a-zA-Z0-9_-]{1,64}"
TAG_PATTERN = r"[a-zA-Z0-9_.-]{1,256}"
CLASS_PATTERN = r"[a-zA-Z0-9_.-]{1,64}"
_SEGMENT = re.compile(SEGMENT_PATTERN)
_TAG = re.compile(TAG_PATTERN)
_CLASS = re.compile(CLASS_PATTERN)
MAX_DESCRIPTION = 1024
MAX_UNIT_CODE = 64
MAX_MAPPING_KEY = 64
MAX_MAPPING_VALUE = 512

DATA_TYPES: Mapping[str, int] = {
    "double": TagDataType.TAG_DATA_TYPE_DOUBLE,
    "int64": TagDataType.TAG_DATA_TYPE_INT64,
    "bool": TagDataType.TAG_DATA_TYPE_BOOL,
    "string": TagDataType.TAG_DATA_TYPE_STRING,
}
_NUMERIC_TYPES = frozenset({TagDataType.TAG_DATA_TYPE_DOUBLE, TagDataType.TAG_DATA_TYPE_INT64})

Violation = tuple[str, str]  # (field path, description), as in google.rpc.BadRequest


# --------------------------------------------------------------------------- paths


def path_segments(path: equipment_pb2.EquipmentPath) -> tuple[str, ...]:
    return (path.enterprise, path.site, path.area, path.line, path.cell, path.equipment)


def path_violations(
    path: equipment_pb2.EquipmentPath, prefix: str, *, min_level: int = 1, max_level: int = EQUIPMENT_LEVEL
) -> list[Violation]:
    """Problems with an EquipmentPath: charset, gaps, and how deep it must / may go.

    ``min_level`` / ``max_level`` count levels from the top (1 = enterprise, 6 = equipment).
    Field paths are ``<prefix>.<segment>`` so a client sees exactly which segment is wrong.
    """
    out: list[Violation] = []
    segments = path_segments(path)
    depth = max((i + 1 for i, s in enumerate(segments) if s), default=0)
    for i, (level, value) in enumerate(zip(LEVELS, segments, strict=True)):
        where = f"{prefix}.{level}" if prefix else level
        if value:
            if not _SEGMENT.fullmatch(value):
                out.append((where, f"must match {SEGMENT_PATTERN}"))
            elif i >= max_level:
                out.append((where, f"must be empty: this path stops at the {LEVELS[max_level - 1]} level"))
        elif i < depth:
            out.append((where, f"required: {LEVELS[depth - 1]} is set, and a path has no gaps"))
        elif i < min_level:
            out.append((where, f"required: this path must reach the {LEVELS[min_level - 1]} level"))
    return out


def canonical_key(segments: Iterable[str]) -> str:
    """Canonical path string: the non-empty segments joined with ``/``."""
    return "/".join(s for s in segments if s)


def path_from_key(equipment_key: str) -> equipment_pb2.EquipmentPath:
    """Inverse of the canonical string (unambiguous because paths have no gaps)."""
    parts = equipment_key.split("/") if equipment_key else []
    return equipment_pb2.EquipmentPath(**dict(zip(LEVELS, parts, strict=False)))


def _sort_key(equipment_key: str, tag: str) -> tuple[tuple[str, ...], str]:
    # Ordered by path segments, then tag: a subtree is one contiguous run (prefix paging).
    return (tuple(equipment_key.split("/")), tag)


def _key_violations(equipment_key: str, tag: str) -> list[Violation]:
    out: list[Violation] = []
    segments = equipment_key.split("/")
    if len(segments) != EQUIPMENT_LEVEL or not all(_SEGMENT.fullmatch(s) for s in segments):
        out.append(("equipment", f"must be a full path down to the equipment level, segments {SEGMENT_PATTERN}"))
    if not _TAG.fullmatch(tag):
        out.append(("tag", f"must match {TAG_PATTERN}"))
    return out


# --------------------------------------------------------------------------- definitions


@dataclass(frozen=True, slots=True)
class ValueRange:
    """An inclusive numeric range; ``None`` is unbounded on that side."""

    min: float | None = None
    max: float | None = None

    @property
    def lo(self) -> float:
        """Lower bound for vectorised checks (``-inf`` when unbounded)."""
        return -math.inf if self.min is None else self.min

    @property
    def hi(self) -> float:
        """Upper bound for vectorised checks (``+inf`` when unbounded)."""
        return math.inf if self.max is None else self.max

    @property
    def bounded(self) -> bool:
        return self.min is not None or self.max is not None

    def to_proto(self) -> tag_pb2.ValueRange:
        return tag_pb2.ValueRange(min=self.min, max=self.max)

    @classmethod
    def from_proto(cls, message: tag_pb2.ValueRange) -> ValueRange:
        return cls(
            message.min if message.HasField("min") else None,
            message.max if message.HasField("max") else None,
        )


@dataclass(frozen=True, slots=True)
class TagDefinition:
    """One tag of one equipment: what it measures, in which unit, what values are valid.

    Immutable, so the hot path can hold on to one without copying; a change is a new
    object with the next ``revision``. ``data_type`` and ``quantity_kind`` are the proto
    enum values; ``unit`` is the UCUM code of the unit the *source* reports in.
    """

    equipment_key: str
    tag: str
    data_type: int = TagDataType.TAG_DATA_TYPE_DOUBLE
    unit: str = ""
    unit_symbol: str = ""
    quantity_kind: int = QuantityKind.QUANTITY_KIND_UNSPECIFIED
    valid_range: ValueRange = ValueRange()
    expected_range: ValueRange = ValueRange()
    nominal_sample_rate_hz: float = 0.0
    equipment_class: str = ""
    description: str = ""
    # Sorted (protocol, address) pairs: a tuple keeps the object immutable and hashable.
    source_mappings: tuple[tuple[str, str], ...] = ()
    revision: int = 0
    update_time_ns: int = 0

    @property
    def key(self) -> str:
        """The Kafka key on the registry topic: ``<equipment path>/<tag>``."""
        return f"{self.equipment_key}/{self.tag}"

    def same_content(self, other: TagDefinition) -> bool:
        """Equal apart from the output-only fields (revision, update time)."""
        return replace(self, revision=0, update_time_ns=0) == replace(other, revision=0, update_time_ns=0)

    def to_proto(self) -> tag_pb2.TagDefinition:
        message = tag_pb2.TagDefinition(
            equipment=path_from_key(self.equipment_key),
            tag=self.tag,
            description=self.description,
            data_type=self.data_type,  # type: ignore[arg-type]
            unit=units_pb2.EngineeringUnit(
                code=self.unit,
                symbol=self.unit_symbol,
                quantity_kind=self.quantity_kind,  # type: ignore[arg-type]
            ),
            nominal_sample_rate_hz=self.nominal_sample_rate_hz,
            equipment_class=self.equipment_class,
            source_mappings=dict(self.source_mappings),
            revision=self.revision,
        )
        if self.valid_range.bounded:
            message.valid_range.CopyFrom(self.valid_range.to_proto())
        if self.expected_range.bounded:
            message.expected_range.CopyFrom(self.expected_range.to_proto())
        if self.update_time_ns:
            message.update_time.FromNanoseconds(self.update_time_ns)
        return message

    @classmethod
    def from_proto(cls, message: tag_pb2.TagDefinition) -> TagDefinition:
        return cls(
            equipment_key=canonical_key(path_segments(message.equipment)),
            tag=message.tag,
            data_type=int(message.data_type),
            unit=message.unit.code,
            unit_symbol=message.unit.symbol,
            quantity_kind=int(message.unit.quantity_kind),
            valid_range=ValueRange.from_proto(message.valid_range),
            expected_range=ValueRange.from_proto(message.expected_range),
            nominal_sample_rate_hz=message.nominal_sample_rate_hz,
            equipment_class=message.equipment_class,
            description=message.description,
            source_mappings=tuple(sorted(message.source_mappings.items())),
            revision=message.revision,
            update_time_ns=message.update_time.ToNanoseconds() if message.HasField("update_time") else 0,
        )


def range_violations(data_type: int, valid: ValueRange, expected: ValueRange) -> list[Violation]:
    """Range problems, with field paths relative to the definition (``valid_range.min``, ...)."""
    out: list[Violation] = []
    numeric = data_type in _NUMERIC_TYPES
    for name, value_range in (("valid_range", valid), ("expected_range", expected)):
        finite = True
        for bound in ("min", "max"):
            value = getattr(value_range, bound)
            if value is not None and not math.isfinite(value):
                out.append((f"{name}.{bound}", "must be a finite number (leave it unset for unbounded)"))
                finite = False
        if value_range.bounded and not numeric:
            out.append((name, "ranges apply to double and int64 tags only"))
        elif (
            finite and value_range.min is not None and value_range.max is not None and value_range.min > value_range.max
        ):
            out.append((name, f"min ({value_range.min:g}) must be <= max ({value_range.max:g})"))
    # The soft range lives inside the hard one: a value flagged "expected" can never be invalid.
    if numeric:
        for bound in ("min", "max"):
            value = getattr(expected, bound)
            if value is None or not math.isfinite(value):
                continue
            if (valid.min is not None and value < valid.min) or (valid.max is not None and value > valid.max):
                out.append((f"expected_range.{bound}", f"must lie within valid_range [{valid.lo:g}, {valid.hi:g}]"))
    return out


def definition_violations(definition: TagDefinition) -> list[Violation]:
    """Every problem with a definition, field paths as in the proto ``TagDefinition``."""
    out = _key_violations(definition.equipment_key, definition.tag)
    if definition.data_type not in DATA_TYPES.values():
        out.append(("data_type", "required: one of " + ", ".join(TagDataType.Name(v) for v in DATA_TYPES.values())))
    if len(definition.unit) > MAX_UNIT_CODE:
        out.append(("unit.code", f"at most {MAX_UNIT_CODE} characters"))
    if definition.quantity_kind not in QuantityKind.values():
        out.append(("unit.quantity_kind", f"unknown QuantityKind {definition.quantity_kind}"))
    out.extend(range_violations(definition.data_type, definition.valid_range, definition.expected_range))
    rate = definition.nominal_sample_rate_hz
    if not (math.isfinite(rate) and rate >= 0):
        out.append(("nominal_sample_rate_hz", "must be a finite number >= 0 (0 = event-driven)"))
    if definition.equipment_class and not _CLASS.fullmatch(definition.equipment_class):
        out.append(("equipment_class", f"must match {CLASS_PATTERN}"))
    if len(definition.description) > MAX_DESCRIPTION:
        out.append(("description", f"at most {MAX_DESCRIPTION} characters"))
    for protocol, address in definition.source_mappings:
        if not protocol or len(protocol) > MAX_MAPPING_KEY:
            out.append((f"source_mappings[{protocol!r}]", f"key must have 1 to {MAX_MAPPING_KEY} characters"))
        elif len(address) > MAX_MAPPING_VALUE:
            out.append((f"source_mappings[{protocol!r}]", f"at most {MAX_MAPPING_VALUE} characters"))
    return out


def data_type_of(reading: reading_pb2.SensorReading) -> int:
    """The tag data type a reading's value implies (auto-registration)."""
    kind = reading.WhichOneof("value")
    return {
        "double_value": TagDataType.TAG_DATA_TYPE_DOUBLE,
        "int_value": TagDataType.TAG_DATA_TYPE_INT64,
        "bool_value": TagDataType.TAG_DATA_TYPE_BOOL,
        "string_value": TagDataType.TAG_DATA_TYPE_STRING,
    }.get(kind or "", TagDataType.TAG_DATA_TYPE_DOUBLE)


class InvalidDefinition(ValueError):
    """A definition the registry refuses; ``violations`` are (field path, description)."""

    def __init__(self, violations: Sequence[Violation]) -> None:
        self.violations = list(violations)
        super().__init__("; ".join(f"{path}: {desc}" for path, desc in self.violations))


class RevisionConflict(Exception):
    """``expected_revision`` did not match the tag's current revision (optimistic concurrency)."""

    def __init__(self, key: str, expected: int, actual: int) -> None:
        self.key, self.expected, self.actual = key, expected, actual
        super().__init__(f"{key}: expected revision {expected}, registry has {actual}")


# --------------------------------------------------------------------------- YAML file


def _none_to_empty(value: object) -> object:
    # `cells:` with nothing under it reads as None; treat it as an empty section.
    return {} if value is None else value


Segment = Annotated[str, StringConstraints(pattern=f"^{SEGMENT_PATTERN}$")]
TagName = Annotated[str, StringConstraints(pattern=f"^{TAG_PATTERN}$")]
ClassName = Annotated[str, StringConstraints(pattern=f"^{CLASS_PATTERN}$")]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


class _Spec(BaseModel):
    # extra="forbid": a typo (`valid_rage:`) must fail loudly, not silently drop a limit.
    model_config = ConfigDict(extra="forbid", frozen=True)


class UnitSpec(_Spec):
    """``unit: bar`` or ``unit: {code: "[psi]", symbol: psi, quantity_kind: pressure}``."""

    code: str = Field(min_length=1, max_length=MAX_UNIT_CODE)
    symbol: str = ""
    quantity_kind: str = "unspecified"

    @model_validator(mode="before")
    @classmethod
    def _from_code(cls, value: object) -> object:
        return {"code": value} if isinstance(value, str) else value

    @field_validator("quantity_kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        names = QuantityKind.keys()
        if f"QUANTITY_KIND_{value.upper()}" not in names:
            known = ", ".join(k.removeprefix("QUANTITY_KIND_").lower() for k in names)
            raise ValueError(f"unknown quantity kind {value!r}; one of: {known}")
        return value

    def quantity_kind_value(self) -> int:
        return QuantityKind.Value(f"QUANTITY_KIND_{self.quantity_kind.upper()}")


class RangeSpec(_Spec):
    """``[min, max]`` (``null`` = unbounded) or ``{min: .., max: ..}``."""

    min: FiniteFloat | None = None
    max: FiniteFloat | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_pair(cls, value: object) -> object:
        if isinstance(value, list | tuple):
            if len(value) != 2:
                raise ValueError("a range is [min, max] (use null for an unbounded side)")
            return {"min": value[0], "max": value[1]}
        return value

    def to_range(self) -> ValueRange:
        return ValueRange(self.min, self.max)


class TagSpec(_Spec):
    description: str = Field(default="", max_length=MAX_DESCRIPTION)
    data_type: Literal["double", "int64", "bool", "string"] = "double"
    unit: UnitSpec | None = None
    valid_range: RangeSpec | None = None
    expected_range: RangeSpec | None = None
    sample_rate_hz: FiniteFloat = Field(default=0.0, ge=0)
    source_mappings: Annotated[dict[str, str], BeforeValidator(_none_to_empty)] = {}

    @model_validator(mode="after")
    def _ranges(self) -> TagSpec:
        problems = range_violations(
            DATA_TYPES[self.data_type],
            self.valid_range.to_range() if self.valid_range else ValueRange(),
            self.expected_range.to_range() if self.expected_range else ValueRange(),
        )
        if problems:
            raise ValueError("; ".join(f"{path}: {desc}" for path, desc in problems))
        return self


Tags = Annotated[dict[TagName, TagSpec], BeforeValidator(_none_to_empty)]


class ClassSpec(_Spec):
    """Tags every equipment of a class has (an equipment's own tags override by name)."""

    description: str = ""
    tags: Tags = {}


class EquipmentSpec(_Spec):
    equipment_class: ClassName | None = Field(default=None, alias="class")
    description: str = ""
    tags: Tags = {}


class CellSpec(_Spec):
    description: str = ""
    equipment: Annotated[dict[Segment, EquipmentSpec], BeforeValidator(_none_to_empty)] = {}


class LineSpec(_Spec):
    description: str = ""
    cells: Annotated[dict[Segment, CellSpec], BeforeValidator(_none_to_empty)] = {}


class AreaSpec(_Spec):
    description: str = ""
    lines: Annotated[dict[Segment, LineSpec], BeforeValidator(_none_to_empty)] = {}


class SiteSpec(_Spec):
    description: str = ""
    areas: Annotated[dict[Segment, AreaSpec], BeforeValidator(_none_to_empty)] = {}


class RegistryFile(_Spec):
    """The whole YAML file (see ``services/ingest/config/assets.example.yaml``)."""

    # Strict int: "2025031401" must not silently become a float or a string compare.
    revision: int = Field(ge=1, strict=True)
    enterprise: Segment
    description: str = ""
    equipment_classes: Annotated[dict[ClassName, ClassSpec], BeforeValidator(_none_to_empty)] = {}
    sites: Annotated[dict[Segment, SiteSpec], BeforeValidator(_none_to_empty)] = {}

    def equipment(self) -> Iterator[tuple[str, EquipmentSpec]]:
        """``(equipment key, spec)`` for every equipment, in file order."""
        for site_id, site in self.sites.items():
            for area_id, area in site.areas.items():
                for line_id, line in area.lines.items():
                    for cell_id, cell in line.cells.items():
                        for equipment_id, spec in cell.equipment.items():
                            yield "/".join((self.enterprise, site_id, area_id, line_id, cell_id, equipment_id)), spec

    def equipment_classes_by_key(self) -> dict[str, str]:
        return {key: spec.equipment_class for key, spec in self.equipment() if spec.equipment_class}

    def definitions(self) -> list[TagDefinition]:
        """Every tag of every equipment: the class template's tags, then the equipment's own."""
        out: list[TagDefinition] = []
        for key, spec in self.equipment():
            template = self.equipment_classes.get(spec.equipment_class or "")
            tags = {**(template.tags if template else {}), **spec.tags}
            for name, tag in tags.items():
                unit = tag.unit
                out.append(
                    TagDefinition(
                        equipment_key=key,
                        tag=name,
                        data_type=DATA_TYPES[tag.data_type],
                        unit=unit.code if unit else "",
                        unit_symbol=unit.symbol if unit else "",
                        quantity_kind=unit.quantity_kind_value() if unit else QuantityKind.QUANTITY_KIND_UNSPECIFIED,
                        valid_range=tag.valid_range.to_range() if tag.valid_range else ValueRange(),
                        expected_range=tag.expected_range.to_range() if tag.expected_range else ValueRange(),
                        nominal_sample_rate_hz=tag.sample_rate_hz,
                        equipment_class=spec.equipment_class or "",
                        description=tag.description,
                        source_mappings=tuple(sorted(tag.source_mappings.items())),
                    )
                )
        return out


class RegistryFileError(ValueError):
    """The YAML file is unreadable or invalid; ``problems`` are ``file:line:col: path: message``."""

    def __init__(self, path: Path | str, problems: Sequence[str]) -> None:
        self.path = str(path)
        self.problems = list(problems)
        super().__init__(f"invalid asset registry {self.path}:\n  " + "\n  ".join(self.problems))


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (PyYAML silently keeps the last one)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *anchor` may legitimately repeat keys it merges
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _format_loc(loc: Sequence[int | str]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part == "[key]":
            text += " (the key)"
        else:
            # Tag names contain dots (and bad keys anything); quote them so the path stays readable.
            segment = part if _PLAIN_KEY.fullmatch(part) else f'"{part}"'
            text += f".{segment}" if text else segment
    return text or "(file)"


def _locate(root: yaml.Node | None, loc: Sequence[int | str]) -> yaml.Mark | None:
    """The position in the file of a pydantic error location (the deepest node we can find)."""
    if root is None:
        return None
    node: yaml.Node = root
    mark: yaml.Mark = root.start_mark
    key_mark = mark
    for part in loc:
        if part == "[key]":
            return key_mark
        if isinstance(node, yaml.MappingNode):
            # Search from the end: after merge flattening an explicit key follows merged ones.
            match = next(((k, v) for k, v in reversed(node.value) if getattr(k, "value", None) == part), None)
            if match is None:
                break
            # Point at the key (`valid_range:`), where an editor's eye goes, not at its value.
            key_mark, node = match[0].start_mark, match[1]
            mark = key_mark
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            mark = node.start_mark
        else:
            break
    return mark


def load_registry_file(path: Path | str) -> RegistryFile:
    """Read and validate the asset registry YAML; every problem is reported at once."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise RegistryFileError(path, [f"{path}: cannot read: {error.strerror or error}"]) from None
    loader = _StrictLoader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise RegistryFileError(path, [f"{where}: {error.problem or error}"]) from None
    except yaml.YAMLError as error:
        raise RegistryFileError(path, [f"{path}: {error}"]) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise RegistryFileError(path, [f"{path}: expected a mapping at the top (revision, enterprise, sites)"])
    try:
        return RegistryFile.model_validate(data)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            mark = _locate(root, item["loc"])
            where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
            message = str(item["msg"]).removeprefix("Value error, ")
            problems.append(f"{where}: {_format_loc(item['loc'])}: {message}")
        raise RegistryFileError(path, problems) from None


# --------------------------------------------------------------------------- the registry


class RegistryPublisher(Protocol):
    """Publishes one event and returns once Kafka acknowledged it (same shape as the servicer's)."""

    async def publish(self, topic: TopicSpec, key: str, message: Message) -> None: ...


class KafkaPublisher:
    """:class:`RegistryPublisher` (and the servicer's ``RawPublisher``) over an ``EventProducer``."""

    def __init__(self, producer: EventProducer) -> None:
        self._producer = producer

    async def publish(self, topic: TopicSpec, key: str, message: Message) -> None:
        await self._producer.send(topic, message, key=key)


@dataclass
class SeedResult:
    """What :meth:`TagRegistry.seed` did: keys written, keys left alone (topic is newer)."""

    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


class TagRegistry:
    """The registry every replica holds in memory; writes go through the compacted topic.

    Reads (``get``, ``tags_for``, ``equipment_class``, ``list_page``) are synchronous and never
    wait. Writes are serialised by one lock (they are rare: registration, seeding, the
    first reading of an unknown tag), publish a ``TagRegistryEvent`` and wait for Kafka's
    acknowledgement, then apply the change locally, so a caller reads its own write on
    this replica. Without a ``publisher`` writes are local only (tests, tools).
    """

    def __init__(
        self,
        *,
        publisher: RegistryPublisher | None = None,
        topic: TopicSpec = TAG_REGISTRY,
        unknown_tag_policy: UnknownTagPolicy = "reject",
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        if unknown_tag_policy not in ("reject", "auto_register"):
            raise ValueError(f"unknown_tag_policy must be 'reject' or 'auto_register', not {unknown_tag_policy!r}")
        self.unknown_tag_policy: UnknownTagPolicy = unknown_tag_policy
        self.topic = topic
        self._publisher = publisher
        self._clock_ns = clock_ns
        self._lock = asyncio.Lock()
        self._tags: dict[tuple[str, str], TagDefinition] = {}
        self._by_equipment: dict[str, dict[str, TagDefinition]] = {}
        self._order: list[tuple[tuple[str, ...], str]] = []
        # Revision at which a tag was deleted: re-creation continues after it, seeds respect it.
        self._deleted: dict[tuple[str, str], int] = {}
        self._classes: dict[str, str] = {}  # from tag definitions (latest non-empty wins)
        self._file_classes: dict[str, str] = {}  # from the YAML (equipment without tags too)
        # Called with (equipment key, tag, definition or None when deleted) on every change,
        # so derived state (the normalizer's validation rules) follows the registry.
        self._listeners: list[Callable[[str, str, TagDefinition | None], None]] = []

    def add_listener(self, listener: Callable[[str, str, TagDefinition | None], None]) -> None:
        """Call ``listener`` on every change from now on (after replaying the current tags to it)."""
        for definition in self._tags.values():
            listener(definition.equipment_key, definition.tag, definition)
        self._listeners.append(listener)

    # ------------------------------------------------------------------ reads

    def get(self, equipment_key: str, tag: str) -> TagDefinition | None:
        """The live definition of a tag, or ``None``. One dict probe: safe on the hot path."""
        return self._tags.get((equipment_key, tag))

    def tags_for(self, equipment_key: str) -> dict[str, TagDefinition]:
        """All live tags of one equipment, by tag name (a copy)."""
        return dict(self._by_equipment.get(equipment_key, {}))

    def equipment_class(self, equipment_key: str) -> str | None:
        """The equipment's class: from its tags' definitions, else from the YAML; ``None`` if unknown."""
        return self._classes.get(equipment_key) or self._file_classes.get(equipment_key)

    def revision(self, equipment_key: str, tag: str) -> int:
        """The tag's latest revision, live or deleted; 0 when it was never written."""
        current = self._tags.get((equipment_key, tag))
        if current is not None:
            return current.revision
        return self._deleted.get((equipment_key, tag), 0)

    def is_deleted(self, equipment_key: str, tag: str) -> bool:
        return (equipment_key, tag) in self._deleted

    def __len__(self) -> int:
        return len(self._tags)

    def __iter__(self) -> Iterator[TagDefinition]:
        """Live definitions ordered by equipment path, then tag."""
        for segments, tag in list(self._order):
            yield self._tags[("/".join(segments), tag)]

    def list_page(
        self,
        *,
        prefix: Sequence[str] = (),
        equipment_class: str = "",
        after: tuple[str, str] | None = None,
        limit: int = 100,
    ) -> tuple[list[TagDefinition], bool]:
        """One page of definitions at or below ``prefix`` (path segments), ordered by path then tag.

        ``after`` is the ``(equipment_key, tag)`` of the previous page's last item (keyset
        paging: stable while tags are added or removed between pages). Returns the page
        and whether more items follow.
        """
        prefix_t = tuple(prefix)
        start = bisect.bisect_left(self._order, (prefix_t, ""))
        if after is not None:
            start = max(start, bisect.bisect_right(self._order, _sort_key(*after)))
        page: list[TagDefinition] = []
        for index in range(start, len(self._order)):
            segments, tag = self._order[index]
            if segments[: len(prefix_t)] != prefix_t:
                break
            definition = self._tags[("/".join(segments), tag)]
            if equipment_class and definition.equipment_class != equipment_class:
                continue
            if len(page) == limit:
                return page, True
            page.append(definition)
        return page, False

    # ------------------------------------------------------------------ applying changes

    def apply(self, event: tag_pb2.TagRegistryEvent) -> None:
        """Apply one event from the topic (or one this replica just published). Idempotent."""
        definition = TagDefinition.from_proto(event.tag)
        if event.change_kind == TagChangeKind.TAG_CHANGE_KIND_UPSERTED:
            self._put(definition)
        elif event.change_kind == TagChangeKind.TAG_CHANGE_KIND_DELETED:
            self._remove(definition.equipment_key, definition.tag)
            self._deleted[(definition.equipment_key, definition.tag)] = definition.revision
        else:
            log.warning("tag_registry.unknown_change_kind", key=definition.key, change_kind=int(event.change_kind))

    def apply_tombstone(self, key: str) -> None:
        """A ``None`` value on the topic: forget the key entirely (revision included)."""
        equipment_key, _, tag = key.rpartition("/")
        self._remove(equipment_key, tag)
        self._deleted.pop((equipment_key, tag), None)

    def _put(self, definition: TagDefinition) -> None:
        k = (definition.equipment_key, definition.tag)
        if k not in self._tags:
            bisect.insort(self._order, _sort_key(*k))
        self._tags[k] = definition
        self._by_equipment.setdefault(definition.equipment_key, {})[definition.tag] = definition
        self._deleted.pop(k, None)
        if definition.equipment_class:
            self._classes[definition.equipment_key] = definition.equipment_class
        for listener in self._listeners:
            listener(definition.equipment_key, definition.tag, definition)

    def _remove(self, equipment_key: str, tag: str) -> None:
        if self._tags.pop((equipment_key, tag), None) is None:
            return
        sort_key = _sort_key(equipment_key, tag)
        index = bisect.bisect_left(self._order, sort_key)
        if index < len(self._order) and self._order[index] == sort_key:
            del self._order[index]
        tags = self._by_equipment.get(equipment_key, {})
        tags.pop(tag, None)
        if not tags:
            self._by_equipment.pop(equipment_key, None)
        for listener in self._listeners:
            listener(equipment_key, tag, None)

    # ------------------------------------------------------------------ writes

    def _event(self, kind: int, definition: TagDefinition, changed_by: str) -> tag_pb2.TagRegistryEvent:
        event = tag_pb2.TagRegistryEvent(
            event_id=derived_event_id("tag-registry", definition.equipment_key, definition.tag, definition.revision),
            change_kind=kind,  # type: ignore[arg-type]
            tag=definition.to_proto(),
            changed_by=changed_by,
        )
        event.change_time.FromNanoseconds(definition.update_time_ns)
        return event

    async def _publish(self, events: Sequence[tag_pb2.TagRegistryEvent]) -> None:
        if self._publisher is None or not events:
            return
        publisher = self._publisher
        # Concurrently: a seed of thousands of tags must not pay one broker round trip each.
        # The key is the canonical "<equipment path>/<tag>", from the event's own definition.
        await asyncio.gather(
            *(
                publisher.publish(self.topic, f"{canonical_key(path_segments(e.tag.equipment))}/{e.tag.tag}", e)
                for e in events
            )
        )

    def prepare(self, definition: TagDefinition) -> TagDefinition:
        """What :meth:`upsert` would store, without storing it (``validate_only``).

        Fills an empty ``equipment_class`` from the equipment's known class, returns the
        current definition unchanged when nothing but output-only fields differ, and
        otherwise the definition at the next revision.
        """
        problems = definition_violations(definition)
        if problems:
            raise InvalidDefinition(problems)
        if not definition.equipment_class:
            definition = replace(definition, equipment_class=self.equipment_class(definition.equipment_key) or "")
        current = self.get(definition.equipment_key, definition.tag)
        if current is not None and current.same_content(definition):
            return current
        return replace(
            definition,
            revision=self.revision(definition.equipment_key, definition.tag) + 1,
            update_time_ns=self._clock_ns(),
        )

    async def upsert(
        self, definition: TagDefinition, *, changed_by: str, expected_revision: int | None = None
    ) -> TagDefinition:
        """Create or update a tag (idempotent: an unchanged definition publishes nothing).

        Raises :class:`InvalidDefinition`, :class:`RevisionConflict` when
        ``expected_revision`` is given and stale, or the publisher's error (nothing applied).
        """
        return (await self.upsert_many([definition], changed_by=changed_by, expected_revision=expected_revision))[0]

    async def upsert_many(
        self, definitions: Sequence[TagDefinition], *, changed_by: str, expected_revision: int | None = None
    ) -> list[TagDefinition]:
        """:meth:`upsert` for several tags, published concurrently; results in input order."""
        seen: set[str] = set()
        for definition in definitions:
            problems = definition_violations(definition)
            if definition.key in seen:
                problems.append(("tag", f"{definition.key} appears twice in one change"))
            seen.add(definition.key)
            if problems:
                raise InvalidDefinition(problems)
        async with self._lock:
            stored = []
            for definition in definitions:
                if expected_revision is not None:
                    actual = self.revision(definition.equipment_key, definition.tag)
                    if actual != expected_revision:
                        raise RevisionConflict(definition.key, expected_revision, actual)
                stored.append(self.prepare(definition))
            changed = [d for d in stored if self.get(d.equipment_key, d.tag) is not d]
            events = [self._event(TagChangeKind.TAG_CHANGE_KIND_UPSERTED, d, changed_by) for d in changed]
            await self._publish(events)
            for d in changed:
                self._put(d)
            return stored

    async def delete(
        self, equipment_key: str, tag: str, *, changed_by: str, expected_revision: int | None = None
    ) -> TagDefinition | None:
        """Delete a tag: publishes a DELETED event at the next revision.

        Returns the definition as deleted (content before the change, the deletion's
        revision), or ``None`` when there was nothing to delete (idempotent).
        """
        async with self._lock:
            current = self.get(equipment_key, tag)
            if expected_revision is not None and self.revision(equipment_key, tag) != expected_revision:
                raise RevisionConflict(f"{equipment_key}/{tag}", expected_revision, self.revision(equipment_key, tag))
            if current is None:
                return None
            # The revision moves on: the DELETED event's id must differ from the last upsert's.
            deleted = replace(current, revision=current.revision + 1, update_time_ns=self._clock_ns())
            event = self._event(TagChangeKind.TAG_CHANGE_KIND_DELETED, deleted, changed_by)
            await self._publish([event])
            self.apply(event)
            return deleted

    async def seed(self, file: RegistryFile, *, changed_by: str = "seed") -> SeedResult:
        """Write the file's tags that the topic does not have at the file's revision or later.

        Call after :meth:`RegistrySync.start` has replayed the topic, or the rule compares
        against an empty registry. See the module docstring for why this rule.
        """
        self._file_classes = file.equipment_classes_by_key()
        result = SeedResult()
        now = self._clock_ns()
        async with self._lock:
            to_write = []
            for definition in file.definitions():
                problems = definition_violations(definition)
                if problems:  # the pydantic model already checks these; a mismatch is a bug
                    raise InvalidDefinition(problems)
                if self.revision(definition.equipment_key, definition.tag) >= file.revision:
                    result.skipped.append(definition.key)
                    continue
                to_write.append(replace(definition, revision=file.revision, update_time_ns=now))
                result.written.append(definition.key)
            events = [self._event(TagChangeKind.TAG_CHANGE_KIND_UPSERTED, d, changed_by) for d in to_write]
            await self._publish(events)
            for d in to_write:
                self._put(d)
        log.info(
            "tag_registry.seeded", revision=file.revision, written=len(result.written), skipped=len(result.skipped)
        )
        return result

    async def resolve(
        self,
        equipment_key: str,
        tag: str,
        *,
        unit: str = "",
        data_type: int = TagDataType.TAG_DATA_TYPE_DOUBLE,
        changed_by: str = "auto-register",
    ) -> TagDefinition | None:
        """The definition for a reading's tag, auto-registering it when the policy says so.

        Under ``reject`` (or for a key that is not a valid full path / tag name) an unknown
        tag gives ``None`` and the caller dead-letters the reading (UNKNOWN_TAG). Under
        ``auto_register`` the first reading defines the tag: its unit, the data type of its
        value, no ranges, the equipment's class when known. Concurrent first readings
        register it once (the lock, then a second look).
        """
        found = self.get(equipment_key, tag)
        if found is not None or self.unknown_tag_policy != "auto_register":
            return found
        if _key_violations(equipment_key, tag):
            return None
        candidate = TagDefinition(
            equipment_key=equipment_key,
            tag=tag,
            data_type=data_type,
            unit=unit,
            description="auto-registered from its first reading",
        )
        if definition_violations(candidate):
            return None
        async with self._lock:
            found = self.get(equipment_key, tag)
            if found is not None:
                return found
            stored = self.prepare(candidate)
            event = self._event(TagChangeKind.TAG_CHANGE_KIND_UPSERTED, stored, changed_by)
            await self._publish([event])
            self._put(stored)
        log.info("tag_registry.auto_registered", key=stored.key, unit=unit, data_type=TagDataType.Name(data_type))
        return stored


# --------------------------------------------------------------------------- sync


class RegistrySync:
    """Keeps a :class:`TagRegistry` equal to the registry topic.

    ``start()`` replays every partition from the beginning up to the end offsets taken at
    start, then sets :attr:`caught_up` (use it as a readiness check: a replica must not
    validate readings against half a registry). ``run()`` then follows new records until
    ``stop()`` or cancellation (register it with ``GrpcService.add_background_task``).
    No consumer group: every replica reads everything and commits nothing.
    """

    def __init__(
        self,
        config: KafkaConfig,
        registry: TagRegistry,
        topic: TopicSpec | None = None,
        *,
        poll_timeout_ms: int = 500,
        assignment_timeout_s: float = 30.0,
    ) -> None:
        self.registry = registry
        self.topic = topic or registry.topic
        self.caught_up = asyncio.Event()
        self.records_applied = 0
        self.records_skipped = 0
        self._poll_timeout_ms = poll_timeout_ms
        self._assignment_timeout_s = assignment_timeout_s
        self._stopping = asyncio.Event()
        self._consumer = AIOKafkaConsumer(
            **config.common(),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
        )
        self._started = False
        self._running = False
        self._follow_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Connect and replay the topic to its current end. Raises if the topic does not appear."""
        # Subscribing without a group gets every partition assigned by aiokafka itself, from
        # fresh metadata (a topic created a moment ago by ensure_topics is found, too).
        self._consumer.subscribe([self.topic.name])
        await self._consumer.start()
        self._started = True
        try:
            assigned = await self._wait_for_assignment()
            await self._consumer.seek_to_beginning(*assigned)
            end = await self._consumer.end_offsets(assigned)
            started = time.monotonic()
            while True:
                positions = {tp: await self._consumer.position(tp) for tp in assigned}
                if all(positions[tp] >= end[tp] for tp in assigned):
                    break
                await self._poll()
            self.caught_up.set()
            log.info(
                "tag_registry.replayed",
                topic=self.topic.name,
                records=self.records_applied,
                tags=len(self.registry),
                duration_s=round(time.monotonic() - started, 3),
            )
        except BaseException:
            await self.close()
            raise

    async def ready(self) -> bool:
        """Readiness check for ``GrpcService.add_readiness_check``: the replay has finished."""
        return self.caught_up.is_set()

    async def _wait_for_assignment(self) -> list[TopicPartition]:
        deadline = time.monotonic() + self._assignment_timeout_s
        while not (assigned := sorted(self._consumer.assignment())):
            if time.monotonic() > deadline:
                raise RuntimeError(f"registry topic {self.topic.name} not found (ensure_topics first)")
            await asyncio.sleep(0.05)
        return list(assigned)

    async def _poll(self) -> None:
        batches = await self._consumer.getmany(timeout_ms=self._poll_timeout_ms)
        for records in batches.values():
            for record in records:
                self._apply_record(record.key, record.value, record.headers)

    def _apply_record(self, key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes]]) -> None:
        if value is None:
            if key is None:
                self.records_skipped += 1
                return
            self.registry.apply_tombstone(key.decode("utf-8", errors="replace"))
            self.records_applied += 1
            return
        try:
            event = decode_event(value, headers, (tag_pb2.TagRegistryEvent,))
        except UndecodableRecord as error:
            # Not ours to dead-letter (every replica reads this topic); say so loudly instead.
            self.records_skipped += 1
            log.error("tag_registry.undecodable_record", key=key, reason=error.detail)
            return
        assert isinstance(event, tag_pb2.TagRegistryEvent)
        self.registry.apply(event)
        self.records_applied += 1

    async def run(self) -> None:
        """Follow the topic until :meth:`stop` (or cancellation); closes the consumer at the end."""
        if not self._started:
            await self.start()
        self._running = True
        try:
            while not self._stopping.is_set():
                try:
                    await self._poll()
                except KafkaError as error:
                    # aiokafka reconnects on its own; keep serving the registry we have.
                    log.warning("tag_registry.follow_error", error=repr(error))
                    await asyncio.sleep(1.0)
        finally:
            self._running = False
            await self.close()

    async def stop(self) -> None:
        """Ask :meth:`run` to finish after the current poll (a shutdown hook); closes the consumer."""
        self._stopping.set()
        if self._follow_task is not None:
            task, self._follow_task = self._follow_task, None
            with contextlib.suppress(asyncio.CancelledError):
                await task
        elif not self._running:
            # Nobody follows (start() only, or run() already ended): close here. A run()
            # in progress closes the consumer itself when it sees the flag.
            await self.close()

    async def close(self) -> None:
        if self._started:
            self._started = False
            await self._consumer.stop()

    async def __aenter__(self) -> RegistrySync:
        """Replay, then follow in a background task (tests and tools)."""
        await self.start()
        self._follow_task = asyncio.create_task(self.run(), name=f"registry-sync:{self.topic.name}")
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()


async def open_registry(
    config: KafkaConfig,
    producer: EventProducer,
    *,
    assets_file: Path | str | None,
    unknown_tag_policy: UnknownTagPolicy = "reject",
    topic: TopicSpec = TAG_REGISTRY,
) -> tuple[TagRegistry, RegistrySync]:
    """Start-up sequence for a service: validate the YAML, replay the topic, seed.

    The YAML is validated first so a broken file stops the process before it touches
    Kafka. The caller then runs ``sync.run`` as a background task, registers
    ``sync.stop`` as a shutdown hook and ``sync.ready`` as a readiness check.
    """
    file = load_registry_file(assets_file) if assets_file is not None else None
    registry = TagRegistry(publisher=KafkaPublisher(producer), topic=topic, unknown_tag_policy=unknown_tag_policy)
    sync = RegistrySync(config, registry, topic)
    await sync.start()
    if file is not None:
        try:
            await registry.seed(file, changed_by=f"seed:{Path(assets_file or '').name}@{file.revision}")
        except BaseException:
            await sync.close()
            raise
    return registry, sync
