"""NumpyBackend: the backend protocol of the call pipeline, in plain NumPy.

Every kernel works on flat C-contiguous buffers in chunks of ``CHUNK`` elements (whole
mask bytes), so its temporaries stay at a few MiB whatever the array's size. ``y`` may be
``x`` itself: each chunk is read completely before it is written. The arguments are
validated by the pipeline before they get here.
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence, Tuple

import numpy as np

from . import _arith, _bits
from ._generator import Generator, default_generator
from ._philox import CHUNK, chunks, keep_bits, stream_words, words_at

__all__ = ["NumpyBackend"]

#: block elements per step when each element's word is computed on its own, and elements
#: per step of Gaussian dropout (about 15 float64 temporaries each): a few MiB
_GATHER = CHUNK // 8
_NORMAL = CHUNK // 4


def _select(x: np.ndarray, keep: np.ndarray, s: float, apply: bool) -> np.ndarray:
    """keep ? (apply ? x * dtype(s) : x) : +0.0, one multiply rounded to x's dtype."""
    zero = np.zeros((), x.dtype)
    if not apply:
        return np.where(keep, x, zero)
    with np.errstate(all="ignore"):
        return np.where(keep, x * np.array(s, dtype=x.dtype), zero)


def _flat(a: np.ndarray) -> np.ndarray:
    """The flat view of a C-contiguous buffer (a reshape of any other would be a copy)."""
    assert a.flags.c_contiguous, "the pipeline passes C-contiguous buffers"
    return a.reshape(-1)


