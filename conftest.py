"""Fixtures shared by every test suite in the repository.

Integration tests take the real broker and Triton from the environment
(``make test`` starts both and exports FM_KAFKA_BOOTSTRAP / FM_TRITON_URL). A
test that needs them and finds them missing FAILS: it never skips itself, so a
green run always means the real parts were exercised.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent


def _required_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run integration tests through `make test` (it starts Kafka and Triton)")
    return value


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    return _required_env("FM_KAFKA_BOOTSTRAP")


@pytest.fixture(scope="session")
def triton_url() -> str:
    return _required_env("FM_TRITON_URL")


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """Names unique to this test, for topics, groups and transactional ids."""
    test = request.node.name.replace("[", "-").replace("]", "").replace("_", "-")[:40]
    suffix = uuid.uuid4().hex[:8]

    def make(kind: str) -> str:
        return f"test.{test}.{kind}.{suffix}"

    return make


@pytest.fixture
def kafka_config(kafka_bootstrap: str) -> object:
    from factorymesh.common.kafka import KafkaConfig

    return KafkaConfig(bootstrap=kafka_bootstrap, client_id="factorymesh-tests")


@pytest.fixture
def make_topic(kafka_config: object, unique_name: Callable[[str], str]) -> Callable[..., Awaitable[object]]:
    """Create a fresh topic (a TopicSpec) for this test only."""
    from factorymesh.common.kafka import KafkaConfig, ensure_topics
    from factorymesh.common.topics import TopicSpec

    async def make(kind: str, value_types: tuple[type, ...] = (), partitions: int = 3) -> TopicSpec:
        assert isinstance(kafka_config, KafkaConfig)
        spec = TopicSpec(
            name=unique_name(kind),
            partitions=partitions,
            key="test key",
            value_types=value_types,
            description=f"test topic {kind}",
            producers=("tests",),
            consumers=("tests",),
        )
        await ensure_topics(kafka_config, [spec])
        return spec

    return make


def _log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "".join(path.read_text(errors="replace").splitlines(keepends=True)[-lines:])
    except OSError:
        return ""


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    """On an integration test failure, show the tail of the broker's and Triton's logs."""
    report = yield
    if report.failed and call.when == "call" and item.get_closest_marker("integration"):
        log_dir = Path(os.environ.get("FM_TEST_LOG_DIR", ROOT / ".local" / "test" / "logs"))
        for log in sorted(log_dir.glob("*.log")) if log_dir.is_dir() else []:
            tail = _log_tail(log)
            if tail:
                report.sections.append((f"tail of {log.name}", tail))
    return report


@pytest.fixture(scope="session")
def otel_tracing() -> object:
    """Install the SDK tracer provider once, as a service does at start-up, so spans carry real ids."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    return provider
