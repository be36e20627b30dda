from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class EquipmentPath(_message.Message):
    __slots__ = ("enterprise", "site", "area", "line", "cell", "equipment")
    ENTERPRISE_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    AREA_FIELD_NUMBER: _ClassVar[int]
    LINE_FIELD_NUMBER: _ClassVar[int]
    CELL_FIELD_NUMBER: _ClassVar[int]
    EQUIPMENT_FIELD_NUMBER: _ClassVar[int]
    enterprise: str
    site: str
    area: str
    line: str
    cell: str
    equipment: str
    def __init__(self, enterprise: _Optional[str] = ..., site: _Optional[str] = ..., area: _Optional[str] = ..., line: _Optional[str] = ..., cell: _Optional[str] = ..., equipment: _Optional[str] = ...) -> None: ...
