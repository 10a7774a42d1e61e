"""The fleet tests reuse the bundle's helpers (tests/bundle) and the shared ones (tests/testkit.py)."""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TESTS / "bundle"))
sys.path.insert(1, str(TESTS))
