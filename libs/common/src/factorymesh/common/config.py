"""Service settings read from the environment (prefix ``FM_``).

Every service subclasses :class:`BaseServiceSettings`, adds its own fields and
calls :func:`load_settings` once at start-up. A field without a default is
required: when it is missing the process stops at once with one line naming the
environment variable, instead of failing later somewhere deep in a client.
"""

from __future__ import annotations

import sys
from typing import Literal, NoReturn, TypeVar

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "FM_"

# A secret still set to one of these refuses to start outside development.
PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "secret", "placeholder"})


class BaseServiceSettings(BaseSettings):
    """Settings every factorymesh service shares. Helm sets them as env vars."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="ignore",
        case_sensitive=False,
        frozen=True,
    )

    service_name: str = Field(
        default="factorymesh", description="Name reported in logs, traces, metrics and Kafka headers."
    )
    environment: Literal["development", "test", "production"] = Field(
        default="development", description="Deployment environment; production forbids placeholder secrets."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="INFO", description="Minimum log level.")
    log_format: Literal["json", "console"] = Field(
        default="json", description="`json` for machines (default), `console` for humans at a terminal."
    )

    # gRPC server
    grpc_host: str = Field(default="0.0.0.0", description="Address the gRPC server binds to.")
    grpc_port: int = Field(default=50051, ge=0, le=65535, description="gRPC port (0 = pick a free one).")
    grpc_max_message_bytes: int = Field(
        default=16 * 1024 * 1024,
        gt=0,
        description="Largest gRPC message accepted or sent; a columnar batch of 100k readings is ~2.5 MB.",
    )
    grpc_max_concurrent_rpcs: int = Field(
        default=1000, gt=0, description="In-flight RPC bound; beyond it the server answers RESOURCE_EXHAUSTED."
    )
    grpc_keepalive_time_s: float = Field(
        default=30.0, gt=0, description="Server keepalive ping interval, below typical load-balancer idle timeouts."
    )
    grpc_keepalive_timeout_s: float = Field(default=10.0, gt=0, description="Keepalive ping ack timeout.")
    grpc_shutdown_grace_s: float = Field(
        default=20.0, ge=0, description="On SIGTERM, time in-flight calls get to finish before they are cancelled."
    )

    # Observability
    metrics_port: int = Field(
        default=9464, ge=0, le=65535, description="Prometheus /metrics port (0 disables the endpoint)."
    )

    # Kafka
    kafka_bootstrap: str = Field(description="Kafka bootstrap servers, comma separated (required).")
    kafka_client_id: str | None = Field(default=None, description="Kafka client id; defaults to the service name.")
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", description="Kafka security protocol."
    )
    kafka_topic_partitions: int | None = Field(
        default=None, ge=1, description="Override the registry's partition count for every topic (small dev brokers)."
    )
    kafka_replication_factor: int = Field(
        default=1, ge=1, description="Replication factor for topics the registry creates (3 in production)."
    )


SettingsT = TypeVar("SettingsT", bound=BaseServiceSettings)


def _env_name(settings_cls: type[BaseSettings], loc: tuple[int | str, ...]) -> str:
    prefix = str(settings_cls.model_config.get("env_prefix", ""))
    return (prefix + "_".join(str(part) for part in loc)).upper()


def describe_validation_error(settings_cls: type[BaseSettings], error: ValidationError) -> str:
    """One line naming each offending environment variable."""
    problems = []
    for item in error.errors():
        name = _env_name(settings_cls, tuple(item["loc"]))
        if item["type"] == "missing":
            problems.append(f"missing required setting {name}")
        else:
            problems.append(f"invalid setting {name}: {item['msg']}")
    return "; ".join(problems)


def _exit(message: str) -> NoReturn:
    print(f"factorymesh: configuration error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(2)


def load_settings(settings_cls: type[SettingsT]) -> SettingsT:
    """Read settings from the environment or stop the process with a clear line (exit code 2)."""
    try:
        settings = settings_cls()  # type: ignore[call-arg]  # values come from the environment
    except ValidationError as error:
        _exit(describe_validation_error(settings_cls, error))
    if settings.environment == "production":
        for name, field in type(settings).model_fields.items():
            if (field.json_schema_extra or {}) == {"secret": True} and str(
                getattr(settings, name)
            ) in PLACEHOLDER_SECRETS:
                _exit(f"{_env_name(settings_cls, (name,))} is still a placeholder; set a real secret in production")
    return settings


def secret_field(description: str, default: str | None = None) -> object:
    """A settings field holding a secret: placeholders are refused in production."""
    if default is None:
        return Field(description=description, json_schema_extra={"secret": True})
    return Field(default=default, description=description, json_schema_extra={"secret": True})
