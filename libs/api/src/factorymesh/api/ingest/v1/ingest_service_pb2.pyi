import datetime

from factorymesh.api.common.v1 import dead_letter_pb2 as _dead_letter_pb2
from factorymesh.api.common.v1 import equipment_pb2 as _equipment_pb2
from factorymesh.api.mes.v1 import job_order_pb2 as _job_order_pb2
from factorymesh.api.mes.v1 import shift_pb2 as _shift_pb2
from factorymesh.api.telemetry.v1 import reading_pb2 as _reading_pb2
from factorymesh.api.telemetry.v1 import reading_batch_pb2 as _reading_batch_pb2
from factorymesh.api.telemetry.v1 import tag_pb2 as _tag_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AckStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACK_STATUS_UNSPECIFIED: _ClassVar[AckStatus]
    ACK_STATUS_ACCEPTED: _ClassVar[AckStatus]
    ACK_STATUS_DUPLICATE: _ClassVar[AckStatus]
    ACK_STATUS_REJECTED: _ClassVar[AckStatus]
    ACK_STATUS_RETRY: _ClassVar[AckStatus]
    ACK_STATUS_PARTIALLY_ACCEPTED: _ClassVar[AckStatus]
ACK_STATUS_UNSPECIFIED: AckStatus
ACK_STATUS_ACCEPTED: AckStatus
ACK_STATUS_DUPLICATE: AckStatus
ACK_STATUS_REJECTED: AckStatus
ACK_STATUS_RETRY: AckStatus
ACK_STATUS_PARTIALLY_ACCEPTED: AckStatus

class IngestBatchRequest(_message.Message):
    __slots__ = ("readings", "batches")
    READINGS_FIELD_NUMBER: _ClassVar[int]
    BATCHES_FIELD_NUMBER: _ClassVar[int]
    readings: _containers.RepeatedCompositeFieldContainer[_reading_pb2.SensorReading]
    batches: _containers.RepeatedCompositeFieldContainer[_reading_batch_pb2.SensorReadingBatch]
    def __init__(self, readings: _Optional[_Iterable[_Union[_reading_pb2.SensorReading, _Mapping]]] = ..., batches: _Optional[_Iterable[_Union[_reading_batch_pb2.SensorReadingBatch, _Mapping]]] = ...) -> None: ...

class IngestBatchResponse(_message.Message):
    __slots__ = ("reading_acks", "batch_acks")
    READING_ACKS_FIELD_NUMBER: _ClassVar[int]
    BATCH_ACKS_FIELD_NUMBER: _ClassVar[int]
    reading_acks: _containers.RepeatedCompositeFieldContainer[ReadingAck]
    batch_acks: _containers.RepeatedCompositeFieldContainer[BatchAck]
    def __init__(self, reading_acks: _Optional[_Iterable[_Union[ReadingAck, _Mapping]]] = ..., batch_acks: _Optional[_Iterable[_Union[BatchAck, _Mapping]]] = ...) -> None: ...

class StreamIngestRequest(_message.Message):
    __slots__ = ("reading", "batch")
    READING_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    reading: _reading_pb2.SensorReading
    batch: _reading_batch_pb2.SensorReadingBatch
    def __init__(self, reading: _Optional[_Union[_reading_pb2.SensorReading, _Mapping]] = ..., batch: _Optional[_Union[_reading_batch_pb2.SensorReadingBatch, _Mapping]] = ...) -> None: ...

class StreamIngestResponse(_message.Message):
    __slots__ = ("reading_ack", "batch_ack")
    READING_ACK_FIELD_NUMBER: _ClassVar[int]
    BATCH_ACK_FIELD_NUMBER: _ClassVar[int]
    reading_ack: ReadingAck
    batch_ack: BatchAck
    def __init__(self, reading_ack: _Optional[_Union[ReadingAck, _Mapping]] = ..., batch_ack: _Optional[_Union[BatchAck, _Mapping]] = ...) -> None: ...

class ReadingAck(_message.Message):
    __slots__ = ("event_id", "status", "reason_code", "detail")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_CODE_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    status: AckStatus
    reason_code: _dead_letter_pb2.DeadLetterReason
    detail: str
    def __init__(self, event_id: _Optional[str] = ..., status: _Optional[_Union[AckStatus, str]] = ..., reason_code: _Optional[_Union[_dead_letter_pb2.DeadLetterReason, str]] = ..., detail: _Optional[str] = ...) -> None: ...

