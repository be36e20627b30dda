"""Wire encoders: samples -> Kafka records, one encoder per format. Pure: no Kafka, no clock.

* ``protobuf``: key ``enterprise/site/area/line/cell/equipment``, one ``SensorReading`` per reading;
* ``batch``: the same key, a columnar ``SensorReadingBatch`` per equipment and interval;
* ``umh``: key ``umh.v1.<enterprise>.<site>.<area>.<line>.<cell>.<equipment>._historian.<tag>``,
  value ``{"timestamp_ms": ..., "<tag>": value}``;
* ``sparkplug``: key ``spBv1.0/<enterprise>.<site>/<TYPE>/<area>.<line>[/<cell>.<equipment>]``,
  value a Sparkplug B ``Payload``.

Ids are derived (docs/contracts.md), so re-publishing the same simulated reading
gives the same id: a reading is ``uuid5("reading|<path>|<tag>|<time ns>|<source id>")``
(the key ingest derives for id-less sources too), a batch
``uuid5("reading-batch|<path>|<source id>|<first time ns>|<count>")``. The source id
names the simulated gateway and the seed: ``line-simulator/<seed>/<line path>``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from factorymesh.api.common.v1 import equipment_pb2
from factorymesh.api.telemetry.v1 import reading_batch_pb2, reading_pb2
from factorymesh.common.kafka import derived_event_id
from factorymesh.line_simulator import sparkplug_schema as spb
from factorymesh.line_simulator.plant import Equipment, Format
from factorymesh.line_simulator.simulator import GOOD, NS, EquipmentSample

SINGLE_TYPE = reading_pb2.SensorReading.DESCRIPTOR.full_name
BATCH_TYPE = reading_batch_pb2.SensorReadingBatch.DESCRIPTOR.full_name
PROTOCOL = reading_pb2.SOURCE_PROTOCOL_FACTORYMESH_PROTOBUF


@dataclass(frozen=True)
class Record:
    """One Kafka record to send."""

    format: Format
    key: bytes
    value: bytes
    # Full protobuf name for our own events (selects the fm-message-type header); None for UMH / Sparkplug.
    message_type: str | None
    readings: int


def source_id(equipment: Equipment, seed: int) -> str:
    return f"line-simulator/{seed}/{equipment.line_key}"


def equipment_path(equipment: Equipment) -> equipment_pb2.EquipmentPath:
    return equipment_pb2.EquipmentPath(
        enterprise=equipment.enterprise,
        site=equipment.site,
        area=equipment.area,
        line=equipment.line,
        cell=equipment.cell,
        equipment=equipment.name,
    )


def reading_id(equipment_key: str, tag: str, time_ns: int, source: str) -> str:
    return derived_event_id("reading", equipment_key, tag, time_ns, source)


def batch_id(equipment_key: str, source: str, first_time_ns: int, count: int) -> str:
    return derived_event_id("reading-batch", equipment_key, source, first_time_ns, count)


class SingleReadingEncoder:
    """``protobuf``: one ``SensorReading`` per present reading."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._cache: dict[str, tuple[bytes, equipment_pb2.EquipmentPath, reading_pb2.ReadingOrigin, str]] = {}

    def _static(self, e: Equipment) -> tuple[bytes, equipment_pb2.EquipmentPath, reading_pb2.ReadingOrigin, str]:
        cached = self._cache.get(e.key)
        if cached is None:
            source = source_id(e, self.seed)
            origin = reading_pb2.ReadingOrigin(protocol=PROTOCOL, source_id=source)
            cached = (e.key.encode(), equipment_path(e), origin, source)
            self._cache[e.key] = cached
        return cached

    def encode(self, sample: EquipmentSample) -> list[Record]:
        key, path, origin, source = self._static(sample.equipment)
        seconds, nanos = divmod(sample.time_ns, NS)
        out = []
        for j in np.flatnonzero(sample.present):
            tag = sample.tags[j].name
            message = reading_pb2.SensorReading(
                event_id=reading_id(sample.equipment.key, tag, sample.time_ns, source),
                equipment=path,
                tag=tag,
                double_value=float(sample.values[j]),
                unit=sample.units[j].proto(),
                quality=int(sample.quality[j]),  # type: ignore[arg-type]
                origin=origin,
            )
            message.source_time.seconds = seconds
            message.source_time.nanos = nanos
            out.append(Record(Format.PROTOBUF, key, message.SerializeToString(), SINGLE_TYPE, 1))
        return out


