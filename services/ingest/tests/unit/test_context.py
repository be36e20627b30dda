"""Production context: the ISA-95 job control state machine, per-reading timestamp lookups
(before / inside / paused / after), scope matching, shifts, idempotency and retention.

``python services/ingest/tests/unit/test_context.py`` prints the stage's throughput and the
throughput of the four processing stages chained.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable

import grpc
import numpy as np
import numpy.typing as npt
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from factorymesh.api.common.v1 import equipment_pb2, production_context_pb2, time_range_pb2
from factorymesh.api.mes.v1 import job_order_pb2, shift_pb2
from factorymesh.common.grpc_errors import FailedPrecondition, InvalidArgument
from factorymesh.ingest.context import (
    ContextEventError,
    JobOrderTransitionError,
    ProductionContextTracker,
    next_state,
)

C = job_order_pb2.JobOrderCommand
S = job_order_pb2.JobOrderState
NS = 1_000_000_000
T0 = 1_750_000_000 * NS  # "10:00:00"
PRESS = "acme/berlin/assembly/line4/cell2/press7"
ROBOT = "acme/berlin/assembly/line4/cell3/robot1"
OTHER_LINE = "acme/berlin/assembly/line5/cell1/lathe2"

NEW = S.JOB_ORDER_STATE_UNSPECIFIED
NATS, ATS = S.JOB_ORDER_STATE_NOT_ALLOWED_TO_START, S.JOB_ORDER_STATE_ALLOWED_TO_START
RUNNING, INTERRUPTED = S.JOB_ORDER_STATE_RUNNING, S.JOB_ORDER_STATE_INTERRUPTED
ENDED, ABORTED = S.JOB_ORDER_STATE_ENDED, S.JOB_ORDER_STATE_ABORTED
CANCELLED, CLEARED = S.JOB_ORDER_STATE_CANCELLED, S.JOB_ORDER_STATE_CLEARED


def path(key: str) -> equipment_pb2.EquipmentPath:
    names = ("enterprise", "site", "area", "line", "cell", "equipment")
    return equipment_pb2.EquipmentPath(**dict(zip(names, key.split("/"), strict=False)))


def ts(seconds: float) -> Timestamp:
    t = Timestamp()
    t.FromNanoseconds(T0 + round(seconds * NS))
    return t


_ids = itertools.count()


def job_event(
    command: job_order_pb2.JobOrderCommand,
    job_id: str = "JO-1",
    at: float = 0.0,
    *,
    scope: str = "acme/berlin/assembly/line4",
    product: str = "P-100",
    state: job_order_pb2.JobOrderState = NEW,
    previous: job_order_pb2.JobOrderState = NEW,
    event_id: str | None = None,
    full: bool = True,
) -> job_order_pb2.JobOrderEvent:
    order = job_order_pb2.JobOrder(job_order_id=job_id)
    if full:
        order.equipment.CopyFrom(path(scope))
        order.product_id = product
        order.work_master_id = "WM-7"
        order.material_lot_id = "LOT-3"
    return job_order_pb2.JobOrderEvent(
        event_id=event_id if event_id is not None else f"ev-{next(_ids)}",
        command=command,
        job_order=order,
        occurred_time=ts(at),
        state=state,
        previous_state=previous,
    )


def shift_event(
    shift_id: str, at: float, *, scope: str = "acme/berlin", end: float | None = None, event_id: str | None = None
) -> shift_pb2.ShiftEvent:
    shift = shift_pb2.Shift(shift_id=shift_id, scope=path(scope))
    if end is not None:
        shift.planned_time.CopyFrom(time_range_pb2.TimeRange(start_time=ts(at), end_time=ts(end)))
    return shift_pb2.ShiftEvent(
        event_id=event_id if event_id is not None else f"sh-{next(_ids)}", shift=shift, effective_time=ts(at)
    )


def at(*seconds: float) -> npt.NDArray[np.int64]:
    return np.array([T0 + round(s * NS) for s in seconds], dtype=np.int64)


def stamped(tracker: ProductionContextTracker, equipment: str, *seconds: float) -> list[tuple[str, str]]:
    """(job order, shift) per reading time."""
    contexts, idx = tracker.context_at(equipment, at(*seconds))
    assert idx.dtype == np.uint32
    assert len(idx) == len(seconds)
    return [(contexts[i].job_order_id, contexts[i].shift_id) for i in idx.tolist()]


# --- the state machine -----------------------------------------------------------------------

ALLOWED = [
    (C.JOB_ORDER_COMMAND_STORE, NEW, NATS),
    (C.JOB_ORDER_COMMAND_STORE_AND_START, NEW, RUNNING),
    (C.JOB_ORDER_COMMAND_START, NATS, RUNNING),
    (C.JOB_ORDER_COMMAND_START, ATS, RUNNING),
    (C.JOB_ORDER_COMMAND_UPDATE, NATS, NATS),
    (C.JOB_ORDER_COMMAND_UPDATE, ATS, ATS),
    (C.JOB_ORDER_COMMAND_REVOKE_START, ATS, NATS),
    (C.JOB_ORDER_COMMAND_PAUSE, RUNNING, INTERRUPTED),
    (C.JOB_ORDER_COMMAND_RESUME, INTERRUPTED, RUNNING),
    (C.JOB_ORDER_COMMAND_STOP, RUNNING, ENDED),
    (C.JOB_ORDER_COMMAND_STOP, INTERRUPTED, ENDED),
    (C.JOB_ORDER_COMMAND_ABORT, RUNNING, ABORTED),
    (C.JOB_ORDER_COMMAND_ABORT, INTERRUPTED, ABORTED),
    (C.JOB_ORDER_COMMAND_CANCEL, NATS, CANCELLED),
    (C.JOB_ORDER_COMMAND_CANCEL, ATS, CANCELLED),
    (C.JOB_ORDER_COMMAND_CLEAR, ENDED, CLEARED),
    (C.JOB_ORDER_COMMAND_CLEAR, ABORTED, CLEARED),
    (C.JOB_ORDER_COMMAND_CLEAR, CANCELLED, CLEARED),
]
COMMANDS = [c for c in C.values() if c != C.JOB_ORDER_COMMAND_UNSPECIFIED]
STATES = [NEW, NATS, ATS, RUNNING, INTERRUPTED, ENDED, ABORTED, CANCELLED, CLEARED]
FORBIDDEN = [(c, s) for c in COMMANDS for s in STATES if (c, s) not in {(cmd, before) for cmd, before, _ in ALLOWED}]


@pytest.mark.parametrize(("command", "before", "after"), ALLOWED)
def test_allowed_transitions(command: int, before: int, after: int) -> None:
    assert next_state(before, command) == after


@pytest.mark.parametrize(("command", "before"), FORBIDDEN)
def test_every_other_transition_is_a_failed_precondition(command: int, before: int) -> None:
    with pytest.raises(JobOrderTransitionError) as info:
        next_state(before, command)
    assert isinstance(info.value, FailedPrecondition)
    assert info.value.code == grpc.StatusCode.FAILED_PRECONDITION


def test_requested_outcome_picks_among_allowed_ones() -> None:
    # OPC 10031-4 Start = "allowed to start"; the actual start is a second START.
    assert next_state(NATS, C.JOB_ORDER_COMMAND_START, ATS) == ATS
    assert next_state(NEW, C.JOB_ORDER_COMMAND_STORE_AND_START, ATS) == ATS
    with pytest.raises(JobOrderTransitionError, match="not ENDED"):
        next_state(RUNNING, C.JOB_ORDER_COMMAND_PAUSE, ENDED)


def test_unknown_command_is_refused() -> None:
    with pytest.raises(JobOrderTransitionError, match="unknown job order command"):
        next_state(RUNNING, 99)


def test_tracker_walks_a_job_through_its_life() -> None:
    tr = ProductionContextTracker()
    for command, expected in [
        (C.JOB_ORDER_COMMAND_STORE, NATS),
        (C.JOB_ORDER_COMMAND_UPDATE, NATS),
        (C.JOB_ORDER_COMMAND_START, RUNNING),
        (C.JOB_ORDER_COMMAND_PAUSE, INTERRUPTED),
        (C.JOB_ORDER_COMMAND_RESUME, RUNNING),
        (C.JOB_ORDER_COMMAND_STOP, ENDED),
        (C.JOB_ORDER_COMMAND_CLEAR, CLEARED),
    ]:
        tr.apply(job_event(command, full=command in (C.JOB_ORDER_COMMAND_STORE, C.JOB_ORDER_COMMAND_UPDATE)))
        assert tr.state("JO-1") == expected


@pytest.mark.parametrize(
    ("history", "command", "message"),
    [
        ([], C.JOB_ORDER_COMMAND_START, "unknown job order"),  # START of a job never stored
        ([C.JOB_ORDER_COMMAND_STORE_AND_START], C.JOB_ORDER_COMMAND_RESUME, "RESUME a job order in state RUNNING"),
        ([C.JOB_ORDER_COMMAND_STORE], C.JOB_ORDER_COMMAND_PAUSE, "PAUSE a job order in state NOT_ALLOWED_TO_START"),
        ([C.JOB_ORDER_COMMAND_STORE], C.JOB_ORDER_COMMAND_STORE, "STORE a job order in state NOT_ALLOWED_TO_START"),
        ([C.JOB_ORDER_COMMAND_STORE_AND_START], C.JOB_ORDER_COMMAND_UPDATE, "UPDATE a job order in state RUNNING"),
        ([C.JOB_ORDER_COMMAND_STORE_AND_START, C.JOB_ORDER_COMMAND_STOP], C.JOB_ORDER_COMMAND_START, "ENDED"),
    ],
)
def test_tracker_refuses_invalid_transitions_without_changing_state(
    history: list[job_order_pb2.JobOrderCommand], command: job_order_pb2.JobOrderCommand, message: str
) -> None:
    tr = ProductionContextTracker()
    for step in history:
        tr.apply(job_event(step))
    before = tr.state("JO-1")
    with pytest.raises(JobOrderTransitionError, match=message) as info:
        tr.apply(job_event(command))
    assert info.value.job_order_id == "JO-1"
    assert info.value.violations[0][0] == "JOB_ORDER_STATE"
    assert tr.state("JO-1") == before


def test_stale_previous_state_is_refused() -> None:
    tr = ProductionContextTracker()
    tr.apply(job_event(C.JOB_ORDER_COMMAND_STORE_AND_START))
    with pytest.raises(JobOrderTransitionError, match="expects state INTERRUPTED"):
        tr.apply(job_event(C.JOB_ORDER_COMMAND_STOP, previous=INTERRUPTED))


def test_same_event_twice_is_a_no_op() -> None:
    tr = ProductionContextTracker()
    store = job_event(C.JOB_ORDER_COMMAND_STORE_AND_START, event_id="e1")
    tr.apply(store)
    tr.apply(store)  # Kafka redelivery: not "STORE_AND_START of a running job"
    assert tr.state("JO-1") == RUNNING


def test_replay_adopts_published_states_even_with_missed_events() -> None:
    tr = ProductionContextTracker()
    # The tracker started reading the topic after the STORE_AND_START.
    tr.apply(job_event(C.JOB_ORDER_COMMAND_PAUSE, at=5, previous=RUNNING, state=INTERRUPTED), replay=True)
    assert tr.state("JO-1") == INTERRUPTED
    assert stamped(tr, PRESS, 6) == [("JO-1", "")]


def test_malformed_events_are_invalid_arguments() -> None:
    tr = ProductionContextTracker()
    no_id = job_event(C.JOB_ORDER_COMMAND_STORE, job_id="")
    no_time = job_event(C.JOB_ORDER_COMMAND_STORE)
    no_time.ClearField("occurred_time")
    no_scope = job_event(C.JOB_ORDER_COMMAND_STORE, full=False)
    for event in (no_id, no_time, no_scope):
        with pytest.raises(ContextEventError) as info:
            tr.apply(event)
        assert isinstance(info.value, InvalidArgument)
    bad_shift = shift_event("early", 0)
    bad_shift.shift.ClearField("scope")
    with pytest.raises(ContextEventError, match=r"shift\.scope"):
        tr.apply(bad_shift)


def test_plan_and_validate_transition_for_the_servicer() -> None:
    tr = ProductionContextTracker()
    tr.apply(job_event(C.JOB_ORDER_COMMAND_STORE, product="P-9"))
    previous, new, order = tr.plan(C.JOB_ORDER_COMMAND_START, job_order_pb2.JobOrder(job_order_id="JO-1"))
    assert (previous, new, order.product_id) == (NATS, RUNNING, "P-9")
    assert tr.state("JO-1") == NATS  # planning changes nothing

    event = job_event(C.JOB_ORDER_COMMAND_START, full=False)
    tr.validate_transition(event)
    assert (event.previous_state, event.state) == (NATS, RUNNING)
    assert event.job_order.product_id == "P-9"  # the full definition, as the proto promises
    tr.apply(event)
    assert tr.state("JO-1") == RUNNING
    with pytest.raises(JobOrderTransitionError):
        tr.validate_transition(job_event(C.JOB_ORDER_COMMAND_START, full=False))


# --- per-reading lookups ---------------------------------------------------------------------


def running_job_tracker() -> ProductionContextTracker:
    """JO-1 on line4: started 10:00:00, paused 10:00:10, resumed 10:00:20, stopped 10:00:30."""
    tr = ProductionContextTracker()
    tr.apply(job_event(C.JOB_ORDER_COMMAND_STORE, at=-60))
    tr.apply(job_event(C.JOB_ORDER_COMMAND_START, at=0, full=False))
    tr.apply(job_event(C.JOB_ORDER_COMMAND_PAUSE, at=10, full=False))
    tr.apply(job_event(C.JOB_ORDER_COMMAND_RESUME, at=20, full=False))
    tr.apply(job_event(C.JOB_ORDER_COMMAND_STOP, at=30, full=False))
    return tr


def test_readings_are_stamped_by_their_own_timestamp() -> None:
    tr = running_job_tracker()
    # Processed after the job stopped, the readings still get the context of their time:
    # stored-but-not-started (-30 s) has none, paused (15 s) keeps the job (held), the
    # start is inclusive and the stop exclusive ([start, stop)).
    assert stamped(tr, PRESS, -30, 0, 5, 10, 15, 20, 29.999, 30, 40) == [
        ("", ""),
        ("JO-1", ""),
        ("JO-1", ""),
        ("JO-1", ""),
        ("JO-1", ""),
        ("JO-1", ""),
        ("JO-1", ""),
        ("", ""),
        ("", ""),
    ]


def test_context_carries_the_job_definition() -> None:
    contexts, idx = running_job_tracker().context_at(PRESS, at(5, 6))
    assert idx.tolist() == [0, 0]  # one context for the whole batch: the fast path
    assert contexts == [
        production_context_pb2.ProductionContext(
            job_order_id="JO-1", product_id="P-100", work_master_id="WM-7", material_lot_id="LOT-3"
        )
    ]


def test_batch_dictionary_holds_only_the_contexts_used() -> None:
    tr = running_job_tracker()
    tr.apply(job_event(C.JOB_ORDER_COMMAND_STORE_AND_START, "JO-2", at=40, product="P-200"))
    contexts, idx = tr.context_at(PRESS, at(35, 5, 45, 36))
    assert [c.job_order_id for c in contexts] == ["", "JO-1", "JO-2"]
    assert idx.tolist() == [0, 1, 2, 0]


def test_empty_times_and_unknown_equipment() -> None:
    tr = running_job_tracker()
    contexts, idx = tr.context_at(PRESS, at())
    assert (len(contexts), idx.tolist()) == (1, [])
    assert stamped(tr, "other/site", 5) == [("", "")]


def test_a_line_job_applies_to_every_equipment_under_the_line_only() -> None:
    tr = running_job_tracker()
    assert stamped(tr, PRESS, 5) == stamped(tr, ROBOT, 5) == [("JO-1", "")]
    assert stamped(tr, OTHER_LINE, 5) == [("", "")]
    assert stamped(tr, "acme/berlin/assembly/line4", 5) == [("JO-1", "")]  # the line itself
    # Prefixes are whole path segments: line4 does not cover line40.
    assert stamped(tr, "acme/berlin/assembly/line40/c/e", 5) == [("", "")]


def test_most_specific_scope_wins_then_running_then_latest_start() -> None:
    tr = ProductionContextTracker()
    tr.apply(job_event(C.JOB_ORDER_COMMAND_STORE_AND_START, "LINE", at=0))
    tr.apply(job_event(C.JOB_ORDER_COMMAND_STORE_AND_START, "CELL", at=10, scope="acme/berlin/assembly/line4/cell2"))
    tr.apply(job_event(C.JOB_ORDER_COMMAND_PAUSE, "CELL", at=20, full=False))
    tr.apply(job_event(C.JOB_ORDER_COMMAND_STORE_AND_START, "CELL-B", at=25, scope="acme/berlin/assembly/line4/cell2"))
    tr.apply(job_event(C.JOB_ORDER_COMMAND_STOP, "CELL-B", at=30, full=False))
    tr.apply(job_event(C.JOB_ORDER_COMMAND_STOP, "CELL", at=40, full=False))
    assert [j for j, _ in stamped(tr, PRESS, 5, 15, 22, 27, 35, 45)] == [
        "LINE",  # only the line job
        "CELL",  # the cell job is more specific
        "CELL",  # paused, still more specific than the running line job
        "CELL-B",  # same scope: running beats interrupted
        "CELL",  # CELL-B stopped, CELL still held
        "LINE",
    ]
    assert [j for j, _ in stamped(tr, ROBOT, 15)] == ["LINE"]  # cell3 is not under cell2


def test_shifts_per_scope_with_planned_end_and_replacement() -> None:
    tr = ProductionContextTracker()
    tr.apply(shift_event("early", 0, end=100))
    tr.apply(shift_event("late", 100))
    tr.apply(shift_event("night-line4", 150, scope="acme/berlin/assembly/line4", end=180))
    tr.apply(shift_event("", 200))  # the site's shift ends
    assert [s for _, s in stamped(tr, PRESS, -1, 0, 99, 100, 160, 190, 250)] == [
        "",
        "early",
        "early",
        "late",
        "night-line4",  # the more specific scope wins while it is in effect
        "late",
        "",
    ]
    assert [s for _, s in stamped(tr, OTHER_LINE, 160)] == ["late"]


def test_shift_planned_end_bounds_it() -> None:
    tr = ProductionContextTracker()
    tr.apply(shift_event("friday-late", 0, end=60))
    assert [s for _, s in stamped(tr, PRESS, 30, 61, 3600)] == ["friday-late", "", ""]


def test_late_shift_event_is_inserted_in_time_order_and_duplicates_ignored() -> None:
    tr = ProductionContextTracker()
    tr.apply(shift_event("late", 100, event_id="s2"))
    tr.apply(shift_event("early", 0, event_id="s1"))
    tr.apply(shift_event("early", 0, event_id="s1"))
    assert [s for _, s in stamped(tr, PRESS, 50, 150)] == ["early", "late"]


def test_job_and_shift_combine() -> None:
    tr = running_job_tracker()
    tr.apply(shift_event("early", -3600, end=25))
    tr.apply(shift_event("late", 25))
    assert stamped(tr, PRESS, 5, 27, 35) == [("JO-1", "early"), ("JO-1", "late"), ("", "late")]


def test_timeline_is_rebuilt_after_an_event() -> None:
    tr = ProductionContextTracker()
    tr.apply(job_event(C.JOB_ORDER_COMMAND_STORE_AND_START, at=0))
    assert stamped(tr, PRESS, 100) == [("JO-1", "")]
    tr.apply(job_event(C.JOB_ORDER_COMMAND_ABORT, at=50, full=False))
    assert stamped(tr, PRESS, 100) == [("", "")]


def test_mes_clock_jitter_keeps_transitions_ordered() -> None:
    tr = ProductionContextTracker()
    tr.apply(job_event(C.JOB_ORDER_COMMAND_STORE_AND_START, at=10))
    tr.apply(job_event(C.JOB_ORDER_COMMAND_STOP, at=9.5, full=False))  # reported "before" its start
    assert tr.state("JO-1") == ENDED
    assert stamped(tr, PRESS, 9.7, 10, 11) == [("", ""), ("", ""), ("", "")]


def test_update_may_move_a_stored_job_to_another_scope() -> None:
    tr = ProductionContextTracker()
    tr.apply(job_event(C.JOB_ORDER_COMMAND_STORE, at=0))
    tr.apply(job_event(C.JOB_ORDER_COMMAND_UPDATE, at=1, scope="acme/berlin/assembly/line5"))
    tr.apply(job_event(C.JOB_ORDER_COMMAND_START, at=2, full=False))
    assert stamped(tr, OTHER_LINE, 3) == [("JO-1", "")]
    assert stamped(tr, PRESS, 3) == [("", "")]


# --- retention -------------------------------------------------------------------------------


def test_retention_forgets_finished_jobs_and_replaced_shifts_only() -> None:
    tr = ProductionContextTracker(retention_s=3600)
    tr.apply(job_event(C.JOB_ORDER_COMMAND_STORE_AND_START, "OLD", at=0))
    tr.apply(job_event(C.JOB_ORDER_COMMAND_STOP, "OLD", at=10, full=False))
    tr.apply(job_event(C.JOB_ORDER_COMMAND_STORE, "WAITING", at=0))
    tr.apply(shift_event("early", 0))
    tr.apply(shift_event("late", 20))
    assert stamped(tr, PRESS, 5) == [("OLD", "early")]
    tr.prune(T0 + 3621 * NS)  # cutoff 21 s: OLD (ended at 10 s) and "early" (replaced at 20 s) are over
    assert tr.state("OLD") == NEW  # forgotten
    assert tr.state("WAITING") == NATS  # not ended: kept
    assert stamped(tr, PRESS, 5) == [("", "")]
    assert stamped(tr, PRESS, 25) == [("", "late")]  # the current shift is kept


def test_events_prune_automatically_as_event_time_advances() -> None:
    tr = ProductionContextTracker(retention_s=60, prune_every_s=10)
    tr.apply(job_event(C.JOB_ORDER_COMMAND_STORE_AND_START, "A", at=0))
    tr.apply(job_event(C.JOB_ORDER_COMMAND_STOP, "A", at=1, full=False))
    tr.apply(shift_event("s", 1000))
    assert tr.state("A") == NEW


# --- micro benchmarks (run the module; not timed tests) --------------------------------------


def _best_seconds_per_call(call: Callable[[], object], calls: int, rounds: int = 5) -> float:
    """Best of ``rounds`` timings of ``calls // rounds`` calls: the box is shared, so the
    fastest round is the one least disturbed by other processes."""
    per_round = max(1, calls // rounds)
    best = math.inf
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(per_round):
            call()
        best = min(best, (time.perf_counter() - start) / per_round)
    return best


def benchmark(batches: int = 2000, batch_size: int = 1000) -> dict[str, float]:
    """Readings/s of :meth:`ProductionContextTracker.context_at` with a week of history
    (a job every 2 h with a pause each, 3 shifts a day), for batches inside one segment (the
    usual case) and batches straddling a job change."""
    tr = ProductionContextTracker(retention_s=8 * 86400)
    hour = 3600.0
    for day in range(7):
        for s in range(3):
            tr.apply(shift_event(f"d{day}-s{s}", day * 24 * hour + s * 8 * hour))
    for j in range(7 * 12):
        start = j * 2 * hour
        tr.apply(job_event(C.JOB_ORDER_COMMAND_STORE_AND_START, f"JO-{j}", at=start))
        tr.apply(job_event(C.JOB_ORDER_COMMAND_PAUSE, f"JO-{j}", at=start + 0.5 * hour, full=False))
        tr.apply(job_event(C.JOB_ORDER_COMMAND_RESUME, f"JO-{j}", at=start + 0.6 * hour, full=False))
        tr.apply(job_event(C.JOB_ORDER_COMMAND_STOP, f"JO-{j}", at=start + 1.9 * hour, full=False))
    inside = T0 + round(100 * hour * NS) + np.sort(np.random.default_rng(3).integers(0, NS, batch_size))
    straddling = T0 + round((102 * hour - 0.5) * NS) + np.sort(np.random.default_rng(4).integers(0, NS, batch_size))
    out: dict[str, float] = {}
    for name, times_ns in (("one_segment", inside), ("straddling", straddling)):
        tr.context_at(PRESS, times_ns)  # build the timeline once
        seconds = _best_seconds_per_call(lambda t=times_ns: tr.context_at(PRESS, t), batches)  # type: ignore[misc]
        out[f"{name}_readings_per_s"] = batch_size / seconds
    start = time.perf_counter()
    rebuilds = max(1, batches // 20)
    for _ in range(rebuilds):
        tr._touch("acme/berlin/assembly/line4")  # what an event on the line does
        tr.context_at(PRESS, inside)
    out["timeline_rebuild_us"] = (time.perf_counter() - start) / rebuilds * 1e6
    return out


def benchmark_chain(batches: int = 2000, batch_size: int = 1000, n_tags: int = 16) -> dict[str, float]:
    """All four stages on one core: normalize -> validate -> dedup -> context, clean batches."""
    from factorymesh.api.common.v1 import units_pb2
    from factorymesh.api.telemetry.v1 import tag_pb2
    from factorymesh.ingest.dedup import Deduplicator
    from factorymesh.ingest.model import ReadingColumns, equipment_key
    from factorymesh.ingest.units import default_converter, normalize
    from factorymesh.ingest.validation import Validator

    equipment = path(PRESS)
    source_units = ["°F", "psi", "gpm", "in/s", "rpm", "hp", "lb", "ft·lbf"]
    registered = ["Cel", "kPa", "l/min", "mm/s", "/min", "kW", "kg", "N.m"]
    tags = [f"tag{i}" for i in range(n_tags)]
    definitions = [
        tag_pb2.TagDefinition(
            equipment=equipment,
            tag=tag,
            data_type=tag_pb2.TagDataType.TAG_DATA_TYPE_DOUBLE,
            unit=units_pb2.EngineeringUnit(code=registered[i % 8]),
            valid_range=tag_pb2.ValueRange(min=-1e9, max=1e9),
            expected_range=tag_pb2.ValueRange(min=-1e8, max=1e8),
        )
        for i, tag in enumerate(tags)
    ]
    validator = Validator(definitions, max_future_s=60, max_past_s=3600)
    tracker = running_job_tracker()
    tracker.apply(shift_event("early", -3600))
    converter = default_converter()
    rng = np.random.default_rng(5)
    tag_idx = rng.integers(0, n_tags, batch_size).astype(np.uint32)
    base = ReadingColumns(
        batch_id="",
        equipment=equipment,
        tags=tags,
        units=[source_units[i % 8] for i in range(n_tags)],
        tag_idx=tag_idx,
        times_ns=T0 + 5 * NS + np.sort(rng.integers(0, NS, batch_size)),
        values=rng.uniform(0, 100, batch_size),
        quality=np.ones(batch_size, dtype=np.int32),
        source_idx=np.arange(batch_size, dtype=np.uint32),
    )
    key = equipment_key(equipment)
    registry_unit = validator.registry_unit(key)
    now = T0 + 6 * NS
    inputs = [ReadingColumns(**{**base.__dict__, "batch_id": f"batch-{i}"}) for i in range(batches)]
    best = math.inf
    for _ in range(3):  # best of 3 (the box is shared); fresh de-dup memory each round
        dedup = Deduplicator(window_s=3600, max_ids=1_000_000)
        start = time.perf_counter()
        for columns in inputs:
            si, _, _ = normalize(columns, registry_unit, converter)
            valid, _, _ = validator.validate(si, now)
            first = dedup.filter_columns(valid)
            if not first.all():
                valid = valid.select(first)
            tracker.context_at(key, valid.times_ns)
        best = min(best, (time.perf_counter() - start) / batches)
    return {"readings_per_s": batch_size / best, "us_per_batch": best * 1e6}


def test_benchmarks_run() -> None:
    assert benchmark(batches=3)["one_segment_readings_per_s"] > 0
    assert benchmark_chain(batches=3)["readings_per_s"] > 0


if __name__ == "__main__":
    print("context.context_at", benchmark())
    print("chain (normalize, validate, dedup, context)", benchmark_chain())
