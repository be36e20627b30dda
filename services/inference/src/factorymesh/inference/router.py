"""Routing: which model version scores which equipment's windows.

A ``ModelRoute`` maps (task, equipment class, optional equipment prefix) to a primary
model, an optional canary and shadow models. For one window and task the most specific
matching route wins (the longest equipment prefix: a site-level route beats a global one,
so regions can run their own models). Routes changed over gRPC are stored in a compacted
topic keyed by route name, which every replica reads whole and follows, so all replicas
route alike and a restart keeps the table.

Canary and shadow sampling is a pure function of the window id: the same window goes the
same way on every replica, after every retry, and in ``Predict`` — so a re-delivered
window can never be answered by the primary once and by the canary the next time.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from aiokafka import AIOKafkaConsumer
from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp

from factorymesh.api.common.v1 import equipment_pb2
from factorymesh.api.inference.v1 import inference_result_pb2, model_pb2
from factorymesh.common.kafka import EventProducer, KafkaConfig, UndecodableRecord, decode_event
from factorymesh.common.logging import get_logger
from factorymesh.common.topics import INFERENCE_ROUTES, TopicSpec
from factorymesh.inference.models import ModelCatalog

log = get_logger(__name__)

Task = inference_result_pb2.InferenceTask
Role = Literal["primary", "canary", "shadow"]

# The route table's topic. It belongs in factorymesh.common.topics (ALL_TOPICS); it lives
# here until it moves there.
# The compacted routes topic is declared in the topic registry.
ROUTES = INFERENCE_ROUTES

SEGMENTS = ("enterprise", "site", "area", "line", "cell", "equipment")
DEFAULT_ROUTE_PREFIX = "default-"
DEFAULT_ROUTE_AUTHOR = "inference (model repository default)"


def path_segments(path: equipment_pb2.EquipmentPath) -> tuple[str, ...]:
    """The path's leading non-empty segments (a path may stop at any level)."""
    values = (path.enterprise, path.site, path.area, path.line, path.cell, path.equipment)
    if all(values):  # the common case, a full path: one pass in C
        return values
    out: list[str] = []
    for value in values:
        if not value:
            break
        out.append(value)
    return tuple(out)


def path_gap(path: equipment_pb2.EquipmentPath) -> str | None:
    """The first segment that is set after an empty one (paths have no gaps), or None."""
    seen_empty = False
    for name in SEGMENTS:
        if not getattr(path, name):
            seen_empty = True
        elif seen_empty:
            return name
    return None


def canonical(path: equipment_pb2.EquipmentPath) -> str:
    return "/".join(path_segments(path))