@dataclass
class _Buffer:
    tag_idx: list[npt.NDArray[np.uint32]] = field(default_factory=list)
    times: list[int] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    values: list[npt.NDArray[np.float64]] = field(default_factory=list)
    quality: list[npt.NDArray[np.int32]] = field(default_factory=list)
    size: int = 0

    @property
    def first_time_ns(self) -> int:
        return self.times[0]


class BatchEncoder:
    """``batch``: a columnar ``SensorReadingBatch`` per equipment once ``batch_size`` readings or
    ``interval_s`` of source time have accumulated (whichever comes first).

    Boundaries depend only on the samples, never on the wall clock, so a replay cuts
    the same batches and they get the same ids.
    """

    def __init__(self, seed: int, batch_size: int = 1000, interval_s: float = 1.0) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.seed = seed
        self.batch_size = batch_size
        self.interval_ns = round(interval_s * NS)
        self._buffers: dict[str, tuple[Equipment, EquipmentSample, _Buffer]] = {}

    def encode(self, sample: EquipmentSample) -> list[Record]:
        out: list[Record] = []
        entry = self._buffers.get(sample.equipment.key)
        if entry is not None and entry[2].size and sample.time_ns >= entry[2].first_time_ns + self.interval_ns:
            out.extend(self._flush(sample.equipment.key))
            entry = None
        if entry is None:
            entry = (sample.equipment, sample, _Buffer())
            self._buffers[sample.equipment.key] = entry
        buffer = entry[2]
        idx = np.flatnonzero(sample.present).astype(np.uint32)
        if idx.size:
            buffer.tag_idx.append(idx)
            buffer.times.append(sample.time_ns)
            buffer.counts.append(int(idx.size))
            buffer.values.append(sample.values[idx])
            buffer.quality.append(sample.quality[idx])
            buffer.size += int(idx.size)
        if buffer.size >= self.batch_size:
            out.extend(self._flush(sample.equipment.key))
        return out

    def flush(self) -> list[Record]:
        """Emit every partial batch (on shutdown)."""
        return [record for key in list(self._buffers) for record in self._flush(key)]

    def _flush(self, key: str) -> list[Record]:
        equipment, template, buffer = self._buffers.pop(key)
        if not buffer.size:
            return []
        source = source_id(equipment, self.seed)
        times = np.repeat(np.array(buffer.times, dtype=np.int64), buffer.counts)
        quality = np.concatenate(buffer.quality)
        batch = reading_batch_pb2.SensorReadingBatch(
            event_id=batch_id(key, source, buffer.first_time_ns, buffer.size),
            equipment=equipment_path(equipment),
            tags=[t.name for t in template.tags],
            tag_units=[u.proto() for u in template.units],
            origin=reading_pb2.ReadingOrigin(protocol=PROTOCOL, source_id=source),
        )
        batch.tag_indices.extend(np.concatenate(buffer.tag_idx).tolist())
        batch.source_times_unix_nanos.extend(times.tolist())
        batch.values.extend(np.concatenate(buffer.values).tolist())
        if np.any(quality != GOOD):  # empty column = all GOOD (docs/contracts.md)
            batch.qualities.extend(quality.tolist())
        return [Record(Format.BATCH, key.encode(), batch.SerializeToString(), BATCH_TYPE, buffer.size)]


def umh_topic(equipment: Equipment, tag: str) -> str:
    return "umh.v1." + ".".join(equipment.segments) + "._historian." + tag


