"""``python -m factorymesh.inference.train`` (the ``make train`` target)."""

import sys

from factorymesh.inference.train.cli import main

sys.exit(main())
