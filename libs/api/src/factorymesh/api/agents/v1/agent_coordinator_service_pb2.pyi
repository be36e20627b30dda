from factorymesh.api.agents.v1 import agent_pb2 as _agent_pb2
from factorymesh.api.agents.v1 import machine_command_pb2 as _machine_command_pb2
from factorymesh.api.common.v1 import equipment_pb2 as _equipment_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DeployAgentRequest(_message.Message):
    __slots__ = ("agent_id", "spec", "validate_only")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    spec: _agent_pb2.AgentSpec
    validate_only: bool
    def __init__(self, agent_id: _Optional[str] = ..., spec: _Optional[_Union[_agent_pb2.AgentSpec, _Mapping]] = ..., validate_only: bool = ...) -> None: ...

class DeployAgentResponse(_message.Message):
    __slots__ = ("agent",)
    AGENT_FIELD_NUMBER: _ClassVar[int]
    agent: _agent_pb2.Agent
    def __init__(self, agent: _Optional[_Union[_agent_pb2.Agent, _Mapping]] = ...) -> None: ...

class GetAgentRequest(_message.Message):
    __slots__ = ("agent_id",)
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    def __init__(self, agent_id: _Optional[str] = ...) -> None: ...

class GetAgentResponse(_message.Message):
    __slots__ = ("agent",)
    AGENT_FIELD_NUMBER: _ClassVar[int]
    agent: _agent_pb2.Agent
    def __init__(self, agent: _Optional[_Union[_agent_pb2.Agent, _Mapping]] = ...) -> None: ...

