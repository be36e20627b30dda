"""Binary snapshots of one equipment's window state, for the compacted state changelog.

One changelog record per equipment (key = equipment key) holds everything
:class:`~factorymesh.ingest.features.windows.EquipmentWindows` needs to continue:
the watermark, the equipment class, the tag / unit / context dictionaries and the
open window rows. Rows are a numpy structured array written with ``tobytes`` (no
per-row Python work); the dictionaries are length-prefixed UTF-8 / protobuf bytes.
A row names its window spec by (kind, size, step), not by position, so a
restart with different window settings drops rows of specs no longer configured
instead of misreading them.

Layout (little endian)::

    magic "FWS1" | max_time_ns i64 | class | n_tags u32 | (tag, unit)* | n_ctx u32 | ctx* | n_rows u32 | rows
    where a string / bytes item is u32 length + bytes

Size: ~130 bytes per open window; 10 tags with the default windows (1 tumbling
+ 6 hopping open per tag, plus lateness) is ~10 KB per equipment. The broker's
default ``message.max.bytes`` (1 MB) therefore allows ~7,000 open windows per equipment.
"""

from __future__ import annotations

import struct

import numpy as np

from factorymesh.features.stats import Moments
from factorymesh.ingest.features.windows import EquipmentWindows, WindowSpec

MAGIC = b"FWS1"

ROW_DTYPE = np.dtype(
    [
        ("kind", "<u1"),
        ("size_ns", "<i8"),
        ("step_ns", "<i8"),
        ("tag", "<u4"),
        ("start_ns", "<i8"),
        ("total", "<i8"),
        ("n", "<i8"),
        ("mean", "<f8"),
        ("m2", "<f8"),
        ("m3", "<f8"),
        ("m4", "<f8"),
        ("vmin", "<f8"),
        ("vmax", "<f8"),
        ("t_mean", "<f8"),
        ("t_m2", "<f8"),
        ("c_tv", "<f8"),
        ("last_t", "<i8"),
        ("ctx", "<i4"),
    ]
)
_MOMENT_FIELDS = ("total", "n", "mean", "m2", "m3", "m4", "vmin", "vmax", "t_mean", "t_m2", "c_tv", "last_t", "ctx")


class SnapshotError(ValueError):
    """A changelog record that is not a snapshot this code can read."""


def _put_bytes(out: list[bytes], item: bytes) -> None:
    out.append(struct.pack("<I", len(item)))
    out.append(item)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self._view = memoryview(data)
        self._pos = 0

    def take(self, size: int) -> bytes:
        if self._pos + size > len(self._view):
            raise SnapshotError("truncated snapshot")
        chunk = bytes(self._view[self._pos : self._pos + size])
        self._pos += size
        return chunk

    def unpack(self, fmt: str) -> tuple[int, ...]:
        values: tuple[int, ...] = struct.unpack(fmt, self.take(struct.calcsize(fmt)))
        return values

    def item(self) -> bytes:
        (size,) = self.unpack("<I")
        return self.take(size)


def encode_snapshot(state: EquipmentWindows) -> bytes:
    """The whole state of one equipment as bytes (see the module doc for the layout)."""
    state.compact_contexts()
    out: list[bytes] = [MAGIC, struct.pack("<q", state.max_time_ns)]
    _put_bytes(out, state.equipment_class.encode())
    out.append(struct.pack("<I", len(state.tags)))
    for tag_id, tag in enumerate(state.tags):
        _put_bytes(out, tag.encode())
        _put_bytes(out, state.units.get(tag_id, b""))
    out.append(struct.pack("<I", len(state.contexts)))
    for context in state.contexts:
        _put_bytes(out, context)
    rows = np.zeros(state.open_windows, dtype=ROW_DTYPE)
    specs = state.specs
    rows["kind"] = [specs[i].kind for i in state.row_spec.tolist()]
    rows["size_ns"] = [specs[i].size_ns for i in state.row_spec.tolist()]
    rows["step_ns"] = [specs[i].step_ns for i in state.row_spec.tolist()]
    rows["tag"] = state.row_tag
    rows["start_ns"] = state.row_start
    for name in _MOMENT_FIELDS:
        rows[name] = getattr(state.moments, name)
    out.append(struct.pack("<I", rows.size))
    out.append(rows.tobytes())
    return b"".join(out)


def decode_snapshot(
    data: bytes, key: str, specs: tuple[WindowSpec, ...], lateness_ns: int
) -> tuple[EquipmentWindows, int]:
    """Rebuild an equipment's state; also returns how many rows were dropped (spec no longer configured)."""
    reader = _Reader(data)
    if reader.take(4) != MAGIC:
        raise SnapshotError("not a feature-window state snapshot")
    state = EquipmentWindows(key, specs, lateness_ns)
    (state.max_time_ns,) = reader.unpack("<q")
    state.equipment_class = reader.item().decode()
    (n_tags,) = reader.unpack("<I")
    tags: list[str] = []
    for tag_id in range(n_tags):
        tags.append(reader.item().decode())
        unit = reader.item()
        if unit:
            state.units[tag_id] = unit
    state.set_tags(tags)
    (n_ctx,) = reader.unpack("<I")
    state.set_contexts([reader.item() for _ in range(n_ctx)])
    (n_rows,) = reader.unpack("<I")
    rows = np.frombuffer(reader.take(n_rows * ROW_DTYPE.itemsize), dtype=ROW_DTYPE)
    spec_of = {(s.kind, s.size_ns, s.step_ns): i for i, s in enumerate(specs)}
    spec_idx = np.array(
        [
            spec_of.get((kind, size, step), -1)
            for kind, size, step in zip(
                rows["kind"].tolist(), rows["size_ns"].tolist(), rows["step_ns"].tolist(), strict=True
            )
        ],
        dtype=np.int64,
    )
    known = spec_idx >= 0
    rows = rows[known]
    moments = Moments(
        total=rows["total"].astype(np.int64),
        n=rows["n"].astype(np.int64),
        mean=rows["mean"].astype(np.float64),
        m2=rows["m2"].astype(np.float64),
        m3=rows["m3"].astype(np.float64),
        m4=rows["m4"].astype(np.float64),
        vmin=rows["vmin"].astype(np.float64),
        vmax=rows["vmax"].astype(np.float64),
        t_mean=rows["t_mean"].astype(np.float64),
        t_m2=rows["t_m2"].astype(np.float64),
        c_tv=rows["c_tv"].astype(np.float64),
        last_t=rows["last_t"].astype(np.int64),
        ctx=rows["ctx"].astype(np.int32),
    )
    state.load_rows(spec_idx[known].astype(np.int8), rows["tag"].astype(np.intp), rows["start_ns"], moments)
    return state, int(np.count_nonzero(~known))
