"""The ingest gRPC API (``factorymesh.ingest.v1.IngestService``).

Readings in (``IngestBatch``, ``StreamIngest``) go to the raw telemetry topic as they
are, stamped with ``received_time`` and the caller's identity as ``origin.source_id``
(always when authenticated, else only when the client left it empty); validation
against the registry, unit conversion and dead-lettering of bad *values* happen in the
normalizer that consumes that topic. This layer checks the *shape* of requests, applies
per-source rate limits and answers acks only after Kafka acknowledged the write.

Dependencies come in through the constructor so unit tests run the servicer in-process
without Kafka: a :class:`RawPublisher`, the :class:`~factorymesh.ingest.registry.TagRegistry`,
a :class:`~factorymesh.ingest.ratelimit.RateLimiter`, the job-order transition check and
the hook that records MES events once durable (both ``ProductionContextTracker`` methods in
the service), and a clock. ``services/ingest/docs/api.md`` documents every RPC, its errors and limits.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import math
import re
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import grpc
import numpy as np
import numpy.typing as npt
from aiokafka.errors import KafkaError
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from opentelemetry import metrics

from factorymesh.api.common.v1 import dead_letter_pb2, quality_pb2, time_range_pb2, units_pb2
from factorymesh.api.ingest.v1 import ingest_service_pb2 as pb
from factorymesh.api.ingest.v1 import ingest_service_pb2_grpc
from factorymesh.api.mes.v1 import job_order_pb2, shift_pb2
from factorymesh.api.telemetry.v1 import reading_batch_pb2, reading_pb2, tag_pb2
from factorymesh.common.grpc_errors import (
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    ServiceError,
    Unavailable,
)
from factorymesh.common.grpc_interceptors import current_principal
from factorymesh.common.kafka import derived_event_id
from factorymesh.common.logging import get_logger
from factorymesh.common.topics import DEAD_LETTERS, MES_JOB_ORDERS, MES_SHIFTS, TELEMETRY_RAW, TopicSpec
from factorymesh.ingest.ratelimit import InFlightWindow, RateLimiter
from factorymesh.ingest.registry import (
    CLASS_PATTERN,
    EQUIPMENT_LEVEL,
    TAG_PATTERN,
    InvalidDefinition,
    KafkaPublisher,
    TagDefinition,
    TagRegistry,
    canonical_key,
    definition_violations,
    path_segments,
    path_violations,
)

__all__ = [
    "ContextRecorder",
    "IngestServicer",
    "IngestTopics",
    "KafkaPublisher",
    "RawPublisher",
    "ServicerOptions",
    "TransitionValidator",
    "batch_violations",
    "caller_id",
    "job_order_request_violations",
    "reading_violations",
    "shift_request_violations",
]

log = get_logger(__name__)
_meter = metrics.get_meter("factorymesh.ingest.servicer")
READINGS = _meter.create_counter(
    "factorymesh.ingest.api.readings", description="Readings received over gRPC, by RPC and ack status"
)

AckStatus = pb.AckStatus
DeadLetterReason = dead_letter_pb2.DeadLetterReason
DataQuality = quality_pb2.DataQuality
JobOrderCommand = job_order_pb2.JobOrderCommand
Violation = tuple[str, str]

SERVICE_NAME = "factorymesh.ingest.v1.IngestService"
STREAM_METHOD = f"/{SERVICE_NAME}/StreamIngest"
# What a failed Kafka write looks like: broker errors, our publish timeout, sockets.
PUBLISH_ERRORS = (KafkaError, TimeoutError, OSError)

_EVENT_ID = re.compile(r"[\x21-\x7e]{1,128}")  # printable ASCII, no spaces: it ends up in keys and logs
_TAG = re.compile(TAG_PATTERN)
_CLASS = re.compile(CLASS_PATTERN)
_MIN_TS_S, _MAX_TS_S = -62_135_596_800, 253_402_300_799  # 0001-01-01 .. 9999-12-31, as Timestamp allows
_KNOWN_QUALITIES = np.array(sorted(DataQuality.values()), dtype=np.int64)
# Job control commands that carry the full job order definition (the proto says so).
_FULL_DEFINITION_COMMANDS = frozenset(
    {JobOrderCommand.JOB_ORDER_COMMAND_STORE, JobOrderCommand.JOB_ORDER_COMMAND_STORE_AND_START,
     JobOrderCommand.JOB_ORDER_COMMAND_UPDATE}
)  # fmt: skip
# Array elements reported per field before summarising: errors travel in a size-limited trailer.
_MAX_ELEMENT_VIOLATIONS = 3


class RawPublisher(Protocol):
    """Writes one message and returns only after Kafka acknowledged it (``acks=all``)."""

    async def publish(self, topic: TopicSpec, key: str, message: Message) -> None: ...


# Checks an ISA-95 job control transition (ProductionContextTracker.validate_transition):
# raises FailedPrecondition when the command is not allowed in the job order's current
# state, and fills in ``previous_state``, ``state`` and the full job order definition
# (commands other than STORE / STORE_AND_START / UPDATE may carry only the id).
TransitionValidator = Callable[[job_order_pb2.JobOrderEvent], None]
# Told about every job order / shift event once Kafka has it (ProductionContextTracker.apply),
# so the next command on this replica is checked against the state it just produced.
ContextRecorder = Callable[[job_order_pb2.JobOrderEvent | shift_pb2.ShiftEvent], None]


@dataclass(frozen=True)
class IngestTopics:
    """Where the servicer writes (overridable so integration tests use their own topics)."""

    telemetry: TopicSpec = TELEMETRY_RAW
    job_orders: TopicSpec = MES_JOB_ORDERS
    shifts: TopicSpec = MES_SHIFTS
    dead_letters: TopicSpec = DEAD_LETTERS


@dataclass(frozen=True)
class ServicerOptions:
    service_name: str = "ingest"
    # A write not acknowledged within this is answered RETRY: the client resends with the
    # same id (the record may still land; the normalizer de-duplicates by id).
    publish_timeout_s: float = 10.0
    # Per StreamIngest call: messages / readings received and not yet acknowledged to the client.
    stream_max_in_flight_messages: int = 256
    stream_max_in_flight_readings: int = 200_000
    # Recently acknowledged reading/batch ids, to answer DUPLICATE without writing again.
    recent_ids: int = 100_000
    # Recently answered ReportJobOrderEvent request ids (idempotent retries).
    recent_requests: int = 10_000
    max_violations: int = 20
    max_tags_per_request: int = 1_000
    default_page_size: int = 100
    max_page_size: int = 1_000
    topics: IngestTopics = field(default_factory=IngestTopics)


class _RecentIds:
    """A bounded LRU of ids (and optional values): memory stays flat however long we run."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._items: OrderedDict[str, Any] = OrderedDict()

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def get(self, key: str) -> Any:
        return self._items.get(key)

    def add(self, key: str, value: Any = None) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self._capacity:
            self._items.popitem(last=False)


