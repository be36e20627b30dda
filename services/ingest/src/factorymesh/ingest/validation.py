"""Validation: hard checks that dead-letter a reading, soft checks that only flag it.

Runs after unit conversion, so values are in SI. The registry's ranges are in the tag's
*registered* unit; they are converted to SI once per tag definition with the same affine
conversion (same float operations) that turned readings reported in the registered unit into
SI, so a reading exactly at a bound in the registered unit compares equal to the bound. (A
reading sent in a *different* unit than the registered one is within float rounding of the
bound, ~1e-16 relative.)

Hard checks, in order of precedence (a reading gets the first one it fails, one rejection):

1. ``UNKNOWN_TAG`` — no registry entry, when ``unknown_tag_policy == "reject"``. With
   ``"accept"`` the reading goes on flagged :attr:`Finding.NOT_VALIDATED` and only the
   structural checks (3, 5) apply.
2. ``UNIT_CONVERSION_FAILED`` — the registered unit itself cannot be converted (normally
   already caught by :func:`factorymesh.ingest.units.normalize`).
3. ``TYPE_MISMATCH`` — a numeric value for a ``STRING`` tag.
4. ``NON_FINITE_VALUE`` — NaN or ±inf.
5. ``TYPE_MISMATCH`` — ``BOOL`` not 0/1, ``INT64`` not integral or beyond ±2^53 (where doubles
   stop being exact), judged in the *registered* unit.
6. ``TIMESTAMP_OUT_OF_BOUNDS`` — source time more than ``max_future_s`` ahead of or
   ``max_past_s`` behind the ingest clock (``now_ns``).
7. ``VALUE_OUT_OF_RANGE`` — outside the inclusive ``valid_range``.

Soft check: outside ``expected_range`` → :attr:`Finding.EXPECTED_RANGE`; the reading is kept,
its quality becomes ``UNCERTAIN_ENGINEERING_UNITS_EXCEEDED`` (unless it already is uncertain or
bad) and the pipeline reports ``validation_result = WARNING``.

Quality ``UNSPECIFIED`` (sources such as UMH JSON report none) becomes ``GOOD`` here, the one
place that decides a reading's quality. Hard checks apply whatever the source quality: a BAD
reading with a NaN value is still dead-lettered, so a sensor failure shows up on the
dead-letter dashboards rather than as NaN in feature windows.

Per batch the Python work is one dictionary lookup per distinct tag (and the rule table is
cached per tag dictionary); every per-reading check is a numpy expression.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from factorymesh.api.common.v1 import quality_pb2
from factorymesh.api.telemetry.v1 import normalized_reading_pb2, tag_pb2
from factorymesh.ingest.model import DeadLetterReason, ReadingColumns, Rejection, TextReading, equipment_key
from factorymesh.ingest.units import Conversion, UnitConverter, UnitError, default_converter

__all__ = [
    "Finding",
    "UnknownTagPolicy",
    "Validator",
    "validation_results",
]

UnknownTagPolicy = Literal["reject", "accept"]

_R = DeadLetterReason
_DT = tag_pb2.TagDataType
_VR = normalized_reading_pb2.ValidationResult
_DQ = quality_pb2.DataQuality
_NS = 1_000_000_000
_MAX_EXACT_INT = float(2**53)
# Integrality tolerance for INT64 tags whose registered unit has a conversion factor (the
# round trip registered -> SI -> registered is exact only to a few ulps).
_INT_RTOL = 1e-9
_INT64_MIN = int(np.iinfo(np.int64).min)
_INT64_MAX = int(np.iinfo(np.int64).max)
_TYPED = frozenset({_DT.TAG_DATA_TYPE_BOOL, _DT.TAG_DATA_TYPE_INT64})
_STRING = int(_DT.TAG_DATA_TYPE_STRING)
_BOOL = int(_DT.TAG_DATA_TYPE_BOOL)
# Enum attribute lookups on protobuf wrappers cost ~1 us each: resolve them once.
_UNKNOWN_TAG = int(_R.DEAD_LETTER_REASON_UNKNOWN_TAG)
_UNIT_CONVERSION_FAILED = int(_R.DEAD_LETTER_REASON_UNIT_CONVERSION_FAILED)
_TYPE_MISMATCH = int(_R.DEAD_LETTER_REASON_TYPE_MISMATCH)
_NON_FINITE = int(_R.DEAD_LETTER_REASON_NON_FINITE_VALUE)
_TIMESTAMP_OUT_OF_BOUNDS = int(_R.DEAD_LETTER_REASON_TIMESTAMP_OUT_OF_BOUNDS)
_OUT_OF_RANGE = int(_R.DEAD_LETTER_REASON_VALUE_OUT_OF_RANGE)
_GOOD = np.int32(_DQ.DATA_QUALITY_GOOD)
_UNSPECIFIED = np.int32(_DQ.DATA_QUALITY_UNSPECIFIED)
_EXCEEDED = np.int32(_DQ.DATA_QUALITY_UNCERTAIN_ENGINEERING_UNITS_EXCEEDED)
# Rule tables cached per (equipment, tag dictionary); gateways resend the same dictionary.
_TABLE_CACHE_LIMIT = 4096


class Finding(enum.IntFlag):
    """Per-reading bit flags of soft findings (the third element of :meth:`Validator.validate`)."""

    NONE = 0
    EXPECTED_RANGE = 1  # outside expected_range: WARNING, quality downgraded
    NOT_VALIDATED = 2  # tag not in the registry (policy "accept"): only structural checks ran


_EXPECTED_RANGE = np.uint8(Finding.EXPECTED_RANGE)
assert _EXPECTED_RANGE == 1  # validate() uses the boolean mask itself as the flag array
_NOT_VALIDATED = np.uint8(Finding.NOT_VALIDATED)


def validation_results(flags: npt.NDArray[np.uint8]) -> npt.NDArray[np.int32]:
    """``ValidationResult`` per reading from the flags (NOT_VALIDATED > WARNING > PASSED)."""
    result = np.full(flags.shape, _VR.VALIDATION_RESULT_PASSED, dtype=np.int32)
    result[(flags & Finding.EXPECTED_RANGE) != 0] = _VR.VALIDATION_RESULT_WARNING
    result[(flags & Finding.NOT_VALIDATED) != 0] = _VR.VALIDATION_RESULT_NOT_VALIDATED
    return result


@dataclass(frozen=True)
class _Rule:
    """One tag definition, prepared for numpy: bounds in SI, ±inf when unset."""

    definition: tag_pb2.TagDefinition
    data_type: tag_pb2.TagDataType
    conversion: Conversion  # registered unit -> SI
    lo: float
    hi: float
    soft_lo: float
    soft_hi: float
    unit_error: str = ""

    @property
    def registered_unit(self) -> str:
        return self.definition.unit.code


@dataclass(frozen=True)
class _Table:
    """Per-tag rule columns for one tag dictionary (index = position in ``columns.tags``)."""

    rules: list[_Rule | None]
    known: npt.NDArray[np.bool_]
    all_known: bool
    unit_error: npt.NDArray[np.bool_] | None
    is_string: npt.NDArray[np.bool_] | None
    typed: npt.NDArray[np.bool_] | None  # BOOL or INT64 tags (None: the batch has none)
    is_bool_typed: npt.NDArray[np.bool_]  # BOOL tags
    typed_identity: bool  # every BOOL / INT64 tag's registered unit converts as the identity
    scale: npt.NDArray[np.float64]
    offset: npt.NDArray[np.float64]
    lo: npt.NDArray[np.float64]
    hi: npt.NDArray[np.float64]
    soft_lo: npt.NDArray[np.float64]
    soft_hi: npt.NDArray[np.float64]
    bounded: bool  # some tag has a hard bound
    soft_bounded: bool  # some tag has a soft bound


class Validator:
    """Validates readings against the asset & tag registry.

    ``tags`` are ``TagDefinition`` s, looked up by ``(equipment_key(definition.equipment),
    definition.tag)``; keep them current with :meth:`upsert` / :meth:`remove` as
    ``TagRegistryEvent`` s arrive.
    """

    def __init__(
        self,
        tags: Iterable[tag_pb2.TagDefinition] = (),
        *,
        max_future_s: float = 300.0,
        max_past_s: float = 7 * 86400.0,
        unknown_tag_policy: UnknownTagPolicy = "reject",
        converter: UnitConverter | None = None,
    ) -> None:
        if unknown_tag_policy not in ("reject", "accept"):
            raise ValueError(f"unknown_tag_policy must be 'reject' or 'accept', not {unknown_tag_policy!r}")
        if not (max_future_s >= 0 and max_past_s >= 0):
            raise ValueError("max_future_s and max_past_s must be >= 0")
        self.max_future_s = max_future_s
        self.max_past_s = max_past_s
        self.unknown_tag_policy: UnknownTagPolicy = unknown_tag_policy
        # math.inf disables a bound; int64 arithmetic needs finite nanoseconds.
        self._future_ns = _ns_or_none(max_future_s)
        self._past_ns = _ns_or_none(max_past_s)
        self._converter = converter if converter is not None else default_converter()
        self._rules: dict[tuple[str, str], _Rule] = {}
        self._tables: dict[tuple[str, tuple[str, ...]], _Table] = {}
        for definition in tags:
            self.upsert(definition)

    # --- registry -----------------------------------------------------------------------

    def upsert(self, definition: tag_pb2.TagDefinition) -> None:
        """Add or replace a tag definition (a ``TagRegistryEvent`` UPSERTED)."""
        key = (equipment_key(definition.equipment), definition.tag)
        self._rules[key] = self._rule(definition)
        self._tables.clear()

    def remove(self, equipment: str, tag: str) -> None:
        """Forget a tag definition (a ``TagRegistryEvent`` DELETED)."""
        if self._rules.pop((equipment, tag), None) is not None:
            self._tables.clear()

    def definition(self, equipment: str, tag: str) -> tag_pb2.TagDefinition | None:
        rule = self._rules.get((equipment, tag))
        return rule.definition if rule is not None else None

    def registry_unit(self, equipment: str) -> Callable[[str], str | None]:
        """The ``registry_unit`` callable :func:`~factorymesh.ingest.units.normalize` needs."""
        rules = self._rules

        def unit_of(tag: str) -> str | None:
            rule = rules.get((equipment, tag))
            return (rule.registered_unit or None) if rule is not None else None

        return unit_of

    def _rule(self, definition: tag_pb2.TagDefinition) -> _Rule:
        code = definition.unit.code
        unit_error = ""
        conversion = Conversion("", 1.0, 0.0)
        if code:
            try:
                conversion = self._converter.registered_to_si(code)
            except UnitError as exc:
                unit_error = str(exc)

        def bound(rng: tag_pb2.ValueRange, field: Literal["min", "max"], default: float) -> float:
            if unit_error or not rng.HasField(field):
                return default
            return conversion.apply_scalar(getattr(rng, field))

        valid, expected = definition.valid_range, definition.expected_range
        return _Rule(
            definition=definition,
            data_type=definition.data_type,
            conversion=conversion,
            lo=bound(valid, "min", -math.inf),
            hi=bound(valid, "max", math.inf),
            soft_lo=bound(expected, "min", -math.inf),
            soft_hi=bound(expected, "max", math.inf),
            unit_error=unit_error,
        )

    def _table(self, equipment: str, tags: list[str]) -> _Table:
        key = (equipment, tuple(tags))
        table = self._tables.get(key)
        if table is not None:
            return table
        rules = [self._rules.get((equipment, tag)) for tag in tags]
        present = [r for r in rules if r is not None]

        def column(get: Callable[[_Rule], float], default: float) -> npt.NDArray[np.float64]:
            return np.array([get(r) if r is not None else default for r in rules], dtype=np.float64)

        def flags(test: Callable[[_Rule], bool]) -> npt.NDArray[np.bool_] | None:
            if not any(test(r) for r in present):
                return None  # lets validate() skip the check entirely
            return np.array([r is not None and test(r) for r in rules], dtype=np.bool_)

        known = np.array([r is not None for r in rules], dtype=np.bool_)
        table = _Table(
            rules=rules,
            known=known,
            all_known=bool(known.all()),
            unit_error=flags(lambda r: bool(r.unit_error)),
            is_string=flags(lambda r: r.data_type == _DT.TAG_DATA_TYPE_STRING),
            typed=flags(lambda r: r.data_type in _TYPED),
            is_bool_typed=np.array([r is not None and r.data_type == _DT.TAG_DATA_TYPE_BOOL for r in rules]),
            typed_identity=all(r.conversion.is_identity for r in present if r.data_type in _TYPED),
            scale=column(lambda r: r.conversion.scale, 1.0),
            offset=column(lambda r: r.conversion.offset, 0.0),
            lo=column(lambda r: r.lo, -math.inf),
            hi=column(lambda r: r.hi, math.inf),
            soft_lo=column(lambda r: r.soft_lo, -math.inf),
            soft_hi=column(lambda r: r.soft_hi, math.inf),
            bounded=any(r.lo > -math.inf or r.hi < math.inf for r in present),
            soft_bounded=any(r.soft_lo > -math.inf or r.soft_hi < math.inf for r in present),
        )
        if len(self._tables) >= _TABLE_CACHE_LIMIT:
            self._tables.clear()
        self._tables[key] = table
        return table

    # --- numeric readings ---------------------------------------------------------------

    def validate(
        self, columns: ReadingColumns, now_ns: int
    ) -> tuple[ReadingColumns, list[Rejection], npt.NDArray[np.uint8]]:
        """Check ``columns`` (values in SI) at ingest time ``now_ns``.

        Returns the survivors (quality possibly downgraded, ``UNSPECIFIED`` -> ``GOOD``), one
        rejection per failed reading, and a :class:`Finding` bit mask per survivor.
        """
        n = len(columns)
        if n == 0:
            return columns, [], np.zeros(0, dtype=np.uint8)
        eq = equipment_key(columns.equipment)
        table = self._table(eq, columns.tags)
        # Gathers with a native intp index are ~3x faster than with the uint32 column.
        ti = columns.tag_idx.astype(np.intp)
        if int(ti.max()) >= len(columns.tags):
            return self._reject_outside_dictionary(columns, now_ns)
        values = columns.values
        reason: npt.NDArray[np.uint8] | None = None

        def fail(mask: npt.NDArray[np.bool_], code: int) -> None:
            # Clean batches are the norm: one any() per check, nothing allocated.
            nonlocal reason
            if not mask.any():
                return
            if reason is None:
                reason = np.zeros(n, dtype=np.uint8)
                reason[mask] = code
            else:  # precedence: a reading keeps the first reason it got
                reason[mask & (reason == 0)] = code

        known: npt.NDArray[np.bool_] | None = None
        if not table.all_known:
            known = table.known[ti]
            if self.unknown_tag_policy == "reject":
                fail(~known, _UNKNOWN_TAG)
        if table.unit_error is not None:
            fail(table.unit_error[ti], _UNIT_CONVERSION_FAILED)
        if table.is_string is not None:
            fail(table.is_string[ti], _TYPE_MISMATCH)
        finite = np.isfinite(values)
        all_finite = bool(finite.all())
        if not all_finite:
            fail(~finite, _NON_FINITE)
        if table.typed is not None:
            fail(self._type_mismatch(table, ti, values, None if all_finite else finite), _TYPE_MISMATCH)
        if self._past_ns is not None or self._future_ns is not None:
            fail(self._time_outside(columns.times_ns, now_ns), _TIMESTAMP_OUT_OF_BOUNDS)
        if table.bounded:
            # NaN compares False both ways, so it never lands here (it is non-finite above).
            fail((values < table.lo[ti]) | (values > table.hi[ti]), _OUT_OF_RANGE)

        if table.soft_bounded:
            warn = (values < table.soft_lo[ti]) | (values > table.soft_hi[ti])
            flags = warn.view(np.uint8)  # Finding.EXPECTED_RANGE == 1: the mask is the flag
        else:
            flags = np.zeros(n, dtype=np.uint8)
        if known is not None:
            flags[~known] |= _NOT_VALIDATED

        rejections: list[Rejection] = []
        survivors = columns
        if reason is not None:
            bad = reason != 0
            rejections = [
                self._rejection(columns, i, int(reason[i]), table, now_ns) for i in np.flatnonzero(bad).tolist()
            ]
            keep = ~bad
            survivors = columns.select(keep)
            flags = flags[keep]
        return self._with_quality(survivors, flags, table.soft_bounded), rejections, flags

    def _type_mismatch(
        self,
        table: _Table,
        ti: npt.NDArray[np.intp],
        values: npt.NDArray[np.float64],
        finite: npt.NDArray[np.bool_] | None,
    ) -> npt.NDArray[np.bool_]:
        """BOOL not 0/1, INT64 not integral or beyond 2^53, judged in the registered unit.

        Only the readings of BOOL / INT64 tags are looked at; non-finite ones are skipped
        (reported as NON_FINITE_VALUE, which precedes this check).
        """
        assert table.typed is not None
        selected = table.typed[ti]
        if finite is not None:
            selected &= finite
        rows = np.flatnonzero(selected)
        wrong = np.zeros(values.shape, dtype=np.bool_)
        if rows.shape[0] == 0:
            return wrong
        tags = ti[rows]
        registered = values[rows]
        if not table.typed_identity:
            registered = (registered - table.offset[tags]) / table.scale[tags]
        rounded = np.rint(registered)
        if table.typed_identity:
            not_integer = registered != rounded  # counts and flags: exact
        else:  # the round trip registered -> SI -> registered is exact only to a few ulps
            not_integer = np.abs(registered - rounded) > _INT_RTOL * np.maximum(1.0, np.abs(registered))
        is_bool = table.is_bool_typed[tags]
        bad_bool = is_bool & (registered != 0.0) & (registered != 1.0)
        bad_int = ~is_bool & (not_integer | (np.abs(registered) > _MAX_EXACT_INT))
        wrong[rows] = bad_bool | bad_int
        return wrong

    def _time_outside(self, times: npt.NDArray[np.int64], now_ns: int) -> npt.NDArray[np.bool_]:
        lo = max(now_ns - self._past_ns, _INT64_MIN) if self._past_ns is not None else _INT64_MIN
        hi = min(now_ns + self._future_ns, _INT64_MAX) if self._future_ns is not None else _INT64_MAX
        # One subtraction and one unsigned compare instead of two compares and an or:
        # t in [lo, hi]  <=>  (t - lo) mod 2^64 <= hi - lo  (wrap-around is intended).
        outside: npt.NDArray[np.bool_] = (times - np.int64(lo)).view(np.uint64) > np.uint64(hi - lo)
        return outside

    def _with_quality(self, columns: ReadingColumns, flags: npt.NDArray[np.uint8], warned: bool) -> ReadingColumns:
        """``UNSPECIFIED`` -> ``GOOD``; GOOD readings outside the expected range -> UNCERTAIN."""
        quality = columns.quality
        unspecified = quality == _UNSPECIFIED
        any_unspecified = bool(unspecified.any())
        downgrade: npt.NDArray[np.bool_] | None = None
        if warned:
            warn = (flags & _EXPECTED_RANGE) != 0
            if warn.any():
                downgrade = warn & ((quality >> 5) == 0)  # GOOD family (and UNSPECIFIED) only
        if not any_unspecified and downgrade is None:
            return columns
        quality = quality.copy()  # never write into the caller's arrays
        if any_unspecified:
            quality[unspecified] = _GOOD
        if downgrade is not None:
            quality[downgrade] = _EXCEEDED
        return dataclasses.replace(columns, quality=quality)

    def _reject_outside_dictionary(
        self, columns: ReadingColumns, now_ns: int
    ) -> tuple[ReadingColumns, list[Rejection], npt.NDArray[np.uint8]]:
        """A corrupt batch (tag index beyond the dictionary): reject those, validate the rest."""
        outside = columns.tag_idx >= len(columns.tags)
        rejections = [
            Rejection(
                _R.DEAD_LETTER_REASON_SCHEMA_VIOLATION,
                f"tag index {int(columns.tag_idx[i])} outside the batch's tag dictionary of {len(columns.tags)} tags",
                columns.reading_id(i),
            )
            for i in np.flatnonzero(outside).tolist()
        ]
        survivors, more, flags = self.validate(columns.select(~outside), now_ns)
        return survivors, rejections + more, flags

    # --- details (rejected / flagged readings only: per-reading Python is fine here) ------

    def _rejection(self, columns: ReadingColumns, i: int, code: int, table: _Table, now_ns: int) -> Rejection:
        t = int(columns.tag_idx[i])
        tag = columns.tags[t]
        rule = table.rules[t]
        value = float(columns.values[i])
        unit = columns.units[t] if t < len(columns.units) else ""
        detail = self._detail(code, tag, rule, value, unit, int(columns.times_ns[i]), now_ns, columns)
        return Rejection(code, detail, columns.reading_id(i), tag)

    def _detail(
        self,
        code: int,
        tag: str,
        rule: _Rule | None,
        value: float,
        unit: str,
        time_ns: int,
        now_ns: int,
        columns: ReadingColumns,
    ) -> str:
        if code == _UNKNOWN_TAG:
            return f"tag {tag!r} is not registered for equipment {equipment_key(columns.equipment)!r}"
        assert rule is not None or code in (
            _NON_FINITE,
            _TIMESTAMP_OUT_OF_BOUNDS,
        )
        if code == _UNIT_CONVERSION_FAILED and rule is not None:
            return f"tag {tag!r}: registered unit {rule.registered_unit!r}: {rule.unit_error}"
        if code == _NON_FINITE:
            return f"tag {tag!r}: value {value} is not finite"
        if code == _TIMESTAMP_OUT_OF_BOUNDS:
            return _time_detail(tag, time_ns, now_ns, self.max_future_s, self.max_past_s)
        if code == _TYPE_MISMATCH and rule is not None:
            type_name = _DT.Name(rule.data_type).removeprefix("TAG_DATA_TYPE_")
            if rule.data_type == _STRING:
                return f"tag {tag!r} is a STRING tag but got the number {value!r}"
            registered = (value - rule.conversion.offset) / rule.conversion.scale
            where = f" {rule.registered_unit}" if rule.registered_unit else ""
            if rule.data_type == _BOOL:
                return f"tag {tag!r} is a BOOL tag: value {registered!r}{where} is neither 0 nor 1"
            if abs(registered) > _MAX_EXACT_INT:
                return f"tag {tag!r} is an {type_name} tag: value {registered!r}{where} is beyond ±2^53"
            return f"tag {tag!r} is an {type_name} tag: value {registered!r}{where} is not an integer"
        if code == _OUT_OF_RANGE and rule is not None:
            return _range_detail(tag, rule, value, unit, soft=False)
        return f"tag {tag!r}: rejected ({_R.Name(code)})"  # pragma: no cover - every code is handled above

    def findings(
        self, columns: ReadingColumns, flags: npt.NDArray[np.uint8], i: int
    ) -> list[normalized_reading_pb2.ValidationFinding]:
        """The ``ValidationFinding`` s of survivor ``i`` (for ``NormalizedReading.validation_findings``)."""
        found: list[normalized_reading_pb2.ValidationFinding] = []
        if flags[i] & Finding.EXPECTED_RANGE:
            t = int(columns.tag_idx[i])
            tag = columns.tags[t]
            rule = self._rules.get((equipment_key(columns.equipment), tag))
            if rule is not None:
                unit = columns.units[t] if t < len(columns.units) else ""
                detail = _range_detail(tag, rule, float(columns.values[i]), unit, soft=True)
                found.append(
                    normalized_reading_pb2.ValidationFinding(
                        check=normalized_reading_pb2.ValidationCheck.VALIDATION_CHECK_RANGE, detail=detail
                    )
                )
        return found

    # --- text readings ------------------------------------------------------------------

    def validate_text(
        self, readings: Sequence[TextReading], now_ns: int
    ) -> tuple[list[TextReading], list[Rejection], npt.NDArray[np.uint8]]:
        """Check string readings: registry, data type (must be a STRING or untyped tag), time.

        Text readings arrive one per record, so this is a plain loop. The quality rule of
        :meth:`validate` applies (``UNSPECIFIED`` -> ``GOOD``).
        """
        survivors: list[TextReading] = []
        rejections: list[Rejection] = []
        flags: list[int] = []
        for reading in readings:
            eq = equipment_key(reading.equipment)
            rule = self._rules.get((eq, reading.tag))
            flag = Finding.NONE
            detail = ""
            code = 0
            if rule is None:
                if self.unknown_tag_policy == "reject":
                    code = _R.DEAD_LETTER_REASON_UNKNOWN_TAG
                    detail = f"tag {reading.tag!r} is not registered for equipment {eq!r}"
                flag = Finding.NOT_VALIDATED
            elif rule.data_type not in (_DT.TAG_DATA_TYPE_STRING, _DT.TAG_DATA_TYPE_UNSPECIFIED):
                code = _R.DEAD_LETTER_REASON_TYPE_MISMATCH
                type_name = _DT.Name(rule.data_type).removeprefix("TAG_DATA_TYPE_")
                detail = f"tag {reading.tag!r} is a {type_name} tag but got the text {_clip(reading.value)!r}"
            if not code and self._text_time_outside(reading.time_ns, now_ns):
                code = _R.DEAD_LETTER_REASON_TIMESTAMP_OUT_OF_BOUNDS
                detail = _time_detail(reading.tag, reading.time_ns, now_ns, self.max_future_s, self.max_past_s)
            if code:
                rejections.append(Rejection(code, detail, reading.reading_id, reading.tag))
                continue
            if reading.quality == _DQ.DATA_QUALITY_UNSPECIFIED:
                reading = dataclasses.replace(reading, quality=_DQ.DATA_QUALITY_GOOD)
            survivors.append(reading)
            flags.append(int(flag))
        return survivors, rejections, np.array(flags, dtype=np.uint8)

    def _text_time_outside(self, time_ns: int, now_ns: int) -> bool:
        if self._past_ns is not None and time_ns < now_ns - self._past_ns:
            return True
        return self._future_ns is not None and time_ns > now_ns + self._future_ns


def _ns_or_none(seconds: float) -> int | None:
    return None if math.isinf(seconds) else round(seconds * _NS)


def _clip(text: str, limit: int = 64) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _iso(time_ns: int) -> str:
    try:
        return str(np.datetime64(time_ns, "ns")) + "Z"
    except (OverflowError, ValueError):  # pragma: no cover - int64 ns always fits
        return f"{time_ns} ns"


def _time_detail(tag: str, time_ns: int, now_ns: int, max_future_s: float, max_past_s: float) -> str:
    delta_s = (time_ns - now_ns) / _NS
    if delta_s > 0:
        return (
            f"tag {tag!r}: source time {_iso(time_ns)} is {delta_s:.3f} s ahead of the ingest clock "
            f"{_iso(now_ns)} (max {max_future_s:g} s)"
        )
    return (
        f"tag {tag!r}: source time {_iso(time_ns)} is {-delta_s:.3f} s behind the ingest clock "
        f"{_iso(now_ns)} (max {max_past_s:g} s)"
    )


def _range_detail(tag: str, rule: _Rule, value: float, unit: str, *, soft: bool) -> str:
    lo, hi = (rule.soft_lo, rule.soft_hi) if soft else (rule.lo, rule.hi)
    rng = rule.definition.expected_range if soft else rule.definition.valid_range
    which = "expected" if soft else "valid"
    si = f" {unit}" if unit else ""
    reg = f" {rule.registered_unit}" if rule.registered_unit else ""
    if value < lo:
        return f"tag {tag!r}: value {value:.9g}{si} < {which} min {lo:.9g}{si} (registered min {rng.min:g}{reg})"
    return f"tag {tag!r}: value {value:.9g}{si} > {which} max {hi:.9g}{si} (registered max {rng.max:g}{reg})"
