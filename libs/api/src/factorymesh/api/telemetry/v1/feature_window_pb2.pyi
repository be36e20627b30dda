import datetime

from factorymesh.api.common.v1 import equipment_pb2 as _equipment_pb2
from factorymesh.api.common.v1 import options_pb2 as _options_pb2
from factorymesh.api.common.v1 import production_context_pb2 as _production_context_pb2
from factorymesh.api.common.v1 import time_range_pb2 as _time_range_pb2
from factorymesh.api.common.v1 import units_pb2 as _units_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class WindowKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WINDOW_KIND_UNSPECIFIED: _ClassVar[WindowKind]
    WINDOW_KIND_TUMBLING: _ClassVar[WindowKind]
    WINDOW_KIND_HOPPING: _ClassVar[WindowKind]
WINDOW_KIND_UNSPECIFIED: WindowKind
WINDOW_KIND_TUMBLING: WindowKind
WINDOW_KIND_HOPPING: WindowKind

class FeatureWindow(_message.Message):
    __slots__ = ("event_id", "equipment", "tag", "equipment_class", "window_kind", "window", "window_size", "hop", "count", "mean", "std", "min", "max", "rms", "peak_to_peak", "kurtosis", "slope", "valid_fraction", "unit", "skewness", "crest_factor", "feature_set_version", "context", "computed_time")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    EQUIPMENT_FIELD_NUMBER: _ClassVar[int]
    TAG_FIELD_NUMBER: _ClassVar[int]
    EQUIPMENT_CLASS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_KIND_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    WINDOW_SIZE_FIELD_NUMBER: _ClassVar[int]
    HOP_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    MEAN_FIELD_NUMBER: _ClassVar[int]
    STD_FIELD_NUMBER: _ClassVar[int]
    MIN_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    RMS_FIELD_NUMBER: _ClassVar[int]
    PEAK_TO_PEAK_FIELD_NUMBER: _ClassVar[int]
    KURTOSIS_FIELD_NUMBER: _ClassVar[int]
    SLOPE_FIELD_NUMBER: _ClassVar[int]
    VALID_FRACTION_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    SKEWNESS_FIELD_NUMBER: _ClassVar[int]
    CREST_FACTOR_FIELD_NUMBER: _ClassVar[int]
    FEATURE_SET_VERSION_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    COMPUTED_TIME_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    equipment: _equipment_pb2.EquipmentPath
    tag: str
    equipment_class: str
    window_kind: WindowKind
    window: _time_range_pb2.TimeRange
    window_size: _duration_pb2.Duration
    hop: _duration_pb2.Duration
    count: int
    mean: float
    std: float
    min: float
    max: float
    rms: float
    peak_to_peak: float
    kurtosis: float
    slope: float
    valid_fraction: float
    unit: _units_pb2.EngineeringUnit
    skewness: float
    crest_factor: float
    feature_set_version: str
    context: _production_context_pb2.ProductionContext
    computed_time: _timestamp_pb2.Timestamp
    def __init__(self, event_id: _Optional[str] = ..., equipment: _Optional[_Union[_equipment_pb2.EquipmentPath, _Mapping]] = ..., tag: _Optional[str] = ..., equipment_class: _Optional[str] = ..., window_kind: _Optional[_Union[WindowKind, str]] = ..., window: _Optional[_Union[_time_range_pb2.TimeRange, _Mapping]] = ..., window_size: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., hop: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., count: _Optional[int] = ..., mean: _Optional[float] = ..., std: _Optional[float] = ..., min: _Optional[float] = ..., max: _Optional[float] = ..., rms: _Optional[float] = ..., peak_to_peak: _Optional[float] = ..., kurtosis: _Optional[float] = ..., slope: _Optional[float] = ..., valid_fraction: _Optional[float] = ..., unit: _Optional[_Union[_units_pb2.EngineeringUnit, _Mapping]] = ..., skewness: _Optional[float] = ..., crest_factor: _Optional[float] = ..., feature_set_version: _Optional[str] = ..., context: _Optional[_Union[_production_context_pb2.ProductionContext, _Mapping]] = ..., computed_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
