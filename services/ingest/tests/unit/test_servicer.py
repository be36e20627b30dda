"""IngestServicer over a real in-process gRPC server (GrpcService, port 0); Kafka faked behind RawPublisher."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import grpc.aio
import pytest
from aiokafka.errors import KafkaConnectionError
from google.protobuf.message import Message
from google.rpc import error_details_pb2

from factorymesh.api.common.v1 import dead_letter_pb2, equipment_pb2, quality_pb2, units_pb2
from factorymesh.api.ingest.v1 import ingest_service_pb2 as pb
from factorymesh.api.ingest.v1 import ingest_service_pb2_grpc
from factorymesh.api.mes.v1 import job_order_pb2, shift_pb2
from factorymesh.api.telemetry.v1 import reading_batch_pb2, reading_pb2, tag_pb2
from factorymesh.common.config import BaseServiceSettings
from factorymesh.common.grpc_errors import (
    FailedPrecondition,
    error_details,
    error_reason,
    field_violations,
    retry_after_s,
)
from factorymesh.common.grpc_server import GrpcService
from factorymesh.common.kafka import derived_event_id
from factorymesh.common.topics import DEAD_LETTERS, MES_JOB_ORDERS, MES_SHIFTS, TAG_REGISTRY, TELEMETRY_RAW, TopicSpec
from factorymesh.ingest.ratelimit import RateLimiter
from factorymesh.ingest.registry import TagRegistry
from factorymesh.ingest.servicer import IngestServicer, ServicerOptions

ACK = pb.AckStatus
PRESS = equipment_pb2.EquipmentPath(
    enterprise="acme", site="berlin", area="assembly", line="line4", cell="cell2", equipment="press7"
)
PRESS_KEY = "acme/berlin/assembly/line4/cell2/press7"
NOW_NS = 1_750_000_000_000_000_000
JOB = job_order_pb2.JobOrderCommand
STATE = job_order_pb2.JobOrderState


class FakePublisher:
    """Stands in for Kafka: records writes; can fail, or hold writes until released."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, Message]] = []
        self.fail: Exception | None = None
        self.gate: asyncio.Event | None = None
        self.in_flight = 0
        self.max_in_flight = 0

    async def publish(self, topic: TopicSpec, key: str, message: Message) -> None:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.gate is not None:
                await self.gate.wait()
            await asyncio.sleep(0)
            if self.fail is not None:
                raise self.fail
            copy = type(message)()
            copy.CopyFrom(message)
            self.sent.append((topic.name, key, copy))
        finally:
            self.in_flight -= 1

    def on(self, topic: TopicSpec) -> list[tuple[str, Any]]:
        return [(key, message) for name, key, message in self.sent if name == topic.name]


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Harness:
    stub: ingest_service_pb2_grpc.IngestServiceStub
    publisher: FakePublisher
    registry: TagRegistry
    limiter_clock: FakeClock
    transitions: list[job_order_pb2.JobOrderEvent]
    recorded: list[Message]
    refuse_transitions: bool = False
    # What the fake tracker "knows" of a job order reported with its id only.
    known_equipment: equipment_pb2.EquipmentPath | None = None


def fake_transition(harness_ref: list[Harness]) -> Any:
    """Stands in for ProductionContextTracker: records, fills the states, may refuse."""

    def check(event: job_order_pb2.JobOrderEvent) -> None:
        harness = harness_ref[0]
        harness.transitions.append(event)
        if harness.refuse_transitions:
            raise FailedPrecondition(
                "START is not allowed in state RUNNING",
                violations=[("JOB_ORDER_STATE", event.job_order.job_order_id, "job order is RUNNING")],
            )
        event.previous_state = STATE.JOB_ORDER_STATE_NOT_ALLOWED_TO_START
        event.state = STATE.JOB_ORDER_STATE_RUNNING
        if harness.known_equipment is not None and not event.job_order.HasField("equipment"):
            event.job_order.equipment.CopyFrom(harness.known_equipment)

    return check


async def make_harness(
    *, rate: float = 1e9, burst: float | None = None, tracker: Any = None, **options: Any
) -> AsyncIterator[Harness]:
    publisher = FakePublisher()
    registry = TagRegistry(publisher=publisher)
    clock = FakeClock()
    ref: list[Harness] = []
    servicer = IngestServicer(
        publisher,
        registry,
        RateLimiter(rate, burst, clock=clock),
        validate_transition=tracker.validate_transition if tracker else fake_transition(ref),
        record_context=tracker.apply if tracker else lambda event: ref[0].recorded.append(event),
        clock_ns=lambda: NOW_NS,
        options=ServicerOptions(**options),
    )
    settings = BaseServiceSettings(
        kafka_bootstrap="unused:9092", grpc_host="127.0.0.1", grpc_port=0, environment="test", service_name="ingest"
    )
    service = GrpcService(settings)
    service.add_servicer(ingest_service_pb2_grpc.add_IngestServiceServicer_to_server, servicer)
    async with service, grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        stub = ingest_service_pb2_grpc.IngestServiceStub(channel)  # type: ignore[no-untyped-call]
        harness = Harness(stub, publisher, registry, clock, [], [])
        ref.append(harness)
        yield harness


