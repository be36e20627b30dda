import datetime

from factorymesh.api.common.v1 import equipment_pb2 as _equipment_pb2
from factorymesh.api.common.v1 import options_pb2 as _options_pb2
from factorymesh.api.common.v1 import quality_pb2 as _quality_pb2
from factorymesh.api.common.v1 import units_pb2 as _units_pb2
from factorymesh.api.telemetry.v1 import reading_pb2 as _reading_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SensorReadingBatch(_message.Message):
    __slots__ = ("event_id", "equipment", "tags", "tag_units", "tag_indices", "source_times_unix_nanos", "values", "qualities", "received_time", "origin")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    EQUIPMENT_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    TAG_UNITS_FIELD_NUMBER: _ClassVar[int]
    TAG_INDICES_FIELD_NUMBER: _ClassVar[int]
    SOURCE_TIMES_UNIX_NANOS_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    QUALITIES_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_TIME_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    equipment: _equipment_pb2.EquipmentPath
    tags: _containers.RepeatedScalarFieldContainer[str]
    tag_units: _containers.RepeatedCompositeFieldContainer[_units_pb2.EngineeringUnit]
    tag_indices: _containers.RepeatedScalarFieldContainer[int]
    source_times_unix_nanos: _containers.RepeatedScalarFieldContainer[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    qualities: _containers.RepeatedScalarFieldContainer[_quality_pb2.DataQuality]
    received_time: _timestamp_pb2.Timestamp
    origin: _reading_pb2.ReadingOrigin
    def __init__(self, event_id: _Optional[str] = ..., equipment: _Optional[_Union[_equipment_pb2.EquipmentPath, _Mapping]] = ..., tags: _Optional[_Iterable[str]] = ..., tag_units: _Optional[_Iterable[_Union[_units_pb2.EngineeringUnit, _Mapping]]] = ..., tag_indices: _Optional[_Iterable[int]] = ..., source_times_unix_nanos: _Optional[_Iterable[int]] = ..., values: _Optional[_Iterable[float]] = ..., qualities: _Optional[_Iterable[_Union[_quality_pb2.DataQuality, str]]] = ..., received_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., origin: _Optional[_Union[_reading_pb2.ReadingOrigin, _Mapping]] = ...) -> None: ...
