"""Philox4x32-10 and the word stream of docs/CONTRACT.md section 2, in plain NumPy.

Each 32x32-bit multiplication is done in ``uint64``, where the 64-bit product is exact;
its high and low halves are then a shift and a mask. The stream's word ``j`` is lane
``j % 4`` of the block whose counter is ``(j // 4, stream)`` (two 32-bit halves each)
under the key ``seed`` (low half first).
"""

from __future__ import annotations

from typing import Any, Iterator, Tuple

import numpy as np

__all__ = ["philox4x32_10", "stream_words", "words_at", "keep_bits", "chunks", "CHUNK"]

# Random123's multipliers and Weyl key increments
_MUL0 = np.uint64(0xD2511F53)
_MUL1 = np.uint64(0xCD9E8D57)
_BUMP0 = np.uint64(0x9E3779B9)
_BUMP1 = np.uint64(0xBB67AE85)
_LOW = np.uint64(0xFFFFFFFF)
_SHIFT = np.uint64(32)
_ROUNDS = 10

#: elements per step of the chunked loops (a multiple of 8, so chunks are whole mask
#: bytes): the uint64 temporaries of a step stay at a few MiB
CHUNK = 1 << 18


def chunks(n: int, size: int = CHUNK) -> Iterator[Tuple[int, int]]:
    """``(lo, hi)`` bounds of consecutive pieces of ``range(n)``."""
    for lo in range(0, n, size):
        yield lo, min(n, lo + size)


def _rounds(c0, c1, c2, c3, k0, k1):
    """The ten rounds on uint64 arrays or scalars holding 32-bit values (they broadcast)."""
    for r in range(_ROUNDS):
        if r:
            k0 = (k0 + _BUMP0) & _LOW
            k1 = (k1 + _BUMP1) & _LOW
        hi0 = c0 * _MUL0  # < 2**64: exact
        hi1 = c2 * _MUL1
        c0, c1, c2, c3 = (
            (hi1 >> _SHIFT) ^ c1 ^ k0,
            hi1 & _LOW,
            (hi0 >> _SHIFT) ^ c3 ^ k1,
            hi0 & _LOW,
        )
    return c0, c1, c2, c3


def philox4x32_10(counter: Any, key: Any) -> np.ndarray:
    """Philox4x32-10 of Random123 over arrays: counter ``(..., 4)`` and key ``(..., 2)`` of
    32-bit values (broadcasting against each other); the ``(..., 4)`` output as uint32."""
    c = np.asarray(counter, dtype=np.uint64) & _LOW
    k = np.asarray(key, dtype=np.uint64) & _LOW
    out = _rounds(c[..., 0], c[..., 1], c[..., 2], c[..., 3], k[..., 0], k[..., 1])
    return np.stack(np.broadcast_arrays(*out), axis=-1).astype(np.uint32)


def _blocks(seed: int, stream: int, block: np.ndarray) -> np.ndarray:
    """The four words of each block number in ``block`` (uint64), shape ``block.shape + (4,)``."""
    out = _rounds(
        block & _LOW,
        block >> _SHIFT,
        np.uint64(stream & 0xFFFFFFFF),
        np.uint64(stream >> 32),
        np.uint64(seed & 0xFFFFFFFF),
        np.uint64(seed >> 32),
    )
    words = np.empty(block.shape + (4,), np.uint32)
    for lane, v in enumerate(out):
        words[..., lane] = v  # 32-bit values: the narrowing is exact
    return words


def stream_words(seed: int, stream: int, offset: int, n: int) -> np.ndarray:
    """Words ``offset .. offset + n - 1`` of the stream ``(seed, stream)`` as uint32.

    ``offset + n`` must not pass 2**64 (the stream never wraps).
    """
    seed, stream, offset, n = int(seed), int(stream), int(offset), int(n)
    out = np.empty(n, np.uint32)
    for lo, hi in chunks(n):
        first = (offset + lo) // 4
        last = (offset + hi - 1) // 4
        block = np.arange(last - first + 1, dtype=np.uint64) + np.uint64(first)
        words = _blocks(seed, stream, block).reshape(-1)
        skip = offset + lo - 4 * first
        out[lo:hi] = words[skip : skip + hi - lo]
    return out


def words_at(seed: int, stream: int, index: np.ndarray) -> np.ndarray:
    """Word ``index[k]`` of the stream ``(seed, stream)`` for each k (uint64 indices, any
    order): the block of each index is computed and its lane picked."""
    index = np.asarray(index, dtype=np.uint64)
    words = _blocks(int(seed), int(stream), index >> np.uint64(2))
    lane = (index & np.uint64(3)).astype(np.intp)
    return np.take_along_axis(words, lane[..., None], axis=-1)[..., 0]


def keep_bits(t: int, drop_all: bool, seed: int, stream: int, offset: int, n: int) -> np.ndarray:
    """Keep decisions (bool) of words ``offset .. offset + n - 1``: kept iff word >= t."""
    if drop_all:
        return np.zeros(n, bool)
    return stream_words(seed, stream, offset, n) >= np.uint32(t)