class NumpyBackend:
    """The arithmetic of docs/CONTRACT.md on flat buffers, with the reference's own generator."""

    name = "numpy"
    generator_type = Generator

    def __init__(self) -> None:
        self.default_generator = default_generator

    # -- the contract's arithmetic ---------------------------------------------------------
    @staticmethod
    def threshold(p: float) -> int:
        return _arith.threshold(p)

    @staticmethod
    def scale(p: float, dtype: Any) -> float:
        return _arith.scale(p, dtype)

    @staticmethod
    def eval_factor(p: float, dtype: Any) -> float:
        return _arith.eval_factor(p, dtype)

    @staticmethod
    def alpha_constants(p: float, dtype: Any) -> Tuple[float, float, float]:
        return _arith.alpha_constants(p, dtype)

    @staticmethod
    def gaussian_sigma(p: float) -> float:
        return _arith.gaussian_sigma(p)

    # -- buffers -----------------------------------------------------------------------------
    @staticmethod
    def contiguous(a: np.ndarray) -> np.ndarray:
        """Native byte order, aligned, C-contiguous (``a`` itself when it already is)."""
        if not a.dtype.isnative:
            a = a.astype(a.dtype.newbyteorder("="))
        if a.flags.c_contiguous and a.flags.aligned:
            return a
        return np.array(a, order="C", copy=True)

    @staticmethod
    def empty(shape: Sequence[int], dtype: Any, like: Optional[np.ndarray] = None) -> np.ndarray:
        return np.empty(tuple(shape), np.dtype(dtype))

    @staticmethod
    def multiply(x: np.ndarray, factor: float, out: Optional[np.ndarray] = None) -> np.ndarray:
        """x * dtype(factor): one multiply rounded to the dtype, overflow and NaN ignored."""
        f = np.array(factor, dtype=np.float64).astype(x.dtype)
        with np.errstate(all="ignore"):
            y = np.multiply(x, f, out=out)
        return y if out is not None else np.asarray(y)  # a 0-d result stays an array

    # -- kernels over flat buffers ----------------------------------------------------------
    @staticmethod
    def forward(x, y, mask, t, drop_all, s, apply, seed, stream, offset) -> None:
        """Element i draws word offset + i, kept iff word >= t (none with drop_all)."""
        xf, yf = _flat(x), _flat(y)
        for lo, hi in chunks(xf.size):
            keep = keep_bits(t, drop_all, seed, stream, offset + lo, hi - lo)
            yf[lo:hi] = _select(xf[lo:hi], keep, s, apply)
            if mask is not None:
                mask[lo // 8 : (hi + 7) // 8] = _bits.pack(keep)

    @staticmethod
    def mask(mask, n, t, drop_all, seed, stream, offset) -> None:
        """The packed keep bits of n elements."""
        for lo, hi in chunks(int(n)):
            keep = keep_bits(t, drop_all, seed, stream, offset + lo, hi - lo)
            mask[lo // 8 : (hi + 7) // 8] = _bits.pack(keep)

    @staticmethod
    def apply(x, y, mask, s, apply) -> None:
        """y = bit ? (apply ? x * s : x) : +0.0; ``mask`` None keeps every element."""
        xf, yf = _flat(x), _flat(y)
        for lo, hi in chunks(xf.size):
            yf[lo:hi] = _select(xf[lo:hi], _bits.unpack(mask, lo, hi), s, apply)

    @staticmethod
    def broadcast_mask(mask, noise: Sequence[int], shape: Sequence[int]) -> np.ndarray:
        return _bits.broadcast_mask(mask, noise, shape)

    def apply_noise(self, x, y, mask, noise: Sequence[int], s, apply) -> None:
        """``apply`` with the bit of each element's noise index (the mask of ``noise``)."""
        self.apply(x, y, self.broadcast_mask(mask, noise, x.shape), s, apply)

    def alpha_noise(self, x, y, mask, noise: Sequence[int], a, b, c) -> None:
        """``alpha_apply`` with the bit of each element's noise index."""
        self.alpha_apply(x, y, self.broadcast_mask(mask, noise, x.shape), a, b, c)

    def alpha_forward(self, x, y, mask, t, drop_all, a, b, c, seed, stream, offset) -> None:
        """The keep mask of x.size words into ``mask``, then ``alpha_apply`` with it."""
        self.mask(mask, x.size, t, drop_all, seed, stream, offset)
        self.alpha_apply(x, y, mask, a, b, c)

    @staticmethod
    def alpha_apply(x, y, mask, a, b, c) -> None:
        """y = bit ? x * a + b (two roundings in the dtype) : c; ``mask`` None keeps all."""
        xf, yf = _flat(x), _flat(y)
        av, bv, cv = (np.array(v, dtype=x.dtype) for v in (a, b, c))
        for lo, hi in chunks(xf.size):
            keep = _bits.unpack(mask, lo, hi)
            with np.errstate(all="ignore"):
                kept = xf[lo:hi] * av + bv
            yf[lo:hi] = np.where(keep, kept, cv)

    @staticmethod
    def gaussian(x, y, sigma, seed, stream, offset) -> None:
        """y = x * dtype(1 + sigma * z_i), z_i the normal deviate of word offset + i."""
        xf, yf = _flat(x), _flat(y)
        for lo, hi in chunks(xf.size, _NORMAL):
            z = _arith.normal_from_words(stream_words(seed, stream, offset + lo, hi - lo))
            noise = _arith.noise_factors(z, sigma, x.dtype)
            with np.errstate(all="ignore"):
                yf[lo:hi] = xf[lo:hi] * noise

    # -- the modern variants (the contract's section 6) ---------------------------------
    @staticmethod
    def row_apply(x, y, keep, rows, s, apply) -> None:
        """Row r of ``rows`` equal rows: bit r of ``keep`` ? row (* dtype(s)) : +0.0."""
        xf, yf = _flat(x), _flat(y)
        if rows == 0 or xf.size == 0:
            return
        length = xf.size // rows
        step = max(8, CHUNK // max(1, length) // 8 * 8)  # rows per step: whole mask bytes
        for r0 in range(0, rows, step):
            r1 = min(rows, r0 + step)
            bits = np.repeat(_bits.unpack(keep, r0, r1), length)
            lo, hi = r0 * length, r1 * length
            yf[lo:hi] = _select(xf[lo:hi], bits, s, apply)

    @staticmethod
    def zoneout(prev, new, y, mask, t, drop_all, seed, stream, offset) -> None:
        """Element i takes ``new`` iff word offset + i >= t (never with drop_all), else
        ``prev``; ``mask`` (or None) gets those bits."""
        pf, nf, yf = _flat(prev), _flat(new), _flat(y)
        for lo, hi in chunks(pf.size):
            take = keep_bits(t, drop_all, seed, stream, offset + lo, hi - lo)
            yf[lo:hi] = np.where(take, nf[lo:hi], pf[lo:hi])
            if mask is not None:
                mask[lo // 8 : (hi + 7) // 8] = _bits.pack(take)

    @staticmethod
    def gaussian_add(x, y, stddev, seed, stream, offset) -> None:
        """y = x + dtype(stddev * z_i) (16-bit types via float32), one add in the dtype."""
        xf, yf = _flat(x), _flat(y)
        for lo, hi in chunks(xf.size, _NORMAL):
            z = _arith.normal_from_words(stream_words(seed, stream, offset + lo, hi - lo))
            noise = _arith.round_to(stddev * z, x.dtype)
            with np.errstate(all="ignore"):
                yf[lo:hi] = xf[lo:hi] + noise

    # -- blocks of a larger logical array ---------------------------------------------------
    @staticmethod
    def _block_keep(t, drop_all, shape, full_shape, origin, seed, stream, offset):
        """(lo, hi, keep) over the block's elements in C order, chunk by chunk."""
        n = math.prod(shape)
        run = None if drop_all else _bits.block_run(shape, full_shape, origin)
        step = CHUNK if drop_all or run is not None else _GATHER
        for lo, hi in chunks(n, step):
            if drop_all or run is not None:  # one contiguous run of words
                keep = keep_bits(t, drop_all, seed, stream, offset + (run or 0) + lo, hi - lo)
            else:
                index = _bits.block_words(shape, full_shape, origin, offset, lo, hi)
                keep = words_at(seed, stream, index) >= np.uint32(t)
            yield lo, hi, keep

    @classmethod
    def block_forward(
        cls, x, y, mask, t, drop_all, s, apply, full_shape, origin, seed, stream, offset
    ) -> None:
        """Block element idx draws word offset + ravel_multi_index(origin + idx, full_shape)."""
        xf, yf = _flat(x), _flat(y)
        for lo, hi, keep in cls._block_keep(
            t, drop_all, tuple(x.shape), full_shape, origin, seed, stream, offset
        ):
            yf[lo:hi] = _select(xf[lo:hi], keep, s, apply)
            if mask is not None:
                mask[lo // 8 : (hi + 7) // 8] = _bits.pack(keep)

    @classmethod
    def block_mask(cls, mask, t, drop_all, shape, full_shape, origin, seed, stream, offset) -> None:
        """The packed keep bits of a block of ``shape`` (as :meth:`block_forward` draws)."""
        for lo, hi, keep in cls._block_keep(
            t, drop_all, tuple(shape), full_shape, origin, seed, stream, offset
        ):
            mask[lo // 8 : (hi + 7) // 8] = _bits.pack(keep)

    # -- permuted layouts: x and y in memory order, words and masks in logical order ------
    def forward_permuted(
        self, x, y, mask, order: Sequence[int], t, drop_all, s, apply, seed, stream, offset
    ) -> None:
        """``forward`` over ``x``, the memory-order (C order) buffer of a logical array
        whose axes lie in ``order``: logical element i draws word offset + i."""
        bits = mask if mask is not None else np.empty((x.size + 7) // 8, np.uint8)
        self.mask(bits, x.size, t, drop_all, seed, stream, offset)
        self.apply_permuted(x, y, bits, order, s, apply)

    def apply_permuted(self, x, y, mask, order: Sequence[int], s, apply) -> None:
        """``apply`` over a memory-order buffer, ``mask`` over logical C order."""
        if mask is not None:
            logical = [0] * len(order)
            for k, d in enumerate(order):
                logical[d] = x.shape[k]
            mask = self.permute_mask(mask, tuple(logical), order)
        self.apply(x, y, mask, s, apply)

    @staticmethod
    def permute_mask(mask, shape: Sequence[int], order: Sequence[int]) -> np.ndarray:
        """The mask over the C order of ``shape`` re-packed over the C order of its axes
        taken in ``order`` (the memory order of a permuted layout)."""
        bits = np.unpackbits(mask, count=math.prod(shape), bitorder="little").reshape(shape)
        return np.packbits(bits.transpose(tuple(order)), bitorder="little")
