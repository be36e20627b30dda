import datetime

from factorymesh.api.common.v1 import equipment_pb2 as _equipment_pb2
from factorymesh.api.common.v1 import options_pb2 as _options_pb2
from factorymesh.api.common.v1 import units_pb2 as _units_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TagDataType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TAG_DATA_TYPE_UNSPECIFIED: _ClassVar[TagDataType]
    TAG_DATA_TYPE_DOUBLE: _ClassVar[TagDataType]
    TAG_DATA_TYPE_INT64: _ClassVar[TagDataType]
    TAG_DATA_TYPE_BOOL: _ClassVar[TagDataType]
    TAG_DATA_TYPE_STRING: _ClassVar[TagDataType]

class TagChangeKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TAG_CHANGE_KIND_UNSPECIFIED: _ClassVar[TagChangeKind]
    TAG_CHANGE_KIND_UPSERTED: _ClassVar[TagChangeKind]
    TAG_CHANGE_KIND_DELETED: _ClassVar[TagChangeKind]
TAG_DATA_TYPE_UNSPECIFIED: TagDataType
TAG_DATA_TYPE_DOUBLE: TagDataType
TAG_DATA_TYPE_INT64: TagDataType
TAG_DATA_TYPE_BOOL: TagDataType
TAG_DATA_TYPE_STRING: TagDataType
TAG_CHANGE_KIND_UNSPECIFIED: TagChangeKind
TAG_CHANGE_KIND_UPSERTED: TagChangeKind
TAG_CHANGE_KIND_DELETED: TagChangeKind

class TagDefinition(_message.Message):
    __slots__ = ("equipment", "tag", "description", "data_type", "unit", "valid_range", "expected_range", "nominal_sample_rate_hz", "equipment_class", "source_mappings", "revision", "update_time")
    class SourceMappingsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    EQUIPMENT_FIELD_NUMBER: _ClassVar[int]
    TAG_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    DATA_TYPE_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    VALID_RANGE_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_RANGE_FIELD_NUMBER: _ClassVar[int]
    NOMINAL_SAMPLE_RATE_HZ_FIELD_NUMBER: _ClassVar[int]
    EQUIPMENT_CLASS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_MAPPINGS_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    equipment: _equipment_pb2.EquipmentPath
    tag: str
    description: str
    data_type: TagDataType
    unit: _units_pb2.EngineeringUnit
    valid_range: ValueRange
    expected_range: ValueRange
    nominal_sample_rate_hz: float
    equipment_class: str
    source_mappings: _containers.ScalarMap[str, str]
    revision: int
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, equipment: _Optional[_Union[_equipment_pb2.EquipmentPath, _Mapping]] = ..., tag: _Optional[str] = ..., description: _Optional[str] = ..., data_type: _Optional[_Union[TagDataType, str]] = ..., unit: _Optional[_Union[_units_pb2.EngineeringUnit, _Mapping]] = ..., valid_range: _Optional[_Union[ValueRange, _Mapping]] = ..., expected_range: _Optional[_Union[ValueRange, _Mapping]] = ..., nominal_sample_rate_hz: _Optional[float] = ..., equipment_class: _Optional[str] = ..., source_mappings: _Optional[_Mapping[str, str]] = ..., revision: _Optional[int] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ValueRange(_message.Message):
    __slots__ = ("min", "max")
    MIN_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    min: float
    max: float
    def __init__(self, min: _Optional[float] = ..., max: _Optional[float] = ...) -> None: ...

class TagRegistryEvent(_message.Message):
    __slots__ = ("event_id", "change_kind", "tag", "changed_by", "change_time")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    CHANGE_KIND_FIELD_NUMBER: _ClassVar[int]
    TAG_FIELD_NUMBER: _ClassVar[int]
    CHANGED_BY_FIELD_NUMBER: _ClassVar[int]
    CHANGE_TIME_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    change_kind: TagChangeKind
    tag: TagDefinition
    changed_by: str
    change_time: _timestamp_pb2.Timestamp
    def __init__(self, event_id: _Optional[str] = ..., change_kind: _Optional[_Union[TagChangeKind, str]] = ..., tag: _Optional[_Union[TagDefinition, _Mapping]] = ..., changed_by: _Optional[str] = ..., change_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
