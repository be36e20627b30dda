from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class QuantityKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    QUANTITY_KIND_UNSPECIFIED: _ClassVar[QuantityKind]
    QUANTITY_KIND_DIMENSIONLESS: _ClassVar[QuantityKind]
    QUANTITY_KIND_RATIO: _ClassVar[QuantityKind]
    QUANTITY_KIND_COUNT: _ClassVar[QuantityKind]
    QUANTITY_KIND_LENGTH: _ClassVar[QuantityKind]
    QUANTITY_KIND_MASS: _ClassVar[QuantityKind]
    QUANTITY_KIND_TIME: _ClassVar[QuantityKind]
    QUANTITY_KIND_TEMPERATURE: _ClassVar[QuantityKind]
    QUANTITY_KIND_PRESSURE: _ClassVar[QuantityKind]
    QUANTITY_KIND_FORCE: _ClassVar[QuantityKind]
    QUANTITY_KIND_TORQUE: _ClassVar[QuantityKind]
    QUANTITY_KIND_VELOCITY: _ClassVar[QuantityKind]
    QUANTITY_KIND_ACCELERATION: _ClassVar[QuantityKind]
    QUANTITY_KIND_ROTATIONAL_SPEED: _ClassVar[QuantityKind]
    QUANTITY_KIND_FREQUENCY: _ClassVar[QuantityKind]
    QUANTITY_KIND_ANGLE: _ClassVar[QuantityKind]
    QUANTITY_KIND_AREA: _ClassVar[QuantityKind]
    QUANTITY_KIND_VOLUME: _ClassVar[QuantityKind]
    QUANTITY_KIND_VOLUMETRIC_FLOW: _ClassVar[QuantityKind]
    QUANTITY_KIND_MASS_FLOW: _ClassVar[QuantityKind]
    QUANTITY_KIND_DENSITY: _ClassVar[QuantityKind]
    QUANTITY_KIND_VISCOSITY: _ClassVar[QuantityKind]
    QUANTITY_KIND_ENERGY: _ClassVar[QuantityKind]
    QUANTITY_KIND_POWER: _ClassVar[QuantityKind]
    QUANTITY_KIND_ELECTRIC_CURRENT: _ClassVar[QuantityKind]
    QUANTITY_KIND_VOLTAGE: _ClassVar[QuantityKind]
    QUANTITY_KIND_ELECTRIC_RESISTANCE: _ClassVar[QuantityKind]
    QUANTITY_KIND_SOUND_LEVEL: _ClassVar[QuantityKind]
    QUANTITY_KIND_CONCENTRATION: _ClassVar[QuantityKind]
    QUANTITY_KIND_RELATIVE_HUMIDITY: _ClassVar[QuantityKind]
    QUANTITY_KIND_ILLUMINANCE: _ClassVar[QuantityKind]

class UnitSystem(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    UNIT_SYSTEM_UNSPECIFIED: _ClassVar[UnitSystem]
    UNIT_SYSTEM_SI: _ClassVar[UnitSystem]
    UNIT_SYSTEM_US_CUSTOMARY: _ClassVar[UnitSystem]
    UNIT_SYSTEM_IMPERIAL: _ClassVar[UnitSystem]
QUANTITY_KIND_UNSPECIFIED: QuantityKind
QUANTITY_KIND_DIMENSIONLESS: QuantityKind
QUANTITY_KIND_RATIO: QuantityKind
QUANTITY_KIND_COUNT: QuantityKind
QUANTITY_KIND_LENGTH: QuantityKind
QUANTITY_KIND_MASS: QuantityKind
QUANTITY_KIND_TIME: QuantityKind
QUANTITY_KIND_TEMPERATURE: QuantityKind
QUANTITY_KIND_PRESSURE: QuantityKind
QUANTITY_KIND_FORCE: QuantityKind
QUANTITY_KIND_TORQUE: QuantityKind
QUANTITY_KIND_VELOCITY: QuantityKind
QUANTITY_KIND_ACCELERATION: QuantityKind
QUANTITY_KIND_ROTATIONAL_SPEED: QuantityKind
QUANTITY_KIND_FREQUENCY: QuantityKind
QUANTITY_KIND_ANGLE: QuantityKind
QUANTITY_KIND_AREA: QuantityKind
QUANTITY_KIND_VOLUME: QuantityKind
QUANTITY_KIND_VOLUMETRIC_FLOW: QuantityKind
QUANTITY_KIND_MASS_FLOW: QuantityKind
QUANTITY_KIND_DENSITY: QuantityKind
QUANTITY_KIND_VISCOSITY: QuantityKind
QUANTITY_KIND_ENERGY: QuantityKind
QUANTITY_KIND_POWER: QuantityKind
QUANTITY_KIND_ELECTRIC_CURRENT: QuantityKind
QUANTITY_KIND_VOLTAGE: QuantityKind
QUANTITY_KIND_ELECTRIC_RESISTANCE: QuantityKind
QUANTITY_KIND_SOUND_LEVEL: QuantityKind
QUANTITY_KIND_CONCENTRATION: QuantityKind
QUANTITY_KIND_RELATIVE_HUMIDITY: QuantityKind
QUANTITY_KIND_ILLUMINANCE: QuantityKind
UNIT_SYSTEM_UNSPECIFIED: UnitSystem
UNIT_SYSTEM_SI: UnitSystem
UNIT_SYSTEM_US_CUSTOMARY: UnitSystem
UNIT_SYSTEM_IMPERIAL: UnitSystem

class EngineeringUnit(_message.Message):
    __slots__ = ("code", "symbol", "quantity_kind")
    CODE_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_KIND_FIELD_NUMBER: _ClassVar[int]
    code: str
    symbol: str
    quantity_kind: QuantityKind
    def __init__(self, code: _Optional[str] = ..., symbol: _Optional[str] = ..., quantity_kind: _Optional[_Union[QuantityKind, str]] = ...) -> None: ...
