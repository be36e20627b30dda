from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PrincipalType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRINCIPAL_TYPE_UNSPECIFIED: _ClassVar[PrincipalType]
    PRINCIPAL_TYPE_USER: _ClassVar[PrincipalType]
    PRINCIPAL_TYPE_SERVICE: _ClassVar[PrincipalType]
    PRINCIPAL_TYPE_AGENT: _ClassVar[PrincipalType]
    PRINCIPAL_TYPE_CLIENT: _ClassVar[PrincipalType]
    PRINCIPAL_TYPE_DEVICE: _ClassVar[PrincipalType]
PRINCIPAL_TYPE_UNSPECIFIED: PrincipalType
PRINCIPAL_TYPE_USER: PrincipalType
PRINCIPAL_TYPE_SERVICE: PrincipalType
PRINCIPAL_TYPE_AGENT: PrincipalType
PRINCIPAL_TYPE_CLIENT: PrincipalType
PRINCIPAL_TYPE_DEVICE: PrincipalType

class Principal(_message.Message):
    __slots__ = ("principal_id", "type", "display_name", "roles")
    PRINCIPAL_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    principal_id: str
    type: PrincipalType
    display_name: str
    roles: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, principal_id: _Optional[str] = ..., type: _Optional[_Union[PrincipalType, str]] = ..., display_name: _Optional[str] = ..., roles: _Optional[_Iterable[str]] = ...) -> None: ...
