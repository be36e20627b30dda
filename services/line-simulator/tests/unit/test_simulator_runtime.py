"""Rate control, the machining program's wear arithmetic, CSV outputs and the command line."""

from __future__ import annotations

import asyncio
import csv
import json
import math
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from factorymesh.line_simulator.cli import main
from factorymesh.line_simulator.output import LABEL_COLUMNS, READING_COLUMNS, TICK_COLUMNS
from factorymesh.line_simulator.physics import Program, tool_wear_curve
from factorymesh.line_simulator.plant import Format, parse_formats
from factorymesh.line_simulator.ticker import Ticker

# --------------------------------------------------------------------------- ticker


async def test_ticker_honours_the_rate() -> None:
    rate = 40.0
    ticker = Ticker(rate, time.time_ns())
    stop = asyncio.Event()
    started = time.monotonic()
    k = 0
    while time.monotonic() - started < 0.5:
        assert await ticker.wait(k, stop)
        k += 1
    # 0.5 s at 40 Hz: 20 ticks (+1 for the tick due at t=0); a shared CI box may add a little jitter.
    assert 17 <= k <= 23


async def test_ticker_catches_up_without_sleeping_when_behind() -> None:
    ticker = Ticker(10.0, time.time_ns() - 2 * 10**9)  # started 2 s ago: 20 ticks overdue
    stop = asyncio.Event()
    started = time.monotonic()
    for k in range(20):
        assert await ticker.wait(k, stop)
    assert time.monotonic() - started < 0.2
    assert ticker.lag_s > 0.0


async def test_ticker_stops_waiting_when_told() -> None:
    ticker = Ticker(0.1, time.time_ns())  # next tick in 10 s
    stop = asyncio.Event()
    assert await ticker.wait(0, stop)
    asyncio.get_running_loop().call_later(0.05, stop.set)
    started = time.monotonic()
    assert not await ticker.wait(1, stop)
    assert time.monotonic() - started < 1.0


async def test_ticker_without_realtime_never_sleeps() -> None:
    ticker = Ticker(1.0, time.time_ns() + 3600 * 10**9, realtime=False)
    stop = asyncio.Event()
    started = time.monotonic()
    for k in range(100):
        assert await ticker.wait(k, stop)
    assert time.monotonic() - started < 0.1


# --------------------------------------------------------------------------- machining program


@settings(max_examples=200, deadline=None)
@given(offset=st.floats(0, 1000), t=st.floats(0, 1e6))
def test_program_work_inverts(offset: float, t: float) -> None:
    program = Program(offset)
    w = program.work(t)
    first = program.time_of_work(w)
    # The first time the work is reached is never after t, and reaches exactly that work.
    assert first <= t + 1e-6
    assert math.isclose(program.work(first), w, rel_tol=1e-9, abs_tol=1e-6)


@given(x=st.floats(0, 1.2))
def test_tool_wear_curve_is_monotone(x: float) -> None:
    assert tool_wear_curve(x) <= tool_wear_curve(x + 1e-3)


def test_formats_parse() -> None:
    assert parse_formats("protobuf, umh") == (Format.PROTOBUF, Format.UMH)
    assert parse_formats("all") == tuple(Format)
    with pytest.raises(ValueError, match="unknown format"):
        parse_formats("protobuf,xml")


# --------------------------------------------------------------------------- CLI and CSV


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


def test_dataset_command_writes_readings_and_labels(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, labels = tmp_path / "data.csv", tmp_path / "labels.csv"
    assert main(["dataset", "--out", str(out), "--labels", str(labels), "--duration-s", "60", "--seed", "4"]) == 0
    stats = json.loads(capsys.readouterr().out)
    rows, label_rows = _csv(out), _csv(labels)
    assert tuple(rows[0]) == READING_COLUMNS
    assert tuple(label_rows[0]) == LABEL_COLUMNS
    assert stats == {"ticks": 60, "rows": len(rows), "label_rows": 60 * 11}
    assert len(label_rows) == 60 * 11
    us_flow = next(r for r in rows if r["tag"] == "flow" and "/houston/" in r["equipment"])
    assert us_flow["unit"] == "[gal_us]/min"
    assert us_flow["unit_metric"] == "L/min"
    assert float(us_flow["value"]) * 3.785411784 == pytest.approx(float(us_flow["value_metric"]))
    # Every reading row joins a label row on (time_ns, equipment).
    keys = {(r["time_ns"], r["equipment"]) for r in label_rows}
    assert all((r["time_ns"], r["equipment"]) in keys for r in rows)
    # Same seed, same file.
    again = tmp_path / "again.csv"
    main(["dataset", "--out", str(again), "--duration-s", "60", "--seed", "4"])
    assert again.read_bytes() == out.read_bytes()


def test_dataset_tick_shape(tmp_path: Path) -> None:
    out = tmp_path / "ticks.csv"
    main(["dataset", "--out", str(out), "--duration-s", "10", "--rate-hz", "2", "--shape", "tick"])
    rows = _csv(out)
    assert tuple(rows[0]) == TICK_COLUMNS
    assert len(rows) == 20 * 11
    pump = next(r for r in rows if r["equipment_class"] == "centrifugal_pump")
    assert pump["flow"]
    assert not pump["tool_wear"]
    assert float(pump["flow"]) > 500  # metric (L/min) even for the US site


def test_ground_truth_command_matches_dataset_labels(tmp_path: Path) -> None:
    labels, truth = tmp_path / "labels.csv", tmp_path / "truth.csv"
    main(["dataset", "--out", str(tmp_path / "d.csv"), "--labels", str(labels), "--duration-s", "120", "--seed", "9"])
    main(["ground-truth", "--out", str(truth), "--duration-s", "120", "--seed", "9"])
    assert truth.read_bytes() == labels.read_bytes()


def test_ground_truth_episodes_and_scenario(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = tmp_path / "s.json"
    pump = "acme/stuttgart/utilities/process-water/pumps/pump-02"
    scenario.write_text(
        json.dumps(
            {
                "random_faults": False,
                "faults": [{"equipment": pump, "fault": "cavitation", "start_s": 10, "duration_s": 20}],
            }
        )
    )
    main(["ground-truth", "--episodes", "--scenario", str(scenario), "--duration-s", "100"])
    episodes = json.loads(capsys.readouterr().out)
    assert episodes == [
        {"equipment": pump, "fault": "cavitation", "start_s": 10.0, "end_s": 30.0, "severity": 1.0},
    ]


def test_plant_command_lists_tags_and_units(capsys: pytest.CaptureFixture[str]) -> None:
    main(["plant"])
    data = json.loads(capsys.readouterr().out)
    houston_pump = next(e for e in data["equipment"] if e["key"].endswith("houston/utilities/cooling/pumps/pump-01"))
    assert houston_pump["formats"] == ["batch"]
    assert {t["name"]: t["unit"] for t in houston_pump["tags"]}["bearing_temperature"] == "[degF]"


def test_run_without_a_broker_setting_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("FM_KAFKA_BOOTSTRAP", raising=False)
    # Settings from the environment only: load_settings stops the process.
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2
    assert "FM_KAFKA_BOOTSTRAP" in capsys.readouterr().err
    # With flags: the same one-line error, as an exit code.
    assert main(["--duration-s", "1"]) == 2
    assert "FM_KAFKA_BOOTSTRAP" in capsys.readouterr().err
