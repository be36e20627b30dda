"""The Sparkplug B payload schema, built in code: the subset of Eclipse Tahu's ``sparkplug_b.proto`` we send.

Services never import each other, so the simulator does not use ingest's
generated Sparkplug code; it declares the wire format itself. The field numbers
and types are those of ``org.eclipse.tahu.protobuf.Payload`` (Sparkplug 3.0,
proto2): Payload{timestamp=1 uint64, metrics=2, seq=3 uint64, uuid=4, body=5},
Metric{name=1, alias=2 uint64, timestamp=3 uint64, datatype=4 uint32,
is_historical=5, is_transient=6, is_null=7, metadata=8, properties=9,
int_value=10 uint32, long_value=11 uint64, float_value=12, double_value=13,
boolean_value=14, string_value=15, bytes_value=16}, PropertySet{keys=1,
values=2}, PropertyValue{type=1, is_null=2, int_value=3 uint32, long_value=4,
float_value=5, double_value=6, boolean_value=7, string_value=8}. DataSet,
Template, MetaData and extensions are left out: we never send them, and a
decoder that has them reads our bytes unchanged.

The messages live in a private descriptor pool, so they never collide with another
copy of the same schema (e.g. ingest's) loaded into the same process.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message

F = descriptor_pb2.FieldDescriptorProto
PACKAGE = "org.eclipse.tahu.protobuf"

# Sparkplug B DataType values (spec 3.0, section 6.4.16).
INT64 = 4
DOUBLE = 10
BOOLEAN = 11
STRING = 12


def _field(
    message: descriptor_pb2.DescriptorProto,
    name: str,
    number: int,
    ftype: int,
    *,
    repeated: bool = False,
    type_name: str = "",
    oneof: int | None = None,
) -> None:
    f = message.field.add(name=name, number=number, type=ftype)
    f.label = F.LABEL_REPEATED if repeated else F.LABEL_OPTIONAL
    if type_name:
        f.type_name = type_name
    if oneof is not None:
        f.oneof_index = oneof


def _file() -> descriptor_pb2.FileDescriptorProto:
    fd = descriptor_pb2.FileDescriptorProto(
        name="factorymesh_line_simulator/sparkplug_b.proto", package=PACKAGE, syntax="proto2"
    )
    payload = fd.message_type.add(name="Payload")
    p = f".{PACKAGE}.Payload"

    value = payload.nested_type.add(name="PropertyValue")
    value.oneof_decl.add(name="value")
    _field(value, "type", 1, F.TYPE_UINT32)
    _field(value, "is_null", 2, F.TYPE_BOOL)
    for name, number, ftype in (
        ("int_value", 3, F.TYPE_UINT32),
        ("long_value", 4, F.TYPE_UINT64),
        ("float_value", 5, F.TYPE_FLOAT),
        ("double_value", 6, F.TYPE_DOUBLE),
        ("boolean_value", 7, F.TYPE_BOOL),
        ("string_value", 8, F.TYPE_STRING),
    ):
        _field(value, name, number, ftype, oneof=0)

    props = payload.nested_type.add(name="PropertySet")
    _field(props, "keys", 1, F.TYPE_STRING, repeated=True)
    _field(props, "values", 2, F.TYPE_MESSAGE, repeated=True, type_name=f"{p}.PropertyValue")

    metric = payload.nested_type.add(name="Metric")
    metric.oneof_decl.add(name="value")
    _field(metric, "name", 1, F.TYPE_STRING)
    _field(metric, "alias", 2, F.TYPE_UINT64)
    _field(metric, "timestamp", 3, F.TYPE_UINT64)
    _field(metric, "datatype", 4, F.TYPE_UINT32)
    _field(metric, "is_historical", 5, F.TYPE_BOOL)
    _field(metric, "is_transient", 6, F.TYPE_BOOL)
    _field(metric, "is_null", 7, F.TYPE_BOOL)
    _field(metric, "properties", 9, F.TYPE_MESSAGE, type_name=f"{p}.PropertySet")
    for name, number, ftype in (
        ("int_value", 10, F.TYPE_UINT32),
        ("long_value", 11, F.TYPE_UINT64),
        ("float_value", 12, F.TYPE_FLOAT),
        ("double_value", 13, F.TYPE_DOUBLE),
        ("boolean_value", 14, F.TYPE_BOOL),
        ("string_value", 15, F.TYPE_STRING),
        ("bytes_value", 16, F.TYPE_BYTES),
    ):
        _field(metric, name, number, ftype, oneof=0)

    _field(payload, "timestamp", 1, F.TYPE_UINT64)
    _field(payload, "metrics", 2, F.TYPE_MESSAGE, repeated=True, type_name=f"{p}.Metric")
    _field(payload, "seq", 3, F.TYPE_UINT64)
    _field(payload, "uuid", 4, F.TYPE_STRING)
    _field(payload, "body", 5, F.TYPE_BYTES)
    return fd


_pool = descriptor_pool.DescriptorPool()
_pool.Add(_file())

# Dynamic classes: mypy sees them as Any, which is why the encoder wraps them in typed functions.
Payload: Any = message_factory.GetMessageClass(_pool.FindMessageTypeByName(f"{PACKAGE}.Payload"))


def decode_payload(data: bytes) -> Any:
    """Parse a Sparkplug B payload (tests and tools); a dynamic message, hence ``Any``."""
    message: Message = Payload.FromString(data)
    return message
