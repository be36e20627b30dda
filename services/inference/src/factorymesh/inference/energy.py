"""Energy per inference: measured where Triton has a GPU, estimated otherwise.

A background sampler reads Triton's Prometheus endpoint (``FM_TRITON_METRICS_URL``) every
few seconds and divides the energy of the interval by the inferences Triton performed in
it (``nv_inference_count``, summed over models: one per batch row). Sources, best first:

1. ``gpu_energy_counter`` — ``nv_energy_consumption`` (joules since start, per GPU, from
   NVML): ΔE / ΔN. A hardware measurement (``energy_is_estimate = false``), but of the
   whole GPU: idle power is shared among the inferences of the interval.
2. ``triton_process_cpu_time`` — no GPU, Triton on this host (its PID given, or found by
   name when ``FM_TRITON_URL`` is a loopback address): CPU seconds of the ``tritonserver``
   process tree (python backend stubs included) from ``/proc`` x watts per core / ΔN.
3. ``host_cpu_utilization`` — no GPU, Triton elsewhere: ``nv_cpu_utilization`` x cores x
   Δt x watts per core / ΔN; includes whatever else runs on Triton's host.
4. ``latency`` — nothing sampled yet (start-up, metrics unreachable): the request's latency
   x watts per core / rows in the request, i.e. one core busy for the whole call.

Sources 2-4 are estimates (``energy_is_estimate = true``). docs/energy.md explains why.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import os
import re
import time
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from factorymesh.common.logging import get_logger

log = get_logger(__name__)

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")


def parse_prometheus(text: str) -> dict[str, float]:
    """Each metric's value summed over its label sets (``# HELP``/``# TYPE`` skipped)."""
    totals: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match is None:
            continue
        try:
            value = float(match.group(3))
        except ValueError:
            continue
        if math.isfinite(value):
            totals[match.group(1)] = totals.get(match.group(1), 0.0) + value
    return totals


def metrics_endpoint(url: str) -> str:
    """``host:port`` (as the local stack exports it) or a full URL -> the /metrics URL."""
    if "://" not in url:
        url = f"http://{url}"
    return url if url.rstrip("/").endswith("/metrics") else url.rstrip("/") + "/metrics"


def is_loopback(url: str) -> bool:
    host = url.split("://")[-1].rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def find_process(name: str = "tritonserver", proc: Path = Path("/proc")) -> int | None:
    """The oldest process with this command name, or None."""
    pids = []
    for entry in proc.iterdir() if proc.is_dir() else ():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return min(pids) if pids else None


def process_tree_cpu_seconds(root: int, proc: Path = Path("/proc")) -> float | None:
    """User + system CPU seconds of a process and all its descendants (None if it is gone)."""
    ticks = os.sysconf("SC_CLK_TCK")
    parent: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
        fields = stat[stat.rfind(")") + 2 :].split()
        pid = int(entry.name)
        parent[pid] = int(fields[1])
        # utime, stime, cutime, cstime (fields 14-17): children's time once they are reaped.
        cpu[pid] = sum(int(v) for v in fields[11:15]) / ticks
    if root not in cpu:
        return None
    total, frontier = 0.0, [root]
    while frontier:
        pid = frontier.pop()
        total += cpu.get(pid, 0.0)
        frontier.extend(child for child, par in parent.items() if par == pid)
    return total


@dataclass(frozen=True)
class EnergyEstimate:
    joules: float
    is_estimate: bool
    method: str


@dataclass(frozen=True)
class _Sample:
    at: float
    inferences: float | None
    energy_j: float | None
    cpu_s: float | None
    utilization: float | None
    own_rows: int


Fetch = Callable[[], Awaitable[str | None]]


