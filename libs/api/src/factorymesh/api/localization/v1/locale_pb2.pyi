from factorymesh.api.common.v1 import units_pb2 as _units_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LocaleProfile(_message.Message):
    __slots__ = ("profile_id", "region", "language", "additional_languages", "unit_system", "time_zone", "regulatory_rule_set", "additional_rule_sets")
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    ADDITIONAL_LANGUAGES_FIELD_NUMBER: _ClassVar[int]
    UNIT_SYSTEM_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    REGULATORY_RULE_SET_FIELD_NUMBER: _ClassVar[int]
    ADDITIONAL_RULE_SETS_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    region: str
    language: str
    additional_languages: _containers.RepeatedScalarFieldContainer[str]
    unit_system: _units_pb2.UnitSystem
    time_zone: str
    regulatory_rule_set: str
    additional_rule_sets: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, profile_id: _Optional[str] = ..., region: _Optional[str] = ..., language: _Optional[str] = ..., additional_languages: _Optional[_Iterable[str]] = ..., unit_system: _Optional[_Union[_units_pb2.UnitSystem, str]] = ..., time_zone: _Optional[str] = ..., regulatory_rule_set: _Optional[str] = ..., additional_rule_sets: _Optional[_Iterable[str]] = ...) -> None: ...
