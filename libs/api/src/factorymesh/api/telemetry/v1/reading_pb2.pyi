import datetime

from factorymesh.api.common.v1 import equipment_pb2 as _equipment_pb2
from factorymesh.api.common.v1 import options_pb2 as _options_pb2
from factorymesh.api.common.v1 import quality_pb2 as _quality_pb2
from factorymesh.api.common.v1 import units_pb2 as _units_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SourceProtocol(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SOURCE_PROTOCOL_UNSPECIFIED: _ClassVar[SourceProtocol]
    SOURCE_PROTOCOL_FACTORYMESH_PROTOBUF: _ClassVar[SourceProtocol]
    SOURCE_PROTOCOL_UMH_JSON: _ClassVar[SourceProtocol]
    SOURCE_PROTOCOL_SPARKPLUG_B: _ClassVar[SourceProtocol]
    SOURCE_PROTOCOL_OPC_UA: _ClassVar[SourceProtocol]
    SOURCE_PROTOCOL_GRPC: _ClassVar[SourceProtocol]
    SOURCE_PROTOCOL_MQTT_JSON: _ClassVar[SourceProtocol]
    SOURCE_PROTOCOL_MODBUS: _ClassVar[SourceProtocol]
    SOURCE_PROTOCOL_SIMULATOR: _ClassVar[SourceProtocol]
SOURCE_PROTOCOL_UNSPECIFIED: SourceProtocol
SOURCE_PROTOCOL_FACTORYMESH_PROTOBUF: SourceProtocol
SOURCE_PROTOCOL_UMH_JSON: SourceProtocol
SOURCE_PROTOCOL_SPARKPLUG_B: SourceProtocol
SOURCE_PROTOCOL_OPC_UA: SourceProtocol
SOURCE_PROTOCOL_GRPC: SourceProtocol
SOURCE_PROTOCOL_MQTT_JSON: SourceProtocol
SOURCE_PROTOCOL_MODBUS: SourceProtocol
SOURCE_PROTOCOL_SIMULATOR: SourceProtocol

class SensorReading(_message.Message):
    __slots__ = ("event_id", "equipment", "tag", "double_value", "int_value", "bool_value", "string_value", "unit", "quality", "source_time", "received_time", "origin")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    EQUIPMENT_FIELD_NUMBER: _ClassVar[int]
    TAG_FIELD_NUMBER: _ClassVar[int]
    DOUBLE_VALUE_FIELD_NUMBER: _ClassVar[int]
    INT_VALUE_FIELD_NUMBER: _ClassVar[int]
    BOOL_VALUE_FIELD_NUMBER: _ClassVar[int]
    STRING_VALUE_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    SOURCE_TIME_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_TIME_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    equipment: _equipment_pb2.EquipmentPath
    tag: str
    double_value: float
    int_value: int
    bool_value: bool
    string_value: str
    unit: _units_pb2.EngineeringUnit
    quality: _quality_pb2.DataQuality
    source_time: _timestamp_pb2.Timestamp
    received_time: _timestamp_pb2.Timestamp
    origin: ReadingOrigin
    def __init__(self, event_id: _Optional[str] = ..., equipment: _Optional[_Union[_equipment_pb2.EquipmentPath, _Mapping]] = ..., tag: _Optional[str] = ..., double_value: _Optional[float] = ..., int_value: _Optional[int] = ..., bool_value: bool = ..., string_value: _Optional[str] = ..., unit: _Optional[_Union[_units_pb2.EngineeringUnit, _Mapping]] = ..., quality: _Optional[_Union[_quality_pb2.DataQuality, str]] = ..., source_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., received_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., origin: _Optional[_Union[ReadingOrigin, _Mapping]] = ...) -> None: ...

class ReadingOrigin(_message.Message):
    __slots__ = ("protocol", "source_id", "source_topic", "source_tag", "source_sequence", "attributes")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    SOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_TOPIC_FIELD_NUMBER: _ClassVar[int]
    SOURCE_TAG_FIELD_NUMBER: _ClassVar[int]
    SOURCE_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    protocol: SourceProtocol
    source_id: str
    source_topic: str
    source_tag: str
    source_sequence: int
    attributes: _containers.ScalarMap[str, str]
    def __init__(self, protocol: _Optional[_Union[SourceProtocol, str]] = ..., source_id: _Optional[str] = ..., source_topic: _Optional[str] = ..., source_tag: _Optional[str] = ..., source_sequence: _Optional[int] = ..., attributes: _Optional[_Mapping[str, str]] = ...) -> None: ...
