"""Every generated module imports and carries the expected names and descriptors."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from types import ModuleType

import pytest

import factorymesh.api

REPO_ROOT = Path(__file__).resolve().parents[4]
PROTO_ROOT = REPO_ROOT / "protos"
API_SRC = REPO_ROOT / "libs" / "api" / "src"

DOMAINS = {"common", "telemetry", "ingest", "inference", "agents", "security", "localization", "mes"}


def _all_module_names() -> list[str]:
    return sorted(info.name for info in pkgutil.walk_packages(factorymesh.api.__path__, prefix="factorymesh.api."))


def _pb2_module_names() -> list[str]:
    return [name for name in _all_module_names() if name.endswith("_pb2")]


def _grpc_module_names() -> list[str]:
    return [name for name in _all_module_names() if name.endswith("_pb2_grpc")]


def test_factorymesh_is_a_namespace_package() -> None:
    import factorymesh

    # PEP 420: no __init__.py, so libs/api and libs/common can both contribute.
    assert getattr(factorymesh, "__file__", None) is None
    assert not (API_SRC / "factorymesh" / "__init__.py").exists()
    assert (API_SRC / "factorymesh" / "api" / "py.typed").exists()


def test_every_proto_file_has_a_module() -> None:
    protos = sorted(p.relative_to(PROTO_ROOT).with_suffix("") for p in PROTO_ROOT.rglob("*.proto"))
    expected = sorted("factorymesh.api." + ".".join(p.parts[1:-1]) + f".{p.name}_pb2" for p in protos)
    assert _pb2_module_names() == expected
    assert {p.parts[1] for p in protos} == DOMAINS


@pytest.mark.parametrize("module_name", _all_module_names())
def test_module_imports(module_name: str) -> None:
    importlib.import_module(module_name)


def _check_pb2(module: ModuleType) -> None:
    # factorymesh.api.<domain>.<version>.<file>_pb2
    _, _, domain, version, file_module = module.__name__.split(".")
    package = f"factorymesh.{domain}.{version}"
    descriptor = module.DESCRIPTOR
    # Descriptor file names keep the proto layout; only the Python location moved.
    assert descriptor.name == f"factorymesh/{domain}/{version}/{file_module.removesuffix('_pb2')}.proto"
    assert descriptor.package == package
    for name, message in descriptor.message_types_by_name.items():
        assert message.full_name == f"{package}.{name}"
        cls = getattr(module, name)
        assert cls.DESCRIPTOR is message
        assert cls.__module__ == module.__name__
    for name, enum in descriptor.enum_types_by_name.items():
        assert enum.full_name == f"{package}.{name}"
        assert getattr(module, name).DESCRIPTOR is enum
    for name, service in descriptor.services_by_name.items():
        assert service.full_name == f"{package}.{name}"
        assert name.endswith("Service")


@pytest.mark.parametrize("module_name", _pb2_module_names())
def test_descriptor_names(module_name: str) -> None:
    _check_pb2(importlib.import_module(module_name))


@pytest.mark.parametrize("module_name", _grpc_module_names())
def test_grpc_modules_only_for_files_with_services(module_name: str) -> None:
    pb2 = importlib.import_module(module_name.removesuffix("_grpc"))
    grpc_module = importlib.import_module(module_name)
    services = pb2.DESCRIPTOR.services_by_name
    assert services, f"{module_name} generated for a file without services"
    for name in services:
        assert hasattr(grpc_module, f"{name}Stub")
        assert hasattr(grpc_module, f"{name}Servicer")
        assert hasattr(grpc_module, f"add_{name}Servicer_to_server")


def test_every_service_file_has_a_grpc_module() -> None:
    with_services = [name for name in _pb2_module_names() if importlib.import_module(name).DESCRIPTOR.services_by_name]
    assert [f"{name}_grpc" for name in with_services] == _grpc_module_names()
    assert len(with_services) == 5  # ingest, inference, agents, security, localization


def test_no_generated_import_points_outside_factorymesh_api() -> None:
    api_dir = API_SRC / "factorymesh" / "api"
    offenders = []
    for path in sorted(api_dir.rglob("*.py*")):
        if path.suffix not in {".py", ".pyi"}:
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            stripped = line.strip()
            if stripped.startswith(("from factorymesh.", "import factorymesh.")) and not stripped.startswith(
                ("from factorymesh.api.", "import factorymesh.api.")
            ):
                offenders.append(f"{path.relative_to(API_SRC)}: {stripped}")
    assert offenders == []
