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