class ListAgentsRequest(_message.Message):
    __slots__ = ("template_name", "state", "scope_prefix", "page_size", "page_token")
    TEMPLATE_NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    SCOPE_PREFIX_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    template_name: str
    state: _agent_pb2.AgentState
    scope_prefix: _equipment_pb2.EquipmentPath
    page_size: int
    page_token: str
    def __init__(self, template_name: _Optional[str] = ..., state: _Optional[_Union[_agent_pb2.AgentState, str]] = ..., scope_prefix: _Optional[_Union[_equipment_pb2.EquipmentPath, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListAgentsResponse(_message.Message):
    __slots__ = ("agents", "next_page_token")
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    agents: _containers.RepeatedCompositeFieldContainer[_agent_pb2.Agent]
    next_page_token: str
    def __init__(self, agents: _Optional[_Iterable[_Union[_agent_pb2.Agent, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class PauseAgentRequest(_message.Message):
    __slots__ = ("agent_id", "reason")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    reason: str
    def __init__(self, agent_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class PauseAgentResponse(_message.Message):
    __slots__ = ("agent",)
    AGENT_FIELD_NUMBER: _ClassVar[int]
    agent: _agent_pb2.Agent
    def __init__(self, agent: _Optional[_Union[_agent_pb2.Agent, _Mapping]] = ...) -> None: ...

class ResumeAgentRequest(_message.Message):
    __slots__ = ("agent_id",)
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    def __init__(self, agent_id: _Optional[str] = ...) -> None: ...

class ResumeAgentResponse(_message.Message):
    __slots__ = ("agent",)
    AGENT_FIELD_NUMBER: _ClassVar[int]
    agent: _agent_pb2.Agent
    def __init__(self, agent: _Optional[_Union[_agent_pb2.Agent, _Mapping]] = ...) -> None: ...

class RetireAgentRequest(_message.Message):
    __slots__ = ("agent_id", "reason")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    reason: str
    def __init__(self, agent_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class RetireAgentResponse(_message.Message):
    __slots__ = ("agent",)
    AGENT_FIELD_NUMBER: _ClassVar[int]
    agent: _agent_pb2.Agent
    def __init__(self, agent: _Optional[_Union[_agent_pb2.Agent, _Mapping]] = ...) -> None: ...

class SetKillSwitchRequest(_message.Message):
    __slots__ = ("kill_switch",)
    KILL_SWITCH_FIELD_NUMBER: _ClassVar[int]
    kill_switch: _agent_pb2.KillSwitch
    def __init__(self, kill_switch: _Optional[_Union[_agent_pb2.KillSwitch, _Mapping]] = ...) -> None: ...

class SetKillSwitchResponse(_message.Message):
    __slots__ = ("kill_switch", "affected_agent_ids", "cancelled_command_count")
    KILL_SWITCH_FIELD_NUMBER: _ClassVar[int]
    AFFECTED_AGENT_IDS_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_COMMAND_COUNT_FIELD_NUMBER: _ClassVar[int]
    kill_switch: _agent_pb2.KillSwitch
    affected_agent_ids: _containers.RepeatedScalarFieldContainer[str]
    cancelled_command_count: int
    def __init__(self, kill_switch: _Optional[_Union[_agent_pb2.KillSwitch, _Mapping]] = ..., affected_agent_ids: _Optional[_Iterable[str]] = ..., cancelled_command_count: _Optional[int] = ...) -> None: ...

class WatchCommandsRequest(_message.Message):
    __slots__ = ("target_system", "equipment_prefix", "kinds", "cursor", "include_pending_approval")
    TARGET_SYSTEM_FIELD_NUMBER: _ClassVar[int]
    EQUIPMENT_PREFIX_FIELD_NUMBER: _ClassVar[int]
    KINDS_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_PENDING_APPROVAL_FIELD_NUMBER: _ClassVar[int]
    target_system: str
    equipment_prefix: _equipment_pb2.EquipmentPath
    kinds: _containers.RepeatedScalarFieldContainer[_machine_command_pb2.CommandKind]
    cursor: str
    include_pending_approval: bool
    def __init__(self, target_system: _Optional[str] = ..., equipment_prefix: _Optional[_Union[_equipment_pb2.EquipmentPath, _Mapping]] = ..., kinds: _Optional[_Iterable[_Union[_machine_command_pb2.CommandKind, str]]] = ..., cursor: _Optional[str] = ..., include_pending_approval: bool = ...) -> None: ...

class WatchCommandsResponse(_message.Message):
    __slots__ = ("command", "cursor")
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    command: _machine_command_pb2.MachineCommand
    cursor: str
    def __init__(self, command: _Optional[_Union[_machine_command_pb2.MachineCommand, _Mapping]] = ..., cursor: _Optional[str] = ...) -> None: ...

class AckCommandRequest(_message.Message):
    __slots__ = ("command_id", "delivery_state", "detail")
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_STATE_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    command_id: str
    delivery_state: _machine_command_pb2.DeliveryState
    detail: str
    def __init__(self, command_id: _Optional[str] = ..., delivery_state: _Optional[_Union[_machine_command_pb2.DeliveryState, str]] = ..., detail: _Optional[str] = ...) -> None: ...

class AckCommandResponse(_message.Message):
    __slots__ = ("command",)
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    command: _machine_command_pb2.MachineCommand
    def __init__(self, command: _Optional[_Union[_machine_command_pb2.MachineCommand, _Mapping]] = ...) -> None: ...

class ApproveCommandRequest(_message.Message):
    __slots__ = ("command_id", "comment", "expected_revision")
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_REVISION_FIELD_NUMBER: _ClassVar[int]
    command_id: str
    comment: str
    expected_revision: int
    def __init__(self, command_id: _Optional[str] = ..., comment: _Optional[str] = ..., expected_revision: _Optional[int] = ...) -> None: ...

class ApproveCommandResponse(_message.Message):
    __slots__ = ("command",)
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    command: _machine_command_pb2.MachineCommand
    def __init__(self, command: _Optional[_Union[_machine_command_pb2.MachineCommand, _Mapping]] = ...) -> None: ...

class RejectCommandRequest(_message.Message):
    __slots__ = ("command_id", "reason", "expected_revision")
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_REVISION_FIELD_NUMBER: _ClassVar[int]
    command_id: str
    reason: str
    expected_revision: int
    def __init__(self, command_id: _Optional[str] = ..., reason: _Optional[str] = ..., expected_revision: _Optional[int] = ...) -> None: ...

class RejectCommandResponse(_message.Message):
    __slots__ = ("command",)
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    command: _machine_command_pb2.MachineCommand
    def __init__(self, command: _Optional[_Union[_machine_command_pb2.MachineCommand, _Mapping]] = ...) -> None: ...
