"""Test helpers: small, deterministic simulator datasets (the line simulator is imported lazily:
it is the plant the models are trained on, not a dependency of training itself).

```python
from factorymesh.inference.train.testing import write_dataset
directory = write_dataset(tmp_path, classes=("centrifugal_pump",), duration_s=3600, faults=pump_faults(3600))
```
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

PUMPS_HOUSTON = ("acme/houston/utilities/cooling/pumps/pump-01", "acme/houston/utilities/cooling/pumps/pump-02")
PUMPS_STUTTGART = (
    "acme/stuttgart/utilities/process-water/pumps/pump-01",
    "acme/stuttgart/utilities/process-water/pumps/pump-02",
)


def sub_plant(classes: Sequence[str]) -> Any:
    """The demo plant with only the equipment of ``classes`` (both sites, US and SI units)."""
    from factorymesh.line_simulator.plant import Plant, default_plant

    data = default_plant().to_dict()
    for site in data["sites"]:
        for line in site["lines"]:
            line["equipment"] = [e for e in line["equipment"] if e["class"] in classes]
        site["lines"] = [line for line in site["lines"] if line["equipment"]]
    data["sites"] = [site for site in data["sites"] if site["lines"]]
    return Plant.from_dict(data)


def pump_faults(duration_s: float) -> list[Any]:
    """Clearly visible pump faults in every part of a run (fit, validation and held-out periods):
    cavitation episodes, a stuck and a spiking transmitter, and a bearing that fails."""
    from factorymesh.line_simulator.faults import FaultEpisode, FaultKind

    d = duration_s
    a, b = PUMPS_HOUSTON
    c, e = PUMPS_STUTTGART
    return [
        FaultEpisode(a, FaultKind.CAVITATION, 0.10 * d, 0.17 * d, severity=0.9),
        FaultEpisode(c, FaultKind.SENSOR_SPIKES, 0.20 * d, 0.26 * d, tag="discharge_pressure", rate=0.5),
        FaultEpisode(b, FaultKind.CAVITATION, 0.52 * d, 0.60 * d, severity=0.8),
        FaultEpisode(e, FaultKind.SENSOR_STUCK, 0.62 * d, 0.67 * d, tag="flow"),
        FaultEpisode(c, FaultKind.CAVITATION, 0.74 * d, 0.82 * d, severity=1.0),
        FaultEpisode(a, FaultKind.SENSOR_SPIKES, 0.84 * d, 0.88 * d, tag="vibration_rms", rate=0.5),
        FaultEpisode(e, FaultKind.BEARING_WEAR, 0.86 * d, 0.92 * d, repair_s=0.05 * d),
    ]


def write_dataset(
    directory: Path,
    *,
    classes: Sequence[str],
    duration_s: float,
    rate_hz: float = 1.0,
    seed: int = 0,
    faults: Sequence[Any] = (),
    random_faults: bool = False,
    fault_rate_scale: float | None = None,
    shape: str = "reading",
) -> Path:
    """``<directory>/readings.csv`` + ``labels.csv`` from the line simulator; returns ``directory``."""
    from factorymesh.line_simulator.faults import Scenario
    from factorymesh.line_simulator.output import Shape
    from factorymesh.line_simulator.output import write_dataset as simulate_to_csv
    from factorymesh.line_simulator.simulator import Simulator

    directory.mkdir(parents=True, exist_ok=True)
    scenario = Scenario(random_faults=random_faults, faults=tuple(faults))
    simulator = Simulator(sub_plant(classes), seed=seed, scenario=scenario, fault_rate_scale=fault_rate_scale)
    simulate_to_csv(simulator, duration_s, rate_hz, directory / "readings.csv", directory / "labels.csv", Shape(shape))
    return directory
