"""Routing: most specific route, stored over default, deterministic canary and shadow sampling."""

from __future__ import annotations

from pathlib import Path

import pytest
from inference_fakes import PUMP, pump, write_model

from factorymesh.api.common.v1 import equipment_pb2
from factorymesh.api.inference.v1 import model_pb2
from factorymesh.inference.models import ModelCatalog, Task
from factorymesh.inference.router import (
    RoutingTable,
    bucket,
    default_routes,
    path_gap,
    route_etag,
    stamp,
    targets,
)

ANOMALY = Task.INFERENCE_TASK_ANOMALY_DETECTION
RUL = Task.INFERENCE_TASK_REMAINING_USEFUL_LIFE


def route(name: str, prefix: dict[str, str] | None = None, task: int = ANOMALY, **kw: object) -> model_pb2.ModelRoute:
    return model_pb2.ModelRoute(
        name=name,
        task=task,  # type: ignore[arg-type]
        equipment_class="centrifugal_pump",
        equipment_prefix=equipment_pb2.EquipmentPath(**(prefix or {})),
        primary_model_name=str(kw.pop("model", "anomaly_centrifugal_pump")),
        **kw,  # type: ignore[arg-type]
    )


def test_the_most_specific_route_wins_so_a_site_can_run_its_own_model() -> None:
    table = RoutingTable()
    table.put(route("global"))
    table.put(route("houston", {"enterprise": "acme", "site": "houston"}, model="anomaly_houston"))
    table.put(route("stuttgart", {"enterprise": "acme", "site": "stuttgart"}, model="anomaly_stuttgart"))
    assert table.select(ANOMALY, "centrifugal_pump", PUMP).name == "houston"  # type: ignore[union-attr]
    assert table.select(ANOMALY, "centrifugal_pump", pump(site="stuttgart")).name == "stuttgart"  # type: ignore[union-attr]
    assert table.select(ANOMALY, "centrifugal_pump", pump(site="austin")).name == "global"  # type: ignore[union-attr]
    assert table.select(ANOMALY, "induction_motor", PUMP) is None
    assert table.select(RUL, "centrifugal_pump", PUMP) is None


def test_a_stored_route_wins_over_a_default_one_and_ties_break_by_name() -> None:
    table = RoutingTable()
    table.set_defaults([route("default-anomaly_centrifugal_pump")])
    assert table.select(ANOMALY, "centrifugal_pump", PUMP).name == "default-anomaly_centrifugal_pump"  # type: ignore[union-attr]
    table.put(route("b-global"))
    table.put(route("a-global"))
    assert table.select(ANOMALY, "centrifugal_pump", PUMP).name == "a-global"  # type: ignore[union-attr]
    table.remove("a-global")
    table.remove("b-global")
    assert table.select(ANOMALY, "centrifugal_pump", PUMP).name == "default-anomaly_centrifugal_pump"  # type: ignore[union-attr]


def test_routes_for_gives_one_route_per_task() -> None:
    table = RoutingTable()
    table.put(route("anomaly"))
    table.put(route("rul", task=RUL, model="rul_centrifugal_pump"))
    table.put(route("rul-houston", {"enterprise": "acme", "site": "houston"}, task=RUL, model="rul_x"))
    assert [r.name for r in table.routes_for("centrifugal_pump", PUMP)] == ["anomaly", "rul-houston"]


def test_canary_takes_its_share_deterministically_by_window_id() -> None:
    r = route("r", primary_model_version="1", canary=model_pb2.CanaryModel(model_version="2", traffic_fraction=0.2))
    ids = [f"window-{i}" for i in range(5000)]
    picks = [targets(r, i)[0] for i in ids]
    canary = sum(t.role == "canary" for t in picks)
    assert 0.18 < canary / len(ids) < 0.22
    assert all(t.model_version == ("2" if t.role == "canary" else "1") for t in picks)
    assert all(t.model_name == "anomaly_centrifugal_pump" for t in picks)
    # Same window, same answer: every replica and every retry route it alike.
    assert [targets(r, i)[0].role for i in ids[:200]] == [t.role for t in picks[:200]]


def test_canary_split_differs_between_routes_but_not_between_calls() -> None:
    assert bucket("w", "a/canary") != bucket("w", "b/canary")
    assert bucket("w", "a/canary") == bucket("w", "a/canary")
    assert 0 <= bucket("w", "x") < 1


def test_shadows_are_sampled_and_marked_and_predict_can_leave_them_out() -> None:
    r = route(
        "r",
        shadow_models=[
            model_pb2.ShadowModel(model_name="anomaly_v2", sample_fraction=1.0),
            model_pb2.ShadowModel(model_name="anomaly_v3", sample_fraction=0.5),
        ],
    )
    ids = [f"w{i}" for i in range(2000)]
    all_targets = [targets(r, i) for i in ids]
    assert all(t[0].role == "primary" and t[1].model_name == "anomaly_v2" for t in all_targets)
    assert all(t.role == "shadow" for ts in all_targets for t in ts[1:])
    share_v3 = sum(any(t.model_name == "anomaly_v3" for t in ts) for ts in all_targets) / len(ids)
    assert 0.45 < share_v3 < 0.55
    assert [t.role for t in targets(r, "w1", with_shadows=False)] == ["primary"]


def test_default_routes_follow_the_repository_with_an_optional_canary(tmp_path: Path) -> None:
    write_model(tmp_path, "anomaly_centrifugal_pump", "1")
    write_model(tmp_path, "anomaly_centrifugal_pump", "2")
    write_model(tmp_path, "rul_centrifugal_pump", "1", features=["flow.mean"])
    catalog = ModelCatalog(tmp_path)
    catalog.scan()
    plain = {r.name: r for r in default_routes(catalog)}
    assert sorted(plain) == ["default-anomaly_centrifugal_pump", "default-rul_centrifugal_pump"]
    assert plain["default-anomaly_centrifugal_pump"].primary_model_version == ""  # newest READY
    assert not plain["default-anomaly_centrifugal_pump"].HasField("canary")
    assert plain["default-rul_centrifugal_pump"].task == RUL
    canaried = {r.name: r for r in default_routes(catalog, canary_fraction=0.1)}["default-anomaly_centrifugal_pump"]
    assert canaried.primary_model_version == "1"
    assert canaried.canary.model_version == "2"
    assert canaried.canary.traffic_fraction == pytest.approx(0.1)


def test_stamp_sets_author_time_and_a_new_etag() -> None:
    r = route("r")
    first = stamp(r, "alice")
    assert first.updated_by == "alice"
    assert first.update_time.seconds > 0
    assert first.etag == route_etag(first)
    assert first.etag
    changed = route("r", primary_model_version="2")
    assert stamp(changed, "alice").etag != first.etag


def test_path_gap() -> None:
    assert path_gap(equipment_pb2.EquipmentPath(enterprise="acme", area="a")) == "area"
    assert path_gap(PUMP) is None
    assert path_gap(equipment_pb2.EquipmentPath()) is None