class UmhEncoder:
    """``umh``: United Manufacturing Hub historian JSON, one record per tag and sample ("one tag, one topic").

    UMH carries no unit and no quality: values are in the site's units (the tag
    registry must say which), and out-of-range readings are sent clamped.
    """

    def __init__(self) -> None:
        self._keys: dict[tuple[str, str], bytes] = {}

    def encode(self, sample: EquipmentSample) -> list[Record]:
        timestamp_ms = sample.time_ns // 1_000_000
        out = []
        for j in np.flatnonzero(sample.present):
            tag = sample.tags[j].name
            key = self._keys.get((sample.equipment.key, tag))
            if key is None:
                key = umh_topic(sample.equipment, tag).encode()
                self._keys[(sample.equipment.key, tag)] = key
            value = json.dumps({"timestamp_ms": timestamp_ms, tag: float(sample.values[j])}, separators=(",", ":"))
            out.append(Record(Format.UMH, key, value.encode(), None, 1))
        return out


# --------------------------------------------------------------------------- Sparkplug B

SPARKPLUG_NAMESPACE = "spBv1.0"
# OPC DA quality codes, the convention Sparkplug hosts (e.g. Ignition) read from a "Quality" property.
OPC_DA_UNCERTAIN_EU_EXCEEDED = 0x54


def partition_key(key: bytes) -> bytes:
    """What a record is partitioned by: its key, except that Sparkplug records go by edge node.

    A Sparkplug session is one ordered stream per edge node: NBIRTH, DBIRTHs, DDATA,
    ``seq`` counting across all of them. Keyed per device and message type, the
    records would spread over partitions and a reader could see DDATA before the
    DBIRTH that defines its aliases, so ``spBv1.0/<group>/<TYPE>/<node>[/<device>]``
    is partitioned by ``spBv1.0/<group>/<node>``.
    """
    if key.startswith(b"spBv1.0/"):
        parts = key.split(b"/")
        if len(parts) >= 4:
            return b"/".join((parts[0], parts[1], parts[3]))
    return key


def sparkplug_ids(equipment: Equipment) -> tuple[str, str, str]:
    """(group_id, edge_node_id, device_id): the ISA-95 path two segments each, joined with ".".

    "." never occurs in a path segment (UMH charset), so the mapping is reversible:
    ``group.split(".") + node.split(".") + device.split(".")`` is the equipment path.
    """
    return (
        f"{equipment.enterprise}.{equipment.site}",
        f"{equipment.area}.{equipment.line}",
        f"{equipment.cell}.{equipment.name}",
    )


