from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from factorymesh.common import topics
from factorymesh.common.topics import ALL_TOPICS, DEAD_LETTERS, TELEMETRY_RAW, by_name, topics_for

ROOT = Path(__file__).resolve().parents[4]


def test_names_are_unique_and_versioned() -> None:
    names = [spec.name for spec in ALL_TOPICS]
    assert len(names) == len(set(names))
    for name in names:
        assert re.fullmatch(r"factorymesh\.[a-z]+\.[a-z-]+\.v[0-9]+", name), name


def test_every_module_level_spec_is_registered() -> None:
    declared = {v for v in vars(topics).values() if isinstance(v, topics.TopicSpec)}
    assert declared == set(ALL_TOPICS)


def test_payloads_are_kafka_events_with_an_event_id() -> None:
    for spec in ALL_TOPICS:
        if spec.kind == "state":
            assert spec.cleanup_policy == "compact", f"{spec.name}: a state topic must be compacted"
            continue
        assert spec.value_types, spec.name
        for cls in spec.value_types:
            field = cls.DESCRIPTOR.fields_by_number[1]
            assert field.name == "event_id", f"{cls.DESCRIPTOR.full_name} on {spec.name}"


def test_topic_configs() -> None:
    assert TELEMETRY_RAW.topic_configs() == {"cleanup.policy": "delete", "retention.ms": str(3 * topics.DAY_MS)}
    assert by_name("factorymesh.ingest.tag-registry.v1").topic_configs() == {"cleanup.policy": "compact"}


def test_lookup_helpers() -> None:
    assert by_name(DEAD_LETTERS.name) is DEAD_LETTERS
    assert TELEMETRY_RAW in set(topics_for("ingest"))
    assert TELEMETRY_RAW not in set(topics_for("inference"))


def test_generated_doc_tables_are_current() -> None:
    """docs/topics.md and the README's settings table are regenerated from code by `make docs`."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_docs.py"), "--check"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