@pytest.fixture
async def h() -> AsyncIterator[Harness]:
    async for harness in make_harness():
        yield harness


def reading(event_id: str = "r-1", tag: str = "temp", value: float = 21.5, **fields: Any) -> reading_pb2.SensorReading:
    fields.setdefault("equipment", PRESS)
    message = reading_pb2.SensorReading(event_id=event_id, tag=tag, double_value=value, **fields)
    if "source_time" not in fields:
        message.source_time.FromNanoseconds(NOW_NS - 1_000_000)
    return message


def batch(event_id: str = "b-1", n: int = 4, **fields: Any) -> reading_batch_pb2.SensorReadingBatch:
    values: dict[str, Any] = {
        "event_id": event_id,
        "equipment": PRESS,
        "tags": ["vib.x", "vib.y"],
        "tag_indices": [i % 2 for i in range(n)],
        "source_times_unix_nanos": [NOW_NS + i for i in range(n)],
        "values": [float(i) for i in range(n)],
    }
    values.update(fields)
    return reading_batch_pb2.SensorReadingBatch(**values)


async def invalid(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


# --------------------------------------------------------------------------- IngestBatch


async def test_ingest_batch_acks_every_message_in_order_after_publishing(h: Harness) -> None:
    request = pb.IngestBatchRequest(readings=[reading("r-1"), reading("r-2", tag="state")], batches=[batch("b-1", n=5)])
    response = await h.stub.IngestBatch(request)
    assert [(a.event_id, a.status) for a in response.reading_acks] == [
        ("r-1", ACK.ACK_STATUS_ACCEPTED),
        ("r-2", ACK.ACK_STATUS_ACCEPTED),
    ]
    [batch_ack] = response.batch_acks
    assert (batch_ack.event_id, batch_ack.status, batch_ack.accepted_count) == ("b-1", ACK.ACK_STATUS_ACCEPTED, 5)
    written = h.publisher.on(TELEMETRY_RAW)
    assert [(key, m.event_id) for key, m in written] == [(PRESS_KEY, "r-1"), (PRESS_KEY, "r-2"), (PRESS_KEY, "b-1")]
    for _, message in written:
        assert isinstance(message, reading_pb2.SensorReading | reading_batch_pb2.SensorReadingBatch)
        # Stamped by ingest: when it arrived, and through which door from whom.
        assert message.received_time.ToNanoseconds() == NOW_NS
        assert message.origin.protocol == reading_pb2.SourceProtocol.SOURCE_PROTOCOL_GRPC
        assert message.origin.source_id == "peer:127.0.0.1"


async def test_acks_wait_for_kafka(h: Harness) -> None:
    h.publisher.gate = asyncio.Event()
    call = asyncio.ensure_future(h.stub.IngestBatch(pb.IngestBatchRequest(readings=[reading()])))
    await asyncio.sleep(0.2)
    assert not call.done()  # no ack while the write is not acknowledged
    assert h.publisher.sent == []
    h.publisher.gate.set()
    response = await asyncio.wait_for(call, 5)
    assert response.reading_acks[0].status == ACK.ACK_STATUS_ACCEPTED
    assert len(h.publisher.sent) == 1


async def test_kafka_failure_is_retry_per_message_and_a_resend_is_accepted(h: Harness) -> None:
    h.publisher.fail = KafkaConnectionError()
    request = pb.IngestBatchRequest(readings=[reading()], batches=[batch()])
    response = await h.stub.IngestBatch(request)
    assert response.reading_acks[0].status == ACK.ACK_STATUS_RETRY
    assert "resend with the same id" in response.reading_acks[0].detail
    assert (response.batch_acks[0].status, response.batch_acks[0].accepted_count) == (ACK.ACK_STATUS_RETRY, 0)
    h.publisher.fail = None
    response = await h.stub.IngestBatch(request)  # not DUPLICATE: nothing was written before
    assert response.reading_acks[0].status == ACK.ACK_STATUS_ACCEPTED
    assert response.batch_acks[0].status == ACK.ACK_STATUS_ACCEPTED


async def test_a_write_that_never_completes_times_out_as_retry() -> None:
    async for h in make_harness(publish_timeout_s=0.2):
        h.publisher.gate = asyncio.Event()  # never set
        response = await asyncio.wait_for(h.stub.IngestBatch(pb.IngestBatchRequest(readings=[reading()])), 5)
        assert response.reading_acks[0].status == ACK.ACK_STATUS_RETRY
        assert "TimeoutError" in response.reading_acks[0].detail


async def test_duplicates_are_acked_without_writing_again(h: Harness) -> None:
    await h.stub.IngestBatch(pb.IngestBatchRequest(readings=[reading("r-1")], batches=[batch("b-1")]))
    response = await h.stub.IngestBatch(
        pb.IngestBatchRequest(readings=[reading("r-1"), reading("r-2"), reading("r-2")], batches=[batch("b-1")])
    )
    assert [a.status for a in response.reading_acks] == [
        ACK.ACK_STATUS_DUPLICATE,
        ACK.ACK_STATUS_ACCEPTED,
        ACK.ACK_STATUS_DUPLICATE,  # the same id earlier in this request
    ]
    assert (response.batch_acks[0].status, response.batch_acks[0].accepted_count) == (ACK.ACK_STATUS_DUPLICATE, 4)
    assert [m.event_id for _, m in h.publisher.on(TELEMETRY_RAW)] == ["r-1", "b-1", "r-2"]


async def test_an_empty_request_is_a_no_op(h: Harness) -> None:
    assert await h.stub.IngestBatch(pb.IngestBatchRequest()) == pb.IngestBatchResponse()


@pytest.fixture
async def h_all_violations() -> AsyncIterator[Harness]:
    async for harness in make_harness(max_violations=100):  # the default (20) would cut this test short
        yield harness


async def test_ingest_batch_validation_names_every_field(h_all_violations: Harness) -> None:
    h = h_all_violations
    no_value = reading("r-2")
    no_value.ClearField("double_value")
    no_time = reading("r-3")
    no_time.ClearField("source_time")
    gap = equipment_pb2.EquipmentPath(enterprise="acme", site="", area="assembly", line="l", cell="c", equipment="e")
    request = pb.IngestBatchRequest(
        readings=[
            reading("", tag="bad tag"),
            no_value,
            no_time,
            reading("r-4", equipment=gap),
            reading("r-5", quality=200),
            reading("r-6", unit=units_pb2.EngineeringUnit(code="Cel", quantity_kind=999)),  # type: ignore[arg-type]
        ],
        batches=[
            batch(
                "b-1",
                n=5,
                equipment=equipment_pb2.EquipmentPath(enterprise="acme", site="berlin"),
                tag_indices=[0, 1, 2, 7, 9],
                source_times_unix_nanos=[1, 2, 3],
                qualities=[1, 1, 1, 1, 127],
                tag_units=[units_pb2.EngineeringUnit(code="m")],
            ),
            batch("b-2", n=0, tags=["a", "a", "b c"]),
            batch("r-5"),
        ],
    )
    error = await invalid(h.stub.IngestBatch(request))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    violations = field_violations(error)
    for path in [
        "readings[0].event_id",
        "readings[0].tag",
        "readings[1].value",
        "readings[2].source_time",
        "readings[3].equipment.site",
        "readings[4].quality",
        "readings[5].unit.quantity_kind",
        "batches[0].equipment.area",
        "batches[0].equipment.equipment",
        "batches[0].tag_indices[2]",
        "batches[0].tag_indices[3]",
        "batches[0].source_times_unix_nanos",
        "batches[0].qualities[4]",
        "batches[0].tag_units",
        "batches[1].values",
        "batches[1].tags[1]",
        "batches[1].tags[2]",
        "batches[2].event_id",
    ]:
        assert path in violations, (path, violations)
    assert "no gaps" in violations["readings[3].equipment.site"]
    assert "out of range (2 tags)" in violations["batches[0].tag_indices[2]"]
    assert violations["batches[1].tags[1]"] == "duplicate of tags[0]"
    assert violations["batches[2].event_id"] == "same id as readings[4]"
    assert error_reason(error) == "INVALID_REQUEST"
    assert h.publisher.sent == []  # all or nothing


async def test_an_unset_value_is_allowed_for_bad_quality(h: Harness) -> None:
    bad = reading("r-1", quality=quality_pb2.DataQuality.DATA_QUALITY_BAD_COMM_FAILURE)
    bad.ClearField("double_value")
    response = await h.stub.IngestBatch(pb.IngestBatchRequest(readings=[bad]))
    assert response.reading_acks[0].status == ACK.ACK_STATUS_ACCEPTED


async def test_violations_are_capped_and_element_errors_summarised() -> None:
    async for h in make_harness(max_violations=5):
        many = [reading(f"r-{i}", tag="") for i in range(10)]
        huge_batch = batch("b-1", n=100, tag_indices=[5] * 100)
        error = await invalid(h.stub.IngestBatch(pb.IngestBatchRequest(readings=many, batches=[huge_batch])))
        bad_request = next(d for d in error_details(error) if isinstance(d, error_details_pb2.BadRequest))
        assert len(bad_request.field_violations) == 5
        # 10 tags + 3 indices + their summary = 14 violations; the message gives the count.
        assert "(and 11 more; 5 of 14 in the error details)" in (error.details() or "")
        error = await invalid(h.stub.IngestBatch(pb.IngestBatchRequest(batches=[huge_batch])))
        violations = field_violations(error)
        assert sorted(violations) == sorted(
            [f"batches[0].tag_indices[{i}]" for i in range(3)] + ["batches[0].tag_indices"]
        )
        assert violations["batches[0].tag_indices"] == "97 more entries with the same problem"


async def test_rate_limit_is_resource_exhausted_with_retry_info() -> None:
    async for h in make_harness(rate=10, burst=10):
        await h.stub.IngestBatch(pb.IngestBatchRequest(readings=[reading(f"r-{i}") for i in range(8)]))
        # Costs are readings: a batch of 5 needs 5 tokens and only 2 are left.
        error = await invalid(h.stub.IngestBatch(pb.IngestBatchRequest(batches=[batch("b-1", n=5)])))
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert retry_after_s(error) == pytest.approx(0.3)
        assert error_reason(error) == "RATE_LIMITED"
        quota = next(d for d in error_details(error) if isinstance(d, error_details_pb2.QuotaFailure))
        assert quota.violations[0].subject == "peer:127.0.0.1"
        assert [m.event_id for _, m in h.publisher.on(TELEMETRY_RAW)] == [f"r-{i}" for i in range(8)]
        h.limiter_clock.now += 0.3
        response = await h.stub.IngestBatch(pb.IngestBatchRequest(batches=[batch("b-1", n=5)]))
        assert response.batch_acks[0].status == ACK.ACK_STATUS_ACCEPTED


# --------------------------------------------------------------------------- StreamIngest


def stream_messages(*payloads: Message) -> list[pb.StreamIngestRequest]:
    out = []
    for payload in payloads:
        if isinstance(payload, reading_batch_pb2.SensorReadingBatch):
            out.append(pb.StreamIngestRequest(batch=payload))
        elif isinstance(payload, reading_pb2.SensorReading):
            out.append(pb.StreamIngestRequest(reading=payload))
        else:
            out.append(pb.StreamIngestRequest())
    return out


def ack_of(response: pb.StreamIngestResponse) -> pb.ReadingAck | pb.BatchAck:
    return response.reading_ack if response.WhichOneof("ack") == "reading_ack" else response.batch_ack


async def collect(call: Any) -> dict[str, pb.ReadingAck | pb.BatchAck]:
    return {ack_of(r).event_id: ack_of(r) async for r in call}


async def test_stream_acks_each_message_once_durable(h: Harness) -> None:
    call = h.stub.StreamIngest(iter(stream_messages(reading("r-1"), batch("b-1", n=3), reading("r-2"))))
    acks = await collect(call)
    assert {k: a.status for k, a in acks.items()} == {
        "r-1": ACK.ACK_STATUS_ACCEPTED,
        "b-1": ACK.ACK_STATUS_ACCEPTED,
        "r-2": ACK.ACK_STATUS_ACCEPTED,
    }
    assert acks["b-1"].accepted_count == 3  # type: ignore[union-attr]
    assert sorted(m.event_id for _, m in h.publisher.on(TELEMETRY_RAW)) == ["b-1", "r-1", "r-2"]
    assert await call.code() == grpc.StatusCode.OK


async def test_stream_rejects_and_dead_letters_a_malformed_message(h: Harness) -> None:
    bad = reading("r-bad", tag="no spaces allowed")
    acks = await collect(h.stub.StreamIngest(iter(stream_messages(bad, batch("b-bad", tag_indices=[0, 1, 5, 0])))))
    ack = acks["r-bad"]
    assert ack.status == ACK.ACK_STATUS_REJECTED
    assert ack.reason_code == dead_letter_pb2.DeadLetterReason.DEAD_LETTER_REASON_SCHEMA_VIOLATION
    assert "reading.tag" in ack.detail
    assert acks["b-bad"].status == ACK.ACK_STATUS_REJECTED
    assert "batch.tag_indices[2]" in acks["b-bad"].detail
    assert h.publisher.on(TELEMETRY_RAW) == []
    letters = {m.original_event_id: (k, m) for k, m in h.publisher.on(DEAD_LETTERS)}
    key, letter = letters["r-bad"]
    assert isinstance(letter, dead_letter_pb2.DeadLetter)
    assert key == PRESS_KEY
    method = "grpc:/factorymesh.ingest.v1.IngestService/StreamIngest"
    assert (letter.source_topic, letter.source_partition, letter.source_offset) == (method, -1, -1)
    assert letter.event_id == derived_event_id("dead-letter", method, "r-bad", 0, "ingest")
    assert reading_pb2.SensorReading.FromString(letter.original_value) == bad
    assert letter.expected_message_type == "factorymesh.telemetry.v1.SensorReading"


async def test_stream_rate_limit_answers_retry_per_message() -> None:
    async for h in make_harness(rate=1, burst=3):
        messages = stream_messages(*(reading(f"r-{i}") for i in range(5)))
        acks = await collect(h.stub.StreamIngest(iter(messages)))
        statuses = [acks[f"r-{i}"].status for i in range(5)]
        assert statuses == [ACK.ACK_STATUS_ACCEPTED] * 3 + [ACK.ACK_STATUS_RETRY] * 2
        assert "rate limited" in acks["r-4"].detail
        assert sorted(m.event_id for _, m in h.publisher.on(TELEMETRY_RAW)) == ["r-0", "r-1", "r-2"]


async def test_stream_without_event_id_is_aborted_after_earlier_acks(h: Harness) -> None:
    call = h.stub.StreamIngest(iter(stream_messages(reading("r-1"), reading(""), reading("r-3"))))
    received: list[str] = []

    async def drain() -> None:
        async for response in call:
            received.append(ack_of(response).event_id)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await drain()
    assert received == ["r-1"]
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "reading.event_id" in field_violations(caught.value)
    assert "stream message 1" in (caught.value.details() or "")
    assert [m.event_id for _, m in h.publisher.on(TELEMETRY_RAW)] == ["r-1"]


async def test_stream_without_payload_is_aborted(h: Harness) -> None:
    error = await invalid(collect(h.stub.StreamIngest(iter(stream_messages(object())))))  # type: ignore[arg-type]
    assert field_violations(error) == {"payload": "one of reading or batch is required"}


async def test_stream_in_flight_is_bounded() -> None:
    async for h in make_harness(stream_max_in_flight_messages=2):
        h.publisher.gate = asyncio.Event()
        call = h.stub.StreamIngest(iter(stream_messages(*(reading(f"r-{i}") for i in range(6)))))
        collector = asyncio.ensure_future(collect(call))
        await asyncio.sleep(0.3)
        assert h.publisher.in_flight == 2  # the third message waits: we stopped reading the stream
        h.publisher.gate.set()
        acks = await asyncio.wait_for(collector, 5)
        assert len(acks) == 6
        assert all(a.status == ACK.ACK_STATUS_ACCEPTED for a in acks.values())
        assert h.publisher.max_in_flight == 2


async def test_stream_kafka_failure_is_retry(h: Harness) -> None:
    h.publisher.fail = KafkaConnectionError()
    acks = await collect(h.stub.StreamIngest(iter(stream_messages(reading("r-1"), batch("b-1")))))
    assert acks["r-1"].status == ACK.ACK_STATUS_RETRY
    assert (acks["b-1"].status, acks["b-1"].accepted_count) == (ACK.ACK_STATUS_RETRY, 0)  # type: ignore[union-attr]


# --------------------------------------------------------------------------- tag registry


def tag_definition(
    tag: str = "temp", equipment: equipment_pb2.EquipmentPath = PRESS, **fields: Any
) -> tag_pb2.TagDefinition:
    values: dict[str, Any] = {
        "equipment": equipment,
        "tag": tag,
        "data_type": tag_pb2.TagDataType.TAG_DATA_TYPE_DOUBLE,
        "unit": units_pb2.EngineeringUnit(code="Cel"),
        "valid_range": tag_pb2.ValueRange(min=-20, max=120),
        "equipment_class": "press",
    }
    values.update(fields)
    return tag_pb2.TagDefinition(**values)


async def test_register_tags_stores_publishes_and_is_idempotent(h: Harness) -> None:
    request = pb.RegisterTagsRequest(tags=[tag_definition("temp", revision=77), tag_definition("pressure")])
    response = await h.stub.RegisterTags(request)
    assert [(t.tag, t.revision) for t in response.tags] == [("temp", 1), ("pressure", 1)]
    assert response.tags[0].HasField("update_time")  # output-only fields are the registry's
    events = h.publisher.on(TAG_REGISTRY)
    assert sorted(key for key, _ in events) == [f"{PRESS_KEY}/pressure", f"{PRESS_KEY}/temp"]
    assert all(e.changed_by == "peer:127.0.0.1" for _, e in events)
    again = await h.stub.RegisterTags(request)
    assert [t.revision for t in again.tags] == [1, 1]
    assert len(h.publisher.on(TAG_REGISTRY)) == 2  # an unchanged definition publishes nothing
    changed = await h.stub.RegisterTags(pb.RegisterTagsRequest(tags=[tag_definition("temp", description="oil")]))
    assert changed.tags[0].revision == 2


async def test_register_tags_validate_only_stores_nothing(h: Harness) -> None:
    response = await h.stub.RegisterTags(pb.RegisterTagsRequest(tags=[tag_definition()], validate_only=True))
    assert response.tags[0].revision == 1
    assert h.publisher.sent == []
    assert h.registry.get(PRESS_KEY, "temp") is None


async def test_register_tags_validation(h: Harness) -> None:
    partial = equipment_pb2.EquipmentPath(enterprise="acme", site="berlin", area="assembly", line="line4")
    request = pb.RegisterTagsRequest(
        tags=[
            tag_definition(equipment=partial),
            tag_definition("t1", valid_range=tag_pb2.ValueRange(min=10, max=0)),
            tag_definition("t2", expected_range=tag_pb2.ValueRange(max=500)),
            tag_definition("t3", data_type=tag_pb2.TagDataType.TAG_DATA_TYPE_UNSPECIFIED),
            tag_definition("t1", valid_range=tag_pb2.ValueRange()),
            tag_definition("t4", equipment_class="pump"),
            tag_definition("t5", data_type=tag_pb2.TagDataType.TAG_DATA_TYPE_STRING),
            tag_definition("t6", nominal_sample_rate_hz=float("inf")),
        ]
    )
    violations = field_violations(await invalid(h.stub.RegisterTags(request)))
    assert "tags[0].equipment.cell" in violations
    assert "tags[0].equipment.equipment" in violations
    assert violations["tags[1].valid_range"] == "min (10) must be <= max (0)"
    assert "must lie within valid_range" in violations["tags[2].expected_range.max"]
    assert "tags[3].data_type" in violations
    assert violations["tags[4]"] == "same equipment and tag as tags[1]"
    assert "conflicts with 'press' of tags[1]" in violations["tags[5].equipment_class"]
    assert violations["tags[6].valid_range"] == "ranges apply to double and int64 tags only"
    assert "tags[7].nominal_sample_rate_hz" in violations
    assert h.publisher.sent == []


async def test_register_tags_limit_and_kafka_failure() -> None:
    async for h in make_harness(max_tags_per_request=2):
        many = pb.RegisterTagsRequest(tags=[tag_definition(f"t{i}") for i in range(3)])
        assert "tags" in field_violations(await invalid(h.stub.RegisterTags(many)))
        h.publisher.fail = KafkaConnectionError()
        error = await invalid(h.stub.RegisterTags(pb.RegisterTagsRequest(tags=[tag_definition()])))
        assert error.code() == grpc.StatusCode.UNAVAILABLE
        assert retry_after_s(error) == 1.0
        assert h.registry.get(PRESS_KEY, "temp") is None


async def test_get_tag(h: Harness) -> None:
    await h.stub.RegisterTags(pb.RegisterTagsRequest(tags=[tag_definition()]))
    found = await h.stub.GetTag(pb.GetTagRequest(equipment=PRESS, tag="temp"))
    assert (found.tag.unit.code, found.tag.valid_range.max, found.tag.revision) == ("Cel", 120, 1)
    error = await invalid(h.stub.GetTag(pb.GetTagRequest(equipment=PRESS, tag="nope")))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert error_reason(error) == "TAG_NOT_FOUND"
    short = equipment_pb2.EquipmentPath(enterprise="acme")
    violations = field_violations(await invalid(h.stub.GetTag(pb.GetTagRequest(equipment=short, tag=""))))
    assert {"equipment.site", "equipment.equipment", "tag"} <= set(violations)


async def test_list_tags_pages_filters_and_tokens(h: Harness) -> None:
    pump = equipment_pb2.EquipmentPath(
        enterprise="acme", site="berlin", area="utilities", line="coolant", cell="house", equipment="pump1"
    )
    tags = [tag_definition(f"t{i}") for i in range(5)]
    tags += [tag_definition(f"p{i}", equipment=pump, equipment_class="pump") for i in range(2)]
    await h.stub.RegisterTags(pb.RegisterTagsRequest(tags=tags))

    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        page = await h.stub.ListTags(pb.ListTagsRequest(page_size=3, page_token=token))
        seen += [f"{t.equipment.equipment}/{t.tag}" for t in page.tags]
        pages += 1
        token = page.next_page_token
        if not token:
            break
    # Ordered by equipment path (assembly < utilities), then tag name.
    assert seen == [f"press7/t{i}" for i in range(5)] + ["pump1/p0", "pump1/p1"]
    assert pages == 3

    site = equipment_pb2.EquipmentPath(enterprise="acme", site="berlin", area="utilities")
    by_prefix = await h.stub.ListTags(pb.ListTagsRequest(equipment_prefix=site))
    assert [t.tag for t in by_prefix.tags] == ["p0", "p1"]
    assert by_prefix.next_page_token == ""
    by_class = await h.stub.ListTags(pb.ListTagsRequest(equipment_class="press", page_size=2))
    assert [t.tag for t in by_class.tags] == ["t0", "t1"]

    # A token only continues the query it came from.
    error = await invalid(
        h.stub.ListTags(pb.ListTagsRequest(equipment_class="pump", page_token=by_class.next_page_token))
    )
    assert "page_token" in field_violations(error)
    not_ours = "garbage!"
    assert "page_token" in field_violations(await invalid(h.stub.ListTags(pb.ListTagsRequest(page_token=not_ours))))
    assert "page_size" in field_violations(await invalid(h.stub.ListTags(pb.ListTagsRequest(page_size=-1))))
    gap = equipment_pb2.EquipmentPath(enterprise="acme", area="x")
    assert "equipment_prefix.site" in field_violations(
        await invalid(h.stub.ListTags(pb.ListTagsRequest(equipment_prefix=gap)))
    )


async def test_list_tags_coerces_page_size_to_the_maximum() -> None:
    async for h in make_harness(max_page_size=2, default_page_size=1):
        await h.stub.RegisterTags(pb.RegisterTagsRequest(tags=[tag_definition(f"t{i}") for i in range(3)]))
        assert len((await h.stub.ListTags(pb.ListTagsRequest(page_size=500))).tags) == 2
        assert len((await h.stub.ListTags(pb.ListTagsRequest())).tags) == 1


# --------------------------------------------------------------------------- MES context


def job_request(
    request_id: str = "req-1", command: int = JOB.JOB_ORDER_COMMAND_START, **fields: Any
) -> pb.ReportJobOrderEventRequest:
    order = job_order_pb2.JobOrder(
        job_order_id="JO-42",
        product_id="P-7",
        equipment=equipment_pb2.EquipmentPath(enterprise="acme", site="berlin", area="assembly", line="line4"),
        planned_quantity=100,
        quantity_unit=units_pb2.EngineeringUnit(code="{piece}"),
    )
    request = pb.ReportJobOrderEventRequest(request_id=request_id, command=command, job_order=order, **fields)  # type: ignore[arg-type]
    if "occurred_time" not in fields:
        request.occurred_time.FromNanoseconds(NOW_NS)
    return request


async def test_report_job_order_event_checks_the_transition_and_publishes(h: Harness) -> None:
    response = await h.stub.ReportJobOrderEvent(job_request(actual_quantity=3))
    event = response.event
    assert event.event_id == derived_event_id("job-order", "JO-42", "req-1")
    assert (event.previous_state, event.state) == (
        STATE.JOB_ORDER_STATE_NOT_ALLOWED_TO_START,
        STATE.JOB_ORDER_STATE_RUNNING,
    )
    assert (event.reported_by, event.actual_quantity, event.command) == (
        "peer:127.0.0.1",
        3,
        JOB.JOB_ORDER_COMMAND_START,
    )
    [(key, published)] = h.publisher.on(MES_JOB_ORDERS)
    assert key == "acme/berlin/assembly/line4"
    assert published == event
    assert len(h.transitions) == 1
    assert h.recorded == [event]  # told to the tracker once durable


async def test_a_command_with_only_the_job_order_id_takes_the_equipment_from_the_tracker(h: Harness) -> None:
    bare = pb.ReportJobOrderEventRequest(
        request_id="req-9", command=JOB.JOB_ORDER_COMMAND_PAUSE, job_order=job_order_pb2.JobOrder(job_order_id="JO-42")
    )
    bare.occurred_time.FromNanoseconds(NOW_NS)
    # Unknown to the tracker, and no equipment in the request: nothing to key the event by.
    error = await invalid(h.stub.ReportJobOrderEvent(bare))
    assert "job_order.equipment" in field_violations(error)
    h.known_equipment = equipment_pb2.EquipmentPath(enterprise="acme", site="berlin", area="assembly", line="line4")
    event = (await h.stub.ReportJobOrderEvent(bare)).event
    assert event.job_order.equipment == h.known_equipment
    assert [key for key, _ in h.publisher.on(MES_JOB_ORDERS)] == ["acme/berlin/assembly/line4"]


async def test_with_the_real_production_context_tracker() -> None:
    from factorymesh.ingest.context import ProductionContextTracker

    async for h in make_harness(tracker=ProductionContextTracker()):
        stored = (await h.stub.ReportJobOrderEvent(job_request("req-1", JOB.JOB_ORDER_COMMAND_STORE))).event
        assert stored.state == STATE.JOB_ORDER_STATE_NOT_ALLOWED_TO_START
        # START with the id only: state from the tracker, which was told about the STORE.
        start = pb.ReportJobOrderEventRequest(
            request_id="req-2",
            command=JOB.JOB_ORDER_COMMAND_START,
            job_order=job_order_pb2.JobOrder(job_order_id="JO-42"),
        )
        start.occurred_time.FromNanoseconds(NOW_NS + 1)
        started = (await h.stub.ReportJobOrderEvent(start)).event
        assert (started.previous_state, started.state) == (
            STATE.JOB_ORDER_STATE_NOT_ALLOWED_TO_START,
            STATE.JOB_ORDER_STATE_RUNNING,
        )
        assert started.job_order.product_id == "P-7"  # the full definition, filled in
        resume = job_request("req-3", JOB.JOB_ORDER_COMMAND_RESUME)
        error = await invalid(h.stub.ReportJobOrderEvent(resume))
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert [key for key, _ in h.publisher.on(MES_JOB_ORDERS)] == ["acme/berlin/assembly/line4"] * 2


async def test_a_retried_job_order_request_gets_the_same_answer_without_a_second_check(h: Harness) -> None:
    first = await h.stub.ReportJobOrderEvent(job_request())
    h.refuse_transitions = True  # the job order has moved on: a second check would fail
    again = await h.stub.ReportJobOrderEvent(job_request())
    assert again == first
    assert len(h.transitions) == 1
    assert len(h.publisher.on(MES_JOB_ORDERS)) == 1
    reused = job_request(actual_quantity=50)
    assert "request_id" in field_violations(await invalid(h.stub.ReportJobOrderEvent(reused)))


async def test_a_refused_transition_is_failed_precondition_and_publishes_nothing(h: Harness) -> None:
    h.refuse_transitions = True
    error = await invalid(h.stub.ReportJobOrderEvent(job_request()))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert h.publisher.sent == []


async def test_report_job_order_event_validation(h: Harness) -> None:
    request = job_request("", command=JOB.JOB_ORDER_COMMAND_STORE, actual_quantity=-1)
    request.job_order.ClearField("product_id")
    request.job_order.equipment.CopyFrom(equipment_pb2.EquipmentPath(enterprise="acme", site="berlin"))
    request.job_order.planned_time.start_time.FromNanoseconds(NOW_NS)
    request.job_order.planned_time.end_time.FromNanoseconds(NOW_NS - 1)
    request.ClearField("occurred_time")
    violations = field_violations(await invalid(h.stub.ReportJobOrderEvent(request)))
    assert {
        "request_id",
        "job_order.product_id",  # STORE carries the full definition
        "job_order.equipment.area",
        "job_order.equipment.line",
        "job_order.planned_time.end_time",
        "occurred_time",
        "actual_quantity",
    } <= set(violations)
    bare = pb.ReportJobOrderEventRequest(request_id="r")
    violations = field_violations(await invalid(h.stub.ReportJobOrderEvent(bare)))
    assert {"command", "job_order", "occurred_time"} <= set(violations)
    assert h.publisher.sent == []
    assert h.transitions == []


async def test_publish_failure_of_a_job_order_event_is_unavailable(h: Harness) -> None:
    h.publisher.fail = KafkaConnectionError()
    error = await invalid(h.stub.ReportJobOrderEvent(job_request()))
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert h.recorded == []  # not durable, so not recorded
    h.publisher.fail = None
    # Not cached as answered: the retry goes through (same id, so consumers de-duplicate).
    assert (await h.stub.ReportJobOrderEvent(job_request())).event.event_id == derived_event_id(
        "job-order", "JO-42", "req-1"
    )


def shift(**fields: Any) -> shift_pb2.Shift:
    values: dict[str, Any] = {
        "shift_id": "2025-03-14-early",
        "scope": equipment_pb2.EquipmentPath(enterprise="acme", site="berlin", area="assembly"),
        "name": "Early shift",
    }
    values.update(fields)
    return shift_pb2.Shift(**values)


async def test_set_shift_publishes_keyed_by_site(h: Harness) -> None:
    request = pb.SetShiftRequest(shift=shift())
    request.effective_time.FromNanoseconds(NOW_NS - 5)
    event = (await h.stub.SetShift(request)).event
    assert event.event_id == derived_event_id("shift", "acme/berlin/assembly", "2025-03-14-early", NOW_NS - 5)
    assert (event.set_by, event.effective_time.ToNanoseconds()) == ("peer:127.0.0.1", NOW_NS - 5)
    [(key, published)] = h.publisher.on(MES_SHIFTS)
    assert (key, published) == ("acme/berlin", event)
    # Without effective_time: now, by the servicer's clock.
    event = (await h.stub.SetShift(pb.SetShiftRequest(shift=shift()))).event
    assert event.effective_time.ToNanoseconds() == NOW_NS
    # An empty shift id ends the scope's shift.
    ended = (await h.stub.SetShift(pb.SetShiftRequest(shift=shift(shift_id="")))).event
    assert ended.shift.shift_id == ""
    assert len(h.recorded) == 3


async def test_set_shift_validation(h: Harness) -> None:
    too_deep = equipment_pb2.EquipmentPath(enterprise="acme", site="berlin", area="a", line="l", cell="c")
    request = pb.SetShiftRequest(shift=shift(shift_id="x" * 129, scope=too_deep))
    request.effective_time.seconds = 10**12
    violations = field_violations(await invalid(h.stub.SetShift(request)))
    assert set(violations) == {"shift.shift_id", "shift.scope.cell", "effective_time"}
    assert "stops at the line level" in violations["shift.scope.cell"]
    site_missing = shift(scope=equipment_pb2.EquipmentPath(enterprise="acme"))
    assert "shift.scope.site" in field_violations(
        await invalid(h.stub.SetShift(pb.SetShiftRequest(shift=site_missing)))
    )
    assert field_violations(await invalid(h.stub.SetShift(pb.SetShiftRequest()))) == {"shift": "required"}
