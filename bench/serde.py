"""Columnar SensorReadingBatch vs one SensorReading message per reading.

Both sides turn 10,000 readings on the wire into numpy arrays of timestamps,
tag indices and values: the reference decodes 10,000 messages and loops in
Python; the columnar batch decodes once and hands packed arrays to numpy.
Reports the speed-up and the size ratio, both measured in this run.
"""

from __future__ import annotations

import numpy as np
from google.protobuf.timestamp_pb2 import Timestamp

from bench.common import interleaved_medians, write_result
from factorymesh.api.common.v1 import equipment_pb2
from factorymesh.api.telemetry.v1 import reading_batch_pb2, reading_pb2

N = 10_000
TAGS = ["temperature", "vibration_rms", "pressure", "current", "flow"]
PUMP = equipment_pb2.EquipmentPath(enterprise="acme", site="s1", area="a1", line="l1", cell="c1", equipment="pump-1")


def make_inputs() -> tuple[list[bytes], bytes]:
    rng = np.random.default_rng(1)
    times = 1_700_000_000_000_000_000 + np.arange(N, dtype=np.int64) * 1_000_000
    tag_idx = rng.integers(0, len(TAGS), N).astype(np.uint32)
    values = rng.normal(50, 5, N)
    singles = []
    for i in range(N):
        ts = Timestamp()
        ts.FromNanoseconds(int(times[i]))
        singles.append(
            reading_pb2.SensorReading(
                event_id=f"b-1:{i}", equipment=PUMP, tag=TAGS[tag_idx[i]], double_value=float(values[i]), source_time=ts
            ).SerializeToString()
        )
    batch = reading_batch_pb2.SensorReadingBatch(
        event_id="b-1",
        equipment=PUMP,
        tags=TAGS,
        tag_indices=tag_idx.tolist(),
        source_times_unix_nanos=times.tolist(),
        values=values.tolist(),
    ).SerializeToString()
    return singles, batch


def decode_singles(payloads: list[bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    index = {tag: i for i, tag in enumerate(TAGS)}
    times = np.empty(len(payloads), np.int64)
    tags = np.empty(len(payloads), np.uint32)
    values = np.empty(len(payloads), np.float64)
    for i, payload in enumerate(payloads):
        reading = reading_pb2.SensorReading.FromString(payload)
        times[i] = reading.source_time.ToNanoseconds()
        tags[i] = index[reading.tag]
        values[i] = reading.double_value
    return times, tags, values


def decode_batch(payload: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    batch = reading_batch_pb2.SensorReadingBatch.FromString(payload)
    return (
        np.asarray(batch.source_times_unix_nanos, np.int64),
        np.asarray(batch.tag_indices, np.uint32),
        np.asarray(batch.values, np.float64),
    )


def main() -> None:
    singles, batch = make_inputs()
    for a, b in zip(decode_singles(singles), decode_batch(batch), strict=True):
        np.testing.assert_array_equal(a, b)  # both sides compute the same arrays
    medians = interleaved_medians(
        {"per_reading": lambda: decode_singles(singles), "columnar": lambda: decode_batch(batch)}
    )
    write_result(
        "serde",
        {
            "readings": N,
            "per_reading_decode_ms": round(medians["per_reading"] * 1e3, 3),
            "columnar_decode_ms": round(medians["columnar"] * 1e3, 3),
            "columnar_speedup": round(medians["per_reading"] / medians["columnar"], 1),
            "per_reading_bytes": sum(len(p) for p in singles),
            "columnar_bytes": len(batch),
            "columnar_size_ratio": round(len(batch) / sum(len(p) for p in singles), 3),
        },
    )


if __name__ == "__main__":
    main()
