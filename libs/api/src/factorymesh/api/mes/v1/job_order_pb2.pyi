import datetime

from factorymesh.api.common.v1 import equipment_pb2 as _equipment_pb2
from factorymesh.api.common.v1 import options_pb2 as _options_pb2
from factorymesh.api.common.v1 import time_range_pb2 as _time_range_pb2
from factorymesh.api.common.v1 import units_pb2 as _units_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class JobOrderCommand(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_ORDER_COMMAND_UNSPECIFIED: _ClassVar[JobOrderCommand]
    JOB_ORDER_COMMAND_STORE: _ClassVar[JobOrderCommand]
    JOB_ORDER_COMMAND_STORE_AND_START: _ClassVar[JobOrderCommand]
    JOB_ORDER_COMMAND_START: _ClassVar[JobOrderCommand]
    JOB_ORDER_COMMAND_UPDATE: _ClassVar[JobOrderCommand]
    JOB_ORDER_COMMAND_PAUSE: _ClassVar[JobOrderCommand]
    JOB_ORDER_COMMAND_RESUME: _ClassVar[JobOrderCommand]
    JOB_ORDER_COMMAND_STOP: _ClassVar[JobOrderCommand]
    JOB_ORDER_COMMAND_ABORT: _ClassVar[JobOrderCommand]
    JOB_ORDER_COMMAND_CANCEL: _ClassVar[JobOrderCommand]
    JOB_ORDER_COMMAND_REVOKE_START: _ClassVar[JobOrderCommand]
    JOB_ORDER_COMMAND_CLEAR: _ClassVar[JobOrderCommand]

class JobOrderState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_ORDER_STATE_UNSPECIFIED: _ClassVar[JobOrderState]
    JOB_ORDER_STATE_NOT_ALLOWED_TO_START: _ClassVar[JobOrderState]
    JOB_ORDER_STATE_ALLOWED_TO_START: _ClassVar[JobOrderState]
    JOB_ORDER_STATE_RUNNING: _ClassVar[JobOrderState]
    JOB_ORDER_STATE_INTERRUPTED: _ClassVar[JobOrderState]
    JOB_ORDER_STATE_ENDED: _ClassVar[JobOrderState]
    JOB_ORDER_STATE_ABORTED: _ClassVar[JobOrderState]
    JOB_ORDER_STATE_CANCELLED: _ClassVar[JobOrderState]
    JOB_ORDER_STATE_CLEARED: _ClassVar[JobOrderState]
JOB_ORDER_COMMAND_UNSPECIFIED: JobOrderCommand
JOB_ORDER_COMMAND_STORE: JobOrderCommand
JOB_ORDER_COMMAND_STORE_AND_START: JobOrderCommand
JOB_ORDER_COMMAND_START: JobOrderCommand
JOB_ORDER_COMMAND_UPDATE: JobOrderCommand
JOB_ORDER_COMMAND_PAUSE: JobOrderCommand
JOB_ORDER_COMMAND_RESUME: JobOrderCommand
JOB_ORDER_COMMAND_STOP: JobOrderCommand
JOB_ORDER_COMMAND_ABORT: JobOrderCommand
JOB_ORDER_COMMAND_CANCEL: JobOrderCommand
JOB_ORDER_COMMAND_REVOKE_START: JobOrderCommand
JOB_ORDER_COMMAND_CLEAR: JobOrderCommand
JOB_ORDER_STATE_UNSPECIFIED: JobOrderState
JOB_ORDER_STATE_NOT_ALLOWED_TO_START: JobOrderState
JOB_ORDER_STATE_ALLOWED_TO_START: JobOrderState
JOB_ORDER_STATE_RUNNING: JobOrderState
JOB_ORDER_STATE_INTERRUPTED: JobOrderState
JOB_ORDER_STATE_ENDED: JobOrderState
JOB_ORDER_STATE_ABORTED: JobOrderState
JOB_ORDER_STATE_CANCELLED: JobOrderState
JOB_ORDER_STATE_CLEARED: JobOrderState

class JobOrder(_message.Message):
    __slots__ = ("job_order_id", "work_master_id", "product_id", "material_lot_id", "equipment", "planned_quantity", "quantity_unit", "planned_time", "priority", "parameters")
    class ParametersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    JOB_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    WORK_MASTER_ID_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    MATERIAL_LOT_ID_FIELD_NUMBER: _ClassVar[int]
    EQUIPMENT_FIELD_NUMBER: _ClassVar[int]
    PLANNED_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_UNIT_FIELD_NUMBER: _ClassVar[int]
    PLANNED_TIME_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    job_order_id: str
    work_master_id: str
    product_id: str
    material_lot_id: str
    equipment: _equipment_pb2.EquipmentPath
    planned_quantity: float
    quantity_unit: _units_pb2.EngineeringUnit
    planned_time: _time_range_pb2.TimeRange
    priority: int
    parameters: _containers.ScalarMap[str, str]
    def __init__(self, job_order_id: _Optional[str] = ..., work_master_id: _Optional[str] = ..., product_id: _Optional[str] = ..., material_lot_id: _Optional[str] = ..., equipment: _Optional[_Union[_equipment_pb2.EquipmentPath, _Mapping]] = ..., planned_quantity: _Optional[float] = ..., quantity_unit: _Optional[_Union[_units_pb2.EngineeringUnit, _Mapping]] = ..., planned_time: _Optional[_Union[_time_range_pb2.TimeRange, _Mapping]] = ..., priority: _Optional[int] = ..., parameters: _Optional[_Mapping[str, str]] = ...) -> None: ...

class JobOrderEvent(_message.Message):
    __slots__ = ("event_id", "command", "job_order", "previous_state", "state", "occurred_time", "reported_by", "actual_quantity")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    JOB_ORDER_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_STATE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_TIME_FIELD_NUMBER: _ClassVar[int]
    REPORTED_BY_FIELD_NUMBER: _ClassVar[int]
    ACTUAL_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    command: JobOrderCommand
    job_order: JobOrder
    previous_state: JobOrderState
    state: JobOrderState
    occurred_time: _timestamp_pb2.Timestamp
    reported_by: str
    actual_quantity: float
    def __init__(self, event_id: _Optional[str] = ..., command: _Optional[_Union[JobOrderCommand, str]] = ..., job_order: _Optional[_Union[JobOrder, _Mapping]] = ..., previous_state: _Optional[_Union[JobOrderState, str]] = ..., state: _Optional[_Union[JobOrderState, str]] = ..., occurred_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reported_by: _Optional[str] = ..., actual_quantity: _Optional[float] = ...) -> None: ...
