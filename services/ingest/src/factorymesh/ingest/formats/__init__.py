"""The input formats of the ingest service: record bytes in, readings and rejections out.

Three formats reach ``factorymesh.telemetry.raw.v1`` (docs: services/ingest/docs/formats.md):

* ``PROTOBUF`` — our ``SensorReading`` / ``SensorReadingBatch``, named by the
  ``fm-message-type`` header;
* ``UMH_JSON`` — United Manufacturing Hub ``_historian`` JSON, the UMH topic in
  the key (UMH Core) or in the Kafka topic (+ key, UMH Classic);
* ``SPARKPLUG_B`` — Sparkplug B protobuf, the MQTT topic ``spBv1.0/...`` in the key.

:class:`RecordParser` is the one entry point: it never raises, and every input
reading comes out as exactly one reading or one
:class:`~factorymesh.ingest.model.Rejection`; a record it cannot read at all
gives exactly one rejection with ``reading_id == ""``. No Kafka I/O happens here.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Sequence

from opentelemetry import metrics

from factorymesh.common.kafka import HEADER_MESSAGE_TYPE
from factorymesh.common.logging import get_logger
from factorymesh.ingest.formats._common import R, reject_record
from factorymesh.ingest.formats.protobuf import parse_protobuf, parse_sensor_reading, parse_sensor_reading_batch
from factorymesh.ingest.formats.sparkplug import SparkplugParser
from factorymesh.ingest.formats.umh import UMH_PREFIX, parse_umh
from factorymesh.ingest.model import ParseResult

__all__ = [
    "DEFAULT_MAX_PAYLOAD_BYTES",
    "InputFormat",
    "RecordParser",
    "detect_format",
    "parse_sensor_reading",
    "parse_sensor_reading_batch",
]

log = get_logger(__name__)

DEFAULT_MAX_PAYLOAD_BYTES = 1_048_576
_SPARKPLUG_PREFIX = "spBv1.0/"


class InputFormat(enum.Enum):
    """The payload formats ingest understands on the raw telemetry topic."""

    PROTOBUF = "protobuf"
    UMH_JSON = "umh_json"
    SPARKPLUG_B = "sparkplug_b"


def detect_format(topic: str, key: bytes | None, headers: Sequence[tuple[str, bytes]]) -> InputFormat | None:
    """Which parser a record needs, from its headers, key and topic; ``None`` when none applies.

    Our own producers always set ``fm-message-type``, so that header wins. UMH and
    Sparkplug bridges cannot add our headers but do carry the source topic: the
    UMH topic (``umh.v1.…``) or the MQTT topic (``spBv1.0/…``) as the key, or — UMH
    Classic — as the Kafka topic itself.
    """
    # Exact header name, as factorymesh.common.kafka reads it when decoding.
    if any(name == HEADER_MESSAGE_TYPE for name, _ in headers or ()):
        return InputFormat.PROTOBUF
    key = key or b""
    if key.startswith(UMH_PREFIX.encode()) or topic.startswith(UMH_PREFIX):
        return InputFormat.UMH_JSON
    if key.startswith(_SPARKPLUG_PREFIX.encode()) or topic.startswith(_SPARKPLUG_PREFIX):
        return InputFormat.SPARKPLUG_B
    return None


class RecordParser:
    """Turns one raw Kafka record into a :class:`ParseResult`; one per ingest process.

    It holds the Sparkplug session state (aliases, sequence numbers, online
    state), so records must reach it in partition order, and every record of one
    Sparkplug edge node must come through the same partition (and so the same
    instance): see docs/formats.md, "Ordering".
    """

    def __init__(
        self,
        *,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        clock_ns: Callable[[], int] = time.time_ns,
        meter: metrics.Meter | None = None,
    ) -> None:
        self.max_payload_bytes = max_payload_bytes
        self._clock_ns = clock_ns
        self.sparkplug = SparkplugParser(meter=meter)

    def parse(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes]],
    ) -> ParseResult:
        """Parse one record. Never raises: bad input becomes rejections."""
        try:
            return self._parse(topic, key, value, headers)
        except Exception as error:  # the contract is "never raises": a parser bug becomes a dead letter
            log.exception("ingest parser failed on a record", topic=topic, error=repr(error))
            return reject_record(
                R.DEAD_LETTER_REASON_PROCESSING_ERROR, f"parser error: {type(error).__name__}: {error}"
            )

    def _parse(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes]]
    ) -> ParseResult:
        # Kafka allows null header values; treat them as empty rather than trip over them later.
        headers = [(name, value if isinstance(value, bytes) else b"") for name, value in headers or ()]
        if value is not None and len(value) > self.max_payload_bytes:
            return reject_record(
                R.DEAD_LETTER_REASON_MESSAGE_TOO_LARGE,
                f"payload is {len(value)} bytes, the limit is {self.max_payload_bytes}",
            )
        fmt = detect_format(topic, key, headers)
        received_ns = self._clock_ns()
        if fmt is InputFormat.PROTOBUF:
            return parse_protobuf(topic, value, headers, received_ns)
        if fmt is InputFormat.UMH_JSON:
            return parse_umh(topic, key, value, headers, received_ns)
        if fmt is InputFormat.SPARKPLUG_B:
            return self.sparkplug.parse(topic, key, value, received_ns)
        return reject_record(
            R.DEAD_LETTER_REASON_UNKNOWN_MESSAGE_TYPE,
            "unknown input format: no fm-message-type header, and neither key nor topic starts "
            "with umh.v1. or spBv1.0/",
        )
