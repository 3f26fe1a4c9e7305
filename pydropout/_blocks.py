"""Block keying: the dropout of one block of a larger logical array.

A block of shape ``b`` whose first element sits at multi-index ``origin`` of a logical
array of shape ``full_shape`` is dropped exactly as that part of the whole would be:
block element ``idx`` draws word ``offset + ravel_multi_index(origin + idx, full_shape)``
(SPEC.md section 2). So any tiling of the array into blocks, computed anywhere and in any
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
import operator
from typing import Any, List, Tuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

from . import _common, _core
from ._common import UPSCALE

_TWO64 = 1 << 64

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

__all__ = ["dropout_block", "dropout_block_mask", "Layout"]


def check_u64(value: Any, name: str) -> int:
    """An integer in [0, 2**64): TypeError if not an integer, ValueError if out of range."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer in [0, 2**64), got {type(value).__name__}")
    try:
        v = operator.index(value)
    except TypeError as exc:
        raise TypeError(
            f"{name} must be an integer in [0, 2**64), got {type(value).__name__}"
        ) from exc
    if not 0 <= v < _TWO64:
        raise ValueError(f"{name} must be in [0, 2**64), got {v}")
    return int(v)


class Layout:
    """Where the elements of a block sit in the C-order flat index of the full array.

    ``strides`` are the full array's C-order strides in elements, ``start`` the flat index
    of the block's first element, ``size`` the block's element count.
    """

    __slots__ = ("shape", "full_shape", "origin", "strides", "start", "size", "full_size")

    def __init__(self, shape: Tuple[int, ...], full_shape: Tuple[int, ...], origin: Tuple[int, ...]):
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


def check_layout(shape: Tuple[int, ...], full_shape: Any, origin: Any, name: str) -> Layout:
    full = _common.check_shape(full_shape, "full_shape")
    org = _common.check_shape(origin, "origin", negative="must be non-negative")
    if len(org) != len(full):
        raise ValueError(
            f"origin {org} has {len(org)} dimensions, full_shape {full} has {len(full)}"
        )
    if len(shape) != len(full):
        raise ValueError(
            f"{name} has {len(shape)} dimensions (shape {shape}), full_shape {full} has {len(full)}"
        )
    for axis, (o, b, f) in enumerate(zip(org, shape, full)):
        if o + b > f:
            raise ValueError(
                f"block of shape {shape} at origin {org} does not fit in full_shape {full} "
                f"(axis {axis}: {o} + {b} > {f})"
            )
    return Layout(shape, full, org)


def check_words(layout: Layout, seed: Any, stream: Any, offset: Any) -> Tuple[int, int, int]:
    seed = check_u64(seed, "seed")
    stream = check_u64(stream, "stream")
    offset = check_u64(offset, "offset")
    if offset + layout.full_size > _TWO64:
        raise ValueError(
            f"offset {offset} + {layout.full_size} words of full_shape {layout.full_shape} "
            "would pass 2**64: the stream never wraps"
        )
    return seed, stream, offset


class BlockFrontend:
    """``dropout_block`` and ``dropout_block_mask`` over one backend (compiled or NumPy).

    The backend provides ``forward(x, y, mask, code, t, drop_all, s, apply, layout, seed,
    stream, offset)`` and ``mask(mask, t, drop_all, layout, seed, stream, offset)`` on
    C-contiguous blocks; everything else (checks, evaluation mode, ``out=``) is here.
    """

    def __init__(self, backend: Any):
        self.backend = backend

    def dropout_block(self, x_block, p, *, full_shape, origin, seed, stream=0, offset=0,
                      training=True, mode=UPSCALE, out=None, return_mask=False):
        xa = _common.as_float_array(x_block, "x_block")
        p = _common.check_p(p)
        mode = _common.check_mode(mode)
        code = _common.dtype_code(xa.dtype, "x_block")
        layout = check_layout(xa.shape, full_shape, origin, "x_block")
        seed, stream, offset = check_words(layout, seed, stream, offset)
        if out is not None:
            _common.check_out(out, xa.shape, xa.dtype)
        if not training:
            if return_mask:
                raise ValueError("return_mask=True needs training=True: evaluation draws no mask")
            return _common.eval_dropout(x_block, xa, p, mode, out)

        xc = _common.flat_contiguous(xa)
        direct = out is not None and _common.Frontend._direct(out, xc)
        y = out if direct else np.empty(xa.shape, xc.dtype)
        mask = np.empty(_common.mask_nbytes(layout.size), np.uint8) if return_mask else None
        drop_all = p == 1.0
        t = 0 if drop_all else _common.threshold(p)
        apply = mode == UPSCALE
        s = _common.scale_value(p, xc.dtype) if apply else 1.0
        self.backend.forward(xc, y, mask, code, t, drop_all, s, apply, layout, seed, stream, offset)
        if out is not None and not direct:
            np.copyto(out, y)
            y = out
        return (y, mask) if return_mask else y

    def dropout_block_mask(self, shape, p, *, full_shape, origin, seed, stream=0, offset=0):
        dims = _common.check_shape(shape)
        p = _common.check_p(p)
        layout = check_layout(dims, full_shape, origin, "shape")
        seed, stream, offset = check_words(layout, seed, stream, offset)
        mask = np.empty(_common.mask_nbytes(layout.size), np.uint8)
        drop_all = p == 1.0
        t = 0 if drop_all else _common.threshold(p)
        self.backend.mask(mask, t, drop_all, layout, seed, stream, offset)
        return mask


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
        view = as_strided(words, shape=(b1 - b0,) + sub, strides=(width,) + layout.strides[k:],
                          writeable=False)
        np.copyto(keep[b0:b1].reshape((b1 - b0,) + sub), view)
    return np.packbits(keep, bitorder="little")


