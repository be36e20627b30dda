"""Makes the shared fakes importable (`import inference_fakes`) under pytest's importlib mode."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
