"""Load the single-file scripts of algos/ as modules (the benchmarks' loader: one copy)."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

from _common import load_script  # noqa: E402

__all__ = ["ROOT", "load_script"]
