import datetime

from factorymesh.api.common.v1 import equipment_pb2 as _equipment_pb2
from factorymesh.api.common.v1 import options_pb2 as _options_pb2
from factorymesh.api.common.v1 import value_pb2 as _value_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CommandKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMMAND_KIND_UNSPECIFIED: _ClassVar[CommandKind]
    COMMAND_KIND_WORK_REQUEST: _ClassVar[CommandKind]
    COMMAND_KIND_WORK_ALERT: _ClassVar[CommandKind]
    COMMAND_KIND_HOLD_BATCH: _ClassVar[CommandKind]
    COMMAND_KIND_RELEASE_BATCH: _ClassVar[CommandKind]
    COMMAND_KIND_SETPOINT_CHANGE: _ClassVar[CommandKind]
    COMMAND_KIND_STOP_EQUIPMENT: _ClassVar[CommandKind]
    COMMAND_KIND_INSPECTION_REQUEST: _ClassVar[CommandKind]
    COMMAND_KIND_PAUSE_JOB_ORDER: _ClassVar[CommandKind]

class CommandPriority(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMMAND_PRIORITY_UNSPECIFIED: _ClassVar[CommandPriority]
    COMMAND_PRIORITY_LOW: _ClassVar[CommandPriority]
    COMMAND_PRIORITY_NORMAL: _ClassVar[CommandPriority]
    COMMAND_PRIORITY_HIGH: _ClassVar[CommandPriority]
    COMMAND_PRIORITY_CRITICAL: _ClassVar[CommandPriority]

class ApprovalState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    APPROVAL_STATE_UNSPECIFIED: _ClassVar[ApprovalState]
    APPROVAL_STATE_NOT_REQUIRED: _ClassVar[ApprovalState]
    APPROVAL_STATE_PENDING: _ClassVar[ApprovalState]
    APPROVAL_STATE_APPROVED: _ClassVar[ApprovalState]
    APPROVAL_STATE_REJECTED: _ClassVar[ApprovalState]
    APPROVAL_STATE_EXPIRED: _ClassVar[ApprovalState]

class DeliveryState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DELIVERY_STATE_UNSPECIFIED: _ClassVar[DeliveryState]
    DELIVERY_STATE_PENDING: _ClassVar[DeliveryState]
    DELIVERY_STATE_DELIVERED: _ClassVar[DeliveryState]
    DELIVERY_STATE_ACCEPTED: _ClassVar[DeliveryState]
    DELIVERY_STATE_COMPLETED: _ClassVar[DeliveryState]
    DELIVERY_STATE_REJECTED: _ClassVar[DeliveryState]
    DELIVERY_STATE_FAILED: _ClassVar[DeliveryState]
    DELIVERY_STATE_CANCELLED: _ClassVar[DeliveryState]
    DELIVERY_STATE_EXPIRED: _ClassVar[DeliveryState]
COMMAND_KIND_UNSPECIFIED: CommandKind
COMMAND_KIND_WORK_REQUEST: CommandKind
COMMAND_KIND_WORK_ALERT: CommandKind
COMMAND_KIND_HOLD_BATCH: CommandKind
COMMAND_KIND_RELEASE_BATCH: CommandKind
COMMAND_KIND_SETPOINT_CHANGE: CommandKind
COMMAND_KIND_STOP_EQUIPMENT: CommandKind
COMMAND_KIND_INSPECTION_REQUEST: CommandKind
COMMAND_KIND_PAUSE_JOB_ORDER: CommandKind
COMMAND_PRIORITY_UNSPECIFIED: CommandPriority
COMMAND_PRIORITY_LOW: CommandPriority
COMMAND_PRIORITY_NORMAL: CommandPriority
COMMAND_PRIORITY_HIGH: CommandPriority
COMMAND_PRIORITY_CRITICAL: CommandPriority
APPROVAL_STATE_UNSPECIFIED: ApprovalState
APPROVAL_STATE_NOT_REQUIRED: ApprovalState
APPROVAL_STATE_PENDING: ApprovalState
APPROVAL_STATE_APPROVED: ApprovalState
APPROVAL_STATE_REJECTED: ApprovalState
APPROVAL_STATE_EXPIRED: ApprovalState
DELIVERY_STATE_UNSPECIFIED: DeliveryState
DELIVERY_STATE_PENDING: DeliveryState
DELIVERY_STATE_DELIVERED: DeliveryState
DELIVERY_STATE_ACCEPTED: DeliveryState
DELIVERY_STATE_COMPLETED: DeliveryState
DELIVERY_STATE_REJECTED: DeliveryState
DELIVERY_STATE_FAILED: DeliveryState
DELIVERY_STATE_CANCELLED: DeliveryState
DELIVERY_STATE_EXPIRED: DeliveryState

class MachineCommand(_message.Message):
    __slots__ = ("event_id", "command_id", "revision", "target", "kind", "parameters", "priority", "requested_by_agent_id", "decision_event_id", "approval_state", "delivery_state", "reason", "create_time", "expires_at", "approver", "approval_comment", "target_system", "acknowledged_by", "ack_detail", "update_time")
    class ParametersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _value_pb2.ScalarValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_value_pb2.ScalarValue, _Mapping]] = ...) -> None: ...
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_BY_AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    DECISION_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_STATE_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    APPROVER_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_COMMENT_FIELD_NUMBER: _ClassVar[int]
    TARGET_SYSTEM_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGED_BY_FIELD_NUMBER: _ClassVar[int]
    ACK_DETAIL_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    command_id: str
    revision: int
    target: _equipment_pb2.EquipmentPath
    kind: CommandKind
    parameters: _containers.MessageMap[str, _value_pb2.ScalarValue]
    priority: CommandPriority
    requested_by_agent_id: str
    decision_event_id: str
    approval_state: ApprovalState
    delivery_state: DeliveryState
    reason: str
    create_time: _timestamp_pb2.Timestamp
    expires_at: _timestamp_pb2.Timestamp
    approver: str
    approval_comment: str
    target_system: str
    acknowledged_by: str
    ack_detail: str
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, event_id: _Optional[str] = ..., command_id: _Optional[str] = ..., revision: _Optional[int] = ..., target: _Optional[_Union[_equipment_pb2.EquipmentPath, _Mapping]] = ..., kind: _Optional[_Union[CommandKind, str]] = ..., parameters: _Optional[_Mapping[str, _value_pb2.ScalarValue]] = ..., priority: _Optional[_Union[CommandPriority, str]] = ..., requested_by_agent_id: _Optional[str] = ..., decision_event_id: _Optional[str] = ..., approval_state: _Optional[_Union[ApprovalState, str]] = ..., delivery_state: _Optional[_Union[DeliveryState, str]] = ..., reason: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., approver: _Optional[str] = ..., approval_comment: _Optional[str] = ..., target_system: _Optional[str] = ..., acknowledged_by: _Optional[str] = ..., ack_detail: _Optional[str] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
