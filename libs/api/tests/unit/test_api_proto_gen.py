"""scripts/proto_gen.py: the import rewrite and the freshness of the committed code."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path, PurePosixPath
from types import ModuleType

import pytest

REPO_ROOT = Path(__file__).resolve().parents[4]


@pytest.fixture(scope="module")
def proto_gen() -> ModuleType:
    path = REPO_ROOT / "scripts" / "proto_gen.py"
    spec = importlib.util.spec_from_file_location("factorymesh_proto_gen", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


SAMPLE_PB2 = """\
# source: factorymesh/telemetry/v1/reading.proto
from google.protobuf import descriptor as _descriptor
from google.protobuf.internal import builder as _builder
_sym_db = _symbol_database.Default()


from factorymesh.common.v1 import equipment_pb2 as factorymesh_dot_common_dot_v1_dot_equipment__pb2
from factorymesh.common.v1 import options_pb2 as factorymesh_dot_common_dot_v1_dot_options__pb2
from google.protobuf import timestamp_pb2 as google_dot_protobuf_dot_timestamp__pb2


DESCRIPTOR = _pool.AddSerializedFile(b'\\n&factorymesh/telemetry/v1/reading.proto .factorymesh.common.v1.EquipmentPath')

_globals = globals()
_builder.BuildMessageAndEnumDescriptors(DESCRIPTOR, _globals)
_builder.BuildTopDescriptorsAndMessages(DESCRIPTOR, 'factorymesh.telemetry.v1.reading_pb2', _globals)
"""

EXPECTED_PB2 = SAMPLE_PB2.replace("from factorymesh.common.v1 import", "from factorymesh.api.common.v1 import").replace(
    "'factorymesh.telemetry.v1.reading_pb2'", "'factorymesh.api.telemetry.v1.reading_pb2'"
)

SAMPLE_PYI = """\
from factorymesh.common.v1 import equipment_pb2 as _equipment_pb2
from factorymesh.telemetry.v1 import reading_pb2 as _reading_pb2
from google.protobuf import message as _message

class SensorReadingBatch(_message.Message):
    equipment: _equipment_pb2.EquipmentPath
    origin: _reading_pb2.ReadingOrigin
"""

SAMPLE_GRPC = """\
import grpc
import warnings

from factorymesh.ingest.v1 import ingest_service_pb2 as factorymesh_dot_ingest_dot_v1_dot_ingest__service__pb2

class IngestServiceStub(object):
    def __init__(self, channel):
        self.IngestBatch = channel.unary_unary(
                '/factorymesh.ingest.v1.IngestService/IngestBatch',
                request_serializer=factorymesh_dot_ingest_dot_v1_dot_ingest__service__pb2.IngestBatchRequest.SerializeToString,
                _registered_method=True)
"""


def test_rewrites_pb2_imports_and_module_name(proto_gen: ModuleType) -> None:
    out = proto_gen.rewrite_generated_source(SAMPLE_PB2)
    assert out == EXPECTED_PB2
    # The serialized descriptor (file and full names) is untouched.
    assert "factorymesh/telemetry/v1/reading.proto" in out
    assert ".factorymesh.common.v1.EquipmentPath" in out
    assert "from google.protobuf import timestamp_pb2" in out


def test_rewrites_pyi_imports(proto_gen: ModuleType) -> None:
    out = proto_gen.rewrite_generated_source(SAMPLE_PYI)
    assert "from factorymesh.api.common.v1 import equipment_pb2 as _equipment_pb2\n" in out
    assert "from factorymesh.api.telemetry.v1 import reading_pb2 as _reading_pb2\n" in out
    assert "from factorymesh.common" not in out
    assert out.count("\n") == SAMPLE_PYI.count("\n")


def test_keeps_grpc_method_paths(proto_gen: ModuleType) -> None:
    out = proto_gen.rewrite_generated_source(SAMPLE_GRPC)
    assert "from factorymesh.api.ingest.v1 import ingest_service_pb2 as" in out
    assert "'/factorymesh.ingest.v1.IngestService/IngestBatch'" in out


@pytest.mark.parametrize("sample", [SAMPLE_PB2, SAMPLE_PYI, SAMPLE_GRPC])
def test_rewrite_is_idempotent(proto_gen: ModuleType, sample: str) -> None:
    once = proto_gen.rewrite_generated_source(sample)
    assert proto_gen.rewrite_generated_source(once) == once


@pytest.mark.parametrize(
    "line",
    [
        "import factorymesh.common.v1.units_pb2\n",
        "from factorymesh.common import units_pb2\n",
    ],
)
def test_unexpected_import_forms_fail_loudly(proto_gen: ModuleType, line: str) -> None:
    with pytest.raises(proto_gen.ProtoGenError, match="cannot rewrite"):
        proto_gen.rewrite_generated_source(line)


def test_destination_moves_modules_under_api(proto_gen: ModuleType) -> None:
    assert proto_gen.destination(PurePosixPath("factorymesh/telemetry/v1/reading_pb2.pyi")) == PurePosixPath(
        "factorymesh/api/telemetry/v1/reading_pb2.pyi"
    )
    with pytest.raises(proto_gen.ProtoGenError):
        proto_gen.destination(PurePosixPath("factorymesh/api/v1/x_pb2.py"))
    with pytest.raises(proto_gen.ProtoGenError):
        proto_gen.destination(PurePosixPath("other/v1/x_pb2.py"))


def test_committed_code_matches_the_protos(proto_gen: ModuleType) -> None:
    expected = proto_gen.render()
    assert proto_gen.diff(expected, proto_gen.OUT_ROOT) == []
    # Deterministic: a second run produces byte-identical output.
    assert proto_gen.render() == expected
