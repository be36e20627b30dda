"""``python -m factorymesh.line_simulator``: see :mod:`factorymesh.line_simulator.cli`."""

from __future__ import annotations

import sys

from factorymesh.line_simulator.cli import main

if __name__ == "__main__":
    sys.exit(main())
