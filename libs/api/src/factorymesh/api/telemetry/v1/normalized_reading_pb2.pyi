import datetime

from factorymesh.api.common.v1 import equipment_pb2 as _equipment_pb2
from factorymesh.api.common.v1 import options_pb2 as _options_pb2
from factorymesh.api.common.v1 import production_context_pb2 as _production_context_pb2
from factorymesh.api.common.v1 import quality_pb2 as _quality_pb2
from factorymesh.api.common.v1 import units_pb2 as _units_pb2
from factorymesh.api.common.v1 import value_pb2 as _value_pb2
from factorymesh.api.telemetry.v1 import reading_pb2 as _reading_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ValidationResult(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VALIDATION_RESULT_UNSPECIFIED: _ClassVar[ValidationResult]
    VALIDATION_RESULT_PASSED: _ClassVar[ValidationResult]
    VALIDATION_RESULT_WARNING: _ClassVar[ValidationResult]
    VALIDATION_RESULT_NOT_VALIDATED: _ClassVar[ValidationResult]

class ValidationCheck(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VALIDATION_CHECK_UNSPECIFIED: _ClassVar[ValidationCheck]
    VALIDATION_CHECK_RANGE: _ClassVar[ValidationCheck]
    VALIDATION_CHECK_RATE_OF_CHANGE: _ClassVar[ValidationCheck]
    VALIDATION_CHECK_STALE_TIMESTAMP: _ClassVar[ValidationCheck]
    VALIDATION_CHECK_FUTURE_TIMESTAMP: _ClassVar[ValidationCheck]
    VALIDATION_CHECK_UNIT_MISMATCH: _ClassVar[ValidationCheck]
    VALIDATION_CHECK_DATA_TYPE: _ClassVar[ValidationCheck]
    VALIDATION_CHECK_FLATLINE: _ClassVar[ValidationCheck]
    VALIDATION_CHECK_SAMPLE_RATE: _ClassVar[ValidationCheck]
VALIDATION_RESULT_UNSPECIFIED: ValidationResult
VALIDATION_RESULT_PASSED: ValidationResult
VALIDATION_RESULT_WARNING: ValidationResult
VALIDATION_RESULT_NOT_VALIDATED: ValidationResult
VALIDATION_CHECK_UNSPECIFIED: ValidationCheck
VALIDATION_CHECK_RANGE: ValidationCheck
VALIDATION_CHECK_RATE_OF_CHANGE: ValidationCheck
VALIDATION_CHECK_STALE_TIMESTAMP: ValidationCheck
VALIDATION_CHECK_FUTURE_TIMESTAMP: ValidationCheck
VALIDATION_CHECK_UNIT_MISMATCH: ValidationCheck
VALIDATION_CHECK_DATA_TYPE: ValidationCheck
VALIDATION_CHECK_FLATLINE: ValidationCheck
VALIDATION_CHECK_SAMPLE_RATE: ValidationCheck

class NormalizedReading(_message.Message):
    __slots__ = ("event_id", "equipment", "tag", "double_value", "int_value", "bool_value", "string_value", "unit", "original_value", "original_unit", "quality", "source_time", "received_time", "normalized_time", "validation_result", "validation_findings", "context", "equipment_class", "origin")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    EQUIPMENT_FIELD_NUMBER: _ClassVar[int]
    TAG_FIELD_NUMBER: _ClassVar[int]
    DOUBLE_VALUE_FIELD_NUMBER: _ClassVar[int]
    INT_VALUE_FIELD_NUMBER: _ClassVar[int]
    BOOL_VALUE_FIELD_NUMBER: _ClassVar[int]
    STRING_VALUE_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_VALUE_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_UNIT_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    SOURCE_TIME_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_TIME_FIELD_NUMBER: _ClassVar[int]
    NORMALIZED_TIME_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_RESULT_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_FINDINGS_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    EQUIPMENT_CLASS_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    equipment: _equipment_pb2.EquipmentPath
    tag: str
    double_value: float
    int_value: int
    bool_value: bool
    string_value: str
    unit: _units_pb2.EngineeringUnit
    original_value: _value_pb2.ScalarValue
    original_unit: _units_pb2.EngineeringUnit
    quality: _quality_pb2.DataQuality
    source_time: _timestamp_pb2.Timestamp
    received_time: _timestamp_pb2.Timestamp
    normalized_time: _timestamp_pb2.Timestamp
    validation_result: ValidationResult
    validation_findings: _containers.RepeatedCompositeFieldContainer[ValidationFinding]
    context: _production_context_pb2.ProductionContext
    equipment_class: str
    origin: _reading_pb2.ReadingOrigin
    def __init__(self, event_id: _Optional[str] = ..., equipment: _Optional[_Union[_equipment_pb2.EquipmentPath, _Mapping]] = ..., tag: _Optional[str] = ..., double_value: _Optional[float] = ..., int_value: _Optional[int] = ..., bool_value: bool = ..., string_value: _Optional[str] = ..., unit: _Optional[_Union[_units_pb2.EngineeringUnit, _Mapping]] = ..., original_value: _Optional[_Union[_value_pb2.ScalarValue, _Mapping]] = ..., original_unit: _Optional[_Union[_units_pb2.EngineeringUnit, _Mapping]] = ..., quality: _Optional[_Union[_quality_pb2.DataQuality, str]] = ..., source_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., received_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., normalized_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., validation_result: _Optional[_Union[ValidationResult, str]] = ..., validation_findings: _Optional[_Iterable[_Union[ValidationFinding, _Mapping]]] = ..., context: _Optional[_Union[_production_context_pb2.ProductionContext, _Mapping]] = ..., equipment_class: _Optional[str] = ..., origin: _Optional[_Union[_reading_pb2.ReadingOrigin, _Mapping]] = ...) -> None: ...

class ValidationFinding(_message.Message):
    __slots__ = ("check", "detail")
    CHECK_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    check: ValidationCheck
    detail: str
    def __init__(self, check: _Optional[_Union[ValidationCheck, str]] = ..., detail: _Optional[str] = ...) -> None: ...

class NormalizedReadingBatch(_message.Message):
    __slots__ = ("event_id", "equipment", "tags", "tag_units", "tag_indices", "source_times_unix_nanos", "values", "qualities", "source_batch_id", "source_indices", "reading_ids", "contexts", "context_indices", "equipment_class", "received_time", "normalized_time", "origin")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    EQUIPMENT_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    TAG_UNITS_FIELD_NUMBER: _ClassVar[int]
    TAG_INDICES_FIELD_NUMBER: _ClassVar[int]
    SOURCE_TIMES_UNIX_NANOS_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    QUALITIES_FIELD_NUMBER: _ClassVar[int]
    SOURCE_BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_INDICES_FIELD_NUMBER: _ClassVar[int]
    READING_IDS_FIELD_NUMBER: _ClassVar[int]
    CONTEXTS_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_INDICES_FIELD_NUMBER: _ClassVar[int]
    EQUIPMENT_CLASS_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_TIME_FIELD_NUMBER: _ClassVar[int]
    NORMALIZED_TIME_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    equipment: _equipment_pb2.EquipmentPath
    tags: _containers.RepeatedScalarFieldContainer[str]
    tag_units: _containers.RepeatedCompositeFieldContainer[_units_pb2.EngineeringUnit]
    tag_indices: _containers.RepeatedScalarFieldContainer[int]
    source_times_unix_nanos: _containers.RepeatedScalarFieldContainer[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    qualities: _containers.RepeatedScalarFieldContainer[_quality_pb2.DataQuality]
    source_batch_id: str
    source_indices: _containers.RepeatedScalarFieldContainer[int]
    reading_ids: _containers.RepeatedScalarFieldContainer[str]
    contexts: _containers.RepeatedCompositeFieldContainer[_production_context_pb2.ProductionContext]
    context_indices: _containers.RepeatedScalarFieldContainer[int]
    equipment_class: str
    received_time: _timestamp_pb2.Timestamp
    normalized_time: _timestamp_pb2.Timestamp
    origin: _reading_pb2.ReadingOrigin
    def __init__(self, event_id: _Optional[str] = ..., equipment: _Optional[_Union[_equipment_pb2.EquipmentPath, _Mapping]] = ..., tags: _Optional[_Iterable[str]] = ..., tag_units: _Optional[_Iterable[_Union[_units_pb2.EngineeringUnit, _Mapping]]] = ..., tag_indices: _Optional[_Iterable[int]] = ..., source_times_unix_nanos: _Optional[_Iterable[int]] = ..., values: _Optional[_Iterable[float]] = ..., qualities: _Optional[_Iterable[_Union[_quality_pb2.DataQuality, str]]] = ..., source_batch_id: _Optional[str] = ..., source_indices: _Optional[_Iterable[int]] = ..., reading_ids: _Optional[_Iterable[str]] = ..., contexts: _Optional[_Iterable[_Union[_production_context_pb2.ProductionContext, _Mapping]]] = ..., context_indices: _Optional[_Iterable[int]] = ..., equipment_class: _Optional[str] = ..., received_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., normalized_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., origin: _Optional[_Union[_reading_pb2.ReadingOrigin, _Mapping]] = ...) -> None: ...
