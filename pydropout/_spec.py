"""The contract's scalar arithmetic for the compiled path (docs/CONTRACT.md section 1, the variants).

The compiled backend hands these numbers to the kernels; ``pydropout.reference`` has its
own copy of this arithmetic, so that the parity tests compare two independent codes.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Tuple

import numpy as np

TWO32 = 4294967296.0

#: torch's SELU alpha * scale: dropped elements of alpha dropout sit at the SELU floor -ALPHA
ALPHA = 1.7580993408473766


def threshold(p: float) -> int:
    """t = floor(p * 2**32): element kept iff its word >= t (p < 1)."""
    return int(math.floor(p * TWO32))


@functools.lru_cache(maxsize=512)  # a pure function of (p, dtype), called on every call
def scale(p: float, dt: np.dtype) -> float:
    """dtype(1 / (1 - p)) computed in float64 and rounded once to the dtype; 0 at p == 1."""
    if p == 1.0:
        return 0.0
    with np.errstate(over="ignore"):
        return float(np.array(1.0 / (1.0 - p), dtype=np.float64).astype(dt))


def eval_factor(p: float, dt: np.dtype) -> float:
    """dtype(1 - p): the evaluation-mode factor of ``"downscale_in_infer"``."""
    return float(np.array(1.0 - p, dtype=np.float64).astype(dt))


def round_to(v: Any, dt: np.dtype) -> np.ndarray:
    """Float64 values rounded to ``dt``: once for float32, via float32 for 16-bit types."""
    a = np.asarray(v, dtype=np.float64)
    with np.errstate(over="ignore"):  # overflow to inf is the rounding's answer
        if dt.itemsize == 2:
            return a.astype(np.float32).astype(dt)
        return a.astype(dt)


@functools.lru_cache(maxsize=512)
def alpha_constants(p: float, dt: np.dtype) -> Tuple[float, float, float]:
    """(a, b, c) of alpha dropout rounded to ``dt``: kept ``x * a + b``, dropped ``c``.

    In float64, as torch computes them: ``a = 1 / sqrt((ALPHA**2 * p + 1) * (1 - p))``,
    ``b = ALPHA * a * p``, ``c = b - ALPHA * a`` (= a * alpha' + b with alpha' = -ALPHA);
    then each is rounded to the dtype (:func:`round_to`). p == 1 gives (0, 0, 0): every
    element is +0.0. p == 0 gives (1, 0, -ALPHA) (the pipeline then copies x).
    """
    if p == 1.0:
        return 0.0, 0.0, 0.0
    a = 1.0 / math.sqrt((ALPHA * ALPHA * p + 1.0) * (1.0 - p))
    alpha_a = ALPHA * a  # b = (ALPHA * a) * p and c = b - ALPHA * a, in this order
    b = alpha_a * p
    rounded = round_to((a, b, b - alpha_a), dt).tolist()
    return rounded[0], rounded[1], rounded[2]


def gaussian_sigma(p: float) -> float:
    """sqrt(p / (1 - p)) in float64: the standard deviation of Gaussian dropout's noise."""
    return math.sqrt(p / (1.0 - p))
