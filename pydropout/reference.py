"""pydropout.reference: the contract of SPEC.md in plain, vectorised NumPy.

Philox4x32-10 is written with 32x32->64-bit products in ``uint64`` arithmetic, the
keep rule is ``word >= floor(p * 2**32)``, and kept elements are scaled by one NumPy
multiply in the array's dtype. The functions take the same arguments, raise the same
errors and return bit-for-bit the same results as the compiled ones in ``pydropout``;
they are how the tests (and users) check the core.
"""

from __future__ import annotations

import numpy as np

from . import _blocks, _common
from ._core import Generator, default_generator
from ._state import DropoutState
from ._variants import VariantFrontend

__all__ = [
    "philox4x32_10",
    "stream_words",
    "keep_mask",
    "dropout",
    "dropout_with_mask",
    "dropout_backward",
    "dropout_mask",
    "dropout_block",
    "dropout_block_mask",
    # the variants (README section "variants")
    "DropoutState",
    "normal_from_words",
    "gaussian_noise",
    "alpha_constants",
    "dropout_with_state",
    "dropout1d",
    "dropout2d",
    "dropout3d",
    "alpha_dropout",
    "alpha_dropout_with_mask",
    "alpha_dropout_with_state",
    "alpha_dropout_backward",
    "feature_alpha_dropout",
    "gaussian_dropout",
    "gaussian_dropout_with_state",
    "gaussian_dropout_backward",
]

M0 = np.uint64(0xD2511F53)
M1 = np.uint64(0xCD9E8D57)
W0 = np.uint64(0x9E3779B9)
W1 = np.uint64(0xBB67AE85)
_LO = np.uint64(0xFFFFFFFF)
_32 = np.uint64(32)
_CHUNK = 1 << 22  # elements per step: bounds the memory of the uint64 temporaries


def philox4x32_10(counter, key):
    """Philox4x32-10 of Random123 over arrays: counter ``(..., 4)``, key ``(..., 2)`` uint32."""
    c = np.asarray(counter, dtype=np.uint64) & _LO
    k = np.asarray(key, dtype=np.uint64) & _LO
    c0, c1, c2, c3 = (c[..., i] for i in range(4))
    k0, k1 = k[..., 0], k[..., 1]
    for rnd in range(10):
        if rnd:
            k0 = (k0 + W0) & _LO
            k1 = (k1 + W1) & _LO
        p0 = c0 * M0  # < 2**64: exact
        p1 = c2 * M1
        c0, c1, c2, c3 = (p1 >> _32) ^ c1 ^ k0, p1 & _LO, (p0 >> _32) ^ c3 ^ k1, p0 & _LO
    return np.stack([c0, c1, c2, c3], axis=-1).astype(np.uint32)


def stream_words(seed: int, stream: int, offset: int, n: int) -> np.ndarray:
    """Words ``offset .. offset + n - 1`` of the stream ``(seed, stream)`` as uint32."""
    seed, stream, offset, n = int(seed), int(stream), int(offset), int(n)
    if n == 0:
        return np.empty(0, np.uint32)
    first = offset // 4
    last = (offset + n - 1) // 4
    blocks = np.arange(last - first + 1, dtype=np.uint64) + np.uint64(first)
    ctr = np.empty((blocks.size, 4), np.uint64)
    ctr[:, 0] = blocks & _LO
    ctr[:, 1] = blocks >> _32
    ctr[:, 2] = stream & 0xFFFFFFFF
    ctr[:, 3] = stream >> 32
    key = np.array([seed & 0xFFFFFFFF, seed >> 32], np.uint64)
    words = philox4x32_10(ctr, key).reshape(-1)
    start = offset - 4 * first
    return words[start : start + n]


def keep_mask(n: int, p: float, seed: int, stream: int = 0, offset: int = 0) -> np.ndarray:
    """Boolean keep decision of elements ``0 .. n - 1`` (SPEC.md section 1)."""
    p = _common.check_p(p)
    if p == 1.0:
        return np.zeros(int(n), bool)
    return stream_words(seed, stream, offset, n) >= np.uint32(_common.threshold(p))


def _chunks(n: int):
    for start in range(0, n, _CHUNK):  # _CHUNK is a multiple of 8: whole mask bytes
        yield start, min(n, start + _CHUNK)


