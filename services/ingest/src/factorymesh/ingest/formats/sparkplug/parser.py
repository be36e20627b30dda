"""Sparkplug B (Eclipse Sparkplug 3.0) payloads, with the session state the protocol needs.

An MQTT->Kafka bridge forwards each Sparkplug message with its MQTT topic as
the Kafka key: ``spBv1.0/<group_id>/<message_type>/<edge_node_id>[/<device_id>]``.

State kept per edge node (``group_id/edge_node_id``), and why:

* **Aliases.** BIRTH messages bind each metric name to a numeric alias; DATA
  messages may then send the alias only. NBIRTH defines the node's metrics and
  voids every device's (the node must re-send DBIRTH for each device); DBIRTH
  replaces one device's. An alias no BIRTH of the current session declared is
  UNKNOWN_TAG: the name cannot be recovered.
* **Datatype and engineering unit.** Sent in BIRTH only (the spec says DATA
  SHOULD NOT repeat the datatype; properties are BIRTH-only in practice), so
  they are remembered per metric name for the DATA messages that follow.
* **seq** (0..255, +1 per message of the node, wrapping; absent in NDEATH) and
  **bdSeq** (the NBIRTH/NDEATH session number): a jump is a lost message or a
  lost session. It is NOT a reason to reject the current message — its values
  are valid — but it is counted (OTel counter
  ``factorymesh.ingest.sparkplug.sequence_gaps``, attributes
  ``sparkplug.edge_node`` and ``sparkplug.sequence`` = ``seq``/``bdSeq``) and logged.
  The same seq twice in a row is a re-delivery, not a gap.
* **Online / offline.** A DEATH makes the node (NDEATH: with all its devices)
  offline and voids its aliases. An NDEATH whose bdSeq differs from the current
  NBIRTH's is the late MQTT will of an older session and is ignored (spec
  "Edge Node Session Establishment"). DATA from a known-offline node or device
  without a new BIRTH breaks the protocol (BIRTH must come first): its
  alias-only metrics are UNKNOWN_TAG, its named metrics are kept with quality
  UNCERTAIN — the values were measured, but the session that vouches for them
  is over (the spec marks such data STALE).

Mapping. The equipment path is the group id's, then the edge node id's, then the
device id's levels, where each id may hold several ISA-95 levels joined with ``.``:
group ``acme.houston``, node ``utilities.cooling``, device ``pumps.pump-01`` give
``acme/houston/utilities/cooling/pumps/pump-01``; plain ids give enterprise = group,
site = edge node, area = device (node-level metrics stop one level up). The contract
forbids gaps in a path, so levels fill from the enterprise down. Tag = metric name with ``/``
(Sparkplug folders) turned into ``.`` (our tag groups) and any other character
outside ``[a-zA-Z0-9_-]`` into ``_``; the original name is kept in
``origin.source_tag`` of text readings. Time = metric timestamp, else payload
timestamp (ms). Reading id = the contract's id for sources without ids
(reading.proto): UUIDv5 of ``reading|<equipment path>|<tag>|<time ns>|<group/node[/device]>``
— seq is deliberately not part of it: it wraps every 256 messages, so ids with
it would collide, while the spec guarantees one value per metric and timestamp.

Protocol metrics — ``bdSeq`` and the ``Node Control/*`` / ``Device Control/*``
command endpoints — update state and are not readings.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from google.protobuf.message import DecodeError
from opentelemetry import metrics

from factorymesh.api.telemetry.v1 import reading_pb2
from factorymesh.common.kafka import derived_event_id
from factorymesh.common.logging import get_logger
from factorymesh.ingest.formats._common import (
    BAD,
    GOOD,
    MAX_EXACT_INT,
    SEGMENT_RE,
    UNCERTAIN,
    R,
    equipment_path,
    ms_to_ns,
    reject_record,
    short,
)
from factorymesh.ingest.formats.sparkplug import sparkplug_b_pb2 as spb
from factorymesh.ingest.model import ParseResult, ReadingColumns, Rejection, TextReading, equipment_key

log = get_logger(__name__)

NAMESPACE = "spBv1.0"
TOPIC_PREFIX = NAMESPACE + "/"
NODE_TYPES = frozenset({"NBIRTH", "NDATA", "NDEATH"})
DEVICE_TYPES = frozenset({"DBIRTH", "DDATA", "DDEATH"})
COMMAND_TYPES = frozenset({"NCMD", "DCMD"})
# Tahu marks a compressed payload with this uuid (body = compressed Payload).
COMPRESSED_UUID = "SPBV1.0_COMPRESSED"
SEQ_MODULUS = 256
GAP_COUNTER = "factorymesh.ingest.sparkplug.sequence_gaps"
SPARKPLUG_B = reading_pb2.SourceProtocol.SOURCE_PROTOCOL_SPARKPLUG_B

_SIGNED_BITS: dict[int, int] = {spb.Int8: 8, spb.Int16: 16, spb.Int32: 32, spb.Int64: 64}
_UNSIGNED_BITS: dict[int, int] = {spb.UInt8: 8, spb.UInt16: 16, spb.UInt32: 32, spb.UInt64: 64}
_TEXT_TYPES: frozenset[int] = frozenset({spb.String, spb.Text, spb.UUID})
_FLOAT_TYPES: frozenset[int] = frozenset({spb.Float, spb.Double})
_UNIT_KEYS = frozenset({"engunit", "engunits"})
_NOT_TAG_CHAR = re.compile(r"[^A-Za-z0-9_.-]")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def is_protocol_metric(name: str) -> bool:
    """Metrics that carry protocol state or command endpoints, not plant data."""
    folded = name.casefold()
    return name == "bdSeq" or folded.startswith(("node control/", "device control/"))


def tag_for(name: str) -> str:
    """Our tag for a Sparkplug metric name: folders ``/`` -> groups ``.``, other characters -> ``_``."""
    cleaned = _NOT_TAG_CHAR.sub("_", name.replace("/", "."))
    return ".".join(part for part in cleaned.split(".") if part)


@dataclass
class _Metric:
    datatype: int  # 0 = not declared
    unit: str


@dataclass
class _Scope:
    """The metric definitions of an edge node or of one device, from its last BIRTH."""

    online: bool | None = None  # None: no BIRTH or DEATH seen since this process started
    by_alias: dict[int, str] = field(default_factory=dict)
    by_name: dict[str, _Metric] = field(default_factory=dict)


@dataclass
class _Node:
    node: _Scope = field(default_factory=_Scope)
    devices: dict[str, _Scope] = field(default_factory=dict)
    last_seq: int | None = None
    bd_seq: int | None = None


class _Problem(Exception):
    """A metric that cannot become a reading (caught per metric, never leaves this module)."""

    def __init__(self, reason: int, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass
class _Topic:
    text: str
    group: str
    message_type: str
    node: str
    device: str
    segments: list[str]  # the ISA-95 levels the three ids name, enterprise first

    @property
    def node_id(self) -> str:
        return f"{self.group}/{self.node}"

    @property
    def source_id(self) -> str:
        return f"{self.node_id}/{self.device}" if self.device else self.node_id


class SparkplugParser:
    """Parses Sparkplug B records; one per ingest process, as it holds the session state."""

    def __init__(self, meter: metrics.Meter | None = None) -> None:
        self._nodes: dict[tuple[str, str], _Node] = {}
        meter = meter or metrics.get_meter("factorymesh.ingest.formats")
        self._gap_counter = meter.create_counter(
            GAP_COUNTER, unit="{gap}", description="Sparkplug seq/bdSeq discontinuities (lost messages or sessions)"
        )
        #: (edge node, "seq" | "bdSeq") -> gaps seen; the OTel counter's numbers, for diagnostics and tests.
        self.sequence_gaps: Counter[tuple[str, str]] = Counter()

    def is_online(self, group: str, node: str, device: str = "") -> bool | None:
        """True after a BIRTH, False after a DEATH, None when neither was seen since start."""
        state = self._nodes.get((group, node))
        if state is None:
            return None
        if not device:
            return state.node.online
        scope = state.devices.get(device)
        return scope.online if scope is not None else (False if state.node.online is False else None)

    # ------------------------------------------------------------------ entry point

    def parse(self, topic: str, key: bytes | None, value: bytes | None, received_ns: int) -> ParseResult:
        parsed = _parse_topic(topic, key)
        if isinstance(parsed, ParseResult):
            return parsed
        if value is None:
            return reject_record(R.DEAD_LETTER_REASON_DECODE_ERROR, "record has no value")
        try:
            payload = spb.Payload.FromString(value)
        except DecodeError as error:
            return reject_record(R.DEAD_LETTER_REASON_DECODE_ERROR, f"Sparkplug B payload: {error}")
        if payload.uuid == COMPRESSED_UUID:
            return reject_record(
                R.DEAD_LETTER_REASON_UNSUPPORTED_ENCODING, "compressed Sparkplug payload (uuid SPBV1.0_COMPRESSED)"
            )
        if payload.HasField("seq") and payload.seq >= SEQ_MODULUS:
            return reject_record(R.DEAD_LETTER_REASON_SCHEMA_VIOLATION, f"seq {payload.seq} is outside 0..255")

        state = self._nodes.setdefault((parsed.group, parsed.node), _Node())
        kind = parsed.message_type
        if kind != "NDEATH":
            self._check_seq(parsed, state, payload)
        if kind == "NDEATH":
            self._node_death(parsed, state, payload)
            return ParseResult()
        if kind == "DDEATH":
            # Stays known as offline; its aliases are void until the next DBIRTH.
            state.devices[parsed.device] = _Scope(online=False)
            return ParseResult()

        result = ParseResult()
        if kind == "NBIRTH":
            self._check_bd_seq(parsed, state, payload)
            state.node = self._birth_scope(payload, result, parsed)
            state.devices = {}  # a new node session voids every device's BIRTH
            scope = state.node
        elif kind == "DBIRTH":
            scope = state.devices[parsed.device] = self._birth_scope(payload, result, parsed)
        elif kind == "NDATA":
            scope = state.node
        else:  # DDATA
            scope = state.devices.get(parsed.device) or _Scope(online=False if state.node.online is False else None)
        self._readings(parsed, state, scope, payload, result, received_ns)
        return result

    # ------------------------------------------------------------------ session state

    def _gap(self, topic: _Topic, sequence: str, expected: int, received: int) -> None:
        self.sequence_gaps[(topic.node_id, sequence)] += 1
        self._gap_counter.add(1, {"sparkplug.edge_node": topic.node_id, "sparkplug.sequence": sequence})
        log.warning(
            "sparkplug sequence gap",
            edge_node=topic.node_id,
            sequence=sequence,
            expected=expected,
            received=received,
            message_type=topic.message_type,
        )

    def _check_seq(self, topic: _Topic, state: _Node, payload: spb.Payload) -> None:
        if not payload.HasField("seq"):
            log.debug("sparkplug message without seq", edge_node=topic.node_id, message_type=topic.message_type)
            return
        seq = int(payload.seq)
        if topic.message_type == "NBIRTH":
            if seq != 0:
                log.warning("sparkplug NBIRTH with seq != 0", edge_node=topic.node_id, seq=seq)
        elif state.last_seq is not None:
            expected = (state.last_seq + 1) % SEQ_MODULUS
            if seq == state.last_seq:
                # A re-delivered message (at-least-once bridge, retried batch): not a loss.
                log.debug("sparkplug seq repeated", edge_node=topic.node_id, seq=seq)
            elif seq != expected:
                self._gap(topic, "seq", expected, seq)
        state.last_seq = seq

    def _check_bd_seq(self, topic: _Topic, state: _Node, payload: spb.Payload) -> None:
        bd_seq = _bd_seq(payload)
        if bd_seq is None:
            log.warning("sparkplug NBIRTH without bdSeq", edge_node=topic.node_id)
        elif state.bd_seq is not None and bd_seq not in (state.bd_seq, (state.bd_seq + 1) % SEQ_MODULUS):
            # Same bdSeq = a rebirth in the same MQTT session; +1 = the next session.
            self._gap(topic, "bdSeq", (state.bd_seq + 1) % SEQ_MODULUS, bd_seq)
        state.bd_seq = bd_seq

    def _node_death(self, topic: _Topic, state: _Node, payload: spb.Payload) -> None:
        bd_seq = _bd_seq(payload)
        if bd_seq is not None and state.bd_seq is not None and bd_seq != state.bd_seq:
            log.info(
                "sparkplug NDEATH of an older session ignored",
                edge_node=topic.node_id,
                death_bd_seq=bd_seq,
                current_bd_seq=state.bd_seq,
            )
            return
        state.node = _Scope(online=False)
        state.devices = {}
        state.last_seq = None  # the next session starts again at NBIRTH seq 0

    def _birth_scope(self, payload: spb.Payload, result: ParseResult, topic: _Topic) -> _Scope:
        """The definitions a BIRTH declares: names, aliases, datatypes, units."""
        scope = _Scope(online=True)
        for metric in payload.metrics:
            if not metric.name:
                continue  # rejected with the readings (MISSING_REQUIRED_FIELD)
            try:
                unit = _unit(metric)
            except _Problem:
                unit = ""  # the metric itself is rejected with the readings
            scope.by_name[metric.name] = _Metric(datatype=int(metric.datatype), unit=unit)
            if metric.HasField("alias"):
                bound = scope.by_alias.setdefault(int(metric.alias), metric.name)
                if bound != metric.name:
                    log.warning(
                        "sparkplug BIRTH reuses an alias",
                        edge_node=topic.node_id,
                        alias=metric.alias,
                        first=bound,
                        second=metric.name,
                    )
        return scope

    # ------------------------------------------------------------------ readings

    def _readings(
        self,
        topic: _Topic,
        state: _Node,
        scope: _Scope,
        payload: spb.Payload,
        result: ParseResult,
        received_ns: int,
    ) -> None:
        equipment = equipment_path(topic.segments)
        path = equipment_key(equipment)
        attributes = {"sparkplug.message_type": topic.message_type}
        if state.bd_seq is not None:
            attributes["sparkplug.bdSeq"] = str(state.bd_seq)
        origin = reading_pb2.ReadingOrigin(
            protocol=SPARKPLUG_B,
            source_id=topic.source_id,
            source_topic=topic.text,
            source_sequence=int(payload.seq),
            attributes=attributes,
        )
        is_birth = topic.message_type in ("NBIRTH", "DBIRTH")
        tag_index: dict[str, int] = {}
        tags: list[str] = []
        units: list[str] = []
        tag_idx: list[int] = []
        times: list[int] = []
        values: list[float] = []
        qualities: list[int] = []
        ids: list[str] = []

        for metric in payload.metrics:
            if metric.name and is_protocol_metric(metric.name):
                continue
            # Until the metric is resolved, rejections name it by alias.
            label = metric.name or f"alias:{metric.alias}"
            time_ns = _time_ns(metric, payload)
            rid = derived_event_id("reading", path, tag_for(label) or label, time_ns or 0, topic.source_id)
            try:
                name = self._name(metric, scope, topic, is_birth)
                if is_protocol_metric(name):
                    continue
                label = name
                tag = tag_for(name)
                if not tag:
                    raise _Problem(R.DEAD_LETTER_REASON_SCHEMA_VIOLATION, f"metric name {short(name)} has no tag chars")
                if time_ns is None:
                    raise _Problem(*_time_problem(metric, payload))
                rid = derived_event_id("reading", path, tag, time_ns, topic.source_id)
                known = scope.by_name.get(name)
                datatype = int(metric.datatype) or (known.datatype if known else 0)
                unit = _unit(metric) or (known.unit if known else "")
                value = _value(metric, datatype)
            except _Problem as problem:
                result.rejections.append(
                    Rejection(reason=problem.reason, detail=problem.detail, reading_id=rid, tag=label)
                )
                continue

            quality = BAD if metric.is_null else (UNCERTAIN if scope.online is False else GOOD)
            if isinstance(value, str):
                text_origin = reading_pb2.ReadingOrigin()
                text_origin.CopyFrom(origin)
                text_origin.source_tag = name
                result.texts.append(
                    TextReading(
                        reading_id=rid,
                        equipment=equipment,
                        tag=tag,
                        value=value,
                        time_ns=time_ns,
                        quality=quality,
                        origin=text_origin,
                    )
                )
                continue
            if tag not in tag_index:
                tag_index[tag] = len(tags)
                tags.append(tag)
                units.append(unit)
            tag_idx.append(tag_index[tag])
            times.append(time_ns)
            values.append(value)
            qualities.append(quality)
            ids.append(rid)

        if values:
            n = len(values)
            result.columns.append(
                ReadingColumns(
                    batch_id=derived_event_id("sparkplug", topic.text, int(payload.seq), int(payload.timestamp)),
                    equipment=equipment,
                    tags=tags,
                    units=units,
                    tag_idx=np.array(tag_idx, dtype=np.uint32),
                    times_ns=np.array(times, dtype=np.int64),
                    values=np.array(values, dtype=np.float64),
                    quality=np.array(qualities, dtype=np.int32),
                    source_idx=np.arange(n, dtype=np.uint32),
                    reading_ids=ids,
                    origin=origin,
                    received_ns=received_ns,
                )
            )

    @staticmethod
    def _name(metric: spb.Payload.Metric, scope: _Scope, topic: _Topic, is_birth: bool) -> str:
        if metric.name:
            return metric.name
        if is_birth:
            raise _Problem(R.DEAD_LETTER_REASON_MISSING_REQUIRED_FIELD, "BIRTH metric without a name")
        if not metric.HasField("alias"):
            raise _Problem(R.DEAD_LETTER_REASON_MISSING_REQUIRED_FIELD, "metric has neither name nor alias")
        name = scope.by_alias.get(int(metric.alias))
        if name is not None:
            return name
        if scope.online is None:
            why = "no BIRTH seen since restart (request a rebirth: NCMD 'Node Control/Rebirth')"
        elif scope.online is False:
            why = "the node/device is offline (DEATH) and sent no BIRTH since"
        else:
            why = "the last BIRTH did not declare it"
        raise _Problem(R.DEAD_LETTER_REASON_UNKNOWN_TAG, f"alias {metric.alias} unknown for {topic.source_id}: {why}")

    # ------------------------------------------------------------------ node bookkeeping

    def forget(self) -> None:
        """Drop all session state (what a restart does); for tests and operators' tooling."""
        self._nodes.clear()


