import datetime

from factorymesh.api.agents.v1 import agent_pb2 as _agent_pb2
from factorymesh.api.agents.v1 import machine_command_pb2 as _machine_command_pb2
from factorymesh.api.common.v1 import equipment_pb2 as _equipment_pb2
from factorymesh.api.common.v1 import options_pb2 as _options_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DecisionAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DECISION_ACTION_UNSPECIFIED: _ClassVar[DecisionAction]
    DECISION_ACTION_NO_ACTION: _ClassVar[DecisionAction]
    DECISION_ACTION_NOTIFY: _ClassVar[DecisionAction]
    DECISION_ACTION_ISSUE_COMMAND: _ClassVar[DecisionAction]

class DecisionOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DECISION_OUTCOME_UNSPECIFIED: _ClassVar[DecisionOutcome]
    DECISION_OUTCOME_RECORDED: _ClassVar[DecisionOutcome]
    DECISION_OUTCOME_RECOMMENDED: _ClassVar[DecisionOutcome]
    DECISION_OUTCOME_PENDING_APPROVAL: _ClassVar[DecisionOutcome]
    DECISION_OUTCOME_COMMAND_ISSUED: _ClassVar[DecisionOutcome]
    DECISION_OUTCOME_SUPPRESSED_KILL_SWITCH: _ClassVar[DecisionOutcome]
    DECISION_OUTCOME_SUPPRESSED_RATE_LIMIT: _ClassVar[DecisionOutcome]
    DECISION_OUTCOME_SUPPRESSED_DUPLICATE: _ClassVar[DecisionOutcome]
    DECISION_OUTCOME_SUPPRESSED_NOT_ALLOWED: _ClassVar[DecisionOutcome]
    DECISION_OUTCOME_FAILED: _ClassVar[DecisionOutcome]
DECISION_ACTION_UNSPECIFIED: DecisionAction
DECISION_ACTION_NO_ACTION: DecisionAction
DECISION_ACTION_NOTIFY: DecisionAction
DECISION_ACTION_ISSUE_COMMAND: DecisionAction
DECISION_OUTCOME_UNSPECIFIED: DecisionOutcome
DECISION_OUTCOME_RECORDED: DecisionOutcome
DECISION_OUTCOME_RECOMMENDED: DecisionOutcome
DECISION_OUTCOME_PENDING_APPROVAL: DecisionOutcome
DECISION_OUTCOME_COMMAND_ISSUED: DecisionOutcome
DECISION_OUTCOME_SUPPRESSED_KILL_SWITCH: DecisionOutcome
DECISION_OUTCOME_SUPPRESSED_RATE_LIMIT: DecisionOutcome
DECISION_OUTCOME_SUPPRESSED_DUPLICATE: DecisionOutcome
DECISION_OUTCOME_SUPPRESSED_NOT_ALLOWED: DecisionOutcome
DECISION_OUTCOME_FAILED: DecisionOutcome

class AgentDecision(_message.Message):
    __slots__ = ("event_id", "agent_id", "template_name", "template_version", "inputs", "model_versions", "rule_fired", "explanation", "action", "command_id", "command_kind", "autonomy_level", "outcome", "confidence", "decision_time", "equipment", "trigger_event_id", "agent_revision", "explanation_message_key", "explanation_arguments")
    class ExplanationArgumentsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_NAME_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_VERSION_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    RULE_FIRED_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    COMMAND_KIND_FIELD_NUMBER: _ClassVar[int]
    AUTONOMY_LEVEL_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    DECISION_TIME_FIELD_NUMBER: _ClassVar[int]
    EQUIPMENT_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_REVISION_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_MESSAGE_KEY_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_ARGUMENTS_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    agent_id: str
    template_name: str
    template_version: str
    inputs: _containers.RepeatedCompositeFieldContainer[InputRef]
    model_versions: _containers.RepeatedCompositeFieldContainer[ModelVersionRef]
    rule_fired: str
    explanation: str
    action: DecisionAction
    command_id: str
    command_kind: _machine_command_pb2.CommandKind
    autonomy_level: _agent_pb2.AutonomyLevel
    outcome: DecisionOutcome
    confidence: float
    decision_time: _timestamp_pb2.Timestamp
    equipment: _equipment_pb2.EquipmentPath
    trigger_event_id: str
    agent_revision: int
    explanation_message_key: str
    explanation_arguments: _containers.ScalarMap[str, str]
    def __init__(self, event_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., template_name: _Optional[str] = ..., template_version: _Optional[str] = ..., inputs: _Optional[_Iterable[_Union[InputRef, _Mapping]]] = ..., model_versions: _Optional[_Iterable[_Union[ModelVersionRef, _Mapping]]] = ..., rule_fired: _Optional[str] = ..., explanation: _Optional[str] = ..., action: _Optional[_Union[DecisionAction, str]] = ..., command_id: _Optional[str] = ..., command_kind: _Optional[_Union[_machine_command_pb2.CommandKind, str]] = ..., autonomy_level: _Optional[_Union[_agent_pb2.AutonomyLevel, str]] = ..., outcome: _Optional[_Union[DecisionOutcome, str]] = ..., confidence: _Optional[float] = ..., decision_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., equipment: _Optional[_Union[_equipment_pb2.EquipmentPath, _Mapping]] = ..., trigger_event_id: _Optional[str] = ..., agent_revision: _Optional[int] = ..., explanation_message_key: _Optional[str] = ..., explanation_arguments: _Optional[_Mapping[str, str]] = ...) -> None: ...

class InputRef(_message.Message):
    __slots__ = ("event_id", "message_type")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_TYPE_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    message_type: str
    def __init__(self, event_id: _Optional[str] = ..., message_type: _Optional[str] = ...) -> None: ...

class ModelVersionRef(_message.Message):
    __slots__ = ("model_name", "model_version")
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    model_name: str
    model_version: str
    def __init__(self, model_name: _Optional[str] = ..., model_version: _Optional[str] = ...) -> None: ...
