"""The arguments of the raw kernels (``pydropout._core``), from the specification's
formulas. A kernel row is checked against ``pydropout.reference`` like every other row, so
a wrong argument here shows as a failed check, never as a fast wrong number."""

from __future__ import annotations

import math
from typing import Tuple

import numpy as np

# the core's dtype codes
DTYPE_CODES = {"float16": 0, "float32": 2, "float64": 3}
# SELU's alpha * scale: alpha dropout's dropped elements sit at -ALPHA before the affine map
ALPHA = 1.7580993408473766


def dtype_code(dt: np.dtype) -> int:
    return DTYPE_CODES[np.dtype(dt).name]


def threshold(p: float) -> int:
    """floor(p * 2**32): an element is kept iff its word >= the threshold."""
    return int(math.floor(p * 2.0**32))


def scale(p: float, dt: np.dtype) -> float:
    """1 / (1 - p) computed in float64 and rounded once to the dtype."""
    with np.errstate(over="ignore"):
        return float(np.array(1.0 / (1.0 - p), dtype=np.float64).astype(dt))


def _round(v: float, dt: np.dtype) -> float:
    """Rounded to the dtype: once for float32 and float64, via float32 for float16."""
    a = np.asarray(v, dtype=np.float64)
    if np.dtype(dt).itemsize == 2:
        a = a.astype(np.float32)
    return float(a.astype(dt))


def alpha_constants(p: float, dt: np.dtype) -> Tuple[float, float, float]:
    """(a, b, c) of alpha dropout: kept elements become ``x * a + b``, dropped ``c``."""
    a = 1.0 / math.sqrt((ALPHA * ALPHA * p + 1.0) * (1.0 - p))
    b = ALPHA * a * p
    c = b - ALPHA * a
    return _round(a, dt), _round(b, dt), _round(c, dt)


def gaussian_sigma(p: float) -> float:
    """sqrt(p / (1 - p)): the standard deviation of Gaussian dropout's noise."""
    return math.sqrt(p / (1.0 - p))