class _CoreBlockBackend:
    """The compiled kernels driven over the runs or spans of a block (see the module doc)."""

    @staticmethod
    def forward(x, y, mask, code, t, drop_all, s, apply, layout, seed, stream, offset):
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

    @staticmethod
    def mask(mask, t, drop_all, layout, seed, stream, offset):
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


_front = BlockFrontend(_CoreBlockBackend())


def dropout_block(x_block, p, *, full_shape, origin, seed, stream=0, offset=0, training=True,
                  mode=UPSCALE, out=None, return_mask=False):
    """Dropout of one block of a larger logical array, keyed by its place in the whole.

    Block element ``idx`` draws word ``offset + ravel_multi_index(origin + idx,
    full_shape)`` of the stream ``(seed, stream)``. Cutting an array into blocks in any
    way and dropping each block with this function gives exactly
    ``pydropout.dropout(full, p, generator=Generator(seed, stream=stream, offset=offset))``,
    whichever machine computes which block. The full array never needs to exist.

    Parameters
    ----------
    x_block : array_like of float16, float32, float64 (or ml_dtypes.bfloat16)
        The block, with as many dimensions as ``full_shape``; any memory layout.
    p : float
        Drop probability in [0, 1] (the keep rule of :func:`pydropout.dropout`).
    full_shape : tuple of int
        Shape of the logical array the block belongs to.
    origin : tuple of int
        Index in the full array of the block's first element; the block must fit:
        ``origin[i] + x_block.shape[i] <= full_shape[i]``.
    seed, stream, offset : int
        Generator state of the whole array, each in [0, 2**64); ``offset +
        prod(full_shape)`` must not pass 2**64. Take them from
        ``generator._reserve(prod(full_shape))`` or ``generator.get_state()`` (then
        advance the generator yourself) so that later calls draw fresh words.
    training : bool
        Evaluation mode draws nothing, exactly as :func:`pydropout.dropout`.
    mode : {"upscale_in_train", "downscale_in_infer"}
        Scaling convention (see :func:`pydropout.dropout`).
    out : ndarray, optional
        Destination with the block's shape and dtype.
    return_mask : bool
        Also return the block's packed keep mask (bit ``i`` is block element ``i`` in
        C order), as :func:`pydropout.dropout_with_mask` does for a whole array.

    Returns
    -------
    numpy.ndarray, or (numpy.ndarray, numpy.ndarray) with ``return_mask=True``

    Raises
    ------
    TypeError
        An unsupported dtype; a non-integer seed, stream, offset, origin or full_shape.
    ValueError
        ``p`` outside [0, 1], an unknown mode, a block whose rank differs from
        ``full_shape``'s or that does not fit at ``origin``, a seed/stream/offset outside
        [0, 2**64) or an offset whose words would pass 2**64, a bad ``out``.

    Examples
    --------
    >>> import numpy as np, pydropout
    >>> x = np.arange(1, 13, dtype=np.float32).reshape(3, 4)
    >>> whole = pydropout.dropout(x, 0.5, generator=pydropout.Generator(7))
    >>> right = pydropout.dropout_block(x[:, 2:], 0.5, full_shape=(3, 4), origin=(0, 2), seed=7)
    >>> bool((right == whole[:, 2:]).all())
    True
    """
    return _front.dropout_block(x_block, p, full_shape=full_shape, origin=origin, seed=seed,
                                stream=stream, offset=offset, training=training, mode=mode,
                                out=out, return_mask=return_mask)


def dropout_block_mask(shape, p, *, full_shape, origin, seed, stream=0, offset=0):
    """Only the packed keep mask of a block of ``shape`` at ``origin`` of ``full_shape``.

    The bits :func:`dropout_block` would keep (bit ``i`` is block element ``i`` in C order;
    ``ceil(prod(shape) / 8)`` bytes), as :func:`pydropout.dropout_mask` is for a whole array.
    """
    return _front.dropout_block_mask(shape, p, full_shape=full_shape, origin=origin, seed=seed,
                                     stream=stream, offset=offset)
