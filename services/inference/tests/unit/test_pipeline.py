"""The streaming batch handler with a fake Triton: results, held tails, failures, shadows, canary."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiokafka import TopicPartition
from inference_fakes import (
    NS,
    PUMP_KEY,
    RUL_FEATURES,
    T0,
    TOPIC,
    UNAVAILABLE,
    FakeTriton,
    pump,
    record,
    window,
    write_model,
)

from factorymesh.api.common.v1 import dead_letter_pb2
from factorymesh.api.inference.v1 import inference_result_pb2, model_pb2
from factorymesh.common.kafka import BatchResult, derived_event_id
from factorymesh.common.topics import TopicSpec
from factorymesh.inference.assembler import Assembler, key_of
from factorymesh.inference.breaker import BreakerState, CircuitBreaker, CircuitOpen
from factorymesh.inference.energy import EnergyMeter
from factorymesh.inference.guard import InputGuard
from factorymesh.inference.models import Batching, ModelCatalog, Task
from factorymesh.inference.pipeline import InferencePipeline
from factorymesh.inference.router import RoutingTable, default_routes
from factorymesh.inference.scorer import Scorer

OUT = TopicSpec("results", 1, "k", (inference_result_pb2.InferenceResult,), "d", ("t",), ("t",))
DLQ = TopicSpec("dlq", 1, "k", (dead_letter_pb2.DeadLetter,), "d", ("t",), ("t",))
TAGS = ("flow", "vibration_rms", "bearing_temperature")
TP0 = TopicPartition(TOPIC, 0)


class Harness:
    def __init__(self, repo: Path) -> None:
        write_model(repo, "anomaly_centrifugal_pump", "1")
        write_model(repo, "anomaly_centrifugal_pump", "2")
        write_model(
            repo,
            "rul_centrifugal_pump",
            "1",
            features=RUL_FEATURES,
            window={"kind": "hopping", "size_s": 60, "hop_s": 10},
        )
        self.catalog = ModelCatalog(repo)
        self.catalog.scan()
        self.catalog.set_states([{"name": n, "version": v, "state": "READY"} for n, v in self.catalog.versions])
        self.table = RoutingTable()
        self.table.set_defaults(default_routes(self.catalog))
        self.triton = FakeTriton()
        self.breaker = CircuitBreaker(failure_threshold=2, reset_timeout_s=60, max_reset_timeout_s=60)
        self.scorer = Scorer(self.triton, self.breaker, EnergyMeter(metrics_url=None, watts_per_core=10.0))
        self.pipeline = InferencePipeline(
            catalog=self.catalog,
            table=self.table,
            scorer=self.scorer,
            guard=InputGuard(),
            assembler=Assembler(30),
            output_topic=OUT,
            service="inference",
            dead_letter_topic=DLQ,
        )

    async def run(self, *messages: object, first_offset: int = 0) -> BatchResult:
        records = [record(m, first_offset + i) for i, m in enumerate(messages)]
        return await self.pipeline(records)


def results(batch: BatchResult) -> list[inference_result_pb2.InferenceResult]:
    return [o.message for o in batch.outputs if isinstance(o.message, inference_result_pb2.InferenceResult)]


def letters(batch: BatchResult) -> list[dead_letter_pb2.DeadLetter]:
    return [o.message for o in batch.outputs if isinstance(o.message, dead_letter_pb2.DeadLetter)]


def group(start: int = T0, tags: tuple[str, ...] = TAGS, **kw: object) -> list[object]:
    return [window(tag, start, **kw) for tag in tags]  # type: ignore[arg-type]


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


async def test_a_complete_window_gives_one_result_with_model_version_latency_and_window_ids(h: Harness) -> None:
    windows = group()
    batch = await h.run(*windows)
    assert batch.hold_from == {}
    [result] = results(batch)
    key = key_of(windows[0])  # type: ignore[arg-type]
    assert result.model_name == "anomaly_centrifugal_pump"
    assert result.model_version == "2"  # newest READY
    assert result.task == Task.INFERENCE_TASK_ANOMALY_DETECTION
    assert result.window_event_id == key.id
    assert list(result.input_window_event_ids) == [w.event_id for w in sorted(windows, key=lambda w: w.tag)]  # type: ignore[attr-defined]
    assert result.event_id == derived_event_id("inference", key.id, "anomaly_centrifugal_pump", "2")
    assert result.latency_ms > 0
    assert result.HasField("energy_joules")
    assert result.energy_is_estimate
    assert result.route_name == "default-anomaly_centrifugal_pump"
    assert result.equipment_class == "centrifugal_pump"
    assert not result.shadow
    assert not result.out_of_distribution
    assert list(result.imputed_features) == []
    assert result.anomaly.score == pytest.approx(1.0)
    assert result.anomaly.threshold == 2.0
    assert not result.anomaly.is_anomaly
    assert set(result.anomaly.feature_contributions) == set(h.catalog.get("anomaly_centrifugal_pump").features)  # type: ignore[union-attr]
    [output] = batch.outputs
    assert output.key == PUMP_KEY
    assert output.topic == OUT


async def test_a_window_cut_by_the_poll_is_held_and_answered_once_from_the_next_poll(h: Harness) -> None:
    first, second = group(T0), group(T0 + 10 * NS)
    batch = await h.run(*first, second[0])
    assert len(results(batch)) == 1
    assert batch.hold_from == {TP0: 3}
    batch = await h.run(*second, first_offset=3)
    assert [r.window_event_id for r in results(batch)] == [key_of(second[0]).id]  # type: ignore[arg-type]
    assert batch.hold_from == {}


async def test_rul_uses_hopping_windows_and_reports_hours(h: Harness) -> None:
    windows = group(T0, ("vibration_rms", "bearing_temperature"), size_s=60, hop_s=10, kind=2)
    [result] = results(await h.run(*windows))
    assert result.model_name == "rul_centrifugal_pump"
    assert result.rul.estimate == 100.0
    assert (result.rul.lower_bound, result.rul.upper_bound) == (80.0, 120.0)
    assert result.rul.unit.code == "h"
    assert result.rul.confidence_level == pytest.approx(0.9)


async def test_triton_down_raises_so_nothing_commits_and_the_breaker_opens(h: Harness) -> None:
    h.triton.fail_with = UNAVAILABLE
    for _ in range(2):
        with pytest.raises(type(UNAVAILABLE)):
            await h.run(*group())
    assert h.breaker.state is BreakerState.OPEN
    calls = len(h.triton.calls)
    with pytest.raises(CircuitOpen):
        await h.run(*group())
    assert len(h.triton.calls) == calls  # failed fast, Triton not called
    h.pipeline.on_abort()
    assert h.pipeline.stats.pending_results == []


async def test_after_the_outage_the_same_records_are_answered_once(h: Harness) -> None:
    windows = group()
    h.triton.fail_with = UNAVAILABLE
    with pytest.raises(type(UNAVAILABLE)):
        await h.run(*windows)
    h.pipeline.on_abort()
    h.triton.fail_with = None
    batch = await h.run(*windows)
    h.pipeline.on_commit()
    assert len(results(batch)) == 1
    assert h.pipeline.stats.results == 1


async def test_a_dropped_tag_is_imputed_and_flagged_once_the_next_window_arrives(h: Harness) -> None:
    incomplete = group(T0, ("flow", "vibration_rms"))
    batch = await h.run(*incomplete)
    assert results(batch) == []
    assert batch.hold_from == {TP0: 0}
    batch = await h.run(*incomplete, *group(T0 + 10 * NS))
    first, second = results(batch)
    assert list(first.imputed_features) == ["bearing_temperature.mean", "bearing_temperature.valid_fraction"]
    assert len(first.input_window_event_ids) == 2
    assert list(second.imputed_features) == []


async def test_too_few_tags_to_impute_goes_to_the_dead_letter_topic(h: Harness) -> None:
    lonely = window("flow", T0)
    batch = await h.run(lonely, *group(T0 + 10 * NS))
    [letter] = letters(batch)
    assert letter.source_offset == 0
    assert letter.reason_code == dead_letter_pb2.DeadLetterReason.DEAD_LETTER_REASON_MISSING_REQUIRED_FIELD
    assert "bearing_temperature" in letter.reason_detail
    assert len(results(batch)) == 1


async def test_undecodable_and_unroutable_records_are_dead_lettered_unless_held(h: Harness) -> None:
    no_class = window("flow", equipment_class="")
    batch = await h.run(b"\xff\xff not a window", no_class, *group())
    assert [letter.source_offset for letter in letters(batch)] == [0, 1]
    # Behind a held window the same bad record waits too (it comes again with the tail).
    batch = await h.run(window("flow", T0 + 10 * NS), b"\xff\xff")
    assert letters(batch) == []
    assert batch.hold_from == {TP0: 0}


async def test_out_of_distribution_input_is_flagged_not_dropped(h: Harness) -> None:
    windows = group()
    windows[1].mean = 25.0  # type: ignore[attr-defined]  # vibration far outside training
    [result] = results(await h.run(*windows))
    assert result.out_of_distribution
    assert result.out_of_distribution_score > 6


async def test_shadow_results_are_marked_and_a_failing_shadow_does_not_block_serving(h: Harness) -> None:
    h.table.put(
        model_pb2.ModelRoute(
            name="pumps",
            task=Task.INFERENCE_TASK_ANOMALY_DETECTION,
            equipment_class="centrifugal_pump",
            primary_model_name="anomaly_centrifugal_pump",
            primary_model_version="1",
            shadow_models=[
                model_pb2.ShadowModel(model_name="anomaly_centrifugal_pump", model_version="2", sample_fraction=1.0)
            ],
        )
    )
    served, shadowed = results(await h.run(*group()))
    assert (served.model_version, served.shadow) == ("1", False)
    assert (shadowed.model_version, shadowed.shadow) == ("2", True)
    assert served.route_name == shadowed.route_name == "pumps"

    original = h.triton.infer

    async def shadow_fails(model: str, inputs: object, **kw: object) -> object:
        if kw.get("version") == "2":
            raise UNAVAILABLE
        return await original(model, inputs, **kw)  # type: ignore[arg-type]

    h.triton.infer = shadow_fails  # type: ignore[method-assign]
    [only] = results(await h.run(*group(T0 + 10 * NS)))
    assert (only.model_version, only.shadow) == ("1", False)


async def test_canary_gets_its_share_by_window_id_on_every_retry(h: Harness) -> None:
    h.table.put(
        model_pb2.ModelRoute(
            name="pumps",
            task=Task.INFERENCE_TASK_ANOMALY_DETECTION,
            equipment_class="centrifugal_pump",
            primary_model_name="anomaly_centrifugal_pump",
            primary_model_version="1",
            canary=model_pb2.CanaryModel(model_version="2", traffic_fraction=0.3),
        )
    )
    messages = [w for i in range(60) for w in group(T0 + i * 10 * NS, equipment=pump(f"pump-{i}"))]
    first = {r.window_event_id: r.model_version for r in results(await h.run(*messages))}
    again = {r.window_event_id: r.model_version for r in results(await h.run(*messages))}
    assert first == again
    share = sum(v == "2" for v in first.values()) / len(first)
    assert 0.1 < share < 0.5


async def test_rows_are_cut_into_triton_preferred_batch_sizes(h: Harness) -> None:
    h.catalog.batching["anomaly_centrifugal_pump"] = Batching(max_batch_size=64, preferred=(8, 16, 32))
    messages = [w for i in range(45) for w in group(T0, equipment=pump(f"pump-{i}"))]
    batch = await h.run(*messages)
    assert len(results(batch)) == 45
    assert sorted(rows for _, _, rows in h.triton.calls) == [13, 32]


async def test_metrics_count_only_committed_results(h: Harness) -> None:
    await h.run(*group())
    assert h.pipeline.stats.results == 0
    h.pipeline.on_abort()
    await h.run(*group())
    h.pipeline.on_commit()
    assert h.pipeline.stats.results == 1
    p50, p99 = h.pipeline.latencies.percentiles("anomaly_centrifugal_pump", "2")
    assert 0 < p50 <= p99
