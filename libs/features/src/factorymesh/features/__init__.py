"""Feature-window statistics: the one definition ingest streams and training recomputes offline.

* :mod:`.stats` — mergeable sufficient statistics (``Moments``), ``reduce_readings``,
  ``combine`` and ``finalize`` (the ``FeatureWindow`` formulas), numpy only;
* :mod:`.batch` — the same windows computed over a whole recording at once (training
  data, backfills): same slot reduction, same merge, same epoch-aligned boundaries.

Ingest (``factorymesh.ingest.features``) keeps the streaming parts (watermark, late
rule, state, Kafka). Both import the formulas from here, so a model trained on
offline windows sees exactly the statistics it is served with.
"""

from factorymesh.features.batch import WindowedFeatures, window_features
from factorymesh.features.stats import NS_PER_S, Features, Moments, combine, finalize, reduce_readings

# Bump when a formula or the definition of "valid" changes, so models can refuse
# windows computed differently from their training data.
FEATURE_SET_VERSION = "fw-2025.1"

# The statistics of a FeatureWindow a model may use, named as the proto fields
# (``count`` is left out on purpose: it scales with the sample rate, not the process).
STAT_NAMES: tuple[str, ...] = (
    "mean",
    "std",
    "min",
    "max",
    "rms",
    "peak_to_peak",
    "kurtosis",
    "skewness",
    "slope",
    "crest_factor",
    "valid_fraction",
)

__all__ = [
    "FEATURE_SET_VERSION",
    "NS_PER_S",
    "STAT_NAMES",
    "Features",
    "Moments",
    "WindowedFeatures",
    "combine",
    "finalize",
    "reduce_readings",
    "window_features",
]