def bucket(window_id: str, salt: str) -> float:
    """A uniform number in [0, 1) from the window id: deterministic sampling."""
    digest = hashlib.sha256(f"{salt}|{window_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass(frozen=True)
class Target:
    """One model call a route asks for: the model, its role, and the route that chose it."""

    model_name: str
    model_version: str  # "" = newest READY
    role: Role
    route_name: str


def route_matches(route: model_pb2.ModelRoute, path: equipment_pb2.EquipmentPath) -> bool:
    prefix = path_segments(route.equipment_prefix)
    return path_segments(path)[: len(prefix)] == prefix


def route_etag(route: model_pb2.ModelRoute) -> str:
    content = model_pb2.ModelRoute()
    content.CopyFrom(route)
    content.ClearField("etag")
    return hashlib.sha256(content.SerializeToString(deterministic=True)).hexdigest()[:16]


def targets(route: model_pb2.ModelRoute, window_id: str, *, with_shadows: bool = True) -> list[Target]:
    """The calls for one window: the primary or (by hash) the canary, then the sampled shadows."""
    out: list[Target] = []
    canary = route.canary if route.HasField("canary") else None
    if (
        canary is not None
        and canary.traffic_fraction > 0
        and bucket(window_id, f"{route.name}/canary") < min(canary.traffic_fraction, 1.0)
    ):
        out.append(Target(canary.model_name or route.primary_model_name, canary.model_version, "canary", route.name))
    else:
        out.append(Target(route.primary_model_name, route.primary_model_version, "primary", route.name))
    if with_shadows:
        for shadow in route.shadow_models:
            if bucket(window_id, f"{route.name}/shadow/{shadow.model_name}:{shadow.model_version}") < min(
                shadow.sample_fraction, 1.0
            ):
                out.append(Target(shadow.model_name, shadow.model_version, "shadow", route.name))
    return out


class RoutingTable:
    """Stored routes (from the topic / SetRoute) over default routes (from the repository).

    A stored route always wins over a default one; among the same kind the longest
    equipment prefix wins, then the name (so a tie is decided alike everywhere).
    """

    def __init__(self) -> None:
        self._stored: dict[str, model_pb2.ModelRoute] = {}
        self._defaults: dict[str, model_pb2.ModelRoute] = {}
        self.revision = 0  # bumped on every change, for caches

    def put(self, route: model_pb2.ModelRoute) -> None:
        self._stored[route.name] = route
        self.revision += 1

    def remove(self, name: str) -> None:
        if self._stored.pop(name, None) is not None:
            self.revision += 1

    def set_defaults(self, routes: Iterable[model_pb2.ModelRoute]) -> None:
        defaults = {route.name: route for route in routes}
        if {n: r.SerializeToString(deterministic=True) for n, r in defaults.items()} != {
            n: r.SerializeToString(deterministic=True) for n, r in self._defaults.items()
        }:
            self._defaults = defaults
            self.revision += 1

    def get(self, name: str) -> model_pb2.ModelRoute | None:
        return self._stored.get(name) or self._defaults.get(name)

    def stored(self, name: str) -> model_pb2.ModelRoute | None:
        return self._stored.get(name)

    def all(self) -> list[model_pb2.ModelRoute]:
        """Every route by name; a stored route hides a default one of the same name."""
        merged = {**self._defaults, **self._stored}
        return [merged[name] for name in sorted(merged)]

    def select(self, task: int, equipment_class: str, path: equipment_pb2.EquipmentPath) -> model_pb2.ModelRoute | None:
        for table in (self._stored, self._defaults):
            candidates = [
                route
                for route in table.values()
                if route.task == task and route.equipment_class == equipment_class and route_matches(route, path)
            ]
            if candidates:
                return min(candidates, key=lambda r: (-len(path_segments(r.equipment_prefix)), r.name))
        return None

    def routes_for(self, equipment_class: str, path: equipment_pb2.EquipmentPath) -> list[model_pb2.ModelRoute]:
        """The winning route of every task for this equipment."""
        tasks = sorted({r.task for r in (*self._stored.values(), *self._defaults.values())})
        return [route for task in tasks if (route := self.select(task, equipment_class, path)) is not None]


def default_routes(catalog: ModelCatalog, canary_fraction: float = 0.0) -> list[model_pb2.ModelRoute]:
    """One global route per model of the repository: its task and class to its newest READY version.

    With ``canary_fraction`` > 0 and two or more versions, the second newest serves and the
    newest gets that share of windows as a canary (a new version earns trust gradually).
    """
    routes = []
    for name in catalog.names():
        versions = catalog.versions_of(name)
        newest = versions[-1]
        route = model_pb2.ModelRoute(
            name=f"{DEFAULT_ROUTE_PREFIX}{name}",
            task=newest.task,  # type: ignore[arg-type]
            equipment_class=newest.equipment_class,
            primary_model_name=name,
            updated_by=DEFAULT_ROUTE_AUTHOR,
        )
        if canary_fraction > 0 and len(versions) >= 2:
            route.primary_model_version = versions[-2].version
            route.canary.CopyFrom(model_pb2.CanaryModel(model_version=newest.version, traffic_fraction=canary_fraction))
        route.etag = route_etag(route)
        routes.append(route)
    return routes


def load_routes_file(path: Path) -> list[model_pb2.ModelRoute]:
    """A JSON list of routes in proto JSON (``{"name": ..., "task": "INFERENCE_TASK_ANOMALY_DETECTION", ...}``)."""
    raw = json.loads(path.read_text())
    if not isinstance(raw, list):
        raise ValueError(f"{path}: expected a JSON list of routes")
    return [json_format.ParseDict(item, model_pb2.ModelRoute()) for item in raw]


def stamp(route: model_pb2.ModelRoute, author: str, now: Timestamp | None = None) -> model_pb2.ModelRoute:
    """A copy with the output-only fields set: update time, author, a new etag."""
    stored = model_pb2.ModelRoute()
    stored.CopyFrom(route)
    if now is None:
        now = Timestamp()
        now.GetCurrentTime()
    stored.update_time.CopyFrom(now)
    stored.updated_by = author
    stored.etag = route_etag(stored)
    return stored


class RouteStore:
    """The route table's topic: read whole at start (every replica, no consumer group),
    followed afterwards, and written by ``SetRoute``."""

    def __init__(
        self,
        config: KafkaConfig,
        table: RoutingTable,
        producer: EventProducer,
        topic: TopicSpec = ROUTES,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self._config = config
        self._table = table
        self._producer = producer
        self.topic = topic
        self._on_change = on_change
        self.caught_up = asyncio.Event()

    async def publish(self, route: model_pb2.ModelRoute) -> None:
        """Write a route durably (acks=all), then apply it here at once (the follower
        applies it again when it reads it back: the same bytes, so no change)."""
        await self._producer.send(self.topic, route, key=route.name)
        self._apply(route.name, route)

    def _apply(self, name: str, route: model_pb2.ModelRoute | None) -> None:
        if route is None:
            self._table.remove(name)
        else:
            self._table.put(route)
        if self._on_change is not None:
            self._on_change()

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            self.topic.name,
            **self._config.common(),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
        )
        await consumer.start()
        try:
            await consumer.seek_to_beginning()
            partitions = list(consumer.assignment())
            end = await consumer.end_offsets(partitions)
            while True:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    for record in records:
                        name = (record.key or b"").decode()
                        if record.value is None:  # tombstone: a deleted route
                            self._apply(name, None)
                            continue
                        try:
                            route = decode_event(record.value, record.headers, self.topic.value_types)
                        except UndecodableRecord as error:
                            log.error("route_record_skipped", offset=record.offset, error=error.detail)
                            continue
                        assert isinstance(route, model_pb2.ModelRoute)
                        self._apply(name or route.name, route)
                if not self.caught_up.is_set():
                    positions = [await consumer.position(tp) for tp in partitions]
                    if all(pos >= end[tp] for pos, tp in zip(positions, partitions, strict=True)):
                        self.caught_up.set()
                        log.info("routes_caught_up", routes=len(self._table.all()))
        finally:
            await consumer.stop()

    async def ready(self) -> bool:
        return self.caught_up.is_set()
