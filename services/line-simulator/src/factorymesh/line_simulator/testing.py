"""Helpers for tests (ours and other services'): run a simulation and pull out one tag's series.

```python
from factorymesh.line_simulator.testing import PUMP_DE, simulate
run = simulate([FaultEpisode(PUMP_DE, FaultKind.CAVITATION, 300, 900, severity=0.9)], duration_s=1200)
run.metric(PUMP_DE, "discharge_pressure")   # numpy array, one value per tick, NaN where not sent
run.labels(PUMP_DE)                          # the ground truth at every tick
```
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from factorymesh.line_simulator.faults import FaultEpisode, Scenario
from factorymesh.line_simulator.plant import Plant
from factorymesh.line_simulator.simulator import LabelRow, Simulator, Tick

# Equipment of the demo plant (default_plant()).
PUMP_US = "acme/houston/utilities/cooling/pumps/pump-01"
MOTOR_US = "acme/houston/utilities/cooling/fans/motor-01"
SPINDLE_US = "acme/houston/machining/cnc1/mill-1/spindle-01"
PUMP_DE = "acme/stuttgart/utilities/process-water/pumps/pump-01"
MOTOR_DE = "acme/stuttgart/utilities/process-water/drives/motor-01"
SPINDLE_DE = "acme/stuttgart/machining/cnc2/mill-1/spindle-01"


@dataclass
class Run:
    """The ticks of a finished simulation, with per-tag accessors."""

    ticks: list[Tick]

    def t_s(self) -> npt.NDArray[np.float64]:
        return np.array([t.t_s for t in self.ticks])

    def _column(self, key: str, tag: str, field: str) -> npt.NDArray[np.float64]:
        out = []
        for tick in self.ticks:
            for block in tick.blocks:
                for i, e in enumerate(block.equipment):
                    if e.key == key:
                        j = [t.name for t in block.tags].index(tag)
                        out.append(getattr(block, field)[i, j])
        return np.array(out, dtype=np.float64)

    def metric(self, key: str, tag: str) -> npt.NDArray[np.float64]:
        """What the sensor reported, in metric units; NaN where it sent nothing."""
        return self._column(key, tag, "metric")

    def values(self, key: str, tag: str) -> npt.NDArray[np.float64]:
        """What the sensor reported, in the site's units."""
        return self._column(key, tag, "values")

    def healthy(self, key: str, tag: str) -> npt.NDArray[np.float64]:
        """What a healthy sensor would have reported (metric): the machine's state without sensor faults."""
        return self._column(key, tag, "healthy")

    def quality(self, key: str, tag: str) -> npt.NDArray[np.float64]:
        return self._column(key, tag, "quality")

    def labels(self, key: str) -> list[LabelRow]:
        return [row for tick in self.ticks for row in tick.labels if row.equipment == key]


def simulate(
    faults: Sequence[FaultEpisode] = (),
    *,
    duration_s: float = 600.0,
    rate_hz: float = 1.0,
    seed: int = 11,
    random_faults: bool = False,
    plant: Plant | None = None,
) -> Run:
    """Simulate with exactly ``faults`` (no random ones unless asked)."""
    scenario = Scenario(random_faults=random_faults, faults=tuple(faults))
    simulator = Simulator(plant, seed=seed, scenario=scenario)
    return Run(list(simulator.generate(duration_s, rate_hz)))
