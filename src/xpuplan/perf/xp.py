"""Array-or-scalar math: the same formulas serve one layout (Python floats) and millions (arrays).

NumPy spends about a microsecond per call on a one-element array; a single estimate makes a few
hundred calls. These helpers take the plain-Python route when every argument is a scalar and the
NumPy route otherwise, so ``estimate_train`` and the vectorised search run the same formulas
(``tests/test_perf.py`` checks they agree exactly).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

_SCALAR = (int, float, bool, np.integer, np.floating, np.bool_)


def _scalar(x: Any) -> bool:
    return isinstance(x, _SCALAR)


def where(c: Any, a: Any, b: Any) -> Any:
    if _scalar(c):
        return a if c else b
    return np.where(c, a, b)


def maximum(a: Any, b: Any) -> Any:
    if _scalar(a) and _scalar(b):
        if a != a or b != b:  # NaN propagates, as in NumPy
            return math.nan
        return a if a >= b else b
    return np.maximum(a, b)


def minimum(a: Any, b: Any) -> Any:
    if _scalar(a) and _scalar(b):
        if a != a or b != b:
            return math.nan
        return a if a <= b else b
    return np.minimum(a, b)


def ceil(x: Any) -> Any:
    return float(math.ceil(x)) if _scalar(x) and math.isfinite(x) else np.ceil(x)


def floor(x: Any) -> Any:
    return float(math.floor(x)) if _scalar(x) and math.isfinite(x) else np.floor(x)


def log2(x: Any) -> Any:
    return math.log2(x) if _scalar(x) and x > 0 else np.log2(x)


def fl(x: Any) -> Any:
    """As floats (a scalar stays a Python float, an array becomes float64)."""
    return float(x) if _scalar(x) else x.astype(float)


def zeros_like(x: Any) -> Any:
    return 0 if _scalar(x) else np.zeros_like(x)


def ones_like(x: Any) -> Any:
    return 1.0 if _scalar(x) else np.ones_like(x, dtype=float)


def full_like(x: Any, v: Any) -> Any:
    return v if _scalar(x) else np.full_like(x, v, dtype=float)


def at(x: Any, i: int) -> Any:
    """Row ``i`` of an array, or the scalar itself."""
    return x if _scalar(x) else x[i]
