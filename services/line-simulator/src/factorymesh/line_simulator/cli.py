"""Command line: ``python -m factorymesh.line_simulator [run|dataset|ground-truth|plant] ...``.

* ``run`` (the default): publish to Kafka at ``--rate-hz`` until ``--duration-s`` or SIGTERM;
  settings come from ``FM_*`` variables, flags override them.
* ``dataset``: write a training dataset and its labels as CSV, no Kafka.
* ``ground-truth``: the labels (or the fault episodes) of a run, without simulating signals.
* ``plant``: the plant as JSON: every equipment with its key, class, formats, tags and units.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from factorymesh.common.config import describe_validation_error, load_settings
from factorymesh.line_simulator.config import LineSimulatorSettings
from factorymesh.line_simulator.faults import Scenario
from factorymesh.line_simulator.output import LABEL_COLUMNS, Shape, label_fields, write_dataset
from factorymesh.line_simulator.plant import Plant, default_plant, parse_formats
from factorymesh.line_simulator.simulator import DEFAULT_START, NS, Simulator, ground_truth
from factorymesh.line_simulator.units import unit_for

COMMANDS = ("run", "dataset", "ground-truth", "plant")


def _start(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _common(parser: argparse.ArgumentParser, *, offline: bool) -> None:
    parser.add_argument("--seed", type=int, default=None if not offline else 0, help="random seed (default 0)")
    parser.add_argument("--scenario", type=Path, default=None, help="scenario JSON (plant, faults)")
    parser.add_argument("--rate-hz", type=float, default=None if not offline else 1.0, help="samples per second")
    parser.add_argument("--duration-s", type=float, default=None if not offline else 3600.0, help="simulated seconds")
    parser.add_argument(
        "--fault-rate-scale", type=float, default=None, help="multiply the random fault rates (0 = no random faults)"
    )
    parser.add_argument(
        "--start",
        type=_start,
        default=None if not offline else DEFAULT_START,
        help=f"simulation start, ISO 8601 (default: {'now' if not offline else DEFAULT_START.isoformat()})",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m factorymesh.line_simulator", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command")

    run = sub.add_parser("run", help="publish to Kafka (default)")
    _common(run, offline=False)
    run.add_argument("--formats", default=None, help="protobuf,batch,umh,sparkplug or all (default: per line)")
    run.add_argument("--labels-out", type=Path, default=None, help="write ground-truth labels CSV here")
    run.add_argument("--topic", default=None, help="Kafka topic (default: the raw telemetry topic)")
    run.add_argument("--kafka-bootstrap", default=None, help="Kafka bootstrap servers (default: FM_KAFKA_BOOTSTRAP)")
    run.add_argument("--batch-size", type=int, default=None, help="readings per SensorReadingBatch")
    run.add_argument("--no-realtime", dest="realtime", action="store_false", default=None, help="as fast as possible")
    run.add_argument("--metrics-port", type=int, default=None, help="Prometheus port (0 disables)")

    dataset = sub.add_parser("dataset", help="write a training dataset as CSV (no Kafka)")
    _common(dataset, offline=True)
    dataset.add_argument("--out", type=Path, required=True, help="dataset CSV")
    dataset.add_argument("--labels", type=Path, default=None, help="labels CSV")
    dataset.add_argument("--shape", choices=[s.value for s in Shape], default=Shape.READING.value)

    truth = sub.add_parser("ground-truth", help="labels or fault episodes of a run, without simulating signals")
    _common(truth, offline=True)
    truth.add_argument("--out", type=Path, default=None, help="output file (default: stdout)")
    truth.add_argument("--episodes", action="store_true", help="the fault episodes as JSON instead of per-tick labels")

    plant = sub.add_parser("plant", help="print the plant (equipment, tags, units, formats) as JSON")
    plant.add_argument("--scenario", type=Path, default=None)
    return parser


def _scenario(path: Path | None) -> Scenario:
    return Scenario.load(path) if path else Scenario()


def _plant(scenario: Scenario) -> Plant:
    return scenario.plant or default_plant()


def _start_ns(value: datetime) -> int:
    return int(value.timestamp()) * NS + value.microsecond * 1000


def run_command(args: argparse.Namespace) -> int:
    from factorymesh.common.logging import configure_logging
    from factorymesh.common.telemetry import configure_telemetry
    from factorymesh.line_simulator.app import run

    overrides: dict[str, Any] = {
        name: value
        for name, value in {
            "seed": args.seed,
            "scenario": args.scenario,
            "rate_hz": args.rate_hz,
            "duration_s": args.duration_s,
            "fault_rate_scale": args.fault_rate_scale,
            "start": args.start,
            "formats": args.formats,
            "labels_out": args.labels_out,
            "topic": args.topic,
            "kafka_bootstrap": args.kafka_bootstrap,
            "batch_size": args.batch_size,
            "realtime": args.realtime,
            "metrics_port": args.metrics_port,
        }.items()
        if value is not None
    }
    if overrides:
        # Flags win over FM_* variables: pydantic-settings gives init arguments priority.
        try:
            settings = LineSimulatorSettings(**overrides)
        except ValidationError as error:
            print(
                f"factorymesh: configuration error: {describe_validation_error(LineSimulatorSettings, error)}",
                file=sys.stderr,
            )
            return 2
    else:
        settings = load_settings(LineSimulatorSettings)
    if settings.formats:
        parse_formats(settings.formats)  # fail fast on a typo, before connecting
    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    telemetry = configure_telemetry(settings.service_name, settings.metrics_port)
    try:
        asyncio.run(run(settings))
    finally:
        telemetry.shutdown()
    return 0


def dataset_command(args: argparse.Namespace) -> int:
    scenario = _scenario(args.scenario)
    simulator = Simulator(
        _plant(scenario),
        seed=args.seed,
        scenario=scenario,
        start_ns=_start_ns(args.start),
        fault_rate_scale=args.fault_rate_scale,
    )
    stats = write_dataset(simulator, args.duration_s, args.rate_hz, args.out, args.labels, Shape(args.shape))
    print(json.dumps({"ticks": stats.ticks, "rows": stats.rows, "label_rows": stats.label_rows}))
    return 0


def ground_truth_command(args: argparse.Namespace) -> int:
    scenario = _scenario(args.scenario)
    out = args.out.open("w", newline="") if args.out else sys.stdout
    try:
        if args.episodes:
            simulator = Simulator(
                _plant(scenario), seed=args.seed, scenario=scenario, fault_rate_scale=args.fault_rate_scale
            )
            episodes = simulator.schedule.episodes(args.duration_s)
            json.dump([e.to_dict() for e in episodes], out, indent=1)
            out.write("\n")
        else:
            writer = csv.writer(out)
            writer.writerow(LABEL_COLUMNS)
            for row in ground_truth(
                args.duration_s,
                args.rate_hz,
                plant=_plant(scenario),
                seed=args.seed,
                scenario=scenario,
                start_ns=_start_ns(args.start),
                fault_rate_scale=args.fault_rate_scale,
            ):
                writer.writerow(label_fields(row))
    finally:
        if args.out:
            out.close()
    return 0


def plant_command(args: argparse.Namespace) -> int:
    plant = _plant(_scenario(args.scenario))
    equipment = [
        {
            "key": e.key,
            "class": e.equipment_class.value,
            "units": e.units.value,
            "formats": [f.value for f in e.formats],
            "tags": [
                {
                    "name": t.name,
                    "unit": unit_for(t.quantity, e.units).code,
                    "quantity": t.quantity.value,
                    "description": t.description,
                }
                for t in e.tags
            ],
        }
        for e in plant.equipment
    ]
    json.dump({"plant": plant.to_dict(), "equipment": equipment}, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in (*COMMANDS, "-h", "--help"):
        argv.insert(0, "run")
    args = build_parser().parse_args(argv)
    handlers = {
        "run": run_command,
        "dataset": dataset_command,
        "ground-truth": ground_truth_command,
        "plant": plant_command,
    }
    try:
        return handlers[args.command](args)
    except BrokenPipeError:  # `... plant | head`: the reader left; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def ground_truth_main() -> int:
    """Console-script entry for ``simulator-ground-truth`` (= ``... line_simulator ground-truth``)."""
    return main(["ground-truth", *sys.argv[1:]])
