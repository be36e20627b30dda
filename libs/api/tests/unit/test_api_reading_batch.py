"""The columnar SensorReadingBatch decodes into numpy arrays without per-reading Python work."""

from __future__ import annotations

import numpy as np

from factorymesh.api.common.v1 import equipment_pb2, quality_pb2, units_pb2
from factorymesh.api.telemetry.v1 import reading_batch_pb2, reading_pb2

N = 10_000
TAGS = ["spindle.vibration_rms", "spindle.temperature", "motor.current", "motor.speed"]
UNITS = ["mm/s", "Cel", "A", "/min"]


def _make_batch() -> tuple[reading_batch_pb2.SensorReadingBatch, dict[str, np.ndarray]]:
    rng = np.random.default_rng(42)
    columns = {
        "values": rng.normal(20.0, 5.0, N),
        "times": np.int64(1_741_939_200_000_000_000) + np.arange(N, dtype=np.int64) * 1_000_000,
        "tag_indices": rng.integers(0, len(TAGS), N, dtype=np.uint32),
        "qualities": rng.choice(
            np.array(
                [
                    quality_pb2.DATA_QUALITY_GOOD,
                    quality_pb2.DATA_QUALITY_UNCERTAIN_LAST_USABLE,
                    quality_pb2.DATA_QUALITY_BAD_SENSOR_FAILURE,
                ],
                dtype=np.int32,
            ),
            N,
        ),
    }
    batch = reading_batch_pb2.SensorReadingBatch(
        event_id="0f8e2c1a-6b7d-4d59-9a35-0c1f3c9f0d11",
        equipment=equipment_pb2.EquipmentPath(
            enterprise="acme", site="berlin", area="machining", line="line4", cell="cell2", equipment="mill7"
        ),
        tags=TAGS,
        tag_units=[units_pb2.EngineeringUnit(code=code) for code in UNITS],
        tag_indices=columns["tag_indices"].tolist(),
        source_times_unix_nanos=columns["times"].tolist(),
        values=columns["values"].tolist(),
        qualities=columns["qualities"].tolist(),
        origin=reading_pb2.ReadingOrigin(
            protocol=reading_pb2.SOURCE_PROTOCOL_SPARKPLUG_B, source_id="machining/edge1/mill7"
        ),
    )
    return batch, columns


def test_batch_of_10000_round_trips_into_numpy_arrays() -> None:
    batch, expected = _make_batch()
    wire = batch.SerializeToString()
    decoded = reading_batch_pb2.SensorReadingBatch.FromString(wire)

    # Vectorised decode: each column is one C-level conversion, no Python loop.
    values = np.asarray(decoded.values, dtype=np.float64)
    times = np.asarray(decoded.source_times_unix_nanos, dtype=np.int64)
    tag_indices = np.asarray(decoded.tag_indices, dtype=np.uint32)
    qualities = np.asarray(decoded.qualities, dtype=np.int32)

    assert values.shape == times.shape == tag_indices.shape == qualities.shape == (N,)
    np.testing.assert_array_equal(values, expected["values"])  # doubles are bit-exact
    np.testing.assert_array_equal(times, expected["times"])
    np.testing.assert_array_equal(tag_indices, expected["tag_indices"])
    np.testing.assert_array_equal(qualities, expected["qualities"])
    assert list(decoded.tags) == TAGS
    assert [u.code for u in decoded.tag_units] == UNITS

    # Column lookups stay vectorised too.
    tag_names = np.asarray(decoded.tags, dtype=object)[tag_indices]
    assert tag_names[0] == TAGS[expected["tag_indices"][0]]
    severity = qualities >> 5  # 0 = good, 1 = uncertain, 2 = bad (see DataQuality)
    np.testing.assert_array_equal(
        severity, np.select([expected["qualities"] < 32, expected["qualities"] < 64], [0, 1], 2)
    )


def test_batch_wire_size_is_compact() -> None:
    batch, _ = _make_batch()
    size = batch.ByteSize()
    # 8 (double) + 8 (sfixed64 time) + 1 (tag index) + 1 (quality) bytes per reading, plus headers.
    assert size < N * 18 + 1_000, size


def test_packed_columns_accept_numpy_scalars_and_arrays() -> None:
    batch = reading_batch_pb2.SensorReadingBatch()
    batch.values.extend(np.array([1.5, -2.25]))
    batch.source_times_unix_nanos.extend(np.array([1, 2], dtype=np.int64).tolist())
    assert list(reading_batch_pb2.SensorReadingBatch.FromString(batch.SerializeToString()).values) == [1.5, -2.25]


def test_quality_codes_encode_severity_in_their_range() -> None:
    for name, number in quality_pb2.DataQuality.items():
        if number == quality_pb2.DATA_QUALITY_UNSPECIFIED:
            continue
        family = {0: "DATA_QUALITY_GOOD", 1: "DATA_QUALITY_UNCERTAIN", 2: "DATA_QUALITY_BAD"}[number >> 5]
        assert name.startswith(family), (name, number)
        assert number < 128  # one byte per value in packed arrays
