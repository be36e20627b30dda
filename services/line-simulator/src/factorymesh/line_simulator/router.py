"""Routes every tick's samples to the encoders of their line's formats, and closes sessions at the end."""

from __future__ import annotations

from collections import defaultdict

from factorymesh.line_simulator.encoders import (
    BatchEncoder,
    Record,
    SingleReadingEncoder,
    SparkplugEdgeNode,
    UmhEncoder,
)
from factorymesh.line_simulator.plant import Equipment, Format, Plant
from factorymesh.line_simulator.simulator import NS, EquipmentSample, Tick


class Router:
    """Turns ticks into Kafka records in each line's formats.

    ``rebirth_s``: Sparkplug edge nodes re-send their births this often. On MQTT a
    host asks for a rebirth (NCMD) when it joins late; a Kafka reader cannot, so a
    periodic rebirth bounds how long a reader that starts mid-stream waits before
    it can resolve aliases.
    """

    def __init__(
        self,
        plant: Plant,
        seed: int,
        *,
        batch_size: int = 1000,
        batch_interval_s: float = 1.0,
        bd_seq: int = 0,
        rebirth_s: float = 300.0,
    ) -> None:
        self.single = SingleReadingEncoder(seed)
        self.batch = BatchEncoder(seed, batch_size, batch_interval_s)
        self.umh = UmhEncoder()
        self.rebirth_ns = round(rebirth_s * NS) if rebirth_s > 0 else 0
        by_line: dict[str, list[Equipment]] = defaultdict(list)
        for e in plant.equipment:
            if Format.SPARKPLUG in e.formats:
                by_line[e.line_key].append(e)
        self.nodes = {line: SparkplugEdgeNode(devices, bd_seq) for line, devices in by_line.items()}
        self._node_of = {e.key: line for line, devices in by_line.items() for e in devices}
        # Formats come from the router's plant, so a run can re-route (--formats) the simulated plant.
        self._formats = {e.key: e.formats for e in plant.equipment}
        self._births: dict[str, int] = {}
        self._last_time_ns = 0

    def encode_tick(self, tick: Tick) -> list[Record]:
        out: list[Record] = []
        sparkplug: dict[str, list[EquipmentSample]] = defaultdict(list)
        for sample in tick.samples():
            for fmt in self._formats[sample.equipment.key]:
                if fmt is Format.PROTOBUF:
                    out.extend(self.single.encode(sample))
                elif fmt is Format.BATCH:
                    out.extend(self.batch.encode(sample))
                elif fmt is Format.UMH:
                    out.extend(self.umh.encode(sample))
                else:
                    sparkplug[self._node_of[sample.equipment.key]].append(sample)
        for line, samples in sparkplug.items():
            node = self.nodes[line]
            born_at = self._births.get(line)
            if not node.born or (self.rebirth_ns and born_at is not None and tick.time_ns - born_at >= self.rebirth_ns):
                out.extend(node.birth(tick.time_ns, samples))
                self._births[line] = tick.time_ns
            else:
                for sample in samples:
                    out.extend(node.encode(sample))
        self._last_time_ns = tick.time_ns
        return out

    def close(self, time_ns: int | None = None) -> list[Record]:
        """Partial batches, then an NDEATH per edge node (a clean disconnect)."""
        when = self._last_time_ns if time_ns is None else time_ns
        out = self.batch.flush()
        for node in self.nodes.values():
            out.extend(node.death(when))
        return out
