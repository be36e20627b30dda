"""Feature windows: per equipment and tag, tumbling and hopping windows of normalized readings.

* :mod:`.stats` — mergeable sufficient statistics and the feature formulas (numpy, no per-reading loop);
* :mod:`.windows` — window specs, the per-equipment watermark, the late rule, open and closed windows;
* :mod:`.readings` — normalized records to columns; :mod:`.emit` — closed windows to ``FeatureWindow``;
* :mod:`.codec` — state snapshots for the compacted changelog;
* :mod:`.processor` — the exactly-once Kafka processor; :mod:`.config` — its settings.

Start it with ``python -m factorymesh.ingest.features`` or, inside the ingest
service, ``await FeatureWindowProcessor(kafka_config, config).run()`` as a task.
See ``services/ingest/docs/features.md``.
"""

from factorymesh.ingest.features.config import FeatureWindowConfig, FeatureWindowSettings
from factorymesh.ingest.features.emit import FEATURE_SET_VERSION, feature_window_id
from factorymesh.ingest.features.processor import FeatureStats, FeatureWindowProcessor
from factorymesh.ingest.features.windows import WindowSpec

__all__ = [
    "FEATURE_SET_VERSION",
    "FeatureStats",
    "FeatureWindowConfig",
    "FeatureWindowProcessor",
    "FeatureWindowSettings",
    "WindowSpec",
    "feature_window_id",
]
