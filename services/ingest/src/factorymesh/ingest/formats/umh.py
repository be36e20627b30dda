"""United Manufacturing Hub historian JSON (UMH data model v1, ``_historian`` schema).

What UMH defines, and where we found it (public UMH sources, read for this parser):

* Topic ``umh.v1.<enterprise>[.<site>[.<area>[.<productionLine>[.<workCell>[.<originID>]]]]]``
  ``._historian[.<group>...][.<tag>]``:
  ``umh.v1`` prefix mandatory, enterprise mandatory, the other location levels
  optional, every part ``[a-zA-Z0-9_-]`` (umh.docs.umh.app, docs/datamodel/messages/_index.md,
  "Topic Names & Rules"; the same charset in the regex of kafka-to-postgresql-v2,
  golang/cmd/kafka-to-postgresql-v2/worker/topicProcessor.go). The schema
  segment starts with "_"; only ``_historian`` carries historian data.
* Kafka: UMH Classic may split the UMH topic between the Kafka topic and the
  key; its consumer rebuilds it as ``topic.strip('.') + '.' + key.strip('.')``
  (``recreateTopic`` in topicProcessor.go). UMH Core writes every message to one
  Kafka topic (``umh.messages``) with the full UMH topic as the key
  (benthos-umh docs/input/uns-input.md). Our raw topic works like UMH Core: the
  bridge puts the UMH topic in the key.
* Payload: a JSON object with ``timestamp_ms`` (integer ms since the epoch,
  required) and at least one more key whose value is a string, number or
  boolean; booleans count as numbers (docs/datamodel/messages/_historian.md,
  its JSON schema). UMH Core also accepts a float ``timestamp_ms`` without a
  fraction (umh-core/docs/usage/unified-namespace/payload-formats.md).
* Tag names: segments after ``_historian`` are tag groups, each payload key is a
  tag inside them; UMH's historian stores the name as the groups and the key
  joined with ``$`` (``DbTagSeparator = "$"`` in kafka-to-postgresql-v2/shared/structs.go,
  ``parseHistorianPayload`` in worker/historian.go). UMH Core's time-series
  form is "one tag, one message, one topic": ``..._historian.<virtual path>.<tag>``
  with payload ``{"timestamp_ms", "value"}`` (umh-core topic-convention.md).

Our mapping: the groups and the key are joined with ``.`` — the tag-group
separator of our contract (``SensorReading.tag``, ``[a-zA-Z0-9_.-]``) — so UMH's
``head$pos$x`` is our ``head.pos.x``. A payload key ``value`` is UMH Core's
"the value of the tag the topic names": topic ``..._historian.spindle.rpm`` with
``{"value": 3200}`` is tag ``spindle.rpm``, not ``spindle.rpm.value``; likewise a topic
ending in the payload's own key (``…._historian.spindle.rpm`` with ``{"rpm": 3200}``) is tag
``spindle.rpm``: the last segment names the tag, as in ``_historian[.<group>…].<tag>``.

Location -> EquipmentPath: enterprise/site/area/line(productionLine)/cell(workCell)/
equipment(originID). Readings carry no unit (``""``: the registered unit applies)
and no quality (GOOD). Reading ids follow the contract for sources without ids
(reading.proto): UUIDv5 of ``reading|<equipment path>|<tag>|<time ns>|<origin id>``,
so a re-delivered message yields the same ids and dedup recognises it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from factorymesh.api.common.v1 import equipment_pb2
from factorymesh.api.telemetry.v1 import reading_pb2
from factorymesh.common.kafka import derived_event_id
from factorymesh.ingest.formats._common import (
    GOOD,
    MAX_EXACT_INT,
    SEGMENT_RE,
    TAG_RE,
    R,
    check_equipment,
    equipment_path,
    header_value,
    ms_to_ns,
    reject_record,
    short,
)
from factorymesh.ingest.model import ParseResult, ReadingColumns, Rejection, TextReading, equipment_key

UMH_PREFIX = "umh.v1."
HISTORIAN = "_historian"
TIMESTAMP_KEY = "timestamp_ms"
VALUE_KEY = "value"
MAX_LOCATION_LEVELS = 6
UMH_JSON = reading_pb2.SourceProtocol.SOURCE_PROTOCOL_UMH_JSON


class _DuplicateKeyError(ValueError):
    """A JSON object names the same key twice: which value is meant is ambiguous."""


def _pairs_to_dict(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKeyError(key)
        result[key] = value
    return result


def umh_topic_of(topic: str, key: bytes | None) -> str | None:
    """The UMH topic of a record: from the Kafka topic (+ key, UMH Classic) or the key (UMH Core)."""
    key_text = key.decode("utf-8", errors="strict") if key else ""
    if topic.startswith(UMH_PREFIX):
        return topic.strip(".") + ("." + key_text.strip(".") if key_text.strip(".") else "")
    if key_text.startswith(UMH_PREFIX):
        return key_text
    return None


def parse_umh(
    topic: str, key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes]], received_ns: int
) -> ParseResult:
    """Parse one UMH ``_historian`` record into readings of one equipment."""
    content_type = header_value(headers, "content-type")
    if content_type is not None and b"json" not in content_type.lower():
        return reject_record(
            R.DEAD_LETTER_REASON_UNSUPPORTED_ENCODING, f"content-type {short(content_type)} is not JSON"
        )
    encoding = header_value(headers, "content-encoding")
    if encoding is not None and encoding.strip().lower() not in (b"", b"identity"):
        return reject_record(
            R.DEAD_LETTER_REASON_UNSUPPORTED_ENCODING, f"content-encoding {short(encoding)} is not supported"
        )
    try:
        umh_topic = umh_topic_of(topic, key)
    except UnicodeDecodeError:
        return reject_record(R.DEAD_LETTER_REASON_DECODE_ERROR, "record key is not UTF-8")
    if umh_topic is None:
        return reject_record(R.DEAD_LETTER_REASON_UNKNOWN_MESSAGE_TYPE, "neither topic nor key starts with umh.v1.")

    parts = umh_topic[len(UMH_PREFIX) :].split(".")
    schema_at = next((i for i, part in enumerate(parts) if part.startswith("_")), None)
    if schema_at is None:
        return reject_record(
            R.DEAD_LETTER_REASON_SCHEMA_VIOLATION, f"UMH topic {short(umh_topic)} has no _schema segment"
        )
    location, schema, groups = parts[:schema_at], parts[schema_at], parts[schema_at + 1 :]
    if schema != HISTORIAN:
        return reject_record(
            R.DEAD_LETTER_REASON_UNKNOWN_MESSAGE_TYPE, f"UMH schema {short(schema)} is not supported (only _historian)"
        )
    if not location:
        return reject_record(R.DEAD_LETTER_REASON_MISSING_REQUIRED_FIELD, "UMH topic has no enterprise")
    if len(location) > MAX_LOCATION_LEVELS:
        return reject_record(
            R.DEAD_LETTER_REASON_UNKNOWN_EQUIPMENT,
            f"UMH location has {len(location)} levels, at most {MAX_LOCATION_LEVELS} (enterprise..originID)",
        )
    for part in location:
        if not SEGMENT_RE.fullmatch(part):
            return reject_record(
                R.DEAD_LETTER_REASON_UNKNOWN_EQUIPMENT, f"UMH location part {short(part)} is outside [a-zA-Z0-9_-]"
            )
    for part in groups:
        if not SEGMENT_RE.fullmatch(part):
            return reject_record(
                R.DEAD_LETTER_REASON_SCHEMA_VIOLATION, f"UMH tag group {short(part)} is outside [a-zA-Z0-9_-]"
            )
    equipment = equipment_path(location)
    if problem := check_equipment(equipment):  # belt and braces: the loop above already covers it
        return reject_record(*problem)

    payload = _decode_json(value)
    if isinstance(payload, ParseResult):
        return payload
    if not isinstance(payload, dict):
        return reject_record(
            R.DEAD_LETTER_REASON_SCHEMA_VIOLATION, f"payload is a JSON {type(payload).__name__}, not an object"
        )
    stamp = _timestamp_ns(payload)
    if isinstance(stamp, ParseResult):
        return stamp
    time_ns, timestamp_ms = stamp  # (timestamp_ms is now out of the payload)
    if not payload:
        return reject_record(R.DEAD_LETTER_REASON_SCHEMA_VIOLATION, "payload has timestamp_ms but no tag")

    origin_id = location[5] if len(location) == MAX_LOCATION_LEVELS else ""
    origin = reading_pb2.ReadingOrigin(protocol=UMH_JSON, source_id=origin_id, source_topic=umh_topic)
    return _readings(payload, groups, equipment, time_ns, timestamp_ms, umh_topic, origin, received_ns)


def _decode_json(value: bytes | None) -> Any:
    """The decoded payload, or a rejecting ParseResult."""
    if value is None:
        return reject_record(R.DEAD_LETTER_REASON_DECODE_ERROR, "record has no value")
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as error:
        return reject_record(R.DEAD_LETTER_REASON_DECODE_ERROR, f"payload is not UTF-8: {error}")
    try:
        # NaN / Infinity are not JSON (RFC 8259) but Python accepts them; they
        # are decoded to floats here and rejected per tag as NON_FINITE_VALUE.
        return json.loads(text, object_pairs_hook=_pairs_to_dict)
    except _DuplicateKeyError as error:
        return reject_record(R.DEAD_LETTER_REASON_SCHEMA_VIOLATION, f"JSON object repeats key {short(str(error))}")
    except RecursionError:
        return reject_record(R.DEAD_LETTER_REASON_DECODE_ERROR, "JSON nested too deeply")
    except ValueError as error:  # JSONDecodeError, and integers too long to convert
        return reject_record(R.DEAD_LETTER_REASON_DECODE_ERROR, f"invalid JSON: {error}")


def _timestamp_ns(payload: dict[str, Any]) -> tuple[int, int] | ParseResult:
    """``(time ns, timestamp_ms)`` from the payload, or a rejecting ParseResult."""
    if TIMESTAMP_KEY not in payload:
        return reject_record(R.DEAD_LETTER_REASON_MISSING_REQUIRED_FIELD, "payload has no timestamp_ms")
    raw = payload.pop(TIMESTAMP_KEY)
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return reject_record(
            R.DEAD_LETTER_REASON_TYPE_MISMATCH, f"timestamp_ms is a {type(raw).__name__}, not an integer"
        )
    if isinstance(raw, float):
        # UMH Core accepts a float without fraction (JSON encoders that write 1.7e12).
        if not math.isfinite(raw) or not raw.is_integer():
            return reject_record(R.DEAD_LETTER_REASON_TYPE_MISMATCH, f"timestamp_ms {short(raw)} is not an integer")
        raw = int(raw)
    time_ns = ms_to_ns(raw)
    if time_ns is None:
        return reject_record(
            R.DEAD_LETTER_REASON_TIMESTAMP_OUT_OF_BOUNDS, f"timestamp_ms {short(raw)} overflows int64 ns"
        )
    return time_ns, raw


def _readings(
    payload: dict[str, Any],
    groups: list[str],
    equipment: equipment_pb2.EquipmentPath,
    time_ns: int,
    timestamp_ms: int,
    umh_topic: str,
    origin: reading_pb2.ReadingOrigin,
    received_ns: int,
) -> ParseResult:
    """One reading (or one per-tag rejection) for every key besides timestamp_ms."""
    path = equipment_key(equipment)
    result = ParseResult()
    tags: list[str] = []
    values: list[float] = []
    ids: list[str] = []
    for key, raw in payload.items():
        # UMH Core's {"value": ...}: the topic already names the tag. So does a topic whose
        # last segment is the payload key (`..._historian.speed` with {"speed": ...}, the
        # shape `umh.v1...._historian[.<group>...].<tag>`): that segment is the tag, not a group.
        if (key == VALUE_KEY and groups) or (groups and groups[-1] == key):
            tag = ".".join(groups)
        else:
            tag = ".".join([*groups, key])
        rid = derived_event_id("reading", path, tag, time_ns, origin.source_id)

        def reject(reason: int, detail: str, rid: str = rid, tag: str = tag) -> None:
            result.rejections.append(Rejection(reason=reason, detail=detail, reading_id=rid, tag=tag))

        if not TAG_RE.fullmatch(key):
            reject(R.DEAD_LETTER_REASON_SCHEMA_VIOLATION, f"payload key {short(key)} is outside [a-zA-Z0-9_.-]")
        elif isinstance(raw, str):
            result.texts.append(
                TextReading(reading_id=rid, equipment=equipment, tag=tag, value=raw, time_ns=time_ns, origin=origin)
            )
        elif isinstance(raw, bool):  # before int: bool is an int in Python
            tags.append(tag)
            values.append(1.0 if raw else 0.0)
            ids.append(rid)
        elif isinstance(raw, int):
            if abs(raw) > MAX_EXACT_INT:
                reject(R.DEAD_LETTER_REASON_TYPE_MISMATCH, f"integer {short(raw)} is beyond 2^53 (not exact as double)")
            else:
                tags.append(tag)
                values.append(float(raw))
                ids.append(rid)
        elif isinstance(raw, float):
            if math.isfinite(raw):
                tags.append(tag)
                values.append(raw)
                ids.append(rid)
            else:
                reject(R.DEAD_LETTER_REASON_NON_FINITE_VALUE, f"value {raw} (NaN/Infinity literal or overflow)")
        else:  # object, array, null: not a string, number or boolean (UMH JSON schema)
            kind = "null" if raw is None else type(raw).__name__
            reject(R.DEAD_LETTER_REASON_TYPE_MISMATCH, f"value is a JSON {kind}; UMH allows string, number, boolean")

    if values:
        n = len(values)
        result.columns.append(
            ReadingColumns(
                batch_id=derived_event_id("umh", umh_topic, timestamp_ms),
                equipment=equipment,
                tags=tags,
                units=[""] * n,
                tag_idx=np.arange(n, dtype=np.uint32),
                times_ns=np.full(n, time_ns, dtype=np.int64),
                values=np.array(values, dtype=np.float64),
                quality=np.full(n, GOOD, dtype=np.int32),
                source_idx=np.arange(n, dtype=np.uint32),
                reading_ids=ids,
                origin=origin,
                received_ns=received_ns,
            )
        )
    return result
