"""Production context: which job order, product and shift were in effect for a reading.

Fed with ``JobOrderEvent`` s and ``ShiftEvent`` s (from the MES, via ``IngestService`` and the
``factorymesh.mes.*`` topics), :class:`ProductionContextTracker` keeps a *timeline* per
equipment and stamps each reading with the context in effect **at the reading's own source
time**, not at processing time: a reading sampled at 10:00:05 belongs to the job that
started at 10:00:00 even when it is processed after the job stopped at 10:00:10 (gateways
buffer, Kafka lags). Lookups are ``np.searchsorted`` over a cached array of segment bounds;
the Python work per batch is a few dictionary lookups.

Job control state machine (OPC UA for ISA-95 Job Control, OPC 10031-4), as reported by the
MES *after* the command took effect on the shop floor:

=================  ===============================  ==========================================
command            from                             to
=================  ===============================  ==========================================
STORE              (new job order)                  NOT_ALLOWED_TO_START
STORE_AND_START    (new job order)                  RUNNING (or ALLOWED_TO_START if requested)
START              NOT_ALLOWED_TO_START             RUNNING (or ALLOWED_TO_START if requested)
START              ALLOWED_TO_START                 RUNNING
UPDATE             NOT_ALLOWED_TO_START /           unchanged (new definition)
                   ALLOWED_TO_START
REVOKE_START       ALLOWED_TO_START                 NOT_ALLOWED_TO_START
PAUSE              RUNNING                          INTERRUPTED
RESUME             INTERRUPTED                      RUNNING
STOP               RUNNING / INTERRUPTED            ENDED
ABORT              RUNNING / INTERRUPTED            ABORTED
CANCEL             NOT_ALLOWED_TO_START /           CANCELLED
                   ALLOWED_TO_START
CLEAR              ENDED / ABORTED / CANCELLED      CLEARED
=================  ===============================  ==========================================

In OPC 10031-4, ``Start`` only *allows* a job to start and the equipment moves it to Running
on its own; our contract has no separate "execution started" command, so START moves to
RUNNING unless the event asks for ALLOWED_TO_START (then a second START marks the actual
start). Anything else raises :class:`JobOrderTransitionError`, a ``FailedPrecondition`` that the
gRPC error interceptor turns into ``FAILED_PRECONDITION``.

Stamping rules:

* A job stamps the readings of its equipment while RUNNING **and while INTERRUPTED**: ISA-95
  keeps an interrupted (held) job the active one on its equipment, and readings taken during a
  hold (a quality hold, a changeover pause) belong to that job's record.
* A job targets an equipment path at line, cell or equipment level; it applies to every
  equipment under that path (prefix match on path segments). When several jobs are active on
  one equipment, the most specific scope wins, then a running job over an interrupted one,
  then the one that started last.
* A shift is set per scope (site, area or line); it is in effect from its ``effective_time``
  until the next shift of the same scope or its planned end, whichever comes first. The most
  specific scope with a shift in effect wins. A shift with an empty id ends the shift.
* History is kept for ``retention_s`` (default 7 days) of event time: ended jobs and replaced
  shifts older than that are forgotten. Jobs that have not ended are kept.
* A context event that arrives after readings it covers were already processed does not
  re-stamp them (their outputs are published); keep MES events ahead of the data.

Not thread-safe; one per pipeline.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import numpy.typing as npt
from google.protobuf import timestamp_pb2

from factorymesh.api.common.v1 import production_context_pb2
from factorymesh.api.mes.v1 import job_order_pb2, shift_pb2
from factorymesh.common.grpc_errors import FailedPrecondition, InvalidArgument
from factorymesh.ingest.model import equipment_key

__all__ = [
    "ContextEventError",
    "JobOrderTransitionError",
    "ProductionContextTracker",
    "next_state",
]

ProductionContext = production_context_pb2.ProductionContext
JobOrderEvent = job_order_pb2.JobOrderEvent
ShiftEvent = shift_pb2.ShiftEvent
_C = job_order_pb2.JobOrderCommand
_S = job_order_pb2.JobOrderState
_NS = 1_000_000_000
_FOREVER = int(np.iinfo(np.int64).max)

_NEW = _S.JOB_ORDER_STATE_UNSPECIFIED
_NATS = _S.JOB_ORDER_STATE_NOT_ALLOWED_TO_START
_ATS = _S.JOB_ORDER_STATE_ALLOWED_TO_START
_RUNNING = _S.JOB_ORDER_STATE_RUNNING
_INTERRUPTED = _S.JOB_ORDER_STATE_INTERRUPTED
_ENDED = _S.JOB_ORDER_STATE_ENDED
_ABORTED = _S.JOB_ORDER_STATE_ABORTED
_CANCELLED = _S.JOB_ORDER_STATE_CANCELLED
_CLEARED = _S.JOB_ORDER_STATE_CLEARED

# command -> {state before: allowed states after (the first is the default)}
_TRANSITIONS: dict[int, dict[int, tuple[int, ...]]] = {
    _C.JOB_ORDER_COMMAND_STORE: {_NEW: (_NATS,)},
    _C.JOB_ORDER_COMMAND_STORE_AND_START: {_NEW: (_RUNNING, _ATS)},
    _C.JOB_ORDER_COMMAND_START: {_NATS: (_RUNNING, _ATS), _ATS: (_RUNNING,)},
    _C.JOB_ORDER_COMMAND_UPDATE: {_NATS: (_NATS,), _ATS: (_ATS,)},
    _C.JOB_ORDER_COMMAND_REVOKE_START: {_ATS: (_NATS,)},
    _C.JOB_ORDER_COMMAND_PAUSE: {_RUNNING: (_INTERRUPTED,)},
    _C.JOB_ORDER_COMMAND_RESUME: {_INTERRUPTED: (_RUNNING,)},
    _C.JOB_ORDER_COMMAND_STOP: {_RUNNING: (_ENDED,), _INTERRUPTED: (_ENDED,)},
    _C.JOB_ORDER_COMMAND_ABORT: {_RUNNING: (_ABORTED,), _INTERRUPTED: (_ABORTED,)},
    _C.JOB_ORDER_COMMAND_CANCEL: {_NATS: (_CANCELLED,), _ATS: (_CANCELLED,)},
    _C.JOB_ORDER_COMMAND_CLEAR: {_ENDED: (_CLEARED,), _ABORTED: (_CLEARED,), _CANCELLED: (_CLEARED,)},
}
_DEFINING = frozenset({_C.JOB_ORDER_COMMAND_STORE, _C.JOB_ORDER_COMMAND_STORE_AND_START, _C.JOB_ORDER_COMMAND_UPDATE})
_STAMPING = frozenset({_RUNNING, _INTERRUPTED})
_FINISHED = frozenset({_ENDED, _ABORTED, _CANCELLED, _CLEARED})


def _state_name(state: int) -> str:
    return "NEW" if state == _NEW else _S.Name(state).removeprefix("JOB_ORDER_STATE_")


def _command_name(command: int) -> str:
    try:
        return _C.Name(command).removeprefix("JOB_ORDER_COMMAND_")
    except ValueError:
        return str(command)


class JobOrderTransitionError(FailedPrecondition):
    """A job control command that is not allowed in the job order's current state."""

    def __init__(self, job_order_id: str, command: int, state: int, detail: str = "") -> None:
        self.job_order_id = job_order_id
        self.command = command
        self.state = state
        description = detail or f"cannot {_command_name(command)} a job order in state {_state_name(state)}"
        super().__init__(
            f"job order {job_order_id!r}: {description}",
            violations=[("JOB_ORDER_STATE", f"job-orders/{job_order_id}", description)],
            reason="JOB_ORDER_INVALID_TRANSITION",
            metadata={
                "job_order_id": job_order_id,
                "command": _command_name(command),
                "state": _state_name(state),
            },
        )