class BatchAck(_message.Message):
    __slots__ = ("event_id", "status", "accepted_count", "rejected", "reason_code", "detail")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_COUNT_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    REASON_CODE_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    status: AckStatus
    accepted_count: int
    rejected: _containers.RepeatedCompositeFieldContainer[ReadingAck]
    reason_code: _dead_letter_pb2.DeadLetterReason
    detail: str
    def __init__(self, event_id: _Optional[str] = ..., status: _Optional[_Union[AckStatus, str]] = ..., accepted_count: _Optional[int] = ..., rejected: _Optional[_Iterable[_Union[ReadingAck, _Mapping]]] = ..., reason_code: _Optional[_Union[_dead_letter_pb2.DeadLetterReason, str]] = ..., detail: _Optional[str] = ...) -> None: ...

class RegisterTagsRequest(_message.Message):
    __slots__ = ("tags", "validate_only")
    TAGS_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    tags: _containers.RepeatedCompositeFieldContainer[_tag_pb2.TagDefinition]
    validate_only: bool
    def __init__(self, tags: _Optional[_Iterable[_Union[_tag_pb2.TagDefinition, _Mapping]]] = ..., validate_only: bool = ...) -> None: ...

class RegisterTagsResponse(_message.Message):
    __slots__ = ("tags",)
    TAGS_FIELD_NUMBER: _ClassVar[int]
    tags: _containers.RepeatedCompositeFieldContainer[_tag_pb2.TagDefinition]
    def __init__(self, tags: _Optional[_Iterable[_Union[_tag_pb2.TagDefinition, _Mapping]]] = ...) -> None: ...

class GetTagRequest(_message.Message):
    __slots__ = ("equipment", "tag")
    EQUIPMENT_FIELD_NUMBER: _ClassVar[int]
    TAG_FIELD_NUMBER: _ClassVar[int]
    equipment: _equipment_pb2.EquipmentPath
    tag: str
    def __init__(self, equipment: _Optional[_Union[_equipment_pb2.EquipmentPath, _Mapping]] = ..., tag: _Optional[str] = ...) -> None: ...

class GetTagResponse(_message.Message):
    __slots__ = ("tag",)
    TAG_FIELD_NUMBER: _ClassVar[int]
    tag: _tag_pb2.TagDefinition
    def __init__(self, tag: _Optional[_Union[_tag_pb2.TagDefinition, _Mapping]] = ...) -> None: ...

class ListTagsRequest(_message.Message):
    __slots__ = ("equipment_prefix", "equipment_class", "page_size", "page_token")
    EQUIPMENT_PREFIX_FIELD_NUMBER: _ClassVar[int]
    EQUIPMENT_CLASS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    equipment_prefix: _equipment_pb2.EquipmentPath
    equipment_class: str
    page_size: int
    page_token: str
    def __init__(self, equipment_prefix: _Optional[_Union[_equipment_pb2.EquipmentPath, _Mapping]] = ..., equipment_class: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListTagsResponse(_message.Message):
    __slots__ = ("tags", "next_page_token")
    TAGS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tags: _containers.RepeatedCompositeFieldContainer[_tag_pb2.TagDefinition]
    next_page_token: str
    def __init__(self, tags: _Optional[_Iterable[_Union[_tag_pb2.TagDefinition, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ReportJobOrderEventRequest(_message.Message):
    __slots__ = ("request_id", "command", "job_order", "occurred_time", "actual_quantity")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    JOB_ORDER_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_TIME_FIELD_NUMBER: _ClassVar[int]
    ACTUAL_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    command: _job_order_pb2.JobOrderCommand
    job_order: _job_order_pb2.JobOrder
    occurred_time: _timestamp_pb2.Timestamp
    actual_quantity: float
    def __init__(self, request_id: _Optional[str] = ..., command: _Optional[_Union[_job_order_pb2.JobOrderCommand, str]] = ..., job_order: _Optional[_Union[_job_order_pb2.JobOrder, _Mapping]] = ..., occurred_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., actual_quantity: _Optional[float] = ...) -> None: ...

class ReportJobOrderEventResponse(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: _job_order_pb2.JobOrderEvent
    def __init__(self, event: _Optional[_Union[_job_order_pb2.JobOrderEvent, _Mapping]] = ...) -> None: ...

class SetShiftRequest(_message.Message):
    __slots__ = ("shift", "effective_time")
    SHIFT_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_TIME_FIELD_NUMBER: _ClassVar[int]
    shift: _shift_pb2.Shift
    effective_time: _timestamp_pb2.Timestamp
    def __init__(self, shift: _Optional[_Union[_shift_pb2.Shift, _Mapping]] = ..., effective_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SetShiftResponse(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: _shift_pb2.ShiftEvent
    def __init__(self, event: _Optional[_Union[_shift_pb2.ShiftEvent, _Mapping]] = ...) -> None: ...
