"""The benchmarks import each other by their file names, as `python benchmarks/NAME.py` runs
them: their folder goes on the import path for these tests."""

import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[3] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))
