"""Block keying on the compiled path: how the core draws one block of a larger array.

A block of shape ``b`` whose first element sits at multi-index ``origin`` of a logical
array of shape ``full_shape`` is dropped exactly as that part of the whole would be:
block element ``idx`` draws word ``offset + ravel_multi_index(origin + idx, full_shape)``
(docs/CONTRACT.md section 2). So any tiling of the array into blocks, computed anywhere and in any
order, reproduces ``pydropout.dropout`` of the whole array bit for bit, which is what
``pydropout.dask`` stands on.

How a block is computed
-----------------------
In C order a block is a set of *runs*: the trailing axes along which the block spans the
whole array merge with the first partial axis before them into contiguous runs of words.
The compiled kernels only draw contiguous words, so a block costs one kernel call per
run at least, unless runs are drawn together. Two plans, chosen per block by a small
cost model (``Layout.plan``):

- **runs**: one call of the compiled runs kernel (``_core.forward_runs``), which runs the
  fused forward kernel over every run at its word offset, threads over runs included.
  A block that is one run (a band of whole rows, or the whole array) is as fast as
  ``pydropout.dropout``; each further run costs about one partly used group of 64
  Philox words.
- **span**: one call of the mask kernel (cheaper to call: no data arrays) for each slice
  of the block over the axes from some k on, covering the slice's whole span of words,
  gaps included, then one call of the apply kernel over the block. When the slices are
  the runs themselves and whole bytes long, their masks laid end to end are the block's
  mask. Otherwise the words are unpacked to bytes, the block's bits are read through a
  strided view of them, and packed; batches of slices keep that scratch to a few MiB.
  Drawing the gaps costs about 0.4 ns a word, so short runs close together (narrow
  blocks, 3-D blocks of small tiles) are drawn a slice at a time instead of a run at a
  time.

Either way every element draws the same word, so the plans differ only in speed.
"""

from __future__ import annotations

import math
from typing import List, Optional, Tuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ._load import core as _core

# Cost model of the plans, in nanoseconds (rough single-thread figures on an AVX-512 CPU;
# only the speed of a plan depends on them, never its result).
_RUNS_CALL = 1000.0  # one call of the runs kernel, from Python
_RUN = 27.0  # per run: about one partly used group of 64 Philox words
_MASK_CALL = 190.0  # one call of the mask kernel into a slice of a byte buffer
_FWD = 0.45  # per element of a fused forward pass
_WORD = 0.46  # per word of a span: mask kernel and unpacking to bytes
_APPLY = 0.15  # per element: pack the gathered bits and apply them
_ROW = 4.5  # per contiguous row of the strided gather
_MAX_SPAN = 1 << 22  # words unpacked at once by the span plan (bytes of scratch)

__all__ = ["Layout", "block_forward", "block_mask"]


