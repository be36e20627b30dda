"""De-duplication: first-seen masks, time window, bounded memory, batch ids, rollback.

``python services/ingest/tests/unit/test_dedup.py`` prints throughput and memory per 1M ids.
"""

from __future__ import annotations

import gc
import time
import tracemalloc

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from factorymesh.api.common.v1 import equipment_pb2
from factorymesh.ingest.dedup import Deduplicator
from factorymesh.ingest.model import ReadingColumns

NS = 1_000_000_000
T0 = 1_750_000_000 * NS


def times(*seconds: float) -> npt.NDArray[np.int64]:
    return np.array([T0 + round(s * NS) for s in seconds], dtype=np.int64)


def test_first_seen_across_and_within_calls() -> None:
    d = Deduplicator(window_s=60, max_ids=100)
    assert d.filter(["a", "b", "a"], times(0, 0, 0)).tolist() == [True, True, False]
    assert d.filter(["b", "c", "c", "d"], times(1, 1, 1, 1)).tolist() == [False, True, False, True]
    assert d.remembered_ids == 4


def test_empty_and_mismatched_input() -> None:
    d = Deduplicator(window_s=60, max_ids=10)
    assert d.filter([], times()).tolist() == []
    with pytest.raises(ValueError, match="2 ids but 1 times"):
        d.filter(["a", "b"], times(0))


def test_ids_older_than_the_window_are_forgotten() -> None:
    d = Deduplicator(window_s=10, max_ids=100)
    d.filter(["a"], times(0))
    d.filter(["b"], times(5))
    assert d.filter(["a"], times(9)).tolist() == [False]  # 9 s behind the newest: remembered
    d.filter(["z"], times(10.5))  # watermark 10.5: "a" (t=0) is now older than the window
    assert d.remembered_ids == 2  # b, z
    assert d.filter(["a", "b"], times(10.5, 10.5)).tolist() == [True, False]


def test_readings_older_than_the_window_are_checked_but_not_remembered() -> None:
    d = Deduplicator(window_s=10, max_ids=100)
    d.filter(["old"], times(100))
    assert d.filter(["late", "old"], times(50, 50)).tolist() == [True, False]
    assert d.filter(["late"], times(50)).tolist() == [True]  # not remembered: cannot evict recent ids
    assert d.remembered_ids == 1


def test_late_entries_expire_after_their_predecessors() -> None:
    # Arrival order is not time order; a late id stays at least as long as it should.
    d = Deduplicator(window_s=10, max_ids=100)
    d.filter(["new"], times(100))
    d.filter(["late"], times(95))
    d.filter(["x"], times(106))  # cutoff 96: "late" (95) is expired but sits behind "new"
    assert d.filter(["late"], times(106)).tolist() == [False]  # remembered longer: safe direction
    d.filter(["y"], times(111))  # cutoff 101: "new" expires, and with it everything behind
    assert d.filter(["late", "new"], times(111, 111)).tolist() == [True, True]


def test_bounded_memory_evicts_oldest_first() -> None:
    d = Deduplicator(window_s=3600, max_ids=3)
    d.filter(["a", "b", "c"], times(0, 0, 0))
    d.filter(["d"], times(1))
    assert d.remembered_ids == 3
    assert d.filter(["b", "c", "d"], times(2, 2, 2)).tolist() == [False, False, False]
    assert d.filter(["a"], times(2)).tolist() == [True]  # evicted, so it passes again


def test_more_new_ids_than_the_budget_keeps_the_last_ones() -> None:
    d = Deduplicator(window_s=3600, max_ids=2)
    assert d.filter(["a", "b", "c", "d"], times(0, 0, 0, 0)).all()
    assert d.filter(["c", "d", "a"], times(1, 1, 1)).tolist() == [False, False, True]


def test_batch_ids_are_remembered_as_one_entry() -> None:
    d = Deduplicator(window_s=60, max_ids=10)
    assert d.filter_batch("batch-1", times(0, 0.5, 1)) is True
    assert d.filter_batch("batch-1", times(0, 0.5, 1)) is False
    assert (d.remembered_batches, d.remembered_ids) == (1, 0)
    d.filter_batch("batch-2", times(100))  # batch-1 (newest reading at 1 s) leaves the window
    assert d.filter_batch("batch-1", times(0, 0.5, 1)) is True


def test_batch_memory_is_bounded() -> None:
    d = Deduplicator(window_s=3600, max_ids=10, max_batches=2)
    for i in range(3):
        d.filter_batch(f"b{i}", times(i))
    assert d.remembered_batches == 2
    assert d.filter_batch("b0", times(3)) is True


def columns(batch_id: str, n: int, ids: list[str] | None = None) -> ReadingColumns:
    return ReadingColumns(
        batch_id=batch_id,
        equipment=equipment_pb2.EquipmentPath(enterprise="acme"),
        tags=["t"],
        units=[""],
        tag_idx=np.zeros(n, dtype=np.uint32),
        times_ns=np.full(n, T0, dtype=np.int64),
        values=np.zeros(n),
        quality=np.ones(n, dtype=np.int32),
        source_idx=np.arange(n, dtype=np.uint32),
        reading_ids=ids,
    )


