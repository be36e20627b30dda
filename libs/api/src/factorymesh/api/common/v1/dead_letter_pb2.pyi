import datetime

from factorymesh.api.common.v1 import options_pb2 as _options_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DeadLetterReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DEAD_LETTER_REASON_UNSPECIFIED: _ClassVar[DeadLetterReason]
    DEAD_LETTER_REASON_DECODE_ERROR: _ClassVar[DeadLetterReason]
    DEAD_LETTER_REASON_SCHEMA_VIOLATION: _ClassVar[DeadLetterReason]
    DEAD_LETTER_REASON_UNKNOWN_MESSAGE_TYPE: _ClassVar[DeadLetterReason]
    DEAD_LETTER_REASON_MISSING_REQUIRED_FIELD: _ClassVar[DeadLetterReason]
    DEAD_LETTER_REASON_VALUE_OUT_OF_RANGE: _ClassVar[DeadLetterReason]
    DEAD_LETTER_REASON_NON_FINITE_VALUE: _ClassVar[DeadLetterReason]
    DEAD_LETTER_REASON_TIMESTAMP_OUT_OF_BOUNDS: _ClassVar[DeadLetterReason]
    DEAD_LETTER_REASON_UNKNOWN_TAG: _ClassVar[DeadLetterReason]
    DEAD_LETTER_REASON_UNIT_CONVERSION_FAILED: _ClassVar[DeadLetterReason]
    DEAD_LETTER_REASON_DUPLICATE: _ClassVar[DeadLetterReason]
    DEAD_LETTER_REASON_PROCESSING_ERROR: _ClassVar[DeadLetterReason]
    DEAD_LETTER_REASON_UNKNOWN_EQUIPMENT: _ClassVar[DeadLetterReason]
    DEAD_LETTER_REASON_TYPE_MISMATCH: _ClassVar[DeadLetterReason]
    DEAD_LETTER_REASON_UNSUPPORTED_ENCODING: _ClassVar[DeadLetterReason]
    DEAD_LETTER_REASON_MESSAGE_TOO_LARGE: _ClassVar[DeadLetterReason]
    DEAD_LETTER_REASON_RETRIES_EXHAUSTED: _ClassVar[DeadLetterReason]
    DEAD_LETTER_REASON_UNAUTHORIZED: _ClassVar[DeadLetterReason]
    DEAD_LETTER_REASON_EXPIRED: _ClassVar[DeadLetterReason]
DEAD_LETTER_REASON_UNSPECIFIED: DeadLetterReason
DEAD_LETTER_REASON_DECODE_ERROR: DeadLetterReason
DEAD_LETTER_REASON_SCHEMA_VIOLATION: DeadLetterReason
DEAD_LETTER_REASON_UNKNOWN_MESSAGE_TYPE: DeadLetterReason
DEAD_LETTER_REASON_MISSING_REQUIRED_FIELD: DeadLetterReason
DEAD_LETTER_REASON_VALUE_OUT_OF_RANGE: DeadLetterReason
DEAD_LETTER_REASON_NON_FINITE_VALUE: DeadLetterReason
DEAD_LETTER_REASON_TIMESTAMP_OUT_OF_BOUNDS: DeadLetterReason
DEAD_LETTER_REASON_UNKNOWN_TAG: DeadLetterReason
DEAD_LETTER_REASON_UNIT_CONVERSION_FAILED: DeadLetterReason
DEAD_LETTER_REASON_DUPLICATE: DeadLetterReason
DEAD_LETTER_REASON_PROCESSING_ERROR: DeadLetterReason
DEAD_LETTER_REASON_UNKNOWN_EQUIPMENT: DeadLetterReason
DEAD_LETTER_REASON_TYPE_MISMATCH: DeadLetterReason
DEAD_LETTER_REASON_UNSUPPORTED_ENCODING: DeadLetterReason
DEAD_LETTER_REASON_MESSAGE_TOO_LARGE: DeadLetterReason
DEAD_LETTER_REASON_RETRIES_EXHAUSTED: DeadLetterReason
DEAD_LETTER_REASON_UNAUTHORIZED: DeadLetterReason
DEAD_LETTER_REASON_EXPIRED: DeadLetterReason

class DeadLetter(_message.Message):
    __slots__ = ("event_id", "source_topic", "source_partition", "source_offset", "original_key", "original_value", "original_headers", "reason_code", "reason_detail", "failed_service", "dead_lettered_at", "attempts", "original_event_id", "expected_message_type", "original_timestamp", "consumer_group")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_TOPIC_FIELD_NUMBER: _ClassVar[int]
    SOURCE_PARTITION_FIELD_NUMBER: _ClassVar[int]
    SOURCE_OFFSET_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_KEY_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_VALUE_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_HEADERS_FIELD_NUMBER: _ClassVar[int]
    REASON_CODE_FIELD_NUMBER: _ClassVar[int]
    REASON_DETAIL_FIELD_NUMBER: _ClassVar[int]
    FAILED_SERVICE_FIELD_NUMBER: _ClassVar[int]
    DEAD_LETTERED_AT_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_MESSAGE_TYPE_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    CONSUMER_GROUP_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    source_topic: str
    source_partition: int
    source_offset: int
    original_key: bytes
    original_value: bytes
    original_headers: _containers.RepeatedCompositeFieldContainer[KafkaHeader]
    reason_code: DeadLetterReason
    reason_detail: str
    failed_service: str
    dead_lettered_at: _timestamp_pb2.Timestamp
    attempts: int
    original_event_id: str
    expected_message_type: str
    original_timestamp: _timestamp_pb2.Timestamp
    consumer_group: str
    def __init__(self, event_id: _Optional[str] = ..., source_topic: _Optional[str] = ..., source_partition: _Optional[int] = ..., source_offset: _Optional[int] = ..., original_key: _Optional[bytes] = ..., original_value: _Optional[bytes] = ..., original_headers: _Optional[_Iterable[_Union[KafkaHeader, _Mapping]]] = ..., reason_code: _Optional[_Union[DeadLetterReason, str]] = ..., reason_detail: _Optional[str] = ..., failed_service: _Optional[str] = ..., dead_lettered_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., attempts: _Optional[int] = ..., original_event_id: _Optional[str] = ..., expected_message_type: _Optional[str] = ..., original_timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., consumer_group: _Optional[str] = ...) -> None: ...

class KafkaHeader(_message.Message):
    __slots__ = ("key", "value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: str
    value: bytes
    def __init__(self, key: _Optional[str] = ..., value: _Optional[bytes] = ...) -> None: ...
