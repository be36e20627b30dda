"""The demo's tag registry (deploy/local/assets-demo.yaml) matches the line simulator's plant
and is a valid ingest registry file, so `make up` normalizes every simulated instrument."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from factorymesh.ingest.registry import load_registry_file
from factorymesh.line_simulator.plant import default_plant

ROOT = Path(__file__).resolve().parents[2]


def test_demo_registry_is_current() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_demo_assets.py"), "--check"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_every_simulated_instrument_is_registered() -> None:
    registered = {
        (d.equipment_key, d.tag)
        for d in load_registry_file(ROOT / "deploy" / "local" / "assets-demo.yaml").definitions()
    }
    simulated = {(e.key, t.name) for e in default_plant().equipment for t in e.tags}
    assert simulated == registered
