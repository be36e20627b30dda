import datetime

from factorymesh.api.common.v1 import equipment_pb2 as _equipment_pb2
from factorymesh.api.common.v1 import options_pb2 as _options_pb2
from factorymesh.api.common.v1 import time_range_pb2 as _time_range_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Shift(_message.Message):
    __slots__ = ("shift_id", "scope", "name", "planned_time", "crew_id")
    SHIFT_ID_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PLANNED_TIME_FIELD_NUMBER: _ClassVar[int]
    CREW_ID_FIELD_NUMBER: _ClassVar[int]
    shift_id: str
    scope: _equipment_pb2.EquipmentPath
    name: str
    planned_time: _time_range_pb2.TimeRange
    crew_id: str
    def __init__(self, shift_id: _Optional[str] = ..., scope: _Optional[_Union[_equipment_pb2.EquipmentPath, _Mapping]] = ..., name: _Optional[str] = ..., planned_time: _Optional[_Union[_time_range_pb2.TimeRange, _Mapping]] = ..., crew_id: _Optional[str] = ...) -> None: ...

class ShiftEvent(_message.Message):
    __slots__ = ("event_id", "shift", "effective_time", "set_by")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    SHIFT_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_TIME_FIELD_NUMBER: _ClassVar[int]
    SET_BY_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    shift: Shift
    effective_time: _timestamp_pb2.Timestamp
    set_by: str
    def __init__(self, event_id: _Optional[str] = ..., shift: _Optional[_Union[Shift, _Mapping]] = ..., effective_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., set_by: _Optional[str] = ...) -> None: ...