class EnergyMeter:
    def __init__(
        self,
        *,
        metrics_url: str | None,
        watts_per_core: float,
        triton_pid: int | None = None,
        cpu_cores: int | None = None,
        fetch: Fetch | None = None,
        cpu_seconds: Callable[[], float | None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_age_s: float = 60.0,
    ) -> None:
        self.watts_per_core = watts_per_core
        self.cpu_cores = cpu_cores or os.cpu_count() or 1
        self._url = metrics_endpoint(metrics_url) if metrics_url else None
        self._fetch = fetch or (self._http_fetch if self._url else None)
        if cpu_seconds is None and triton_pid is not None:
            pid = triton_pid

            def cpu_seconds() -> float | None:
                return process_tree_cpu_seconds(pid)

        self._cpu_seconds = cpu_seconds
        self._clock = clock
        self._max_age_s = max_age_s
        self._previous: _Sample | None = None
        self._own_rows = 0
        self.current: EnergyEstimate | None = None
        self._current_at = 0.0

    def count(self, rows: int) -> None:
        """Rows this service had scored (the divisor when Triton's own count is unavailable)."""
        self._own_rows += rows

    async def _http_fetch(self) -> str | None:
        assert self._url is not None
        url = self._url

        def get() -> str:
            with urllib.request.urlopen(url, timeout=2.0) as response:  # noqa: S310 - configured URL
                body: bytes = response.read()
            return body.decode("utf-8", errors="replace")

        try:
            return await asyncio.to_thread(get)
        except OSError as error:
            log.debug("triton_metrics_unreachable", url=url, error=str(error))
            return None

    async def sample(self) -> EnergyEstimate | None:
        """Take one sample; returns (and keeps) the estimate of the interval since the last."""
        metrics = parse_prometheus(text) if self._fetch is not None and (text := await self._fetch()) else {}
        cpu_s = await asyncio.to_thread(self._cpu_seconds) if self._cpu_seconds is not None else None
        now = _Sample(
            at=self._clock(),
            inferences=metrics.get("nv_inference_count"),
            energy_j=metrics.get("nv_energy_consumption"),
            cpu_s=cpu_s,
            utilization=metrics.get("nv_cpu_utilization"),
            own_rows=self._own_rows,
        )
        previous, self._previous = self._previous, now
        if previous is None:
            return None
        estimate = self._estimate(previous, now)
        if estimate is not None:
            self.current, self._current_at = estimate, now.at
        return estimate

    def _estimate(self, a: _Sample, b: _Sample) -> EnergyEstimate | None:
        if a.inferences is not None and b.inferences is not None and b.inferences >= a.inferences:
            rows = b.inferences - a.inferences
        else:
            rows = float(b.own_rows - a.own_rows)
        if rows <= 0:
            return None  # idle interval (or a counter reset): keep the last estimate
        if a.energy_j is not None and b.energy_j is not None and b.energy_j >= a.energy_j:
            return EnergyEstimate((b.energy_j - a.energy_j) / rows, False, "gpu_energy_counter")
        if a.cpu_s is not None and b.cpu_s is not None and b.cpu_s >= a.cpu_s:
            return EnergyEstimate((b.cpu_s - a.cpu_s) * self.watts_per_core / rows, True, "triton_process_cpu_time")
        if b.utilization is not None:
            busy_core_s = b.utilization * self.cpu_cores * (b.at - a.at)
            return EnergyEstimate(busy_core_s * self.watts_per_core / rows, True, "host_cpu_utilization")
        return None

    def per_inference(self, latency_s: float, batch_size: int) -> EnergyEstimate:
        """Energy of one inference of a request that took ``latency_s`` for ``batch_size`` rows."""
        if self.current is not None and self._clock() - self._current_at <= self._max_age_s:
            return self.current
        return EnergyEstimate(latency_s * self.watts_per_core / max(1, batch_size), True, "latency")

    async def run(self, interval_s: float) -> None:
        while True:
            try:
                await self.sample()
            except Exception as error:  # noqa: BLE001 - a sampling hiccup must not stop the service
                log.warning("energy_sample_failed", error=repr(error))
            await asyncio.sleep(interval_s)
