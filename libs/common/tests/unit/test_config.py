from __future__ import annotations

import subprocess
import sys

import pytest

from factorymesh.common.config import BaseServiceSettings, load_settings, secret_field


class _Settings(BaseServiceSettings):
    api_token: str = secret_field("token for the test service", default="changeme")  # type: ignore[assignment]


def test_reads_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FM_KAFKA_BOOTSTRAP", "broker-a:9092,broker-b:9092")
    monkeypatch.setenv("FM_GRPC_PORT", "6000")
    settings = load_settings(BaseServiceSettings)
    assert settings.kafka_bootstrap == "broker-a:9092,broker-b:9092"
    assert settings.grpc_port == 6000


def test_missing_required_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("FM_KAFKA_BOOTSTRAP", raising=False)
    with pytest.raises(SystemExit) as exited:
        load_settings(BaseServiceSettings)
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, "one line only"
    assert "missing required setting FM_KAFKA_BOOTSTRAP" in err


def test_invalid_value_names_the_variable(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FM_KAFKA_BOOTSTRAP", "k:9092")
    monkeypatch.setenv("FM_GRPC_PORT", "not-a-port")
    with pytest.raises(SystemExit):
        load_settings(BaseServiceSettings)
    assert "invalid setting FM_GRPC_PORT" in capsys.readouterr().err


def test_placeholder_secret_refused_in_production_only(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FM_KAFKA_BOOTSTRAP", "k:9092")
    assert load_settings(_Settings).api_token == "changeme"  # noqa: S105 - the placeholder under test
    monkeypatch.setenv("FM_ENVIRONMENT", "production")
    with pytest.raises(SystemExit):
        load_settings(_Settings)
    assert "FM_API_TOKEN is still a placeholder" in capsys.readouterr().err
    monkeypatch.setenv("FM_API_TOKEN", "a-real-secret-value")
    assert load_settings(_Settings).api_token == "a-real-secret-value"  # noqa: S105


def test_process_exits_nonzero_with_the_variable_name() -> None:
    """The whole process, as a service would start: exit code 2 and one clear line."""
    code = (
        "from factorymesh.common.config import BaseServiceSettings, load_settings; load_settings(BaseServiceSettings)"
    )
    env = {"PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == "factorymesh: configuration error: missing required setting FM_KAFKA_BOOTSTRAP"