class ContextEventError(InvalidArgument):
    """A job order or shift event that lacks what the tracker needs (ids, scope, time)."""


def next_state(current: int, command: int, requested: int = _NEW) -> int:
    """The state after ``command`` in state ``current`` (``_NEW`` = job order not known).

    ``requested`` (an event's ``state``) picks one of several allowed outcomes; unset picks
    the default. Raises :class:`JobOrderTransitionError` (job order id left empty).
    """
    allowed = _TRANSITIONS.get(command, {}).get(current)
    if allowed is None:
        if command not in _TRANSITIONS:
            raise JobOrderTransitionError("", command, current, f"unknown job order command {command}")
        if current == _NEW:
            raise JobOrderTransitionError("", command, current, f"cannot {_command_name(command)} an unknown job order")
        raise JobOrderTransitionError("", command, current)
    if requested == _NEW:
        return allowed[0]
    if requested not in allowed:
        raise JobOrderTransitionError(
            "",
            command,
            current,
            f"{_command_name(command)} from {_state_name(current)} leads to "
            f"{' or '.join(_state_name(s) for s in allowed)}, not {_state_name(requested)}",
        )
    return requested


def _ns(ts: timestamp_pb2.Timestamp) -> int:
    return ts.seconds * _NS + ts.nanos