def test_filter_columns_uses_batch_ids_for_batches_and_reading_ids_otherwise() -> None:
    d = Deduplicator(window_s=60, max_ids=10)
    assert d.filter_columns(columns("b1", 3)).tolist() == [True] * 3
    assert d.filter_columns(columns("b1", 3)).tolist() == [False] * 3
    assert d.filter_columns(columns("grp", 2, ["r1", "r2"])).tolist() == [True, True]
    assert d.filter_columns(columns("grp2", 2, ["r2", "r3"])).tolist() == [False, True]
    assert (d.remembered_batches, d.remembered_ids) == (1, 3)


def test_rollback_forgets_what_an_aborted_transaction_recorded() -> None:
    d = Deduplicator(window_s=60, max_ids=10)
    d.filter(["a"], times(0))
    d.filter_batch("b0", times(0))
    mark = d.mark()
    d.filter(["b", "c"], times(1, 1))
    d.filter_batch("b1", times(1))
    d.rollback(mark)
    # The retried transaction sees its readings as new again; earlier ones stay remembered.
    assert d.filter(["a", "b", "c"], times(2, 2, 2)).tolist() == [False, True, True]
    assert d.filter_batch("b1", times(2)) is True
    assert d.filter_batch("b0", times(2)) is False


def test_rollback_after_eviction_of_its_own_entries() -> None:
    d = Deduplicator(window_s=60, max_ids=2)
    mark = d.mark()
    d.filter(["a", "b", "c"], times(0, 0, 0))  # "a" is already evicted again
    d.rollback(mark)
    assert d.remembered_ids == 0
    assert d.filter(["a", "b", "c"], times(1, 1, 1)).all()


def test_constructor_checks() -> None:
    with pytest.raises(ValueError, match="> 0"):
        Deduplicator(window_s=0, max_ids=1)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.sampled_from([f"id{i}" for i in range(30)]), max_size=12), max_size=15))
def test_matches_a_reference_set_when_nothing_expires(batches: list[list[str]]) -> None:
    d = Deduplicator(window_s=1e6, max_ids=10_000)
    reference: set[str] = set()
    for step, ids in enumerate(batches):
        expected = []
        for rid in ids:
            expected.append(rid not in reference)
            reference.add(rid)
        assert d.filter(ids, times(*([step] * len(ids)))).tolist() == expected


# --- micro benchmark (run the module; not a timed test) --------------------------------------


def benchmark(
    batches: int = 2000, batch_size: int = 1000, max_ids: int = 1_000_000, memory_ids: int = 1_000_000
) -> dict[str, float]:
    """Readings/s of the batch path and the reading-id path, and memory per 1M ids."""
    d = Deduplicator(window_s=600, max_ids=max_ids)
    t = np.full(batch_size, T0, dtype=np.int64)
    start = time.perf_counter()
    for i in range(batches):
        d.filter_batch(f"batch-{i}", t + i * 1_000_000)
    batch_path = batches * batch_size / (time.perf_counter() - start)

    ids = [[f"{i:08d}-0000-4000-8000-{j:012d}" for j in range(batch_size)] for i in range(batches)]
    d = Deduplicator(window_s=600, max_ids=max_ids)
    start = time.perf_counter()
    for i, chunk in enumerate(ids):
        d.filter(chunk, t + i * 1_000_000)
    id_path = batches * batch_size / (time.perf_counter() - start)
    start = time.perf_counter()
    for chunk in ids[:200]:  # every id a duplicate: the Python slow path
        d.filter(chunk, t + batches * 1_000_000)
    dup_path = 200 * batch_size / (time.perf_counter() - start)

    # Memory of 1M remembered ids (the set of hashes and the ring buffer), the id strings
    # themselves excluded: they belong to the parsed records and are not retained.
    gc.collect()
    tracemalloc.start()
    d = Deduplicator(window_s=600, max_ids=memory_ids)
    chunk_times = np.full(1000, T0, dtype=np.int64)
    for i in range(memory_ids // 1000):
        d.filter([f"{i:08d}-0000-4000-8000-{j:012d}" for j in range(1000)], chunk_times + i)
    gc.collect()
    memory = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return {
        "batch_path_readings_per_s": batch_path,
        "id_path_readings_per_s": id_path,
        "id_path_all_duplicates_readings_per_s": dup_path,
        "bytes_per_id": memory / d.remembered_ids,
        "mib_per_1m_ids": memory / d.remembered_ids * 1e6 / 2**20,
    }


def test_benchmark_runs() -> None:
    assert benchmark(batches=3, batch_size=10, max_ids=100, memory_ids=2000)["bytes_per_id"] > 0


if __name__ == "__main__":
    print("dedup", benchmark())