# ---------------------------------------------------------------------- pure helpers


def _parse_topic(topic: str, key: bytes | None) -> _Topic | ParseResult:
    """The Sparkplug topic from the key (the bridge's MQTT topic) or, failing that, the Kafka topic."""
    text = None
    if key is not None and key.startswith(TOPIC_PREFIX.encode()):
        try:
            text = key.decode("utf-8")
        except UnicodeDecodeError:
            return reject_record(R.DEAD_LETTER_REASON_DECODE_ERROR, "Sparkplug topic (record key) is not UTF-8")
    elif topic.startswith(TOPIC_PREFIX):
        text = topic
    if text is None:
        return reject_record(R.DEAD_LETTER_REASON_UNKNOWN_MESSAGE_TYPE, "neither key nor topic starts with spBv1.0/")
    parts = text.split("/")
    if len(parts) >= 2 and parts[1] == "STATE":
        return reject_record(
            R.DEAD_LETTER_REASON_UNKNOWN_MESSAGE_TYPE, "Sparkplug STATE (host application state) is not telemetry"
        )
    if len(parts) < 4:
        return reject_record(R.DEAD_LETTER_REASON_SCHEMA_VIOLATION, f"Sparkplug topic {short(text)} is too short")
    group, message_type, node = parts[1], parts[2], parts[3]
    if message_type in COMMAND_TYPES:
        return reject_record(
            R.DEAD_LETTER_REASON_UNKNOWN_MESSAGE_TYPE, f"Sparkplug {message_type} is a command, not telemetry"
        )
    if message_type not in NODE_TYPES | DEVICE_TYPES:
        return reject_record(
            R.DEAD_LETTER_REASON_UNKNOWN_MESSAGE_TYPE, f"unknown Sparkplug message type {short(message_type)}"
        )
    expected = 4 if message_type in NODE_TYPES else 5
    if len(parts) != expected:
        return reject_record(
            R.DEAD_LETTER_REASON_SCHEMA_VIOLATION,
            f"Sparkplug {message_type} topic must have {expected} levels, {short(text)} has {len(parts)}",
        )
    device = parts[4] if expected == 5 else ""
    segments: list[str] = []
    for level, name in (("group_id", group), ("edge_node_id", node), ("device_id", device)):
        if level == "device_id" and expected == 4:
            continue
        # Each id may carry several ISA-95 levels joined with "." (group "acme.houston",
        # node "utilities.cooling", device "pumps.pump-01"); "." is not allowed in a level.
        for segment in name.split("."):
            if not SEGMENT_RE.fullmatch(segment):
                return reject_record(
                    R.DEAD_LETTER_REASON_UNKNOWN_EQUIPMENT,
                    f"Sparkplug {level} {short(name)} has a level outside [a-zA-Z0-9_-]"
                    " (each '.'-separated part becomes an equipment path segment)",
                )
            segments.append(segment)
    if len(segments) > 6:
        return reject_record(
            R.DEAD_LETTER_REASON_UNKNOWN_EQUIPMENT,
            f"Sparkplug ids of {short(text)} name {len(segments)} levels; an ISA-95 path has at most 6",
        )
    return _Topic(text=text, group=group, message_type=message_type, node=node, device=device, segments=segments)


