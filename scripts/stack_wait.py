#!/usr/bin/env python3
"""Readiness checks for the local stack (used by scripts/stack.sh; stdlib + venv packages).

    stack_wait.py kafka    --bootstrap HOST:PORT [--conf C --program kafka] [--timeout S]
    stack_wait.py triton   --http HOST:PORT --repo DIR [--conf C --program triton] [--timeout S]
    stack_wait.py services --conf C [--timeout S]
    stack_wait.py describe --conf C

With --conf/--program the supervisord program is watched while waiting: a program that
went FATAL/EXITED/STOPPED fails the wait at once instead of running into the timeout.

Services are the supervisord programs other than kafka/triton (from services/*/supervisor.conf).
A service whose environment sets FM_GRPC_PORT must answer grpc.health.v1.Health/Check
with SERVING on FM_GRPC_HOST (default 127.0.0.1):FM_GRPC_PORT.

Exit codes: 0 ready, 1 not ready before the timeout / program died, 2 usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import configparser
import contextlib
import json
import logging
import os
import sys
import time
import urllib.error
import urllib.request
import xmlrpc.client
from pathlib import Path
from typing import Any

INFRA_PROGRAMS = ("kafka", "triton")
DEAD_STATES = {"FATAL", "EXITED", "STOPPED", "UNKNOWN"}


# aiokafka logs every refused connection while the broker boots: keep the wait output readable
logging.getLogger("aiokafka").setLevel(logging.CRITICAL)


def log(msg: str) -> None:
    print(f"stack_wait: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- supervisord access
def supervisor_rpc(conf: str) -> Any:
    from supervisor.xmlrpc import SupervisorTransport

    parser = configparser.RawConfigParser()
    parser.read(conf)
    serverurl = parser.get("supervisorctl", "serverurl")
    transport = SupervisorTransport(None, None, serverurl)
    return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)


def program_state(conf: str | None, program: str | None) -> dict[str, Any] | None:
    if not conf or not program:
        return None
    try:
        return supervisor_rpc(conf).supervisor.getProcessInfo(program)
    except Exception as exc:  # noqa: BLE001 - supervisord gone or program unknown
        return {"statename": "UNKNOWN", "description": str(exc)}


def check_program_alive(conf: str | None, program: str | None) -> None:
    info = program_state(conf, program)
    if info is not None and info.get("statename") in DEAD_STATES:
        raise ProgramDied(f"program {program!r} is {info.get('statename')}: {info.get('description', '')}")


class ProgramDied(RuntimeError):
    pass


def program_configs(conf: str) -> list[Any]:
    """Process configs of every program in the rendered conf (includes expanded)."""
    from supervisor.options import ServerOptions

    options = ServerOptions()
    options.configfile = conf
    options.process_config(do_usage=False)
    return [pconf for group in options.process_group_configs for pconf in group.process_configs]


# ---------------------------------------------------------------- generic wait loop
def wait_for(what: str, probe, timeout: float, conf: str | None, program: str | None, interval: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    last_error = "not tried"
    start = time.monotonic()
    while True:
        try:
            check_program_alive(conf, program)
        except ProgramDied as exc:
            log(f"{what}: {exc}")
            return False
        try:
            ok, detail = probe()
        except Exception as exc:  # noqa: BLE001 - any probe failure just means "not yet"
            ok, detail = False, f"{type(exc).__name__}: {exc}"
        if ok:
            log(f"{what}: ready after {time.monotonic() - start:.1f}s ({detail})")
            return True
        last_error = detail
        if time.monotonic() >= deadline:
            log(f"{what}: NOT ready after {timeout:.0f}s; last: {last_error}")
            return False
        time.sleep(interval)


# ---------------------------------------------------------------- kafka
def kafka_probe(bootstrap: str):
    from aiokafka.admin import AIOKafkaAdminClient

    async def go() -> tuple[bool, str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000, connections_max_idle_ms=10000)
        try:
            await asyncio.wait_for(admin.start(), 5)
            cluster = await asyncio.wait_for(admin.describe_cluster(), 5)
            brokers = cluster.get("brokers") or []
            if not brokers:
                return False, "no brokers in metadata"
            if cluster.get("controller_id") in (None, -1):
                return False, "no active controller"
            await asyncio.wait_for(admin.list_topics(), 5)
            return True, f"cluster {cluster.get('cluster_id')}, {len(brokers)} broker(s)"
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(admin.close(), 5)

    def probe() -> tuple[bool, str]:
        return asyncio.run(go())

    return probe


# ---------------------------------------------------------------- triton
def model_names(repo: str) -> list[str]:
    root = Path(repo)
    return sorted(p.parent.name for p in root.glob("*/config.pbtxt"))


def http_status(url: str, timeout: float = 2.0) -> int:
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http url: {url}")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - scheme checked above
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def triton_probe(http: str, repo: str):
    models = model_names(repo)

    def probe() -> tuple[bool, str]:
        base = http if http.startswith("http") else f"http://{http}"
        code = http_status(f"{base}/v2/health/live")
        if code != 200:
            return False, f"/v2/health/live -> {code}"
        not_ready = [m for m in models if http_status(f"{base}/v2/models/{m}/ready") != 200]
        if not_ready:
            return False, f"models not ready: {', '.join(not_ready)}"
        return True, f"live, models ready: {', '.join(models) or '(none)'}"

    return probe


# ---------------------------------------------------------------- services (gRPC health)
def grpc_health_probe(host: str, port: int):
    import grpc

    def probe() -> tuple[bool, str]:
        with grpc.insecure_channel(f"{host}:{port}") as channel:
            check = channel.unary_unary(
                "/grpc.health.v1.Health/Check", request_serializer=None, response_deserializer=None
            )
            # HealthCheckRequest{service=""} is the empty message; the response is
            # HealthCheckResponse{status: 1 (SERVING)} == b"\x08\x01".
            raw = check(b"", timeout=2)
        status = raw[1] if len(raw) >= 2 and raw[0] == 0x08 else 0
        names = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}
        return status == 1, names.get(status, str(status))

    return probe


def service_entries(conf: str) -> list[dict[str, Any]]:
    entries = []
    for pconf in program_configs(conf):
        if pconf.name in INFRA_PROGRAMS:
            continue
        env = dict(pconf.environment or {})
        port = env.get("FM_GRPC_PORT")
        entries.append(
            {
                "name": pconf.name,
                "host": env.get("FM_GRPC_HOST", "127.0.0.1"),
                "port": int(port) if port else None,
                "log": pconf.stdout_logfile,
            }
        )
    return entries


def cmd_services(args: argparse.Namespace) -> int:
    entries = service_entries(args.conf)
    if not entries:
        log("services: none configured")
        return 0
    ok = True
    deadline = time.monotonic() + args.timeout
    for entry in entries:
        remaining = max(1.0, deadline - time.monotonic())
        if entry["port"] is None:
            ok &= wait_for(
                f"service {entry['name']} (no FM_GRPC_PORT: RUNNING only)",
                lambda e=entry: (
                    (program_state(args.conf, e["name"]) or {}).get("statename") == "RUNNING",
                    "supervisor state",
                ),
                remaining,
                args.conf,
                entry["name"],
            )
        else:
            ok &= wait_for(
                f"service {entry['name']} grpc {entry['host']}:{entry['port']}",
                grpc_health_probe(entry["host"], entry["port"]),
                remaining,
                args.conf,
                entry["name"],
            )
    return 0 if ok else 1


def cmd_describe(args: argparse.Namespace) -> int:
    """JSON lines: one per program with state, pid, grpc port and log file."""
    rpc = supervisor_rpc(args.conf)
    infos = {i["name"]: i for i in rpc.supervisor.getAllProcessInfo()}
    ports = {e["name"]: e for e in service_entries(args.conf)}
    for name, info in infos.items():
        entry = ports.get(name, {})
        grpc = f"{entry['host']}:{entry['port']}" if entry.get("port") else None
        if args.services_text:
            if name not in INFRA_PROGRAMS:
                print(f"  {name:<16}: grpc {grpc or '-'}  {info['statename']}  log {info.get('stdout_logfile')}")
            continue
        print(
            json.dumps(
                {
                    "name": name,
                    "state": info["statename"],
                    "pid": info["pid"],
                    "log": info.get("stdout_logfile"),
                    "grpc": grpc,
                }
            )
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    k = sub.add_parser("kafka")
    k.add_argument("--bootstrap", default=os.environ.get("FM_KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    t = sub.add_parser("triton")
    t.add_argument("--http", default=os.environ.get("FM_TRITON_HTTP_URL", "127.0.0.1:8000"))
    t.add_argument("--repo", required=True)
    s = sub.add_parser("services")
    d = sub.add_parser("describe")
    for p in (k, t):
        p.add_argument("--conf")
        p.add_argument("--program")
    for p in (k, t, s):
        p.add_argument("--timeout", type=float, default=120.0)
    for p in (s, d):
        p.add_argument("--conf", required=True)
    d.add_argument("--services-text", action="store_true", help="human summary lines of the services only")
    args = ap.parse_args(argv)

    if args.cmd == "kafka":
        ok = wait_for(f"kafka {args.bootstrap}", kafka_probe(args.bootstrap), args.timeout, args.conf, args.program)
        return 0 if ok else 1
    if args.cmd == "triton":
        ok = wait_for(f"triton {args.http}", triton_probe(args.http, args.repo), args.timeout, args.conf, args.program)
        return 0 if ok else 1
    if args.cmd == "services":
        return cmd_services(args)
    if args.cmd == "describe":
        return cmd_describe(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
