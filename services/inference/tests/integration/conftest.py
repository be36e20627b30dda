"""Makes the inference test harness importable (`import inference_harness`) under pytest's importlib mode."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