def _bd_seq(payload: spb.Payload) -> int | None:
    for metric in payload.metrics:
        if metric.name == "bdSeq":
            kind = metric.WhichOneof("value")
            if kind == "long_value":
                return int(metric.long_value) % SEQ_MODULUS
            if kind == "int_value":
                return int(metric.int_value) % SEQ_MODULUS
    return None


def _time_ns(metric: spb.Payload.Metric, payload: spb.Payload) -> int | None:
    """The metric's time in ns (metric timestamp, else payload timestamp); None when absent or too large."""
    if metric.HasField("timestamp"):
        return ms_to_ns(int(metric.timestamp))
    if payload.HasField("timestamp"):
        return ms_to_ns(int(payload.timestamp))
    return None


def _time_problem(metric: spb.Payload.Metric, payload: spb.Payload) -> tuple[int, str]:
    if metric.HasField("timestamp") or payload.HasField("timestamp"):
        return R.DEAD_LETTER_REASON_TIMESTAMP_OUT_OF_BOUNDS, "timestamp (ms) overflows int64 nanoseconds"
    # No clock fallback: a receive time would give a different id on every replay.
    return R.DEAD_LETTER_REASON_MISSING_REQUIRED_FIELD, "neither the metric nor the payload has a timestamp"


def _unit(metric: spb.Payload.Metric) -> str:
    """The ``engUnit``/``engUnits`` property (the Ignition / Cirrus Link convention), else ""."""
    if not metric.HasField("properties"):
        return ""
    props = metric.properties
    if len(props.keys) != len(props.values):
        raise _Problem(
            R.DEAD_LETTER_REASON_SCHEMA_VIOLATION,
            f"property set has {len(props.keys)} keys and {len(props.values)} values",
        )
    for key, prop in zip(props.keys, props.values, strict=True):
        if key.casefold() in _UNIT_KEYS:
            if prop.is_null:
                return ""
            if prop.WhichOneof("value") != "string_value":
                raise _Problem(R.DEAD_LETTER_REASON_TYPE_MISMATCH, f"property {key} is not a string")
            return prop.string_value
    return ""