class SparkplugEdgeNode:
    """One line's edge node: a Sparkplug B session with one device per equipment.

    * ``birth()``: NBIRTH (seq 0, ``bdSeq``, ``Node Control/Rebirth``), then a DBIRTH per
      device with every metric's name, alias, datatype, ``engUnit`` property and
      current value. Births carry the values of their tick, so that tick has no DDATA.
    * ``encode()``: DDATA with aliases only (no names), metric timestamps in ms; tags
      without a sample are left out; a device that sends nothing at all (comm loss)
      gets a DDEATH, and a DBIRTH when it is back.
    * ``death()``: NDEATH with the session's ``bdSeq`` (what the MQTT will would carry).

    ``seq`` counts every message after NBIRTH modulo 256 (NBIRTH is 0; NDEATH has none).
    """

    def __init__(self, devices: list[Equipment], bd_seq: int = 0) -> None:
        if not devices:
            raise ValueError("an edge node needs devices")
        self.group_id, self.node_id, _ = sparkplug_ids(devices[0])
        if any(sparkplug_ids(d)[:2] != (self.group_id, self.node_id) for d in devices):
            raise ValueError("all devices of an edge node must be on one line")
        self.devices = {d.key: d for d in devices}
        self.bd_seq = bd_seq % 256
        self.seq = 0
        self.born = False
        self.online: set[str] = set()
        self.aliases: dict[tuple[str, str], int] = {}
        for d in devices:
            for tag in d.tags:
                self.aliases[(d.key, tag.name)] = len(self.aliases) + 1

    def _key(self, message_type: str, device: Equipment | None = None) -> bytes:
        key = f"{SPARKPLUG_NAMESPACE}/{self.group_id}/{message_type}/{self.node_id}"
        if device is not None:
            key += "/" + sparkplug_ids(device)[2]
        return key.encode()

    def _next_seq(self) -> int:
        self.seq = (self.seq + 1) % 256
        return self.seq

    def _record(self, key: bytes, payload: object, readings: int = 0) -> Record:
        return Record(Format.SPARKPLUG, key, payload.SerializeToString(), None, readings)  # type: ignore[attr-defined]

    def birth(self, time_ns: int, samples: list[EquipmentSample]) -> list[Record]:
        """NBIRTH and a DBIRTH per device that has samples (a new session or a rebirth)."""
        ms = time_ns // 1_000_000
        payload = spb.Payload(timestamp=ms, seq=0)
        payload.metrics.add(name="bdSeq", timestamp=ms, datatype=spb.INT64, long_value=self.bd_seq)
        payload.metrics.add(name="Node Control/Rebirth", timestamp=ms, datatype=spb.BOOLEAN, boolean_value=False)
        self.seq = 0
        self.born = True
        self.online.clear()
        out = [self._record(self._key("NBIRTH"), payload)]
        out.extend(self._device_birth(sample) for sample in samples if sample.present.any())
        return out

    def _device_birth(self, sample: EquipmentSample) -> Record:
        d = sample.equipment
        ms = sample.time_ns // 1_000_000
        payload = spb.Payload(timestamp=ms, seq=self._next_seq())
        for j, tag in enumerate(sample.tags):
            metric = payload.metrics.add(
                name=tag.name, alias=self.aliases[(d.key, tag.name)], timestamp=ms, datatype=spb.DOUBLE
            )
            metric.properties.keys.append("engUnit")
            metric.properties.values.add(type=spb.STRING, string_value=sample.units[j].code)
            if sample.present[j]:
                metric.double_value = float(sample.values[j])
                self._quality(metric, int(sample.quality[j]))
            else:
                metric.is_null = True
        self.online.add(d.key)
        return self._record(self._key("DBIRTH", d), payload, int(sample.present.sum()))

    @staticmethod
    def _quality(metric: object, quality: int) -> None:
        if quality != GOOD:
            props = metric.properties  # type: ignore[attr-defined]
            props.keys.append("Quality")
            props.values.add(type=3, int_value=OPC_DA_UNCERTAIN_EU_EXCEEDED)  # 3 = Int32

    def encode(self, sample: EquipmentSample) -> list[Record]:
        """The device's message for one tick: DDATA, or DDEATH / DBIRTH on losing / regaining it."""
        d = sample.equipment
        if not self.born:
            raise RuntimeError("birth() first")
        if not sample.present.any():
            if d.key in self.online:
                self.online.discard(d.key)
                ms = sample.time_ns // 1_000_000
                payload = spb.Payload(timestamp=ms, seq=self._next_seq())
                return [self._record(self._key("DDEATH", d), payload)]
            return []
        if d.key not in self.online:
            return [self._device_birth(sample)]
        ms = sample.time_ns // 1_000_000
        payload = spb.Payload(timestamp=ms, seq=self._next_seq())
        for j in np.flatnonzero(sample.present):
            metric = payload.metrics.add(
                alias=self.aliases[(d.key, sample.tags[j].name)],
                timestamp=ms,
                datatype=spb.DOUBLE,
                double_value=float(sample.values[j]),
            )
            self._quality(metric, int(sample.quality[j]))
        return [self._record(self._key("DDATA", d), payload, len(payload.metrics))]

    def death(self, time_ns: int) -> list[Record]:
        if not self.born:
            return []
        ms = time_ns // 1_000_000
        payload = spb.Payload(timestamp=ms)
        payload.metrics.add(name="bdSeq", timestamp=ms, datatype=spb.INT64, long_value=self.bd_seq)
        self.born = False
        self.online.clear()
        return [self._record(self._key("NDEATH"), payload)]
