"""IngestServicer over a real gRPC channel writing to real Kafka topics: what a consumer reads
back is exactly what was acknowledged, no more (rate-limited, rejected) and no less."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import grpc.aio
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from factorymesh.api.common.v1 import dead_letter_pb2, equipment_pb2
from factorymesh.api.ingest.v1 import ingest_service_pb2 as pb
from factorymesh.api.ingest.v1 import ingest_service_pb2_grpc
from factorymesh.api.mes.v1 import job_order_pb2, shift_pb2
from factorymesh.api.telemetry.v1 import reading_batch_pb2, reading_pb2, tag_pb2
from factorymesh.common.config import BaseServiceSettings
from factorymesh.common.grpc_server import GrpcService
from factorymesh.common.kafka import HEADER_MESSAGE_TYPE, EventProducer, KafkaConfig, decode_event, header
from factorymesh.common.topics import TopicSpec
from factorymesh.ingest.ratelimit import RateLimiter
from factorymesh.ingest.registry import KafkaPublisher, TagRegistry
from factorymesh.ingest.servicer import IngestServicer, IngestTopics, ServicerOptions

pytestmark = pytest.mark.integration

MakeTopic = Callable[..., Awaitable[TopicSpec]]
ACK = pb.AckStatus
PRESS = equipment_pb2.EquipmentPath(
    enterprise="acme", site="berlin", area="assembly", line="line4", cell="cell2", equipment="press7"
)
PUMP = equipment_pb2.EquipmentPath(
    enterprise="acme", site="berlin", area="utilities", line="coolant", cell="house", equipment="pump1"
)
SOURCE_NS = 1_750_000_000_000_000_000


@dataclass
class Running:
    stub: ingest_service_pb2_grpc.IngestServiceStub
    topics: IngestTopics
    tag_topic: TopicSpec


@pytest.fixture
async def running(kafka_config: KafkaConfig, make_topic: MakeTopic) -> AsyncIterator[Running]:
    topics = IngestTopics(
        telemetry=await make_topic("raw", (reading_pb2.SensorReading, reading_batch_pb2.SensorReadingBatch)),
        job_orders=await make_topic("job-orders", (job_order_pb2.JobOrderEvent,)),
        shifts=await make_topic("shifts", (shift_pb2.ShiftEvent,), partitions=1),
        dead_letters=await make_topic("dead-letters", (dead_letter_pb2.DeadLetter,)),
    )
    tag_topic = await make_topic("tag-registry", (tag_pb2.TagRegistryEvent,), partitions=1)
    async with EventProducer(kafka_config, producer_name="ingest") as producer:
        publisher = KafkaPublisher(producer)
        # A frozen clock: the buckets never refill, so which messages pass is deterministic.
        limiter = RateLimiter(1.0, burst=10, clock=lambda: 0.0)
        servicer = IngestServicer(
            publisher,
            TagRegistry(publisher=publisher, topic=tag_topic),
            limiter,
            options=ServicerOptions(topics=topics),
        )
        settings = BaseServiceSettings(
            kafka_bootstrap=kafka_config.bootstrap, grpc_host="127.0.0.1", grpc_port=0, environment="test"
        )
        service = GrpcService(settings)
        service.add_servicer(ingest_service_pb2_grpc.add_IngestServiceServicer_to_server, servicer)
        async with service, grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            stub = ingest_service_pb2_grpc.IngestServiceStub(channel)  # type: ignore[no-untyped-call]
            yield Running(stub, topics, tag_topic)


async def read_topic(config: KafkaConfig, topic: TopicSpec) -> list[Any]:
    """Every record from the beginning to the end offsets as of now (acked writes are in)."""
    consumer = AIOKafkaConsumer(**config.common(), group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic.name, p) for p in range(topic.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        records: list[Any] = []
        while [tp for tp in partitions if await consumer.position(tp) < end[tp]]:
            batches = await consumer.getmany(timeout_ms=1000)
            records += [r for rs in batches.values() for r in rs]
        return records
    finally:
        await consumer.stop()


def reading(
    event_id: str, equipment: equipment_pb2.EquipmentPath = PRESS, tag: str = "temp"
) -> reading_pb2.SensorReading:
    message = reading_pb2.SensorReading(event_id=event_id, equipment=equipment, tag=tag, double_value=20.5)
    message.source_time.FromNanoseconds(SOURCE_NS)
    return message


def batch(event_id: str, n: int) -> reading_batch_pb2.SensorReadingBatch:
    return reading_batch_pb2.SensorReadingBatch(
        event_id=event_id,
        equipment=PUMP,
        tags=["flow"],
        tag_indices=[0] * n,
        source_times_unix_nanos=[SOURCE_NS + i for i in range(n)],
        values=[float(i) for i in range(n)],
    )


def ack_of(response: pb.StreamIngestResponse) -> pb.ReadingAck | pb.BatchAck:
    return response.reading_ack if response.WhichOneof("ack") == "reading_ack" else response.batch_ack


async def test_exactly_the_acknowledged_readings_reach_the_topic(running: Running, kafka_config: KafkaConfig) -> None:
    # Unary: 3 readings + a batch of 4 = 7 of the 10 tokens.
    response = await running.stub.IngestBatch(
        pb.IngestBatchRequest(
            readings=[reading("u-1"), reading("u-2"), reading("u-3", PUMP)], batches=[batch("ub-1", 4)]
        )
    )
    assert all(a.status == ACK.ACK_STATUS_ACCEPTED for a in response.reading_acks)
    assert response.batch_acks[0].status == ACK.ACK_STATUS_ACCEPTED
    # Streaming: s-1..s-3 take the last 3 tokens; s-4 and s-5 are over the limit (RETRY);
    # s-bad is malformed (REJECTED, dead-lettered) and must not reach the raw topic either.
    bad = reading("s-bad", tag="not a tag")
    messages = [pb.StreamIngestRequest(reading=reading(f"s-{i}")) for i in range(1, 6)]
    acks = {ack_of(r).event_id: ack_of(r) async for r in running.stub.StreamIngest(iter(messages))}
    bucket_empty = {
        ack_of(r).event_id: ack_of(r)
        async for r in running.stub.StreamIngest(iter([pb.StreamIngestRequest(reading=bad)]))
    }
    assert {k: a.status for k, a in acks.items()} == {
        "s-1": ACK.ACK_STATUS_ACCEPTED,
        "s-2": ACK.ACK_STATUS_ACCEPTED,
        "s-3": ACK.ACK_STATUS_ACCEPTED,
        "s-4": ACK.ACK_STATUS_RETRY,
        "s-5": ACK.ACK_STATUS_RETRY,
    }
    # With the bucket empty even the malformed one is answered RETRY: rate limits come first.
    assert bucket_empty["s-bad"].status == ACK.ACK_STATUS_RETRY

    accepted = {"u-1", "u-2", "u-3", "ub-1", "s-1", "s-2", "s-3"}
    records = await read_topic(kafka_config, running.topics.telemetry)
    decoded: dict[str, tuple[Any, Any]] = {}
    for record in records:
        message: Any = decode_event(record.value, record.headers, running.topics.telemetry.value_types)
        decoded[message.event_id] = (record, message)
    assert len(records) == len(accepted)  # each written once
    assert set(decoded) == accepted
    for record, message in decoded.values():
        equipment = "/".join(
            s for s in (message.equipment.enterprise, message.equipment.site, message.equipment.area,
                        message.equipment.line, message.equipment.cell, message.equipment.equipment)
        )  # fmt: skip
        assert record.key.decode() == equipment  # keyed by equipment path: per-equipment order
        assert header(record.headers, HEADER_MESSAGE_TYPE) == message.DESCRIPTOR.full_name
        assert message.origin.protocol == reading_pb2.SourceProtocol.SOURCE_PROTOCOL_GRPC
        assert message.received_time.seconds > 0
    assert len(decoded["ub-1"][1].values) == 4


async def test_a_malformed_stream_message_is_dead_lettered(running: Running, kafka_config: KafkaConfig) -> None:
    bad = reading("s-bad", tag="not a tag")
    good = reading("s-good")
    acks = {
        ack_of(r).event_id: ack_of(r)
        async for r in running.stub.StreamIngest(
            iter([pb.StreamIngestRequest(reading=bad), pb.StreamIngestRequest(reading=good)])
        )
    }
    assert acks["s-bad"].status == ACK.ACK_STATUS_REJECTED
    assert acks["s-good"].status == ACK.ACK_STATUS_ACCEPTED
    [letter_record] = await read_topic(kafka_config, running.topics.dead_letters)
    letter = dead_letter_pb2.DeadLetter.FromString(letter_record.value)
    assert letter.original_event_id == "s-bad"
    assert letter.reason_code == dead_letter_pb2.DeadLetterReason.DEAD_LETTER_REASON_SCHEMA_VIOLATION
    assert reading_pb2.SensorReading.FromString(letter.original_value).tag == "not a tag"
    raw = await read_topic(kafka_config, running.topics.telemetry)
    assert [reading_pb2.SensorReading.FromString(r.value).event_id for r in raw] == ["s-good"]


async def test_registry_and_mes_rpcs_publish_to_their_topics(running: Running, kafka_config: KafkaConfig) -> None:
    definition = tag_pb2.TagDefinition(
        equipment=PRESS, tag="temp", data_type=tag_pb2.TagDataType.TAG_DATA_TYPE_DOUBLE, equipment_class="press"
    )
    stored = (await running.stub.RegisterTags(pb.RegisterTagsRequest(tags=[definition]))).tags[0]
    assert stored.revision == 1
    assert (await running.stub.GetTag(pb.GetTagRequest(equipment=PRESS, tag="temp"))).tag == stored

    order = job_order_pb2.JobOrder(
        job_order_id="JO-1",
        product_id="P-1",
        equipment=equipment_pb2.EquipmentPath(enterprise="acme", site="berlin", area="assembly", line="line4"),
    )
    request = pb.ReportJobOrderEventRequest(
        request_id="req-1", command=job_order_pb2.JOB_ORDER_COMMAND_STORE, job_order=order
    )
    request.occurred_time.FromNanoseconds(SOURCE_NS)
    job_event = (await running.stub.ReportJobOrderEvent(request)).event
    shift_request = pb.SetShiftRequest(
        shift=shift_pb2.Shift(shift_id="early", scope=equipment_pb2.EquipmentPath(enterprise="acme", site="berlin"))
    )
    shift_event = (await running.stub.SetShift(shift_request)).event

    [tag_record] = await read_topic(kafka_config, running.tag_topic)
    assert tag_record.key.decode() == "acme/berlin/assembly/line4/cell2/press7/temp"
    assert tag_pb2.TagRegistryEvent.FromString(tag_record.value).tag == stored
    [job_record] = await read_topic(kafka_config, running.topics.job_orders)
    assert job_record.key.decode() == "acme/berlin/assembly/line4"
    assert job_order_pb2.JobOrderEvent.FromString(job_record.value) == job_event
    [shift_record] = await read_topic(kafka_config, running.topics.shifts)
    assert shift_record.key.decode() == "acme/berlin"
    assert shift_pb2.ShiftEvent.FromString(shift_record.value) == shift_event
