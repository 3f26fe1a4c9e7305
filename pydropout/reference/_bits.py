"""Packed masks and the index maths of blocks, in plain NumPy.

A packed mask holds bit ``i % 8`` (least significant first) of byte ``i // 8`` for
element ``i``; padding bits are 0. A block of shape ``b`` at multi-index ``origin`` of a
logical array of shape ``full_shape`` draws, for its element ``idx``, the word
``offset + ravel_multi_index(origin + idx, full_shape)``.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple

import numpy as np

__all__ = ["pack", "unpack", "broadcast_mask", "c_strides", "block_words", "block_run"]


def pack(keep: np.ndarray) -> np.ndarray:
    """The packed bytes of a flat bool (or 0/1) array, padding bits 0."""
    return np.packbits(np.asarray(keep, dtype=bool).reshape(-1), bitorder="little")


def unpack(mask: Optional[np.ndarray], lo: int, hi: int) -> np.ndarray:
    """Bits ``lo .. hi - 1`` (``lo`` a multiple of 8) of a packed mask as bool; all True for
    ``mask is None``."""
    if mask is None:
        return np.ones(hi - lo, bool)
    bits = np.unpackbits(mask[lo // 8 : (hi + 7) // 8], count=hi - lo, bitorder="little")
    return bits.view(bool)


def broadcast_mask(mask: np.ndarray, noise: Sequence[int], shape: Sequence[int]) -> np.ndarray:
    """The packed mask over ``noise`` (same rank as ``shape``, each dim 1 or equal) broadcast
    to a packed mask over ``shape``."""
    noise, shape = tuple(noise), tuple(shape)
    bits = np.unpackbits(mask, count=math.prod(noise), bitorder="little").reshape(noise)
    return np.packbits(np.broadcast_to(bits, shape), axis=None, bitorder="little")


def c_strides(full_shape: Sequence[int]) -> Tuple[int, ...]:
    """C-order strides, in elements, of an array of ``full_shape`` (Python ints)."""
    strides = []
    step = 1
    for d in reversed(tuple(full_shape)):
        strides.append(step)
        step *= d
    return tuple(reversed(strides))


def _start(origin: Sequence[int], full_shape: Sequence[int]) -> int:
    return sum(o * s for o, s in zip(origin, c_strides(full_shape)))


def block_run(
    shape: Sequence[int], full_shape: Sequence[int], origin: Sequence[int]
) -> Optional[int]:
    """The flat index in the full array of the block's first element when the block's words
    are one contiguous run (after its first axis longer than 1, every axis spans the whole
    array), else None."""
    dims = list(zip(shape, full_shape))
    first = next((i for i, (b, _) in enumerate(dims) if b > 1), len(dims))
    if all(b == f for b, f in dims[first + 1 :]):
        return _start(origin, full_shape)
    return None


def block_words(
    shape: Sequence[int],
    full_shape: Sequence[int],
    origin: Sequence[int],
    offset: int,
    lo: int,
    hi: int,
) -> np.ndarray:
    """Word index (uint64) of block elements ``lo .. hi - 1`` in C order: ``offset +
    ravel_multi_index(origin + idx, full_shape)``. Every index is below 2**64 when
    ``offset + prod(full_shape) <= 2**64``."""
    shape = tuple(shape)
    strides = c_strides(full_shape)
    base = offset + _start(origin, full_shape)  # the block's first word, a Python int
    words = np.full(hi - lo, base, dtype=np.uint64)
    if not shape:
        return words
    idx = np.unravel_index(np.arange(lo, hi, dtype=np.intp), shape)
    for axis, b in enumerate(shape):
        if b > 1:  # (b - 1) * stride < prod(full_shape): the stride fits in uint64
            words += idx[axis].astype(np.uint64) * np.uint64(strides[axis])
    return words