class Layout:
    """Where the elements of a block sit in the C-order flat index of the full array.

    ``strides`` are the full array's C-order strides in elements, ``start`` the flat index
    of the block's first element, ``size`` the block's element count.
    """

    __slots__ = ("shape", "full_shape", "origin", "strides", "start", "size", "full_size")

    def __init__(
        self, shape: Tuple[int, ...], full_shape: Tuple[int, ...], origin: Tuple[int, ...]
    ):
        self.shape = shape
        self.full_shape = full_shape
        self.origin = origin
        strides = [1] * len(full_shape)
        for i in range(len(full_shape) - 2, -1, -1):
            strides[i] = strides[i + 1] * full_shape[i + 1]
        self.strides = tuple(strides)
        self.start = sum(o * s for o, s in zip(origin, strides))
        self.size = math.prod(shape)
        self.full_size = math.prod(full_shape)

    def contiguous_level(self) -> int:
        """The first axis j such that a block slice over axes j.. is one run of words."""
        j = len(self.shape) - 1
        while j > 0 and self.shape[j] == self.full_shape[j]:
            j -= 1
        return max(j, 0)

    def span(self, k: int) -> int:
        """Words from the first to the last element of a block slice over axes k.."""
        return 1 + sum((b - 1) * s for b, s in zip(self.shape[k:], self.strides[k:]))

    def prefix_offsets(self, k: int) -> np.ndarray:
        """Flat offsets (from ``start``, uint64, C order) of the slices over axes k.."""
        rel = np.zeros(1, np.uint64)
        for b, s in zip(self.shape[:k], self.strides[:k]):
            rel = (rel[:, None] + np.arange(b, dtype=np.uint64) * np.uint64(s)).reshape(-1)
        return rel

    def word_starts(self, k: int, offset: int) -> List[int]:
        """Word index of the first element of each slice over axes k.. (Python ints)."""
        return (self.prefix_offsets(k) + np.uint64(offset + self.start)).tolist()

    def plan(self) -> Tuple[str, int]:
        """("runs", j) or ("span", k): the cheaper way to draw this block's words.

        "runs": a fused forward call per contiguous run (axes j..). "span": a mask call per
        slice over axes k.. (k <= j) covering its span of words, then one apply call.
        """
        n = self.size
        j = self.contiguous_level()
        runs = math.prod(self.shape[:j])
        run = n // runs if runs else 0
        best = ("runs", j)
        best_cost = _RUNS_CALL + runs * _RUN + n * _FWD
        for k in range(j + 1):
            count = math.prod(self.shape[:k])
            if k == j and (count == 1 or run % 8 == 0):  # bits land where they belong
                cost = count * _MASK_CALL + n * (_WORD + _APPLY)
            else:
                span = self.span(k)
                if span > _MAX_SPAN:
                    continue
                width = 8 * ((span + 7) // 8)
                cost = count * (_MASK_CALL + width * _WORD) + n * _APPLY + runs * _ROW
            if cost < best_cost:
                best, best_cost = ("span", k), cost
        return best


def _span_keep(layout: Layout, k: int, t: int, seed: int, stream: int, offset: int) -> np.ndarray:
    """Packed keep bits of the block: a mask call over the span of each slice over axes k.."""
    sub = layout.shape[k:]
    span = layout.span(k)
    nbytes = (span + 7) // 8
    starts = layout.word_starts(k, offset)
    count = len(starts)
    mask_fn = _core.mask
    if span == math.prod(sub) and (count == 1 or span % 8 == 0):
        # contiguous slices of whole bytes: the slices' masks laid end to end are the block's
        buf = np.empty((count, nbytes), np.uint8)
        for i, w in enumerate(starts):
            mask_fn(buf[i], span, t, False, seed, stream, w)
        return buf.reshape(-1)
    width = 8 * nbytes
    per = max(1, _MAX_SPAN // width)  # slices per batch
    keep = np.empty((count, math.prod(sub)), np.uint8)
    buf = np.empty((min(per, count), nbytes), np.uint8)
    for b0 in range(0, count, per):
        b1 = min(count, b0 + per)
        for i in range(b0, b1):
            mask_fn(buf[i - b0], span, t, False, seed, stream, starts[i])
        words = np.unpackbits(buf[: b1 - b0], axis=1, bitorder="little")
        # slice i's element idx sits at byte i * width + sum(idx * strides) of `words`
        view = as_strided(
            words, shape=(b1 - b0,) + sub, strides=(width,) + layout.strides[k:], writeable=False
        )
        np.copyto(keep[b0:b1].reshape((b1 - b0,) + sub), view)
    return np.packbits(keep, bitorder="little")


def block_forward(
    x: np.ndarray,
    y: np.ndarray,
    mask: Optional[np.ndarray],
    code: int,
    t: int,
    drop_all: bool,
    s: float,
    apply: bool,
    layout: Layout,
    seed: int,
    stream: int,
    offset: int,
) -> None:
    """The fused forward pass over a C-contiguous block (with its keep bits into ``mask``)."""
    n = layout.size
    if n == 0:
        return
    if drop_all or t == 0:  # no word decides anything: one call over the whole block
        _core.forward(x, y, mask, code, t, drop_all, s, apply, seed, stream, 0)
        return
    kind, k = layout.plan()
    if kind == "span":
        keep = _span_keep(layout, k, t, seed, stream, offset)
        if mask is not None:
            mask[...] = keep
        _core.apply(x, y, keep, code, s, apply)
        return
    # runs: every contiguous run in one call of the fused forward kernel
    starts = layout.prefix_offsets(k) + np.uint64(offset + layout.start)
    _core.forward_runs(x, y, mask, code, t, s, apply, seed, stream, starts, n // starts.size)


def block_mask(
    mask: np.ndarray, t: int, drop_all: bool, layout: Layout, seed: int, stream: int, offset: int
) -> None:
    """The packed keep bits of a block."""
    if layout.size == 0:
        return
    if drop_all or t == 0:
        _core.mask(mask, layout.size, t, drop_all, seed, stream, 0)
        return
    kind, k = layout.plan()
    if kind == "runs":
        starts = layout.prefix_offsets(k) + np.uint64(offset + layout.start)
        _core.mask_runs(mask, t, seed, stream, starts, layout.size // starts.size)
    else:
        mask[...] = _span_keep(layout, k, t, seed, stream, offset)
