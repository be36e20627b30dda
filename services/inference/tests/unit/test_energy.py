"""Energy per inference: GPU counter, Triton process CPU time, host utilization, latency fallback."""

from __future__ import annotations

from pathlib import Path

import pytest

from factorymesh.inference.energy import (
    EnergyMeter,
    find_process,
    is_loopback,
    metrics_endpoint,
    parse_prometheus,
    process_tree_cpu_seconds,
)

METRICS = """# HELP nv_inference_count Number of inferences performed
# TYPE nv_inference_count counter
nv_inference_count{{model="a",version="1"}} {a}
nv_inference_count{{model="b",version="1"}} {b}
nv_cpu_utilization {util}
{gpu}"""


class Source:
    """Scripted metrics text and Triton CPU seconds, one value per sample."""

    def __init__(self, *samples: dict[str, float]) -> None:
        self.samples = list(samples)
        self.i = -1

    async def fetch(self) -> str:
        self.i += 1
        s = self.samples[self.i]
        gpu = f'nv_energy_consumption{{gpu_uuid="GPU-0"}} {s["energy"]}' if "energy" in s else ""
        return METRICS.format(a=s["a"], b=s.get("b", 0), util=s.get("util", 0.5), gpu=gpu)

    def cpu(self) -> float | None:
        return self.samples[self.i].get("cpu")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def two_samples(source: Source, clock: Clock, **kw: object) -> EnergyMeter:
    meter = EnergyMeter(
        metrics_url="x:1", watts_per_core=10.0, fetch=source.fetch, cpu_seconds=source.cpu, clock=clock, **kw
    )  # type: ignore[arg-type]
    assert await meter.sample() is None  # the first sample has nothing to compare with
    clock.now += 5
    await meter.sample()
    return meter


def test_parse_prometheus_sums_label_sets() -> None:
    text = METRICS.format(a=10, b=5, util=0.25, gpu='nv_energy_consumption{gpu_uuid="G"} 1.5e3')
    assert parse_prometheus(text) == {
        "nv_inference_count": 15.0,
        "nv_cpu_utilization": 0.25,
        "nv_energy_consumption": 1500.0,
    }


async def test_gpu_energy_counter_is_a_measurement() -> None:
    source = Source({"a": 100, "energy": 1000.0, "cpu": 1.0}, {"a": 300, "b": 100, "energy": 1060.0, "cpu": 2.0})
    meter = await two_samples(source, Clock())
    estimate = meter.per_inference(0.010, 4)
    assert estimate.method == "gpu_energy_counter"
    assert not estimate.is_estimate
    assert estimate.joules == pytest.approx(60.0 / 300)


async def test_triton_cpu_time_estimate_without_gpu() -> None:
    source = Source({"a": 100, "cpu": 10.0}, {"a": 600, "cpu": 12.5})
    meter = await two_samples(source, Clock())
    estimate = meter.per_inference(0.010, 4)
    assert estimate.method == "triton_process_cpu_time"
    assert estimate.is_estimate
    assert estimate.joules == pytest.approx(2.5 * 10.0 / 500)


async def test_host_utilization_estimate_when_triton_is_remote() -> None:
    source = Source({"a": 0, "util": 0.5}, {"a": 1000, "util": 0.5})
    meter = await two_samples(source, Clock(), cpu_cores=4)
    estimate = meter.per_inference(0.010, 1)
    assert estimate.method == "host_cpu_utilization"
    assert estimate.joules == pytest.approx(0.5 * 4 * 5 * 10.0 / 1000)


async def test_latency_fallback_before_any_sample_and_after_idle() -> None:
    clock = Clock()
    meter = EnergyMeter(metrics_url=None, watts_per_core=12.0, clock=clock, max_age_s=60)
    estimate = meter.per_inference(0.020, 4)
    assert estimate.method == "latency"
    assert estimate.is_estimate
    assert estimate.joules == pytest.approx(0.020 * 12.0 / 4)
    # An idle interval keeps the last estimate; a stale one falls back to latency.
    source = Source({"a": 0, "cpu": 0.0}, {"a": 10, "cpu": 1.0}, {"a": 10, "cpu": 1.0})
    meter = await two_samples(source, clock)
    clock.now += 5
    await meter.sample()
    assert meter.per_inference(0.02, 1).method == "triton_process_cpu_time"
    clock.now += 120
    assert meter.per_inference(0.02, 1).method == "latency"


async def test_own_row_count_is_the_divisor_when_triton_metrics_are_missing() -> None:
    cpu = iter([1.0, 3.0])
    clock = Clock()
    meter = EnergyMeter(metrics_url=None, watts_per_core=10.0, cpu_seconds=lambda: next(cpu), clock=clock)
    await meter.sample()
    meter.count(200)
    clock.now += 5
    await meter.sample()
    assert meter.per_inference(0.01, 1).joules == pytest.approx(2.0 * 10.0 / 200)


def fake_proc(root: Path, procs: dict[int, tuple[str, int, int, int]]) -> Path:
    """procs: pid -> (comm, ppid, utime ticks, stime ticks)."""
    for pid, (comm, ppid, utime, stime) in procs.items():
        d = root / str(pid)
        d.mkdir(parents=True)
        (d / "comm").write_text(comm + "\n")
        fields = ["S", str(ppid)] + ["0"] * 9 + [str(utime), str(stime), "0", "0"] + ["0"] * 30
        (d / "stat").write_text(f"{pid} ({comm}) " + " ".join(fields))
    return root


def test_process_tree_cpu_time_includes_backend_stubs(tmp_path: Path) -> None:
    import os

    hz = os.sysconf("SC_CLK_TCK")
    proc = fake_proc(
        tmp_path,
        {
            1: ("init", 0, 0, 0),
            50: ("tritonserver", 1, 2 * hz, hz),
            51: ("triton_python_b", 50, hz, 0),  # a python backend stub
            52: ("triton_python_b", 51, hz, 0),
            60: ("java", 1, 100 * hz, 0),
        },
    )
    assert find_process("tritonserver", proc) == 50
    assert process_tree_cpu_seconds(50, proc) == pytest.approx(5.0)
    assert process_tree_cpu_seconds(999, proc) is None


def test_url_helpers() -> None:
    assert metrics_endpoint("127.0.0.1:8002") == "http://127.0.0.1:8002/metrics"
    assert metrics_endpoint("http://triton:8002/metrics") == "http://triton:8002/metrics"
    assert is_loopback("127.0.0.1:8001")
    assert is_loopback("localhost:8001")
    assert not is_loopback("triton.svc:8001")
    assert not is_loopback("10.0.0.5:8001")
