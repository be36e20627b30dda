from factorymesh.api.common.v1 import equipment_pb2 as _equipment_pb2
from factorymesh.api.common.v1 import units_pb2 as _units_pb2
from factorymesh.api.localization.v1 import locale_pb2 as _locale_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ConvertUnitsRequest(_message.Message):
    __slots__ = ("values", "from_unit", "to_unit", "to_unit_system")
    VALUES_FIELD_NUMBER: _ClassVar[int]
    FROM_UNIT_FIELD_NUMBER: _ClassVar[int]
    TO_UNIT_FIELD_NUMBER: _ClassVar[int]
    TO_UNIT_SYSTEM_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    from_unit: _units_pb2.EngineeringUnit
    to_unit: _units_pb2.EngineeringUnit
    to_unit_system: _units_pb2.UnitSystem
    def __init__(self, values: _Optional[_Iterable[float]] = ..., from_unit: _Optional[_Union[_units_pb2.EngineeringUnit, _Mapping]] = ..., to_unit: _Optional[_Union[_units_pb2.EngineeringUnit, _Mapping]] = ..., to_unit_system: _Optional[_Union[_units_pb2.UnitSystem, str]] = ...) -> None: ...

class ConvertUnitsResponse(_message.Message):
    __slots__ = ("values", "unit")
    VALUES_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    unit: _units_pb2.EngineeringUnit
    def __init__(self, values: _Optional[_Iterable[float]] = ..., unit: _Optional[_Union[_units_pb2.EngineeringUnit, _Mapping]] = ...) -> None: ...

class GetLocaleProfileRequest(_message.Message):
    __slots__ = ("equipment", "region")
    EQUIPMENT_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    equipment: _equipment_pb2.EquipmentPath
    region: str
    def __init__(self, equipment: _Optional[_Union[_equipment_pb2.EquipmentPath, _Mapping]] = ..., region: _Optional[str] = ...) -> None: ...

class GetLocaleProfileResponse(_message.Message):
    __slots__ = ("profile",)
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    profile: _locale_pb2.LocaleProfile
    def __init__(self, profile: _Optional[_Union[_locale_pb2.LocaleProfile, _Mapping]] = ...) -> None: ...

class TranslateRequest(_message.Message):
    __slots__ = ("items", "language")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[TranslationItem]
    language: str
    def __init__(self, items: _Optional[_Iterable[_Union[TranslationItem, _Mapping]]] = ..., language: _Optional[str] = ...) -> None: ...

class TranslationItem(_message.Message):
    __slots__ = ("message_key", "arguments")
    class ArgumentsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    MESSAGE_KEY_FIELD_NUMBER: _ClassVar[int]
    ARGUMENTS_FIELD_NUMBER: _ClassVar[int]
    message_key: str
    arguments: _containers.ScalarMap[str, str]
    def __init__(self, message_key: _Optional[str] = ..., arguments: _Optional[_Mapping[str, str]] = ...) -> None: ...

class TranslateResponse(_message.Message):
    __slots__ = ("messages", "resolved_language")
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[TranslatedMessage]
    resolved_language: str
    def __init__(self, messages: _Optional[_Iterable[_Union[TranslatedMessage, _Mapping]]] = ..., resolved_language: _Optional[str] = ...) -> None: ...

class TranslatedMessage(_message.Message):
    __slots__ = ("message_key", "text", "fallback")
    MESSAGE_KEY_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_FIELD_NUMBER: _ClassVar[int]
    message_key: str
    text: str
    fallback: bool
    def __init__(self, message_key: _Optional[str] = ..., text: _Optional[str] = ..., fallback: bool = ...) -> None: ...
