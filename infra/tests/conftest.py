"""Makes the helpers in this directory importable (hcl.py, binary.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
