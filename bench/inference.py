"""Inference service vs Triton alone, on the same Triton server and model (`python -m bench.inference`).

In one run:

(a) Triton direct: NVIDIA's ``perf_analyzer`` (PyPI ``perf-analyzer``) against the model
    at a fixed concurrency and batch size, with the model's training means as input — the
    reference: what the server does with no service in front of it. Also at batch 1 and
    concurrency 1, for the request latency the service adds to. When ``perf_analyzer``
    cannot run here (the 2.60 wheel needs glibc >= 2.38), the same load comes from an
    async ``tritonclient`` loop at the same concurrency and batch size; ``direct_tool``
    says which.
(b) the inference service end to end, as a process (``python -m factorymesh.inference``):
    a backlog of feature windows (one per tag, as ingest writes them) on Kafka, drained
    into results on Kafka, exactly once — ``service_infer_per_s``;
(c) end-to-end latency at a fixed offered load (window written -> its result readable,
    read_committed), minus Triton's own p99 request latency = ``added_p99_ms``.

Energy per inference is what the service put on its results (docs/energy.md).
Writes bench/results/inference.json. Needs FM_KAFKA_BOOTSTRAP and FM_TRITON_URL (and
FM_TRITON_METRICS_URL for the energy sampler); FM_PERF_ANALYZER names the perf_analyzer
executable (default: ``perf_analyzer`` on PATH).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
from aiokafka import AIOKafkaConsumer

from bench.common import write_result
from factorymesh.api.inference.v1 import inference_result_pb2
from factorymesh.common.kafka import EventProducer, KafkaConfig, decode_event, ensure_topics
from factorymesh.common.topics import TopicSpec
from factorymesh.common.triton import TritonClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "services" / "inference" / "tests" / "integration"))
from inference_harness import (  # type: ignore[import-not-found,unused-ignore]  # the service harness, with its tests
    REPOSITORY,
    InferenceProcess,
    ModelMeta,
    ensure_loaded,
    equipment,
    model_meta,
    produce,
    windows_for,
)

NS = 1_000_000_000
T0 = 1_750_000_000 * NS


# ------------------------------------------------------------------ (a) Triton direct


def perf_analyzer_executable() -> str | None:
    candidate = os.environ.get("FM_PERF_ANALYZER") or shutil.which("perf_analyzer")
    if candidate is None:
        return None
    try:
        probe = subprocess.run([candidate], capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return None
    # Without arguments it prints its usage; a binary the loader refuses prints "GLIBC_2.38 ... not found".
    return candidate if "concurrency-range" in probe.stdout + probe.stderr else None


def perf_analyzer(
    exe: str, url: str, meta: ModelMeta, concurrency: int, batch: int, interval_ms: int
) -> dict[str, float]:
    """One perf_analyzer measurement: infer/s and latency percentiles (ms)."""
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "input.json"
        row = np.asarray(meta.mean, dtype=np.float32).tolist()
        data.write_text(json.dumps({"data": [{"FEATURES": {"content": row, "shape": [len(row)]}}]}))
        report = Path(tmp) / "report.csv"
        cmd = [
            exe,
            "-m",
            meta.name,
            "-x",
            meta.version,
            "-u",
            url,
            "-i",
            "grpc",
            "-b",
            str(batch),
            "--concurrency-range",
            str(concurrency),
            "--measurement-interval",
            str(interval_ms),
            "--input-data",
            str(data),
            "-f",
            str(report),
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
        if done.returncode != 0 or not report.exists():
            raise RuntimeError(f"perf_analyzer failed ({done.returncode}): {done.stdout[-2000:]} {done.stderr[-2000:]}")
        row_out = next(csv.DictReader(report.open()))
    return {
        "infer_per_s": float(row_out["Inferences/Second"]),
        "p50_ms": float(row_out["p50 latency"]) / 1000,
        "p99_ms": float(row_out["p99 latency"]) / 1000,
    }


async def client_loop(url: str, meta: ModelMeta, concurrency: int, batch: int, seconds: float) -> dict[str, float]:
    """perf_analyzer's fixed-concurrency mode with tritonclient: `concurrency` requests of
    `batch` rows always in flight, for `seconds` after a one-second warm-up."""
    rows = np.tile(np.asarray(meta.mean, dtype=np.float32), (batch, 1))
    latencies: list[float] = []
    done_rows = 0
    async with TritonClient(url, timeout_s=10, max_concurrency=concurrency) as client:
        start = time.monotonic()
        warm_until, stop_at = start + 1.0, start + 1.0 + seconds

        async def worker() -> None:
            nonlocal done_rows
            while (now := time.monotonic()) < stop_at:
                await client.infer(meta.name, {"FEATURES": rows}, version=meta.version)
                if now >= warm_until:
                    latencies.append(time.monotonic() - now)
                    done_rows += batch

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return {
        "infer_per_s": done_rows / seconds,
        "p50_ms": float(np.percentile(latencies, 50)) * 1000,
        "p99_ms": float(np.percentile(latencies, 99)) * 1000,
    }


# ------------------------------------------------------------------ (b), (c) the service


async def arrivals(config: KafkaConfig, topic: str, expected: int, timeout_s: float) -> list[tuple[float, Any]]:
    """(arrival time, result) of every committed result until `expected` arrived."""
    consumer = AIOKafkaConsumer(
        topic, **config.common(), group_id=None, auto_offset_reset="earliest", isolation_level="read_committed"
    )
    await consumer.start()
    out: list[tuple[float, Any]] = []
    try:
        deadline = time.monotonic() + timeout_s
        while len(out) < expected and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=100)
            now = time.monotonic()
            for records in batch.values():
                for record in records:
                    message = decode_event(record.value, record.headers)
                    if isinstance(message, inference_result_pb2.InferenceResult):
                        out.append((now, message))
    finally:
        await consumer.stop()
    return out


def _spec(name: str) -> TopicSpec:
    return TopicSpec(name, 3, "equipment path", (), "bench input", ("bench",), ("inference",))


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback URL we built
        body: bytes = response.read()
    return body.decode()


async def service_runs(
    config: KafkaConfig, url: str, meta: ModelMeta, groups: int, equipments: int, rate: float, latency_s: float
) -> dict[str, Any]:
    size_ns = round(float(meta.window["size_s"]) * NS)
    backlog = [
        w
        for k in range(groups // equipments)
        for e in range(equipments)
        for w in windows_for(meta, equipment("bench", e), T0 + k * size_ns)
    ]
    n = len(backlog) // len(meta.tags)
    with tempfile.TemporaryDirectory() as tmp:
        service = InferenceProcess(config.bootstrap, url, Path(tmp), extra_env={"FM_LOG_LEVEL": "WARNING"})
        # (b) the backlog goes in first; the service drains it as fast as it can.
        await ensure_topics(config, [_spec(service.features_topic), _spec(service.results_topic)])
        await service.start(wait=False)
        await produce(config, service.features_topic, backlog)
        got = await arrivals(config, service.results_topic, n, timeout_s=600)
        if len(got) < n:
            raise RuntimeError(f"only {len(got)} of {n} results:\n{service.log_tail()}")
        first_batch = sum(1 for t, _ in got if t == got[0][0])
        throughput = (n - first_batch) / (got[-1][0] - got[0][0])
        energy = [r.energy_joules for _, r in got[n // 2 :]]  # after the sampler has seen load
        estimate = {r.energy_is_estimate for _, r in got[n // 2 :]}

        # (c) latency at a fixed offered load: one window group (all tags) at a time.
        sent_at: dict[tuple[str, ...], float] = {}
        total = int(rate * latency_s)

        async def offer() -> None:
            async with EventProducer(config, producer_name="ingest") as producer:
                start = time.monotonic()
                for i in range(total):
                    await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
                    group = windows_for(meta, equipment("latency", i % equipments), T0 + (1000 + i) * size_ns)
                    sent_at[tuple(sorted(w.event_id for w in group))] = time.monotonic()
                    key = f"latency/site1/area1/line1/cell1/{group[0].equipment.equipment}"
                    await producer.send_many(service.features_topic, [(key, w) for w in group])

        reader = asyncio.create_task(arrivals(config, service.results_topic, n + total, timeout_s=latency_s + 120))
        await offer()
        latencies = [
            (arrived - sent_at[ids]) * 1000
            for arrived, result in (await reader)[n:]
            if (ids := tuple(sorted(result.input_window_event_ids))) in sent_at
        ]
        metrics_text = scrape(f"http://127.0.0.1:{service.metrics_port}/metrics")
        await service.stop()
    method = next(
        (
            line.split('method="')[1].split('"')[0]
            for line in metrics_text.splitlines()
            if line.startswith("factorymesh_inference_energy_per_inference") and 'method="' in line
        ),
        "unknown",
    )
    return {
        "service_infer_per_s": throughput,
        "service_results": n,
        "e2e_p50_ms": float(np.percentile(latencies, 50)),
        "e2e_p99_ms": float(np.percentile(latencies, 99)),
        "latency_samples": len(latencies),
        "joules_per_inference": float(np.median(energy)),
        "energy_method": method,
        "energy_is_estimate": estimate == {True},
    }


async def main_async(args: argparse.Namespace) -> None:
    url = os.environ["FM_TRITON_URL"]
    config = KafkaConfig(os.environ["FM_KAFKA_BOOTSTRAP"], "bench-inference")
    models = sorted({p.parent.parent.name for p in REPOSITORY.glob("*/*/metadata.json")})
    await ensure_loaded(url, models)
    meta = model_meta(args.model)

    exe = perf_analyzer_executable()
    if exe is not None:
        direct = perf_analyzer(exe, url, meta, args.concurrency, args.batch, 5000)
        single = perf_analyzer(exe, url, meta, 1, 1, 3000)
        tool = f"perf_analyzer ({exe})"
    else:
        direct = await client_loop(url, meta, args.concurrency, args.batch, 5.0)
        single = await client_loop(url, meta, 1, 1, 3.0)
        tool = "tritonclient.grpc.aio fixed-concurrency loop (perf_analyzer not runnable here)"

    service = await service_runs(config, url, meta, args.windows, args.equipment, args.rate, args.latency_s)
    write_result(
        "inference",
        {
            "model": meta.name,
            "model_version": meta.version,
            "features": len(meta.features),
            "direct_tool": tool,
            "direct_concurrency": args.concurrency,
            "direct_batch_size": args.batch,
            "triton_direct_infer_per_s": direct["infer_per_s"],
            "triton_direct_p99_ms": direct["p99_ms"],
            "triton_single_request_p50_ms": single["p50_ms"],
            "triton_single_request_p99_ms": single["p99_ms"],
            **service,
            "service_vs_direct": service["service_infer_per_s"] / direct["infer_per_s"],
            "offered_windows_per_s": args.rate,
            "added_p99_ms": service["e2e_p99_ms"] - single["p99_ms"],
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="anomaly_centrifugal_pump")
    parser.add_argument("--concurrency", type=int, default=4, help="perf_analyzer concurrency (service default 8)")
    parser.add_argument("--batch", type=int, default=32, help="rows per direct request (Triton's preferred max)")
    parser.add_argument("--windows", type=int, default=3000, help="window groups in the throughput backlog")
    parser.add_argument("--equipment", type=int, default=50, help="distinct equipment in the backlog")
    parser.add_argument("--rate", type=float, default=20.0, help="window groups per second in the latency phase")
    parser.add_argument("--latency-s", type=float, default=10.0)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