def _datatype_name(datatype: int) -> str:
    try:
        return str(spb.DataType.Name(datatype))
    except ValueError:
        return f"datatype {datatype}"


def _exact(number: int) -> float:
    if abs(number) > MAX_EXACT_INT:
        raise _Problem(R.DEAD_LETTER_REASON_TYPE_MISMATCH, f"integer {number} is beyond 2^53 (not exact as double)")
    return float(number)


def _integer(metric: spb.Payload.Metric, kind: str, datatype: int) -> float:
    """An integer metric as float, honouring two's complement in the uint32/uint64 wire fields."""
    raw = int(metric.int_value) if kind == "int_value" else int(metric.long_value)
    container = 32 if kind == "int_value" else 64
    if datatype in _UNSIGNED_BITS:
        bits = _UNSIGNED_BITS[datatype]
        if raw >= 1 << bits:
            raise _Problem(R.DEAD_LETTER_REASON_TYPE_MISMATCH, f"{raw} is out of range for {_datatype_name(datatype)}")
        return _exact(raw)
    bits = _SIGNED_BITS[datatype]
    if bits > container:
        return _exact(raw)  # Int64 in the uint32 field: a plain non-negative number
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    # Java Tahu sign-extends into the wire field (Int8 -23 = 0xFFFFFFE9 in int_value) ...
    extended = raw - (1 << container) if raw >= 1 << (container - 1) else raw
    if low <= extended <= high:
        return _exact(extended)
    # ... Python Tahu writes the two's complement of the type's own width (Int8 -23 = 233).
    if raw < 1 << bits:
        return _exact(raw - (1 << bits) if raw > high else raw)
    raise _Problem(R.DEAD_LETTER_REASON_TYPE_MISMATCH, f"{raw} is out of range for {_datatype_name(datatype)}")


