"""Training the industrial model family as a command: ``python -m factorymesh.inference.train``.

Reads a telemetry dataset (CSV) and its ground-truth labels, computes feature windows
exactly as ingest does, splits by time, fits each model, evaluates it on the held-out
period with the code Triton serves, and writes the next version into the Triton model
repository when it is not worse than the serving one. See
``services/inference/docs/models.md``.
"""

from factorymesh.inference.train.cli import Outcome, main, run

__all__ = ["Outcome", "main", "run"]