def _prefixes(key: str) -> list[str]:
    """``a/b/c`` -> ``["a", "a/b", "a/b/c"]`` (ISA-95 scopes containing the equipment)."""
    parts = key.split("/")
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


@dataclass
class _Job:
    order: job_order_pb2.JobOrder
    scope: str
    state: int
    seq: int  # arrival order of the job, breaks ties between equal start times
    transitions: list[tuple[int, int]] = field(default_factory=list)  # (time ns, state after)
    event_ids: set[str] = field(default_factory=set)

    @property
    def last_ns(self) -> int:
        return self.transitions[-1][0] if self.transitions else -_FOREVER

    def segments(self) -> Iterable[tuple[int, int, bool]]:
        """``(start, end, running)`` for each stretch the job was RUNNING / INTERRUPTED."""
        for i, (start, state) in enumerate(self.transitions):
            if state in _STAMPING:
                end = self.transitions[i + 1][0] if i + 1 < len(self.transitions) else _FOREVER
                if end > start:
                    yield start, end, state == _RUNNING

    def first_start_ns(self) -> int:
        return next((t for t, s in self.transitions if s == _RUNNING), _FOREVER)


@dataclass
class _ShiftEntry:
    effective_ns: int
    seq: int
    shift_id: str  # "" = no shift from here on
    planned_end_ns: int  # _FOREVER when not planned
    event_id: str


@dataclass(frozen=True)
class _Timeline:
    """Context per segment ``[bounds[k], bounds[k+1])``; before ``bounds[0]``: ``contexts[0]`` (empty)."""

    versions: tuple[int, ...]
    bounds: npt.NDArray[np.int64]
    segment_ctx: npt.NDArray[np.uint32]  # len(bounds) + 1; [0] = before the first bound
    contexts: list[production_context_pb2.ProductionContext]