def _value(metric: spb.Payload.Metric, datatype: int) -> float | str:
    """The metric's value: a float for numeric/boolean metrics, a str for text ones; else a _Problem."""
    kind = metric.WhichOneof("value")
    if metric.is_null:
        if datatype in _TEXT_TYPES or datatype == spb.DateTime:
            return ""
        if datatype in _SIGNED_BITS or datatype in _UNSIGNED_BITS or datatype in _FLOAT_TYPES:
            return math.nan
        if datatype in (spb.Boolean, spb.Unknown) and kind in (None, "int_value", "long_value", "boolean_value"):
            return math.nan
        if datatype == spb.Unknown and kind == "string_value":
            return ""
        if datatype == spb.Unknown and kind in ("float_value", "double_value"):
            return math.nan
        raise _Problem(R.DEAD_LETTER_REASON_TYPE_MISMATCH, f"{_datatype_name(datatype)} is not a scalar value")
    if kind is None:
        raise _Problem(R.DEAD_LETTER_REASON_MISSING_REQUIRED_FIELD, "metric has no value and is_null is not set")

    if datatype == spb.Unknown:
        return _inferred(metric, kind)
    if datatype in _SIGNED_BITS or datatype in _UNSIGNED_BITS:
        if kind not in ("int_value", "long_value"):
            raise _mismatch(datatype, kind)
        return _integer(metric, kind, datatype)
    if datatype in _FLOAT_TYPES:
        if kind not in ("float_value", "double_value"):
            raise _mismatch(datatype, kind)
        return _finite(metric.float_value if kind == "float_value" else metric.double_value)
    if datatype == spb.Boolean:
        if kind != "boolean_value":
            raise _mismatch(datatype, kind)
        return 1.0 if metric.boolean_value else 0.0
    if datatype in _TEXT_TYPES:
        if kind != "string_value":
            raise _mismatch(datatype, kind)
        return metric.string_value
    if datatype == spb.DateTime:
        if kind not in ("long_value", "int_value"):
            raise _mismatch(datatype, kind)
        ms = int(metric.long_value if kind == "long_value" else metric.int_value)
        try:
            return (_EPOCH + dt.timedelta(milliseconds=ms)).isoformat(timespec="milliseconds")
        except OverflowError:
            raise _Problem(R.DEAD_LETTER_REASON_TYPE_MISMATCH, f"DateTime {ms} ms is out of range") from None
    raise _Problem(
        R.DEAD_LETTER_REASON_TYPE_MISMATCH,
        f"Sparkplug {_datatype_name(datatype)} is not a scalar telemetry value (DataSet, Template, Bytes, File, "
        "arrays and property sets are not ingested)",
    )


