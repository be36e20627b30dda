"""The generated gRPC stubs and servicers work end to end (in-process server on localhost)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest

from factorymesh.api.ingest.v1 import ingest_service_pb2, ingest_service_pb2_grpc
from factorymesh.api.telemetry.v1 import reading_batch_pb2, reading_pb2


class _Ingest(ingest_service_pb2_grpc.IngestServiceServicer):
    def IngestBatch(
        self, request: ingest_service_pb2.IngestBatchRequest, context: grpc.ServicerContext
    ) -> ingest_service_pb2.IngestBatchResponse:
        return ingest_service_pb2.IngestBatchResponse(
            reading_acks=[
                ingest_service_pb2.ReadingAck(event_id=r.event_id, status=ingest_service_pb2.ACK_STATUS_ACCEPTED)
                for r in request.readings
            ],
            batch_acks=[
                ingest_service_pb2.BatchAck(
                    event_id=b.event_id, status=ingest_service_pb2.ACK_STATUS_ACCEPTED, accepted_count=len(b.values)
                )
                for b in request.batches
            ],
        )

    def StreamIngest(
        self, request_iterator: Iterator[ingest_service_pb2.StreamIngestRequest], context: grpc.ServicerContext
    ) -> Iterator[ingest_service_pb2.StreamIngestResponse]:
        for request in request_iterator:
            if request.WhichOneof("payload") == "reading":
                yield ingest_service_pb2.StreamIngestResponse(
                    reading_ack=ingest_service_pb2.ReadingAck(
                        event_id=request.reading.event_id, status=ingest_service_pb2.ACK_STATUS_DUPLICATE
                    )
                )
            else:
                yield ingest_service_pb2.StreamIngestResponse(
                    batch_ack=ingest_service_pb2.BatchAck(
                        event_id=request.batch.event_id, status=ingest_service_pb2.ACK_STATUS_ACCEPTED
                    )
                )


@pytest.fixture
def stub() -> Iterator[ingest_service_pb2_grpc.IngestServiceStub]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    ingest_service_pb2_grpc.add_IngestServiceServicer_to_server(_Ingest(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield ingest_service_pb2_grpc.IngestServiceStub(channel)
    finally:
        channel.close()
        server.stop(grace=None).wait()


def test_unary_call(stub: ingest_service_pb2_grpc.IngestServiceStub) -> None:
    response = stub.IngestBatch(
        ingest_service_pb2.IngestBatchRequest(
            readings=[reading_pb2.SensorReading(event_id="r-1", tag="t", double_value=1.5)],
            batches=[reading_batch_pb2.SensorReadingBatch(event_id="b-1", values=[1.0, 2.0])],
        ),
        timeout=10,
    )
    assert [a.event_id for a in response.reading_acks] == ["r-1"]
    assert response.batch_acks[0].accepted_count == 2


def test_bidirectional_stream(stub: ingest_service_pb2_grpc.IngestServiceStub) -> None:
    requests = [
        ingest_service_pb2.StreamIngestRequest(reading=reading_pb2.SensorReading(event_id="r-1")),
        ingest_service_pb2.StreamIngestRequest(batch=reading_batch_pb2.SensorReadingBatch(event_id="b-1")),
    ]
    acks = list(stub.StreamIngest(iter(requests), timeout=10))
    assert [a.WhichOneof("ack") for a in acks] == ["reading_ack", "batch_ack"]
    assert acks[0].reading_ack.status == ingest_service_pb2.ACK_STATUS_DUPLICATE


def test_method_paths_use_the_proto_package() -> None:
    service = ingest_service_pb2.DESCRIPTOR.services_by_name["IngestService"]
    assert service.full_name == "factorymesh.ingest.v1.IngestService"
    assert sorted(m.name for m in service.methods) == [
        "GetTag",
        "IngestBatch",
        "ListTags",
        "RegisterTags",
        "ReportJobOrderEvent",
        "SetShift",
        "StreamIngest",
    ]