class ProductionContextTracker:
    """Job order and shift timelines per equipment, looked up per reading time."""

    def __init__(self, *, retention_s: float = 7 * 86400.0, prune_every_s: float = 3600.0) -> None:
        if retention_s <= 0:
            raise ValueError("retention_s must be > 0")
        self.retention_s = retention_s
        self._retention_ns = round(retention_s * _NS)
        self._prune_every_ns = round(prune_every_s * _NS)
        self._jobs: dict[str, _Job] = {}
        self._jobs_by_scope: dict[str, set[str]] = {}
        self._shifts: dict[str, list[_ShiftEntry]] = {}
        self._shift_event_ids: set[str] = set()
        self._versions: dict[str, int] = {}
        self._timelines: dict[str, _Timeline] = {}
        self._prefix_cache: dict[str, list[str]] = {}
        self._seq = 0
        self._watermark_ns = -_FOREVER
        self._last_prune_ns = -_FOREVER

    # --- events -------------------------------------------------------------------------

    def apply(self, event: job_order_pb2.JobOrderEvent | shift_pb2.ShiftEvent, *, replay: bool = False) -> None:
        """Apply a job order or shift event (idempotent per ``event_id``).

        ``replay=True`` is for events read back from Kafka, which were validated when they
        were published: their ``state`` is adopted even when this tracker missed earlier
        events (it started from a later offset), instead of raising.
        Raises :class:`JobOrderTransitionError` / :class:`ContextEventError`.
        """
        if isinstance(event, shift_pb2.ShiftEvent):
            self._apply_shift(event)
        else:
            self._apply_job_order(event, replay=replay)

    def plan(
        self, command: int, job_order: job_order_pb2.JobOrder, requested: int = _NEW
    ) -> tuple[int, int, job_order_pb2.JobOrder]:
        """What ``command`` would do, without doing it: ``(previous state, new state, full job
        order)`` for the servicer to put into the ``JobOrderEvent`` it publishes (and then
        :meth:`apply`). Raises like :meth:`apply`."""
        job_id = job_order.job_order_id
        if not job_id:
            raise ContextEventError(field_violations=[("job_order.job_order_id", "required")])
        job = self._jobs.get(job_id)
        current = job.state if job is not None else _NEW
        try:
            new = next_state(current, command, requested)
        except JobOrderTransitionError as exc:
            raise JobOrderTransitionError(job_id, command, current, str(exc.violations[0][2])) from None
        if command in _DEFINING or job is None:
            if not equipment_key(job_order.equipment):
                raise ContextEventError(field_violations=[("job_order.equipment", "required to store a job order")])
            definition = job_order
        else:
            definition = job.order
        return current, new, definition

    def validate_transition(self, event: job_order_pb2.JobOrderEvent) -> None:
        """For the ``ReportJobOrderEvent`` servicer: check the event's command against the job
        order's current state and fill in ``previous_state``, ``state`` and the full job order
        definition (commands other than STORE / STORE_AND_START / UPDATE may carry only the id).
        Does not apply it: call :meth:`apply` once the event is durable in Kafka (a later
        redelivery of the same event is then a no-op)."""
        job_id = event.job_order.job_order_id
        current = self.state(job_id)
        if event.previous_state != _NEW and event.previous_state != current:
            raise JobOrderTransitionError(
                job_id,
                event.command,
                current,
                f"event expects state {_state_name(event.previous_state)}, job order is {_state_name(current)}",
            )
        previous, new, definition = self.plan(event.command, event.job_order, event.state)
        # The stubs type enum fields as their enum class; the values are plain ints.
        event.previous_state = cast("job_order_pb2.JobOrderState", previous)
        event.state = cast("job_order_pb2.JobOrderState", new)
        if definition is not event.job_order:
            event.job_order.CopyFrom(definition)

    def state(self, job_order_id: str) -> int:
        """The job order's current ``JobOrderState`` (``UNSPECIFIED`` when unknown)."""
        job = self._jobs.get(job_order_id)
        return job.state if job is not None else _NEW

    def job_order(self, job_order_id: str) -> job_order_pb2.JobOrder | None:
        job = self._jobs.get(job_order_id)
        return job.order if job is not None else None

    def _apply_job_order(self, event: job_order_pb2.JobOrderEvent, *, replay: bool) -> None:
        order = event.job_order
        job_id = order.job_order_id
        if not job_id:
            raise ContextEventError(field_violations=[("job_order.job_order_id", "required")])
        if not event.HasField("occurred_time"):
            raise ContextEventError(field_violations=[("occurred_time", "required")])
        job = self._jobs.get(job_id)
        if job is not None and event.event_id and event.event_id in job.event_ids:
            return  # the same event again (Kafka redelivery, servicer retry)
        current = job.state if job is not None else _NEW
        new: int
        if replay and event.state != _NEW:
            new = event.state
        else:
            if not replay and event.previous_state != _NEW and event.previous_state != current:
                raise JobOrderTransitionError(
                    job_id,
                    event.command,
                    current,
                    f"event expects state {_state_name(event.previous_state)}, job order is {_state_name(current)}",
                )
            new = self.plan(event.command, order, event.state)[1]
        time_ns = _ns(event.occurred_time)
        if job is None:
            scope = equipment_key(order.equipment)
            if not scope:
                raise ContextEventError(field_violations=[("job_order.equipment", "required for a new job order")])
            job = _Job(order=order, scope=scope, state=_NEW, seq=self._next_seq())
            self._jobs[job_id] = job
            self._jobs_by_scope.setdefault(scope, set()).add(job_id)
        elif event.command in _DEFINING and equipment_key(order.equipment):
            self._redefine(job, order)
        # MES clocks jitter: keep the job's transitions in order instead of rejecting.
        time_ns = max(time_ns, job.last_ns)
        job.transitions.append((time_ns, new))
        job.state = new
        if event.event_id:
            job.event_ids.add(event.event_id)
        self._touch(job.scope)
        self._after_event(time_ns)

    def _redefine(self, job: _Job, order: job_order_pb2.JobOrder) -> None:
        scope = equipment_key(order.equipment)
        if scope != job.scope:
            self._jobs_by_scope.get(job.scope, set()).discard(order.job_order_id)
            self._touch(job.scope)
            self._jobs_by_scope.setdefault(scope, set()).add(order.job_order_id)
            job.scope = scope
        job.order = order

    def _apply_shift(self, event: shift_pb2.ShiftEvent) -> None:
        shift = event.shift
        scope = equipment_key(shift.scope)
        if not scope:
            raise ContextEventError(field_violations=[("shift.scope", "required")])
        if not event.HasField("effective_time"):
            raise ContextEventError(field_violations=[("effective_time", "required")])
        if event.event_id and event.event_id in self._shift_event_ids:
            return
        planned_end = _FOREVER
        if shift.HasField("planned_time") and shift.planned_time.HasField("end_time"):
            planned_end = _ns(shift.planned_time.end_time)
        entry = _ShiftEntry(_ns(event.effective_time), self._next_seq(), shift.shift_id, planned_end, event.event_id)
        entries = self._shifts.setdefault(scope, [])
        # Late events are inserted in time order; equal times: the later-arrived one wins.
        bisect.insort(entries, entry, key=lambda e: (e.effective_ns, e.seq))
        if event.event_id:
            self._shift_event_ids.add(event.event_id)
        self._touch(scope)
        self._after_event(entry.effective_ns)

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _touch(self, scope: str) -> None:
        self._versions[scope] = self._versions.get(scope, 0) + 1

    def _after_event(self, time_ns: int) -> None:
        if time_ns > self._watermark_ns:
            self._watermark_ns = time_ns
        if self._watermark_ns - self._last_prune_ns >= self._prune_every_ns:
            self.prune(self._watermark_ns)

    # --- retention ----------------------------------------------------------------------

    def prune(self, now_ns: int) -> None:
        """Forget finished jobs and replaced shifts that ended before ``now - retention``."""
        self._last_prune_ns = now_ns
        cutoff = now_ns - self._retention_ns
        for job_id in [j for j, job in self._jobs.items() if job.state in _FINISHED and job.last_ns < cutoff]:
            job = self._jobs.pop(job_id)
            self._jobs_by_scope.get(job.scope, set()).discard(job_id)
            self._touch(job.scope)
        for scope, entries in self._shifts.items():
            drop = 0
            # An entry is over when its successor took effect (or its planned end passed).
            while drop < len(entries) and min(_shift_end(entries, drop), entries[drop].planned_end_ns) < cutoff:
                drop += 1
            if drop:
                for entry in entries[:drop]:
                    self._shift_event_ids.discard(entry.event_id)
                del entries[:drop]
                self._touch(scope)
        for scope in [s for s, ids in self._jobs_by_scope.items() if not ids]:
            del self._jobs_by_scope[scope]
        for scope in [s for s, e in self._shifts.items() if not e]:
            del self._shifts[scope]

    # --- lookup -------------------------------------------------------------------------

    def context_at(
        self, equipment: str, times_ns: npt.NDArray[np.int64]
    ) -> tuple[list[production_context_pb2.ProductionContext], npt.NDArray[np.uint32]]:
        """The context of each reading of ``equipment`` (an ``equipment_key``) at its time.

        Returns a small dictionary of contexts and, per reading, an index into it — the
        ``contexts`` / ``context_indices`` of ``NormalizedReadingBatch``. Readings without a
        context point at an empty ``ProductionContext``. When every reading has the same
        context the dictionary has one entry (the pipeline may then omit the indices). The
        returned messages are shared: copy before mutating.
        """
        n = times_ns.shape[0]
        timeline = self._timeline(equipment)
        if timeline.bounds.shape[0] == 0 or n == 0:
            return [timeline.contexts[0]], np.zeros(n, dtype=np.uint32)
        bounds = timeline.bounds
        # Fast path: the whole batch inside one segment (the usual case: a batch spans
        # seconds, contexts change every few hours) costs two binary searches.
        first = int(np.searchsorted(bounds, times_ns.min(), side="right"))
        last = int(np.searchsorted(bounds, times_ns.max(), side="right"))
        segment_ctx = timeline.segment_ctx
        if first == last:  # adjacent segments always differ, so one segment = one context
            return [timeline.contexts[int(segment_ctx[first])]], np.zeros(n, dtype=np.uint32)
        ctx = segment_ctx[np.searchsorted(bounds, times_ns, side="right")]
        used = np.zeros(len(timeline.contexts), dtype=np.bool_)
        used[ctx] = True
        remap = (np.cumsum(used) - 1).astype(np.uint32)
        contexts = [timeline.contexts[i] for i in np.flatnonzero(used).tolist()]
        return contexts, remap[ctx]

    def _timeline(self, equipment: str) -> _Timeline:
        prefixes = self._prefix_cache.get(equipment)
        if prefixes is None:
            if len(self._prefix_cache) > 100_000:
                self._prefix_cache.clear()
            prefixes = self._prefix_cache[equipment] = _prefixes(equipment)
        versions = tuple(self._versions.get(p, 0) for p in prefixes)
        cached = self._timelines.get(equipment)
        if cached is not None and cached.versions == versions:
            return cached
        timeline = self._build(prefixes, versions)
        if len(self._timelines) > 100_000:  # equipment keys come from telemetry: stay bounded
            self._timelines.clear()
        self._timelines[equipment] = timeline
        return timeline

    def _build(self, prefixes: list[str], versions: tuple[int, ...]) -> _Timeline:
        """Sweep over all job and shift segments of the scopes containing the equipment."""
        # (time, is_start, kind, priority, payload); ends sort before starts at the same time
        # because segments are half-open [start, end).
        points: list[tuple[int, int, int, tuple[int, ...], str]] = []
        priority: tuple[int, ...]
        for depth, scope in enumerate(prefixes):
            for job_id in self._jobs_by_scope.get(scope, ()):
                job = self._jobs[job_id]
                started = job.first_start_ns()
                for start, end, running in job.segments():
                    priority = (depth, int(running), started, job.seq)
                    points.append((start, 1, 0, priority, job_id))
                    if end != _FOREVER:
                        points.append((end, 0, 0, priority, job_id))
            entries = self._shifts.get(scope, [])
            for i, entry in enumerate(entries):
                end = min(_shift_end(entries, i), entry.planned_end_ns)
                if entry.shift_id and end > entry.effective_ns:
                    priority = (depth, entry.effective_ns, entry.seq)
                    points.append((entry.effective_ns, 1, 1, priority, entry.shift_id))
                    if end != _FOREVER:
                        points.append((end, 0, 1, priority, entry.shift_id))
        points.sort(key=lambda p: (p[0], p[1]))
        active: tuple[dict[tuple[tuple[int, ...], str], None], dict[tuple[tuple[int, ...], str], None]] = ({}, {})
        bounds: list[int] = []
        keys: list[tuple[str, str]] = []
        i = 0
        while i < len(points):
            t = points[i][0]
            while i < len(points) and points[i][0] == t:
                _, is_start, kind, priority, payload = points[i]
                if is_start:
                    active[kind][(priority, payload)] = None
                else:
                    active[kind].pop((priority, payload), None)
                i += 1
            job_id = max(active[0])[1] if active[0] else ""
            shift_id = max(active[1])[1] if active[1] else ""
            if (keys[-1] if keys else ("", "")) != (job_id, shift_id):
                bounds.append(t)
                keys.append((job_id, shift_id))
        contexts = [ProductionContext()]
        index: dict[tuple[str, str], int] = {("", ""): 0}
        segment_ctx = [0]
        for key in keys:
            if key not in index:
                index[key] = len(contexts)
                contexts.append(self._context(*key))
            segment_ctx.append(index[key])
        return _Timeline(
            versions=versions,
            bounds=np.array(bounds, dtype=np.int64),
            segment_ctx=np.array(segment_ctx, dtype=np.uint32),
            contexts=contexts,
        )

    def _context(self, job_id: str, shift_id: str) -> production_context_pb2.ProductionContext:
        context = ProductionContext(shift_id=shift_id)
        job = self._jobs.get(job_id)
        if job is not None:
            order = job.order
            context.job_order_id = order.job_order_id
            context.product_id = order.product_id
            context.work_master_id = order.work_master_id
            context.material_lot_id = order.material_lot_id
        return context


def _shift_end(entries: list[_ShiftEntry], i: int) -> int:
    """When entry ``i`` is replaced by the next shift of its scope (``_FOREVER`` if never)."""
    return entries[i + 1].effective_ns if i + 1 < len(entries) else _FOREVER
