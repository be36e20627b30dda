"""Every committed model version carries modeling/runtime.py verbatim as its model.py.

The copies are generated (the training command writes them) so that each version is
self-contained for any Triton, the official container image included; this keeps them
from drifting from the source they are generated from, like the generated protobuf code.
"""

from __future__ import annotations

from pathlib import Path

from factorymesh.inference.train.repository import RUNTIME_SOURCE

REPOSITORY = Path(__file__).resolve().parents[4] / "deploy" / "triton" / "model_repository"


def test_committed_model_versions_run_the_current_runtime() -> None:
    copies = sorted(p for p in REPOSITORY.glob("*/[0-9]*/model.py") if (p.parent / "metadata.json").exists())
    assert len(copies) >= 6, copies
    stale = [str(p.relative_to(REPOSITORY)) for p in copies if p.read_bytes() != RUNTIME_SOURCE.read_bytes()]
    assert not stale, f"regenerate these from modeling/runtime.py: {stale}"