def _inferred(metric: spb.Payload.Metric, kind: str) -> float | str:
    """The value of a metric whose datatype is unknown (no datatype, no BIRTH seen): from the wire field."""
    if kind == "int_value":
        if metric.int_value >= 1 << 31:
            raise _Problem(
                R.DEAD_LETTER_REASON_TYPE_MISMATCH,
                f"int_value {metric.int_value} without datatype: signed or unsigned is unknown (no BIRTH seen)",
            )
        return float(metric.int_value)
    if kind == "long_value":
        if metric.long_value >= 1 << 63:
            raise _Problem(
                R.DEAD_LETTER_REASON_TYPE_MISMATCH,
                f"long_value {metric.long_value} without datatype: signed or unsigned is unknown (no BIRTH seen)",
            )
        return _exact(int(metric.long_value))
    if kind == "float_value":
        return _finite(metric.float_value)
    if kind == "double_value":
        return _finite(metric.double_value)
    if kind == "boolean_value":
        return 1.0 if metric.boolean_value else 0.0
    if kind == "string_value":
        return metric.string_value
    raise _Problem(R.DEAD_LETTER_REASON_TYPE_MISMATCH, f"{kind} is not a scalar telemetry value")


def _finite(number: float) -> float:
    if not math.isfinite(number):
        raise _Problem(R.DEAD_LETTER_REASON_NON_FINITE_VALUE, f"value {number} (use is_null for 'no value')")
    return number


def _mismatch(datatype: int, kind: str) -> _Problem:
    return _Problem(R.DEAD_LETTER_REASON_TYPE_MISMATCH, f"datatype {_datatype_name(datatype)} but the value is {kind}")
