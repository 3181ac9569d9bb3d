"""Reuse the random-network helpers of tests/hwgen (``netgen``) whatever pytest's import mode."""

import sys
from pathlib import Path

_HWGEN_TESTS = str(Path(__file__).parents[1] / "hwgen")
if _HWGEN_TESTS not in sys.path:
    sys.path.insert(0, _HWGEN_TESTS)
