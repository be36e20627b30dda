"""Sparkplug B: our copy of the payload schema (``sparkplug_b.proto``, generated ``sparkplug_b_pb2``) and its parser."""

from factorymesh.ingest.formats.sparkplug.parser import GAP_COUNTER, SparkplugParser, is_protocol_metric, tag_for

__all__ = ["GAP_COUNTER", "SparkplugParser", "is_protocol_metric", "tag_for"]