# --------------------------------------------------------------------------- identity


def _peer_host(peer: str) -> str:
    """``ipv4:10.0.0.7:51234`` -> ``10.0.0.7``; the port changes with every connection."""
    kind, _, address = peer.partition(":")
    if kind == "ipv6" and address.startswith("["):
        return address[1:].partition("]")[0]
    if kind == "ipv4":
        return address.rpartition(":")[0] or address
    return peer or "unknown"


def caller_id(context: Any) -> tuple[str, bool]:
    """Who is calling, and whether that is an authenticated identity.

    The authenticated principal when the server has an authenticator; otherwise the peer
    host (never a request field: a client must not choose whose rate limit it spends).
    """
    principal = current_principal()
    if principal is not None and principal.subject:
        return principal.subject, True
    return f"peer:{_peer_host(str(context.peer() or ''))}", False


# --------------------------------------------------------------------------- validation


def _at(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _event_id_violations(value: str, path: str) -> list[Violation]:
    if not value:
        return [(path, "required: a producer-assigned id (UUID), reused on every retry")]
    if not _EVENT_ID.fullmatch(value):
        return [(path, "1 to 128 printable ASCII characters without spaces")]
    return []


def _tag_violations(tag: str, path: str) -> list[Violation]:
    if not tag:
        return [(path, "required")]
    return [] if _TAG.fullmatch(tag) else [(path, f"must match {TAG_PATTERN}")]


def _timestamp_violations(parent: Message, name: str, path: str, *, required: bool) -> list[Violation]:
    if not parent.HasField(name):
        return [(path, "required")] if required else []
    stamp: Timestamp = getattr(parent, name)
    if not (_MIN_TS_S <= stamp.seconds <= _MAX_TS_S and 0 <= stamp.nanos < 1_000_000_000):
        return [(path, "not a valid timestamp")]
    return []


def _time_range_violations(parent: Message, name: str, path: str) -> list[Violation]:
    if not parent.HasField(name):
        return []
    value: time_range_pb2.TimeRange = getattr(parent, name)
    out = _timestamp_violations(value, "start_time", f"{path}.start_time", required=False)
    out += _timestamp_violations(value, "end_time", f"{path}.end_time", required=False)
    if (
        not out
        and value.HasField("start_time")
        and value.HasField("end_time")
        and value.end_time.ToNanoseconds() < value.start_time.ToNanoseconds()
    ):
        out.append((f"{path}.end_time", "must not be before start_time"))
    return out


def _unit_violations(unit: units_pb2.EngineeringUnit, path: str) -> list[Violation]:
    out: list[Violation] = []
    if len(unit.code) > 64:
        out.append((f"{path}.code", "at most 64 characters"))
    if unit.quantity_kind not in units_pb2.QuantityKind.values():
        out.append((f"{path}.quantity_kind", f"unknown QuantityKind {unit.quantity_kind}"))
    return out


def _text_violations(value: str, path: str, *, required: bool, max_len: int = 128) -> list[Violation]:
    if not value:
        return [(path, "required")] if required else []
    if len(value) > max_len:
        return [(path, f"at most {max_len} characters")]
    return []


def reading_violations(reading: reading_pb2.SensorReading, prefix: str) -> list[Violation]:
    """Shape problems of one SensorReading; field paths under ``prefix`` (``readings[3]``)."""
    out = _event_id_violations(reading.event_id, _at(prefix, "event_id"))
    out += path_violations(reading.equipment, _at(prefix, "equipment"), min_level=EQUIPMENT_LEVEL)
    out += _tag_violations(reading.tag, _at(prefix, "tag"))
    if reading.quality not in DataQuality.values():
        out.append((_at(prefix, "quality"), f"unknown DataQuality {reading.quality}"))
    elif reading.WhichOneof("value") is None and (int(reading.quality) >> 5) not in (1, 2):
        # The contract: an unset value means "no value", which only UNCERTAIN or BAD may say.
        out.append((_at(prefix, "value"), "required unless quality is UNCERTAIN or BAD"))
    out += _timestamp_violations(reading, "source_time", _at(prefix, "source_time"), required=True)
    out += _unit_violations(reading.unit, _at(prefix, "unit"))
    return out


def _first_elements(path: str, indices: npt.NDArray[np.intp], describe: Callable[[int], str]) -> list[Violation]:
    out = [(f"{path}[{int(i)}]", describe(int(i))) for i in indices[:_MAX_ELEMENT_VIOLATIONS]]
    if len(indices) > _MAX_ELEMENT_VIOLATIONS:
        out.append((path, f"{len(indices) - _MAX_ELEMENT_VIOLATIONS} more entries with the same problem"))
    return out


def batch_violations(batch: reading_batch_pb2.SensorReadingBatch, prefix: str) -> list[Violation]:
    """Shape problems of one columnar batch, checked with numpy (no per-reading Python loop)."""
    out = _event_id_violations(batch.event_id, _at(prefix, "event_id"))
    out += path_violations(batch.equipment, _at(prefix, "equipment"), min_level=EQUIPMENT_LEVEL)
    n = len(batch.values)
    if n == 0:
        out.append((_at(prefix, "values"), "a batch needs at least one reading"))
    for name in ("tag_indices", "source_times_unix_nanos"):
        length = len(getattr(batch, name))
        if length != n:
            out.append((_at(prefix, name), f"has {length} entries; values has {n} (one per reading)"))
    tags = list(batch.tags)
    if n and not tags:
        out.append((_at(prefix, "tags"), "required: the tag dictionary tag_indices points into"))
    first_seen: dict[str, int] = {}
    for k, tag in enumerate(tags):
        if not _TAG.fullmatch(tag):
            out.append((_at(prefix, f"tags[{k}]"), f"must match {TAG_PATTERN}"))
        elif tag in first_seen:
            out.append((_at(prefix, f"tags[{k}]"), f"duplicate of tags[{first_seen[tag]}]"))
        else:
            first_seen[tag] = k
    if batch.tag_units and len(batch.tag_units) != len(tags):
        out.append((_at(prefix, "tag_units"), f"has {len(batch.tag_units)} entries; must be empty or one per tag"))
    for k, unit in enumerate(batch.tag_units):
        out += _unit_violations(unit, _at(prefix, f"tag_units[{k}]"))
    if batch.tag_indices and tags:
        indices = np.asarray(batch.tag_indices, dtype=np.int64)
        bad = np.flatnonzero(indices >= len(tags))
        out += _first_elements(
            _at(prefix, "tag_indices"), bad, lambda i: f"{indices[i]} is out of range ({len(tags)} tags)"
        )
    if batch.qualities:
        if len(batch.qualities) != n:
            out.append((_at(prefix, "qualities"), f"has {len(batch.qualities)} entries; must be empty or {n}"))
        qualities = np.asarray(batch.qualities, dtype=np.int64)
        bad = np.flatnonzero(~np.isin(qualities, _KNOWN_QUALITIES))
        out += _first_elements(_at(prefix, "qualities"), bad, lambda i: f"unknown DataQuality {qualities[i]}")
    return out


def tag_definition_violations(message: tag_pb2.TagDefinition, prefix: str) -> list[Violation]:
    """RegisterTags entry checks: the path segment by segment, then the registry's own rules."""
    out = path_violations(message.equipment, _at(prefix, "equipment"), min_level=EQUIPMENT_LEVEL)
    for path, description in definition_violations(TagDefinition.from_proto(message)):
        # The registry sees only the joined path; the segment-wise check above says it better.
        if path == "equipment" and out:
            continue
        out.append((_at(prefix, path), description))
    return out


def job_order_request_violations(request: pb.ReportJobOrderEventRequest) -> list[Violation]:
    out = _text_violations(request.request_id, "request_id", required=True)
    if out == [] and not _EVENT_ID.fullmatch(request.request_id):
        out.append(("request_id", "printable ASCII without spaces"))
    if request.command not in JobOrderCommand.values() or request.command == 0:
        out.append(("command", "required: a JobOrderCommand"))
    if not request.HasField("job_order"):
        out.append(("job_order", "required"))
    else:
        order = request.job_order
        out += _text_violations(order.job_order_id, "job_order.job_order_id", required=True)
        # Commands that (re)define the job order carry all of it (the proto); the others may
        # carry only the id, and the tracker fills in the rest from what it knows.
        full = request.command in _FULL_DEFINITION_COMMANDS
        if full or any(path_segments(order.equipment)):
            # A job order runs on a line, cell or equipment (the proto): at least 4 levels.
            out += path_violations(order.equipment, "job_order.equipment", min_level=4)
        if full:
            out += _text_violations(order.product_id, "job_order.product_id", required=True)
        for name in ("work_master_id", "material_lot_id"):
            out += _text_violations(getattr(order, name), f"job_order.{name}", required=False)
        if not (math.isfinite(order.planned_quantity) and order.planned_quantity >= 0):
            out.append(("job_order.planned_quantity", "must be a finite number >= 0"))
        out += _unit_violations(order.quantity_unit, "job_order.quantity_unit")
        out += _time_range_violations(order, "planned_time", "job_order.planned_time")
        if any(not key for key in order.parameters):
            out.append(("job_order.parameters", "parameter names must not be empty"))
    out += _timestamp_violations(request, "occurred_time", "occurred_time", required=True)
    if not (math.isfinite(request.actual_quantity) and request.actual_quantity >= 0):
        out.append(("actual_quantity", "must be a finite number >= 0"))
    return out


def shift_request_violations(request: pb.SetShiftRequest) -> list[Violation]:
    if not request.HasField("shift"):
        return [("shift", "required")]
    shift = request.shift
    # An empty shift_id is allowed: it ends the scope's shift (no shift in effect).
    out = _text_violations(shift.shift_id, "shift.shift_id", required=False)
    # "site, area or line level path" (the proto); shifts are keyed by site.
    out += path_violations(shift.scope, "shift.scope", min_level=2, max_level=4)
    out += _text_violations(shift.name, "shift.name", required=False, max_len=256)
    out += _text_violations(shift.crew_id, "shift.crew_id", required=False)
    out += _time_range_violations(shift, "planned_time", "shift.planned_time")
    out += _timestamp_violations(request, "effective_time", "effective_time", required=False)
    return out


# --------------------------------------------------------------------------- paging


def _filter_fingerprint(prefix_key: str, equipment_class: str) -> str:
    return hashlib.sha256(f"{prefix_key}\x00{equipment_class}".encode()).hexdigest()[:16]


def _encode_page_token(after: tuple[str, str], fingerprint: str) -> str:
    raw = json.dumps({"a": list(after), "f": fingerprint}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_page_token(token: str, fingerprint: str) -> tuple[str, str] | None:
    """The ``(equipment_key, tag)`` to continue after, or ``None`` if the token is not ours."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        after = data["a"]
        if data["f"] != fingerprint or not (isinstance(after, list) and len(after) == 2):
            return None
        if not all(isinstance(part, str) for part in after):
            return None
        return after[0], after[1]
    except (binascii.Error, ValueError, KeyError, TypeError):
        return None


# --------------------------------------------------------------------------- the servicer


@dataclass
class _Outcome:
    status: int
    detail: str = ""
    reason: int = 0


def _payload_weight(message: Message) -> int:
    return len(message.values) if isinstance(message, reading_batch_pb2.SensorReadingBatch) else 1


def _reading_ack(event_id: str, outcome: _Outcome) -> pb.ReadingAck:
    return pb.ReadingAck(event_id=event_id, status=outcome.status, reason_code=outcome.reason, detail=outcome.detail)  # type: ignore[arg-type]


def _batch_ack(batch: reading_batch_pb2.SensorReadingBatch, outcome: _Outcome) -> pb.BatchAck:
    accepted = outcome.status in (AckStatus.ACK_STATUS_ACCEPTED, AckStatus.ACK_STATUS_DUPLICATE)
    return pb.BatchAck(
        event_id=batch.event_id,
        status=outcome.status,  # type: ignore[arg-type]
        accepted_count=len(batch.values) if accepted else 0,
        reason_code=outcome.reason,  # type: ignore[arg-type]
        detail=outcome.detail,
    )


class _End:
    """Marks the end of a stream's ack queue."""


class IngestServicer(ingest_service_pb2_grpc.IngestServiceServicer):
    """Every RPC of ``IngestService``; see the module docstring and ``docs/api.md``."""

    def __init__(
        self,
        publisher: RawPublisher,
        registry: TagRegistry,
        rate_limiter: RateLimiter,
        *,
        validate_transition: TransitionValidator | None = None,
        record_context: ContextRecorder | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
        options: ServicerOptions | None = None,
    ) -> None:
        self._publisher = publisher
        self._registry = registry
        self._limiter = rate_limiter
        self._validate_transition = validate_transition
        self._record_context = record_context
        # Job control is check-then-publish-then-record; two concurrent commands for one job
        # order must not both pass the check against the same state. MES call rates are low,
        # so one lock for all of them is simpler than one per job order and costs nothing.
        self._context_lock = asyncio.Lock()
        self._clock_ns = clock_ns
        self.options = options or ServicerOptions()
        self._topics = self.options.topics
        self._recent_ids = _RecentIds(self.options.recent_ids)
        self._recent_requests = _RecentIds(self.options.recent_requests)

    # ------------------------------------------------------------------ helpers

    def _invalid(self, violations: Sequence[Violation], what: str = "request") -> InvalidArgument:
        # The message travels in the grpc-message header: keep it short, the details carry the rest.
        # The details are capped too (they travel in a size-limited trailer); the message says
        # how many there were in all.
        shown = list(violations[: self.options.max_violations])
        head = "; ".join(f"{path}: {description}" for path, description in shown[:3])
        more = f" (and {len(violations) - 3} more" if len(violations) > 3 else ""
        if more and len(violations) > len(shown):
            more += f"; {len(shown)} of {len(violations)} in the error details"
        more += ")" if more else ""
        return InvalidArgument(f"invalid {what}: {head}{more}", field_violations=shown, reason="INVALID_REQUEST")

    def _rate_limit_error(self, source: str, cost: int, wait_s: float) -> ResourceExhausted:
        rate = self._limiter.rate_per_s
        return ResourceExhausted(
            f"rate limit exceeded: {source} may send {rate:g} readings/s; retry in {wait_s:.2f} s",
            retry_after_s=wait_s,
            quota_violations=[(source, f"{rate:g} readings/s (burst {self._limiter.burst:g}); request has {cost}")],
            reason="RATE_LIMITED",
            metadata={"source": source, "readings_per_s": f"{rate:g}"},
        )

    def _stamp(
        self,
        message: reading_pb2.SensorReading | reading_batch_pb2.SensorReadingBatch,
        source: str,
        authenticated: bool,
    ) -> None:
        message.received_time.FromNanoseconds(self._clock_ns())
        origin = message.origin
        if origin.protocol == reading_pb2.SourceProtocol.SOURCE_PROTOCOL_UNSPECIFIED:
            origin.protocol = reading_pb2.SourceProtocol.SOURCE_PROTOCOL_GRPC
        # The contract: for gRPC producers source_id is the authenticated client id.
        if authenticated or not origin.source_id:
            origin.source_id = source

    async def _publish(self, topic: TopicSpec, key: str, message: Message) -> None:
        await asyncio.wait_for(self._publisher.publish(topic, key, message), self.options.publish_timeout_s)

    async def _write_telemetry(
        self,
        message: reading_pb2.SensorReading | reading_batch_pb2.SensorReadingBatch,
        source: str,
        authenticated: bool,
    ) -> _Outcome:
        """Write one reading or batch; the outcome only once Kafka acknowledged (or failed)."""
        if message.event_id in self._recent_ids:
            return _Outcome(AckStatus.ACK_STATUS_DUPLICATE, "already ingested")
        self._stamp(message, source, authenticated)
        try:
            await self._publish(self._topics.telemetry, canonical_key(path_segments(message.equipment)), message)
        except PUBLISH_ERRORS as error:
            log.warning("ingest.publish_failed", event_id=message.event_id, error=repr(error))
            return _Outcome(
                AckStatus.ACK_STATUS_RETRY, f"not written to Kafka ({type(error).__name__}); resend with the same id"
            )
        self._recent_ids.add(message.event_id)
        return _Outcome(AckStatus.ACK_STATUS_ACCEPTED)

    # ------------------------------------------------------------------ readings

    async def IngestBatch(
        self, request: pb.IngestBatchRequest, context: grpc.aio.ServicerContext
    ) -> pb.IngestBatchResponse:
        source, authenticated = caller_id(context)
        cost = len(request.readings) + sum(len(batch.values) for batch in request.batches)
        # Rate limit before validation: a flood costs us as little as possible.
        wait_s = self._limiter.try_acquire(source, cost)
        if wait_s > 0:
            READINGS.add(cost, {"rpc": "IngestBatch", "status": "RATE_LIMITED"})
            raise self._rate_limit_error(source, cost, wait_s)
        violations: list[Violation] = []
        for i, reading in enumerate(request.readings):
            violations += reading_violations(reading, f"readings[{i}]")
        reading_index = {r.event_id: i for i, r in reversed(list(enumerate(request.readings)))}
        for j, batch in enumerate(request.batches):
            violations += batch_violations(batch, f"batches[{j}]")
            if batch.event_id in reading_index:
                # The same id twice *within* a kind is a resend (DUPLICATE); across kinds it is a bug.
                violations.append((f"batches[{j}].event_id", f"same id as readings[{reading_index[batch.event_id]}]"))
        if violations:
            raise self._invalid(violations)

        # One write per distinct id, all in flight together (in request order, so one
        # equipment's records keep their order in the producer); repeats share the outcome.
        messages: list[reading_pb2.SensorReading | reading_batch_pb2.SensorReadingBatch] = [
            *request.readings,
            *request.batches,
        ]
        first: dict[str, asyncio.Task[_Outcome]] = {}
        for message in messages:
            if message.event_id not in first:
                first[message.event_id] = asyncio.ensure_future(self._write_telemetry(message, source, authenticated))
        try:
            await asyncio.gather(*first.values())
        finally:
            for task in first.values():
                task.cancel()
        seen: set[str] = set()
        outcomes: list[_Outcome] = []
        for message in messages:
            outcome = first[message.event_id].result()
            if message.event_id in seen and outcome.status == AckStatus.ACK_STATUS_ACCEPTED:
                outcome = _Outcome(AckStatus.ACK_STATUS_DUPLICATE, "same id earlier in this request")
            seen.add(message.event_id)
            outcomes.append(outcome)
        n = len(request.readings)
        response = pb.IngestBatchResponse(
            reading_acks=[_reading_ack(r.event_id, o) for r, o in zip(request.readings, outcomes[:n], strict=True)],
            batch_acks=[_batch_ack(b, o) for b, o in zip(request.batches, outcomes[n:], strict=True)],
        )
        for message, outcome in zip(messages, outcomes, strict=True):
            READINGS.add(_payload_weight(message), {"rpc": "IngestBatch", "status": AckStatus.Name(outcome.status)})
        return response

    async def StreamIngest(
        self, request_iterator: AsyncIterator[pb.StreamIngestRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.StreamIngestResponse]:
        """One ack per message once it is durable; bounded in flight; per-message RETRY over the rate.

        A reader task takes messages off the stream while the window has room (so a slow
        Kafka or a client that does not read its acks stops us reading, and HTTP/2 flow
        control pushes back); each message is written by its own task; this generator
        yields acks as they complete and frees the window only once an ack is handed to
        gRPC. A message without a payload or event_id cannot be acknowledged (nothing to
        correlate by), so it ends the stream with INVALID_ARGUMENT after the acks of the
        messages before it.
        """
        source, authenticated = caller_id(context)
        window = InFlightWindow(self.options.stream_max_in_flight_messages, self.options.stream_max_in_flight_readings)
        # Unbounded, but never holds more than the window allows: every entry holds a slot.
        acks: asyncio.Queue[tuple[pb.StreamIngestResponse, int] | _End] = asyncio.Queue()
        tasks: set[asyncio.Task[None]] = set()

        async def write(
            message: reading_pb2.SensorReading | reading_batch_pb2.SensorReadingBatch,
            weight: int,
            violations: list[Violation],
        ) -> None:
            if violations:
                outcome = await self._reject(message, violations)
            else:
                outcome = await self._write_telemetry(message, source, authenticated)
            acks.put_nowait((self._stream_ack(message, outcome), weight))

        async def read() -> None:
            abort: InvalidArgument | None = None
            try:
                index = 0
                async for request in request_iterator:
                    kind = request.WhichOneof("payload")
                    where = f"stream message {index}"
                    if kind is None:
                        abort = self._invalid([("payload", "one of reading or batch is required")], where)
                        break
                    message = getattr(request, kind)
                    if not message.event_id:
                        abort = self._invalid([(f"{kind}.event_id", "required: acks are correlated by it")], where)
                        break
                    index += 1
                    weight = _payload_weight(message)
                    await window.acquire(weight)
                    wait_s = self._limiter.try_acquire(source, weight)
                    if wait_s > 0:
                        outcome = _Outcome(
                            AckStatus.ACK_STATUS_RETRY,
                            f"rate limited: {source} may send {self._limiter.rate_per_s:g} readings/s; "
                            f"resend with the same id in {wait_s:.2f} s",
                        )
                        acks.put_nowait((self._stream_ack(message, outcome), weight))
                        continue
                    if kind == "reading":
                        violations = reading_violations(message, kind)
                    else:
                        violations = batch_violations(message, kind)
                    task = asyncio.create_task(write(message, weight, violations))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                # Also before an abort: the messages before the bad one get their acks first.
                if tasks:
                    await asyncio.gather(*tasks)
            finally:
                acks.put_nowait(_End())
            if abort is not None:
                raise abort

        reader = asyncio.create_task(read(), name="stream-ingest-reader")
        try:
            while not isinstance(item := await acks.get(), _End):
                response, weight = item
                yield response
                await window.release(weight)
            await reader  # re-raises what ended the reader (an INVALID_ARGUMENT abort, a cancelled call)
        finally:
            reader.cancel()
            for task in list(tasks):
                task.cancel()

    def _stream_ack(
        self, message: reading_pb2.SensorReading | reading_batch_pb2.SensorReadingBatch, outcome: _Outcome
    ) -> pb.StreamIngestResponse:
        READINGS.add(_payload_weight(message), {"rpc": "StreamIngest", "status": AckStatus.Name(outcome.status)})
        if isinstance(message, reading_batch_pb2.SensorReadingBatch):
            return pb.StreamIngestResponse(batch_ack=_batch_ack(message, outcome))
        return pb.StreamIngestResponse(reading_ack=_reading_ack(message.event_id, outcome))

    async def _reject(
        self, message: reading_pb2.SensorReading | reading_batch_pb2.SensorReadingBatch, violations: list[Violation]
    ) -> _Outcome:
        """Dead-letter a malformed stream message (REJECTED means dead-lettered; the contract)."""
        detail = "; ".join(f"{path}: {description}" for path, description in violations[: self.options.max_violations])
        missing_only = all(description.startswith("required") for _, description in violations)
        reason = (
            DeadLetterReason.DEAD_LETTER_REASON_MISSING_REQUIRED_FIELD
            if missing_only
            else DeadLetterReason.DEAD_LETTER_REASON_SCHEMA_VIOLATION
        )
        key = canonical_key(path_segments(message.equipment))
        letter = dead_letter_pb2.DeadLetter(
            # The contract's id for records that did not come from Kafka.
            event_id=derived_event_id(
                "dead-letter", f"grpc:{STREAM_METHOD}", message.event_id, 0, self.options.service_name
            ),
            source_topic=f"grpc:{STREAM_METHOD}",
            source_partition=-1,
            source_offset=-1,
            original_key=key.encode(),
            original_value=message.SerializeToString(),
            reason_code=reason,
            reason_detail=detail,
            failed_service=self.options.service_name,
            attempts=1,
            original_event_id=message.event_id,
            expected_message_type=message.DESCRIPTOR.full_name,
        )
        letter.dead_lettered_at.FromNanoseconds(self._clock_ns())
        try:
            await self._publish(self._topics.dead_letters, key, letter)
        except PUBLISH_ERRORS as error:
            # Not dead-lettered, so not REJECTED: the client keeps it and resends later.
            log.warning("ingest.dead_letter_failed", event_id=message.event_id, error=repr(error))
            return _Outcome(AckStatus.ACK_STATUS_RETRY, f"invalid ({detail}), and the dead-letter write failed")
        return _Outcome(AckStatus.ACK_STATUS_REJECTED, detail, reason)

    # ------------------------------------------------------------------ tag registry

    async def RegisterTags(
        self, request: pb.RegisterTagsRequest, context: grpc.aio.ServicerContext
    ) -> pb.RegisterTagsResponse:
        if len(request.tags) > self.options.max_tags_per_request:
            raise self._invalid([("tags", f"at most {self.options.max_tags_per_request} definitions per request")])
        violations: list[Violation] = []
        definitions: list[TagDefinition] = []
        index_of: dict[str, int] = {}
        class_of: dict[str, tuple[str, int]] = {}
        for i, message in enumerate(request.tags):
            prefix = f"tags[{i}]"
            problems = tag_definition_violations(message, prefix)
            definition = TagDefinition.from_proto(message)
            if definition.key in index_of:
                problems.append((prefix, f"same equipment and tag as tags[{index_of[definition.key]}]"))
            index_of.setdefault(definition.key, i)
            if definition.equipment_class:
                known = class_of.setdefault(definition.equipment_key, (definition.equipment_class, i))
                if known[0] != definition.equipment_class:
                    problems.append(
                        (
                            f"{prefix}.equipment_class",
                            f"{definition.equipment_class!r} conflicts with {known[0]!r} of tags[{known[1]}], "
                            "the same equipment",
                        )
                    )
            violations += problems
            # Output-only fields are ignored (the proto says so): the registry assigns them.
            definitions.append(replace(definition, revision=0, update_time_ns=0))
        if violations:
            raise self._invalid(violations)
        if request.validate_only:
            stored = [self._registry.prepare(d) for d in definitions]
        else:
            source, _ = caller_id(context)
            try:
                stored = await self._registry.upsert_many(definitions, changed_by=source)
            except InvalidDefinition as error:  # the registry re-checks; reaching this is a bug in the checks above
                raise self._invalid([(f"tags.{p}", d) for p, d in error.violations]) from None
            except PUBLISH_ERRORS as error:
                log.warning("ingest.register_tags_failed", error=repr(error))
                raise Unavailable(
                    "tag registry topic unavailable; the call is idempotent, retry it", retry_after_s=1.0
                ) from None
        return pb.RegisterTagsResponse(tags=[d.to_proto() for d in stored])

    async def GetTag(self, request: pb.GetTagRequest, context: grpc.aio.ServicerContext) -> pb.GetTagResponse:
        violations = path_violations(request.equipment, "equipment", min_level=EQUIPMENT_LEVEL)
        violations += _tag_violations(request.tag, "tag")
        if violations:
            raise self._invalid(violations)
        equipment_key = canonical_key(path_segments(request.equipment))
        definition = self._registry.get(equipment_key, request.tag)
        if definition is None:
            raise NotFound("TagDefinition", f"{equipment_key}/{request.tag}", reason="TAG_NOT_FOUND")
        return pb.GetTagResponse(tag=definition.to_proto())

    async def ListTags(self, request: pb.ListTagsRequest, context: grpc.aio.ServicerContext) -> pb.ListTagsResponse:
        violations = path_violations(request.equipment_prefix, "equipment_prefix", min_level=0)
        if request.equipment_class and not _CLASS.fullmatch(request.equipment_class):
            violations.append(("equipment_class", f"must match {CLASS_PATTERN}"))
        if request.page_size < 0:
            violations.append(("page_size", "must be >= 0 (0 = server default)"))
        prefix = tuple(s for s in path_segments(request.equipment_prefix) if s)
        fingerprint = _filter_fingerprint("/".join(prefix), request.equipment_class)
        after = None
        if request.page_token:
            after = _decode_page_token(request.page_token, fingerprint)
            if after is None:
                violations.append(("page_token", "not a token from this query (filters must stay the same)"))
        if violations:
            raise self._invalid(violations)
        # AIP-158: a page_size above the maximum is coerced, not refused.
        limit = min(request.page_size or self.options.default_page_size, self.options.max_page_size)
        page, more = self._registry.list_page(
            prefix=prefix, equipment_class=request.equipment_class, after=after, limit=limit
        )
        token = _encode_page_token((page[-1].equipment_key, page[-1].tag), fingerprint) if more and page else ""
        return pb.ListTagsResponse(tags=[d.to_proto() for d in page], next_page_token=token)

    # ------------------------------------------------------------------ MES context

    async def ReportJobOrderEvent(
        self, request: pb.ReportJobOrderEventRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReportJobOrderEventResponse:
        violations = job_order_request_violations(request)
        if violations:
            raise self._invalid(violations)
        fingerprint = hashlib.sha256(request.SerializeToString(deterministic=True)).digest()
        source, _ = caller_id(context)
        event = job_order_pb2.JobOrderEvent(
            event_id=derived_event_id("job-order", request.job_order.job_order_id, request.request_id),
            command=request.command,
            job_order=request.job_order,
            occurred_time=request.occurred_time,
            reported_by=source,
            actual_quantity=request.actual_quantity,
        )
        async with self._context_lock:
            cached = self._recent_requests.get(request.request_id)
            if cached is not None:
                # A retry of a call we already answered (inside the lock: also when the two
                # overlap): same answer, no second check (the job order has moved on by now).
                if cached[0] != fingerprint:
                    raise self._invalid([("request_id", "already used for a different request; use a new request_id")])
                return pb.ReportJobOrderEventResponse(event=cached[1])
            if self._validate_transition is not None:
                # Raises FailedPrecondition; fills previous_state, state and the full job order.
                self._validate_transition(event)
            key = canonical_key(path_segments(event.job_order.equipment))
            if not key:
                raise self._invalid(
                    [("job_order.equipment", "required: this job order is not known here, send its equipment")]
                )
            try:
                await self._publish(self._topics.job_orders, key, event)
            except PUBLISH_ERRORS as error:
                log.warning("ingest.job_order_publish_failed", request_id=request.request_id, error=repr(error))
                raise Unavailable(
                    "job order topic unavailable; retry with the same request_id", retry_after_s=1.0
                ) from None
            self._recent_requests.add(request.request_id, (fingerprint, event))
            self._record(event)
        return pb.ReportJobOrderEventResponse(event=event)

    def _record(self, event: job_order_pb2.JobOrderEvent | shift_pb2.ShiftEvent) -> None:
        if self._record_context is None:
            return
        try:
            self._record_context(event)
        except ServiceError as error:
            # The event is durable and was answered as such; the tracker also reads the topic,
            # so it catches up there. Worth a loud log, not a failed call.
            log.error("ingest.context_record_failed", event_id=event.event_id, error=repr(error))

    async def SetShift(self, request: pb.SetShiftRequest, context: grpc.aio.ServicerContext) -> pb.SetShiftResponse:
        violations = shift_request_violations(request)
        if violations:
            raise self._invalid(violations)
        source, _ = caller_id(context)
        scope = path_segments(request.shift.scope)
        effective = Timestamp()
        if request.HasField("effective_time"):
            effective.CopyFrom(request.effective_time)
        else:
            effective.FromNanoseconds(self._clock_ns())
        event = shift_pb2.ShiftEvent(
            event_id=derived_event_id("shift", canonical_key(scope), request.shift.shift_id, effective.ToNanoseconds()),
            shift=request.shift,
            effective_time=effective,
            set_by=source,
        )
        async with self._context_lock:  # recorded in publish order, like the topic has them
            try:
                await self._publish(self._topics.shifts, canonical_key(scope[:2]), event)  # keyed by site
            except PUBLISH_ERRORS as error:
                log.warning("ingest.shift_publish_failed", shift_id=request.shift.shift_id, error=repr(error))
                raise Unavailable(
                    "shift topic unavailable; retry (set effective_time to keep the same event id)", retry_after_s=1.0
                ) from None
            self._record(event)
        return pb.SetShiftResponse(event=event)
