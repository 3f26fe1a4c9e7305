"""The arithmetic of the contract: the keep threshold, the scale factors rounded to the
dtype, the variants' constants and Gaussian dropout's normal deviates, in plain NumPy.

Every value here is computed in float64 and rounded to the array's dtype exactly as
written; the compiled core must reproduce each of them bit for bit.
"""

from __future__ import annotations

import math
from typing import Any, Tuple

import numpy as np

from .._checks import check_gaussian_p, check_p  # the shared argument checks
from ._philox import keep_bits, stream_words

__all__ = [
    "ALPHA",
    "threshold",
    "scale",
    "eval_factor",
    "round_to",
    "alpha_constants",
    "gaussian_sigma",
    "normal_from_words",
    "noise_factors",
    "gaussian_dropout_noise",
    "keep_mask",
]

_TWO32 = 4294967296.0

#: torch's SELU alpha * scale: dropped elements of alpha dropout sit at the SELU floor -ALPHA
ALPHA = 1.7580993408473766


def threshold(p: float) -> int:
    """t = floor(p * 2**32) (exact in float64): a word >= t keeps its element (p < 1)."""
    return int(math.floor(p * _TWO32))


def _to_dtype(v: float, dtype: Any) -> float:
    """The float64 ``v`` rounded once to ``dtype`` (overflow gives inf)."""
    with np.errstate(over="ignore"):
        return float(np.array(v, dtype=np.float64).astype(np.dtype(dtype)))


def scale(p: float, dtype: Any) -> float:
    """s = dtype(1 / (1 - p)): the quotient in float64, rounded once; 0.0 when p == 1."""
    if p == 1.0:
        return 0.0
    return _to_dtype(1.0 / (1.0 - p), dtype)


def eval_factor(p: float, dtype: Any) -> float:
    """dtype(1 - p), rounded once: downscale_in_infer's evaluation factor."""
    return _to_dtype(1.0 - p, dtype)


def round_to(v: Any, dtype: Any) -> np.ndarray:
    """Float64 values rounded to ``dtype``: once for 32/64-bit types, via float32 for the
    16-bit types (the variants' convention)."""
    dtype = np.dtype(dtype)
    a = np.asarray(v, dtype=np.float64)
    with np.errstate(over="ignore"):
        if dtype.itemsize == 2:
            return a.astype(np.float32).astype(dtype)
        return a.astype(dtype)


def alpha_constants(p: float, dt: Any) -> Tuple[float, float, float]:
    """(a, b, c) of alpha dropout rounded to ``dt``: kept ``x * a + b``, dropped ``c``.

    In float64: ``a = 1 / sqrt((ALPHA**2 * p + 1) * (1 - p))``, ``b = ALPHA * a * p``,
    ``c = b - ALPHA * a``; each then rounded to the dtype (:func:`round_to`). p == 1 gives
    (0, 0, 0); p == 0 gives (1, 0, -ALPHA).
    """
    if p == 1.0:
        return 0.0, 0.0, 0.0
    a = 1.0 / math.sqrt((ALPHA * ALPHA * p + 1.0) * (1.0 - p))
    b = ALPHA * a * p
    c = b - ALPHA * a
    r = round_to([a, b, c], dt)
    return float(r[0]), float(r[1]), float(r[2])


def gaussian_sigma(p: float) -> float:
    """sqrt(p / (1 - p)) in float64: the standard deviation of Gaussian dropout's noise."""
    return math.sqrt(p / (1.0 - p))


# -- the normal transform (Wichura's AS241, PPND16) ---------------------------------------

_hex = float.fromhex
_SPLIT = _hex("0x1.b333333333333p-2")  # 0.425
_CENTRAL = _hex("0x1.71eb851eb851fp-3")  # 0.180625 = 0.425**2
_TAIL_SHIFT = _hex("0x1.999999999999ap+0")  # 1.6
_SQRT_HALF = _hex("0x1.6a09e667f3bcdp-1")
_LN2_HI = _hex("0x1.62e42fee00000p-1")  # ln 2 = _LN2_HI + _LN2_LO
_LN2_LO = _hex("0x1.a39ef35793c76p-33")
_TWO_M32 = _hex("0x1p-32")
_MID = 2147483647.5  # (2**32 - 1) / 2

