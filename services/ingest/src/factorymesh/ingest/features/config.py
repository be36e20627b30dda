"""Settings of the feature-window processor."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

from pydantic import Field

from factorymesh.common.config import BaseServiceSettings
from factorymesh.features.stats import NS_PER_S
from factorymesh.ingest.features.emit import FEATURE_SET_VERSION
from factorymesh.ingest.features.windows import WindowSpec


def _default_windows() -> tuple[WindowSpec, ...]:
    return (WindowSpec.tumbling(10.0), WindowSpec.hopping(60.0, 10.0))


@dataclass(frozen=True)
class FeatureWindowConfig:
    """How windows are cut and where state and offsets go (plain values; see :class:`FeatureWindowSettings`)."""

    windows: tuple[WindowSpec, ...] = field(default_factory=_default_windows)
    # Watermark = newest source time seen for the equipment minus this.
    allowed_lateness_s: float = 5.0
    # Close every open window of an equipment that sent nothing for this long
    # (processing time); 0 disables (windows then wait for newer readings).
    idle_close_s: float = 30.0
    feature_set_version: str = FEATURE_SET_VERSION
    group_id: str = "factorymesh-ingest-features"
    # Stable per replica (the pod name): a restarted replica fences its predecessor's open transaction.
    transactional_id: str = field(default_factory=lambda: f"factorymesh-ingest-features-{socket.gethostname()}")
    # Compacted topic of per-equipment window state; default "<group_id>-state-changelog".
    changelog_topic: str | None = None
    # Static membership: a restart within the session timeout keeps the partitions (no rebalance).
    group_instance_id: str | None = None
    # Replication of the state changelog when this processor creates it (3 in production).
    changelog_replication_factor: int = 1
    max_poll_records: int = 500
    poll_timeout_ms: int = 200
    retry_backoff_s: float = 1.0
    service: str = "ingest"

    def __post_init__(self) -> None:
        if not self.windows:
            raise ValueError("at least one window spec is required")
        if len(set(self.windows)) != len(self.windows):
            raise ValueError("window specs must be distinct")
        if self.allowed_lateness_s < 0 or self.idle_close_s < 0:
            raise ValueError("allowed_lateness_s and idle_close_s must be >= 0")

    @property
    def lateness_ns(self) -> int:
        return round(self.allowed_lateness_s * NS_PER_S)

    @property
    def changelog(self) -> str:
        return self.changelog_topic or f"{self.group_id}-state-changelog"


class FeatureWindowSettings(BaseServiceSettings):
    """Environment settings (``FM_FEATURES_*``) for ``python -m factorymesh.ingest.features``."""

    service_name: str = Field(default="ingest", description="Name in logs, traces, metrics and Kafka headers.")
    features_tumbling_s: float = Field(default=10.0, gt=0, description="Tumbling window size (s); 0 disables.")
    features_hopping_size_s: float = Field(default=60.0, ge=0, description="Hopping window size (s); 0 disables.")
    features_hopping_step_s: float = Field(default=10.0, gt=0, description="Hopping window step (s).")
    features_allowed_lateness_s: float = Field(default=5.0, ge=0, description="Watermark lag behind newest reading.")
    features_idle_close_s: float = Field(
        default=30.0, ge=0, description="Close an idle equipment's windows after this (s); 0 disables."
    )
    features_group_id: str = Field(default="factorymesh-ingest-features", description="Kafka consumer group.")
    features_transactional_id: str = Field(
        default_factory=lambda: f"factorymesh-ingest-features-{socket.gethostname()}",
        description="Kafka transactional id, stable per replica (the pod name).",
    )
    features_changelog_topic: str | None = Field(default=None, description="State changelog topic override.")
    features_input_topic: str | None = Field(default=None, description="Normalized topic override (tests).")
    features_output_topic: str | None = Field(default=None, description="Features topic override (tests).")
    features_dead_letter_topic: str | None = Field(default=None, description="Dead-letter topic override (tests).")
    features_group_instance_id: str | None = Field(default=None, description="Static group membership id.")
    features_max_poll_records: int = Field(default=500, gt=0, description="Records per poll and transaction.")

    def to_config(self) -> FeatureWindowConfig:
        windows: list[WindowSpec] = []
        if self.features_tumbling_s > 0:
            windows.append(WindowSpec.tumbling(self.features_tumbling_s))
        if self.features_hopping_size_s > 0:
            windows.append(WindowSpec.hopping(self.features_hopping_size_s, self.features_hopping_step_s))
        return FeatureWindowConfig(
            windows=tuple(windows),
            allowed_lateness_s=self.features_allowed_lateness_s,
            idle_close_s=self.features_idle_close_s,
            group_id=self.features_group_id,
            transactional_id=self.features_transactional_id,
            changelog_topic=self.features_changelog_topic,
            group_instance_id=self.features_group_instance_id,
            changelog_replication_factor=self.kafka_replication_factor,
            max_poll_records=self.features_max_poll_records,
            service=self.service_name,
        )