def _select(x: np.ndarray, keep: np.ndarray, s: float, apply: bool) -> np.ndarray:
    zero = np.zeros((), x.dtype)
    if not apply:
        return np.where(keep, x, zero)
    with np.errstate(all="ignore"):
        return np.where(keep, x * np.array(s, dtype=x.dtype), zero)


class _NumpyBackend:
    """The arithmetic of SPEC.md on flat C-contiguous buffers."""

    @staticmethod
    def forward(x, y, mask, code, t, drop_all, s, apply, seed, stream, offset):
        xf, yf = x.reshape(-1), y.reshape(-1)
        for a, b in _chunks(xf.size):
            if drop_all:
                keep = np.zeros(b - a, bool)
            else:
                keep = stream_words(seed, stream, offset + a, b - a) >= np.uint32(t)
            yf[a:b] = _select(xf[a:b], keep, s, apply)
            if mask is not None:
                mask[a // 8 : (b + 7) // 8] = np.packbits(keep, bitorder="little")

    @staticmethod
    def mask(mask, n, t, drop_all, seed, stream, offset):
        for a, b in _chunks(n):
            if drop_all:
                keep = np.zeros(b - a, bool)
            else:
                keep = stream_words(seed, stream, offset + a, b - a) >= np.uint32(t)
            mask[a // 8 : (b + 7) // 8] = np.packbits(keep, bitorder="little")

    @staticmethod
    def apply(x, y, mask, code, s, apply):
        xf, yf = x.reshape(-1), y.reshape(-1)
        for a, b in _chunks(xf.size):
            if mask is None:
                keep = np.ones(b - a, bool)
            else:
                keep = np.unpackbits(mask[a // 8 : (b + 7) // 8], count=b - a, bitorder="little")
                keep = keep.astype(bool)
            yf[a:b] = _select(xf[a:b], keep, s, apply)


_front = _common.Frontend(_NumpyBackend(), Generator, default_generator)


def dropout(x, p=0.5, training=True, inplace=False, *, mode=_common.UPSCALE,
            noise_shape=None, generator=None, out=None):
    """NumPy reference of :func:`pydropout.dropout`."""
    return _front.dropout(x, p, training, inplace, mode=mode, noise_shape=noise_shape,
                          generator=generator, out=out)


def dropout_with_mask(x, p=0.5, *, mode=_common.UPSCALE, noise_shape=None, generator=None,
                      out=None):
    """NumPy reference of :func:`pydropout.dropout_with_mask`."""
    return _front.dropout_with_mask(x, p, mode=mode, noise_shape=noise_shape,
                                    generator=generator, out=out)


def dropout_backward(grad, mask, p, *, mode=_common.UPSCALE, noise_shape=None, out=None):
    """NumPy reference of :func:`pydropout.dropout_backward`."""
    return _front.dropout_backward(grad, mask, p, mode=mode, noise_shape=noise_shape, out=out)


def dropout_mask(shape, p, *, generator=None):
    """NumPy reference of :func:`pydropout.dropout_mask`."""
    return _front.dropout_mask(shape, p, generator=generator)


# -- block keying (see pydropout._blocks) ----------------------------------------------


def _block_keep(layout, t, drop_all, seed, stream, offset) -> np.ndarray:
    """Keep decisions of a block in C order: row by row along the last axis, each row the
    contiguous words ``offset + ravel_multi_index(origin + (i..., 0), full_shape) ...``."""
    if drop_all:
        return np.zeros(layout.size, bool)
    if not layout.shape:  # 0-d: the one element of a 0-d array
        return stream_words(seed, stream, offset, 1) >= np.uint32(t)
    length = layout.shape[-1]
    rows = []
    for idx in np.ndindex(*layout.shape[:-1]):
        at = tuple(o + i for o, i in zip(layout.origin, idx + (0,)))
        flat = sum(a * s for a, s in zip(at, layout.strides))  # Python ints: no overflow
        rows.append(stream_words(seed, stream, offset + flat, length))
    words = np.concatenate(rows) if rows else np.empty(0, np.uint32)
    return words >= np.uint32(t)


class _NumpyBlockBackend:
    @staticmethod
    def forward(x, y, mask, code, t, drop_all, s, apply, layout, seed, stream, offset):
        keep = _block_keep(layout, t, drop_all, seed, stream, offset)
        y.reshape(-1)[...] = _select(x.reshape(-1), keep, s, apply)
        if mask is not None:
            mask[...] = np.packbits(keep, bitorder="little")

    @staticmethod
    def mask(mask, t, drop_all, layout, seed, stream, offset):
        keep = _block_keep(layout, t, drop_all, seed, stream, offset)
        mask[...] = np.packbits(keep, bitorder="little")


_block_front = _blocks.BlockFrontend(_NumpyBlockBackend())


def dropout_block(x_block, p, *, full_shape, origin, seed, stream=0, offset=0, training=True,
                  mode=_common.UPSCALE, out=None, return_mask=False):
    """NumPy reference of :func:`pydropout.dropout_block`."""
    return _block_front.dropout_block(x_block, p, full_shape=full_shape, origin=origin,
                                      seed=seed, stream=stream, offset=offset,
                                      training=training, mode=mode, out=out,
                                      return_mask=return_mask)


def dropout_block_mask(shape, p, *, full_shape, origin, seed, stream=0, offset=0):
    """NumPy reference of :func:`pydropout.dropout_block_mask`."""
    return _block_front.dropout_block_mask(shape, p, full_shape=full_shape, origin=origin,
                                           seed=seed, stream=stream, offset=offset)


# ==== the variants ========================================================================
# The same front end as above (VariantFrontend adds channel, alpha and Gaussian dropout)
# over a NumPy backend that adds the two element-wise operations of the variants. Every
# step is one IEEE operation that the C++ kernels (csrc/variants.cpp) perform too, in the
# same order, so results agree bit for bit.

alpha_constants = _common.alpha_constants

_F = float.fromhex
_SPLIT = _F("0x1.b333333333333p-2")  # 0.425
_CENTRAL = _F("0x1.71eb851eb851fp-3")  # 0.180625
_TAIL_SHIFT = _F("0x1.999999999999ap+0")  # 1.6
_SQRT_HALF = _F("0x1.6a09e667f3bcdp-1")
_LN2_HI = _F("0x1.62e42fee00000p-1")
_LN2_LO = _F("0x1.a39ef35793c76p-33")
_TWO_M32 = _F("0x1p-32")
# Wichura, AS241 (Applied Statistics 37(3), 1988), PPND16, lowest coefficient first
_AS241_A = tuple(map(_F, (
    "0x1.b18d91e9eef75p+1", "0x1.0a4888b1a436ep+7", "0x1.ece5d2213c0ccp+10",
    "0x1.ad1d8cd4ee71dp+13", "0x1.66c3e869b752ap+15", "0x1.06c1c55b78f20p+16",
    "0x1.052d26b2e45e4p+15", "0x1.39a296f7d925ep+11")))
_AS241_B = tuple(map(_F, (
    "0x1.0000000000000p+0", "0x1.5281b386e1ab5p+5", "0x1.5797efdc8b3f7p+9",
    "0x1.512322e75c89fp+12", "0x1.4b772d5d65266p+14", "0x1.3317caa64f4bep+15",
    "0x1.c0e457cb1ae76p+14", "0x1.46a7eca984b69p+12")))
_AS241_C = tuple(map(_F, (
    "0x1.6c665fde9526ap+0", "0x1.2857748cab19bp+2", "0x1.713f71462256ap+2",
    "0x1.d2ecb1a3d02c4p+1", "0x1.453cc085375b2p+0", "0x1.ef2abb9b85c37p-3",
    "0x1.744eb6c45ec67p-6", "0x1.9615ac0b7ace9p-11")))
_AS241_D = tuple(map(_F, (
    "0x1.0000000000000p+0", "0x1.06cefbb46a449p+1", "0x1.ad278e6526633p+0",
    "0x1.61292f23385c9p-1", "0x1.2f5123394f040p-3", "0x1.f207a7eab17bfp-7",
    "0x1.1f18cbfdf2728p-11", "0x1.20d3f686439e4p-30")))


def _horner8(c, r):
    v = np.full_like(r, c[7])
    for k in range(6, -1, -1):
        v = v * r + c[k]  # two roundings, as in C++ with -ffp-contract=off
    return v


def _ln_small(x):
    """ln(x) for x in [2**-33, 1) with + - * / only: x = m * 2**e, ln m = 2 atanh(s)."""
    m, e = np.frexp(x)  # exact; m in [0.5, 1)
    low = m < _SQRT_HALF
    m = np.where(low, m + m, m)  # m in [sqrt(1/2), sqrt(2))
    e = np.where(low, e - 1, e)
    f = m - 1.0  # exact
    s = f / (2.0 + f)
    s2 = s * s
    r = np.full_like(s, 2.0 / 21.0)
    for k in range(9, 0, -1):
        r = r * s2 + 2.0 / (2 * k + 1)
    lnm = 2.0 * s + s * (s2 * r)
    de = e.astype(np.float64)
    return de * _LN2_HI + (de * _LN2_LO + lnm)


def normal_from_words(words) -> np.ndarray:
    """Standard normal deviates (float64) from 32-bit words: Gaussian dropout's transform.

    ``z = Phi^-1(u)`` with ``u = (w + 0.5) / 2**32``, by Wichura's AS241 (PPND16): for
    ``|q| <= 0.425`` (``q = u - 0.5``, exact) ``z = (q * A(r)) / B(r)`` with
    ``r = 0.180625 - q*q``; otherwise ``z = sign(q) * C(r) / D(r)`` with
    ``r = sqrt(-ln(0.5 - |q|)) - 1.6`` (``0.5 - |q| = min(u, 1 - u)``, exact). ``ln`` is computed with + - * / only (see
    ``_ln_small``), so every step is a correctly rounded IEEE operation and the compiled
    core (``csrc/variants.cpp``) gives the same bits. Exactly symmetric
    (``z(~w) == -z(w)``), never 0, ``|z| <= 6.3380``; about 1e-15 from the true quantile.
    """
    w = np.asarray(words)
    if w.dtype != np.uint32:
        raise TypeError(f"words must be a numpy.uint32 array, got {w.dtype}")
    q = (w.astype(np.float64) - 2147483647.5) * _TWO_M32  # u - 1/2: exact, never 0
    z = np.empty(w.shape, np.float64)
    central = np.abs(q) <= _SPLIT
    qc = q[central]
    r = _CENTRAL - qc * qc
    z[central] = (qc * _horner8(_AS241_A, r)) / _horner8(_AS241_B, r)
    qt = q[~central]
    t = 0.5 - np.abs(qt)  # min(u, 1 - u): exact, since |q| > 0.425 (Sterbenz)
    r = np.sqrt(-_ln_small(t)) - _TAIL_SHIFT
    zt = _horner8(_AS241_C, r) / _horner8(_AS241_D, r)
    z[~central] = np.where(qt < 0.0, -zt, zt)
    return z


def gaussian_noise(n: int, p: float, seed: int, stream: int = 0, offset: int = 0,
                   dtype=np.float64) -> np.ndarray:
    """The multiplicative noise of Gaussian dropout for elements ``0 .. n - 1``, in ``dtype``:
    ``dtype(1 + sigma * z)`` with ``sigma = sqrt(p / (1 - p))`` (16-bit types via float32)."""
    p = _common.check_gaussian_p(p)
    z = normal_from_words(stream_words(seed, stream, offset, n))
    return _common.round_to(1.0 + _common.gaussian_sigma(p) * z, np.dtype(dtype))


class _NumpyVariantBackend(_NumpyBackend):
    """The arithmetic of the variants on flat C-contiguous buffers."""

    @staticmethod
    def alpha_apply(x, y, mask, code, a, b, c):
        xf, yf = x.reshape(-1), y.reshape(-1)
        av, bv, cv = (np.array(v, dtype=x.dtype) for v in (a, b, c))
        for lo, hi in _chunks(xf.size):
            if mask is None:
                keep = np.ones(hi - lo, bool)
            else:
                keep = np.unpackbits(mask[lo // 8 : (hi + 7) // 8], count=hi - lo,
                                     bitorder="little").astype(bool)
            with np.errstate(all="ignore"):
                kept = (xf[lo:hi] * av) + bv  # two operations, each rounded to the dtype
            yf[lo:hi] = np.where(keep, kept, cv)

    @staticmethod
    def gaussian(x, y, code, sigma, seed, stream, offset):
        xf, yf = x.reshape(-1), y.reshape(-1)
        for lo, hi in _chunks(xf.size):
            z = normal_from_words(stream_words(seed, stream, offset + lo, hi - lo))
            noise = _common.round_to(1.0 + sigma * z, x.dtype)
            with np.errstate(all="ignore"):
                yf[lo:hi] = xf[lo:hi] * noise


_vfront = VariantFrontend(_NumpyVariantBackend(), Generator, default_generator)


def dropout_with_state(x, p=0.5, *, mode=_common.UPSCALE, noise_shape=None, generator=None,
                       out=None):
    """NumPy reference of :func:`pydropout.dropout_with_state`."""
    return _front.dropout_with_state(x, p, mode=mode, noise_shape=noise_shape,
                                     generator=generator, out=out)


def dropout1d(x, p=0.5, training=True, inplace=False, *, channels_last=False, generator=None,
              out=None):
    """NumPy reference of :func:`pydropout.dropout1d`."""
    return _vfront.channel_dropout(x, p, training, inplace, spatial=1,
                                   channels_last=channels_last, generator=generator, out=out,
                                   name="dropout1d")


def dropout2d(x, p=0.5, training=True, inplace=False, *, channels_last=False, generator=None,
              out=None):
    """NumPy reference of :func:`pydropout.dropout2d`."""
    return _vfront.channel_dropout(x, p, training, inplace, spatial=2,
                                   channels_last=channels_last, generator=generator, out=out,
                                   name="dropout2d")


def dropout3d(x, p=0.5, training=True, inplace=False, *, channels_last=False, generator=None,
              out=None):
    """NumPy reference of :func:`pydropout.dropout3d`."""
    return _vfront.channel_dropout(x, p, training, inplace, spatial=3,
                                   channels_last=channels_last, generator=generator, out=out,
                                   name="dropout3d")


def alpha_dropout(x, p=0.5, training=False, inplace=False, *, noise_shape=None, generator=None,
                  out=None):
    """NumPy reference of :func:`pydropout.alpha_dropout`."""
    return _vfront.alpha_dropout(x, p, training, inplace, noise_shape=noise_shape,
                                 generator=generator, out=out)


def feature_alpha_dropout(x, p=0.5, training=False, inplace=False, *, channels_last=False,
                          generator=None, out=None):
    """NumPy reference of :func:`pydropout.feature_alpha_dropout`."""
    return _vfront.feature_alpha_dropout(x, p, training, inplace, channels_last=channels_last,
                                         generator=generator, out=out)


def alpha_dropout_with_mask(x, p=0.5, *, noise_shape=None, generator=None, out=None):
    """NumPy reference of :func:`pydropout.alpha_dropout_with_mask`."""
    return _vfront.alpha_dropout_with_mask(x, p, noise_shape=noise_shape, generator=generator,
                                           out=out)


def alpha_dropout_with_state(x, p=0.5, *, noise_shape=None, generator=None, out=None):
    """NumPy reference of :func:`pydropout.alpha_dropout_with_state`."""
    return _vfront.alpha_dropout_with_state(x, p, noise_shape=noise_shape, generator=generator,
                                            out=out)


def alpha_dropout_backward(grad, mask, p, *, noise_shape=None, out=None):
    """NumPy reference of :func:`pydropout.alpha_dropout_backward`."""
    return _vfront.alpha_dropout_backward(grad, mask, p, noise_shape=noise_shape, out=out)


def gaussian_dropout(x, p, training=True, *, generator=None, out=None):
    """NumPy reference of :func:`pydropout.gaussian_dropout`."""
    return _vfront.gaussian_dropout(x, p, training, generator=generator, out=out)


def gaussian_dropout_with_state(x, p, *, generator=None, out=None):
    """NumPy reference of :func:`pydropout.gaussian_dropout_with_state`."""
    return _vfront.gaussian_dropout_with_state(x, p, generator=generator, out=out)


def gaussian_dropout_backward(grad, state, p, *, out=None):
    """NumPy reference of :func:`pydropout.gaussian_dropout_backward`."""
    return _vfront.gaussian_dropout_backward(grad, state, p, out=out)