# the coefficients of the four polynomials of the transform, a row per power of r from the
# constant term, a column per polynomial: A and B (numerator and denominator) for the
# centre, C and D for the tails
_COEFFICIENTS = """
    0x1.b18d91e9eef75p+1   0x1.0000000000000p+0   0x1.6c665fde9526ap+0   0x1.0000000000000p+0
    0x1.0a4888b1a436ep+7   0x1.5281b386e1ab5p+5   0x1.2857748cab19bp+2   0x1.06cefbb46a449p+1
    0x1.ece5d2213c0ccp+10  0x1.5797efdc8b3f7p+9   0x1.713f71462256ap+2   0x1.ad278e6526633p+0
    0x1.ad1d8cd4ee71dp+13  0x1.512322e75c89fp+12  0x1.d2ecb1a3d02c4p+1   0x1.61292f23385c9p-1
    0x1.66c3e869b752ap+15  0x1.4b772d5d65266p+14  0x1.453cc085375b2p+0   0x1.2f5123394f040p-3
    0x1.06c1c55b78f20p+16  0x1.3317caa64f4bep+15  0x1.ef2abb9b85c37p-3   0x1.f207a7eab17bfp-7
    0x1.052d26b2e45e4p+15  0x1.c0e457cb1ae76p+14  0x1.744eb6c45ec67p-6   0x1.1f18cbfdf2728p-11
    0x1.39a296f7d925ep+11  0x1.46a7eca984b69p+12  0x1.9615ac0b7ace9p-11  0x1.20d3f686439e4p-30
"""
_A, _B, _C, _D = (
    [_hex(h) for h in column]
    for column in zip(*(row.split() for row in _COEFFICIENTS.strip().splitlines()))
)
# 2 / (2k + 1) for k = 10 down to 1: the series of 2 atanh(s) / s - 2 in powers of s**2
_ATANH = [2.0 / (2 * k + 1) for k in range(10, 0, -1)]


def _poly(coef, r: np.ndarray) -> np.ndarray:
    """coef[0] + coef[1] r + ... by Horner's rule, a multiply and an add per step (no FMA)."""
    acc = np.full_like(r, coef[-1])
    for c in coef[-2::-1]:
        acc = acc * r + c
    return acc


def _log(x: np.ndarray) -> np.ndarray:
    """Natural logarithm of x in [2**-33, 1) with + - * / only.

    x = m * 2**e with m in [sqrt(1/2), sqrt(2)); ln m = 2 atanh(s), s = (m - 1) / (m + 1),
    as the odd series to s**21; ln x = e * ln 2 + ln m with ln 2 in two parts.
    """
    m, e = np.frexp(x)  # exact; m in [0.5, 1)
    small = m < _SQRT_HALF
    m = np.where(small, m + m, m)
    e = np.where(small, e - 1, e).astype(np.float64)
    f = m - 1.0  # exact
    s = f / (2.0 + f)
    s2 = s * s
    series = np.full_like(s, _ATANH[0])
    for c in _ATANH[1:]:
        series = series * s2 + c
    ln_m = 2.0 * s + s * (s2 * series)
    return e * _LN2_HI + (e * _LN2_LO + ln_m)


def normal_from_words(words: Any) -> np.ndarray:
    """Standard normal deviates (float64) from 32-bit words: Gaussian dropout's transform.

    ``z = Phi^-1(u)`` with ``u = (w + 0.5) / 2**32``, by Wichura's AS241 (PPND16): with
    ``q = u - 0.5`` (exact), ``|q| <= 0.425`` gives ``z = (q * A(r)) / B(r)`` with
    ``r = 0.180625 - q*q``; otherwise ``z = sign(q) * C(r) / D(r)`` with
    ``r = sqrt(-ln(0.5 - |q|)) - 1.6``. The logarithm uses + - * / only, so every step is
    a correctly rounded IEEE operation. Exactly symmetric (``z(~w) == -z(w)``), never 0,
    ``|z| <= 6.3380``.
    """
    w = np.asarray(words)
    if w.dtype != np.uint32:
        raise TypeError(f"words must be a numpy.uint32 array, got {w.dtype}")
    q = (w.astype(np.float64) - _MID) * _TWO_M32  # exact, never 0
    z = np.empty(w.shape, np.float64)
    inner = np.abs(q) <= _SPLIT
    qi = q[inner]
    r = _CENTRAL - qi * qi
    z[inner] = (qi * _poly(_A, r)) / _poly(_B, r)
    qo = q[~inner]
    tail = 0.5 - np.abs(qo)  # min(u, 1 - u): exact (Sterbenz)
    r = np.sqrt(-_log(tail)) - _TAIL_SHIFT
    zo = _poly(_C, r) / _poly(_D, r)
    z[~inner] = np.where(qo < 0.0, -zo, zo)
    return z


def noise_factors(z: np.ndarray, sigma: float, dtype: Any) -> np.ndarray:
    """Gaussian dropout's multipliers ``dtype(1 + sigma * z)`` (16-bit types via float32)."""
    return round_to(1.0 + sigma * z, dtype)


def gaussian_dropout_noise(
    n: int, p: float, seed: int, stream: int = 0, offset: int = 0, dtype: Any = np.float64
) -> np.ndarray:
    """The multiplicative noise of Gaussian dropout for elements ``0 .. n - 1``, in ``dtype``:
    ``dtype(1 + sigma * z)`` with ``sigma = sqrt(p / (1 - p))`` (16-bit types via float32)."""
    p = check_gaussian_p(p)
    z = normal_from_words(stream_words(seed, stream, offset, n))
    return noise_factors(z, gaussian_sigma(p), np.dtype(dtype))


def keep_mask(n: int, p: float, seed: int, stream: int = 0, offset: int = 0) -> np.ndarray:
    """Boolean keep decision of elements ``0 .. n - 1`` (docs/CONTRACT.md section 1)."""
    p = check_p(p)
    drop_all = p == 1.0
    return keep_bits(0 if drop_all else threshold(p), drop_all, seed, stream, offset, int(n))
