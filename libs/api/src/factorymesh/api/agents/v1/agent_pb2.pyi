import datetime

from factorymesh.api.agents.v1 import machine_command_pb2 as _machine_command_pb2
from factorymesh.api.common.v1 import equipment_pb2 as _equipment_pb2
from factorymesh.api.common.v1 import value_pb2 as _value_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AgentState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AGENT_STATE_UNSPECIFIED: _ClassVar[AgentState]
    AGENT_STATE_DEPLOYING: _ClassVar[AgentState]
    AGENT_STATE_RUNNING: _ClassVar[AgentState]
    AGENT_STATE_PAUSED: _ClassVar[AgentState]
    AGENT_STATE_RETIRED: _ClassVar[AgentState]
    AGENT_STATE_FAILED: _ClassVar[AgentState]

class AutonomyLevel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AUTONOMY_LEVEL_UNSPECIFIED: _ClassVar[AutonomyLevel]
    AUTONOMY_LEVEL_OBSERVE: _ClassVar[AutonomyLevel]
    AUTONOMY_LEVEL_RECOMMEND: _ClassVar[AutonomyLevel]
    AUTONOMY_LEVEL_ACT_WITH_APPROVAL: _ClassVar[AutonomyLevel]
    AUTONOMY_LEVEL_ACT: _ClassVar[AutonomyLevel]

class KillSwitchScope(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    KILL_SWITCH_SCOPE_UNSPECIFIED: _ClassVar[KillSwitchScope]
    KILL_SWITCH_SCOPE_GLOBAL: _ClassVar[KillSwitchScope]
    KILL_SWITCH_SCOPE_EQUIPMENT: _ClassVar[KillSwitchScope]
    KILL_SWITCH_SCOPE_AGENT: _ClassVar[KillSwitchScope]
AGENT_STATE_UNSPECIFIED: AgentState
AGENT_STATE_DEPLOYING: AgentState
AGENT_STATE_RUNNING: AgentState
AGENT_STATE_PAUSED: AgentState
AGENT_STATE_RETIRED: AgentState
AGENT_STATE_FAILED: AgentState
AUTONOMY_LEVEL_UNSPECIFIED: AutonomyLevel
AUTONOMY_LEVEL_OBSERVE: AutonomyLevel
AUTONOMY_LEVEL_RECOMMEND: AutonomyLevel
AUTONOMY_LEVEL_ACT_WITH_APPROVAL: AutonomyLevel
AUTONOMY_LEVEL_ACT: AutonomyLevel
KILL_SWITCH_SCOPE_UNSPECIFIED: KillSwitchScope
KILL_SWITCH_SCOPE_GLOBAL: KillSwitchScope
KILL_SWITCH_SCOPE_EQUIPMENT: KillSwitchScope
KILL_SWITCH_SCOPE_AGENT: KillSwitchScope

class Agent(_message.Message):
    __slots__ = ("agent_id", "spec", "state", "state_reason", "revision", "create_time", "update_time", "last_decision_time", "kill_switch_engaged")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STATE_REASON_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_DECISION_TIME_FIELD_NUMBER: _ClassVar[int]
    KILL_SWITCH_ENGAGED_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    spec: AgentSpec
    state: AgentState
    state_reason: str
    revision: int
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    last_decision_time: _timestamp_pb2.Timestamp
    kill_switch_engaged: bool
    def __init__(self, agent_id: _Optional[str] = ..., spec: _Optional[_Union[AgentSpec, _Mapping]] = ..., state: _Optional[_Union[AgentState, str]] = ..., state_reason: _Optional[str] = ..., revision: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_decision_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., kill_switch_engaged: bool = ...) -> None: ...

class AgentSpec(_message.Message):
    __slots__ = ("display_name", "template_name", "template_version", "scope", "autonomy_level", "parameters", "owner", "max_commands_per_hour", "allowed_command_kinds")
    class ParametersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _value_pb2.ScalarValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_value_pb2.ScalarValue, _Mapping]] = ...) -> None: ...
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_NAME_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_VERSION_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    AUTONOMY_LEVEL_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    MAX_COMMANDS_PER_HOUR_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_COMMAND_KINDS_FIELD_NUMBER: _ClassVar[int]
    display_name: str
    template_name: str
    template_version: str
    scope: _equipment_pb2.EquipmentPath
    autonomy_level: AutonomyLevel
    parameters: _containers.MessageMap[str, _value_pb2.ScalarValue]
    owner: str
    max_commands_per_hour: int
    allowed_command_kinds: _containers.RepeatedScalarFieldContainer[_machine_command_pb2.CommandKind]
    def __init__(self, display_name: _Optional[str] = ..., template_name: _Optional[str] = ..., template_version: _Optional[str] = ..., scope: _Optional[_Union[_equipment_pb2.EquipmentPath, _Mapping]] = ..., autonomy_level: _Optional[_Union[AutonomyLevel, str]] = ..., parameters: _Optional[_Mapping[str, _value_pb2.ScalarValue]] = ..., owner: _Optional[str] = ..., max_commands_per_hour: _Optional[int] = ..., allowed_command_kinds: _Optional[_Iterable[_Union[_machine_command_pb2.CommandKind, str]]] = ...) -> None: ...

class KillSwitch(_message.Message):
    __slots__ = ("scope", "equipment_prefix", "agent_id", "engaged", "reason", "set_by", "update_time")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    EQUIPMENT_PREFIX_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    ENGAGED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SET_BY_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    scope: KillSwitchScope
    equipment_prefix: _equipment_pb2.EquipmentPath
    agent_id: str
    engaged: bool
    reason: str
    set_by: str
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, scope: _Optional[_Union[KillSwitchScope, str]] = ..., equipment_prefix: _Optional[_Union[_equipment_pb2.EquipmentPath, _Mapping]] = ..., agent_id: _Optional[str] = ..., engaged: bool = ..., reason: _Optional[str] = ..., set_by: _Optional[str] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
